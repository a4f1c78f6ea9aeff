"""The one entry point: ``tcpinc``. Subcommands register here as their issues land.

This module only dispatches: each subcommand lives in :mod:`tcpinc_tools.commands` with its
``HELP``, ``configure(parser)`` and ``run(args)``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from . import __version__
from .build import build_description
from .commands import analyze, decrypt, endpoint, follow, gen, lab, monitor, wireshark

__all__ = ["build_parser", "main", "version_line"]

# name -> module, in the order `tcpinc --help` lists them.
_COMMANDS = {
    "analyze": analyze,
    "decrypt": decrypt,
    "follow": follow,
    "gen": gen,
    "lab": lab,
    "endpoint": endpoint,
    "monitor": monitor,
    "wireshark": wireshark,
}


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``tcpinc gen: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def version_line() -> str:
    """``tcpinc 0.1.0 (pure Python)``, or which modules run compiled (tcpinc_tools.build)."""
    return f"tcpinc {__version__} ({build_description()})"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tcpinc",
        description=(
            "Tools for TCPINC traffic: TCP-ENO (RFC 8547) and tcpcrypt (RFC 8548), "
            "in the rfc dialect (option kind 69) and the legacy one (kind 253, tcpcryptd 0.5)."
        ),
    )
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module in _COMMANDS.items():
        module.configure(sub.add_parser(name, help=module.HELP))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        status: int = _COMMANDS[args.command].run(args)
    except BrokenPipeError:
        # The reader of our output went away (`tcpinc gen --list | head`): no traceback.
        # Point stdout at /dev/null so that the interpreter's last flush fails silently too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
