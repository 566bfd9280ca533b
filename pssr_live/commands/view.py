"""`pssr-live view [ADDR]`: the live viewer, subscribing to a running publisher."""

from __future__ import annotations

import argparse
from pathlib import Path

from pssr_live.commands.arguments import positive_int
from pssr_live.errors import UserError
from pssr_live.wire import DEFAULT_ADDRESS

NAME = "view"
HELP = "live viewer: raw and restored side by side, line profiles, frame rates, latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_viewer_arguments(parser)
    parser.add_argument(
        "address",
        nargs="?",
        default=DEFAULT_ADDRESS,
        metavar="ADDR",
        help=f"publisher to subscribe to (default {DEFAULT_ADDRESS})",
    )


def add_viewer_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `view` and `run --view`."""
    parser.add_argument(
        "--screenshot", type=Path, metavar="PATH", help="save a PNG of the window (with --exit-after)"
    )
    parser.add_argument(
        "--exit-after",
        type=positive_int,
        metavar="N",
        help="close the viewer after N restored frames were displayed",
    )


def check_viewer_arguments(args: argparse.Namespace) -> None:
    if args.screenshot is not None and args.exit_after is None:
        raise UserError("--screenshot needs --exit-after N (the frame to take it at)")


def main(args: argparse.Namespace) -> int:
    check_viewer_arguments(args)
    from pssr_live.viewer import show

    shown = show(args.address, screenshot=args.screenshot, exit_after=args.exit_after)
    if args.exit_after is not None and shown < args.exit_after:
        return 1
    return 0
