"""`pssr-live keys DIR`: CURVE key pairs for an encrypted, authenticated stream."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pssr_live.curve import create_keys

NAME = "keys"
HELP = "create CURVE key pairs (server and client) for `run/view --curve-keys DIR`"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", type=Path, metavar="DIR", help="where to write the keys")
    parser.add_argument("--force", action="store_true", help="replace keys already in DIR")


def main(args: argparse.Namespace) -> int:
    for path in create_keys(args.directory, force=args.force):
        print(path, file=sys.stderr)
    print(
        f"pssr-live keys: publish with `run --curve-keys {args.directory}`; on a viewer "
        f"machine use a copy of {args.directory} without server.key_secret",
        file=sys.stderr,
    )
    return 0
