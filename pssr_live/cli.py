"""The `pssr-live` command line: sub-commands live in pssr_live.commands, one module each."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from pssr_live import __version__
from pssr_live.errors import UserError

# Sub-command modules in the order `pssr-live --help` lists them.
COMMANDS = (
    "run",
    "export",
    "build-engine",
    "train",
    "evaluate",
    "restore",
    "keys",
    "view",
    "bench",
    "compress",
    "decompress",
    "train-tcs",
    "evaluate-tcs",
)


class OneLineParser(argparse.ArgumentParser):
    """Reports bad arguments on one line (no usage dump) and exits with status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="pssr-live",
        description="Live five-frame super-resolution for fast, undersampled confocal imaging.",
    )
    parser.add_argument("--version", action="version", version=f"pssr-live {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"pssr_live.commands.{name.replace('-', '_')}")
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(handler=module.main)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UserError as exc:
        print(f"pssr-live {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pssr-live {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
