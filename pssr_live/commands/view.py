"""`pssr-live view [ADDR]`: the live viewer, subscribing to a running publisher."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pssr_live.commands.arguments import positive_int
from pssr_live.curve import client_keys
from pssr_live.errors import UserError
from pssr_live.wire import DEFAULT_ADDRESS, is_loopback

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
    parser.add_argument(
        "--curve-keys",
        type=Path,
        metavar="DIR",
        help="client keys for a publisher started with `run --curve-keys` (`pssr-live keys`)",
    )
    parser.add_argument(
        "--tcs",
        action="store_true",
        help="also decode and show the coded snapshots (`run --publish-tcs B`)",
    )


def display_available() -> bool:
    """True where a window can be shown: Windows and macOS always, Linux with X11 or Wayland."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def add_viewer_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `view` and `run --view`."""
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="save a PNG of the window (with --exit-after)",
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
    curve = client_keys(args.curve_keys) if args.curve_keys else None
    if curve is None and not is_loopback(args.address):
        print(
            f"pssr-live view: warning: {args.address} is not loopback and the stream is not "
            "encrypted; use --curve-keys to encrypt and authenticate it",
            file=sys.stderr,
        )
    from pssr_live.viewer import show

    shown = show(
        args.address,
        screenshot=args.screenshot,
        exit_after=args.exit_after,
        curve=curve,
        tcs=args.tcs,
        on_ready=lambda: print(
            f"pssr-live view: showing {args.address}; close the window or press Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        ),
    )
    if args.exit_after is not None and shown < args.exit_after:
        return 1
    return 0
