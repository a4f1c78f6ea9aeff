"""The one entry point: ``tcpinc``. Subcommands register here as their issues land.

This module only dispatches: each subcommand lives in :mod:`tcpinc_tools.commands` with its
``HELP``, ``configure(parser)`` and ``run(args)``. ``tcpinc --help`` lists them from
:data:`tcpinc_tools.commands.COMMANDS`; a run imports and configures the one subcommand it
runs, not the others (``tcpinc gen`` does not load the endpoint or the TUI).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Final, NoReturn, Protocol, cast

from . import __version__
from .build import build_description
from .commands import COMMANDS

__all__ = ["ALL", "build_parser", "command_module", "main", "version_line"]

# build_parser(): configure every subcommand (for tests and documentation tools).
ALL: Final = "*"


class _Command(Protocol):
    """What a module of :mod:`tcpinc_tools.commands` gives."""

    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def command_module(name: str) -> _Command:
    """The module of the subcommand ``name`` (a key of ``COMMANDS``), imported."""
    if name not in COMMANDS:
        raise KeyError(name)
    return cast(_Command, importlib.import_module(f"{__package__}.commands.{name}"))


class _Parser(argparse.ArgumentParser):
    """argparse with errors on one line: ``tcpinc gen: error: ...`` and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def version_line() -> str:
    """``tcpinc 0.1.0 (pure Python)``, or which modules run compiled (tcpinc_tools.build)."""
    return f"tcpinc {__version__} ({build_description()})"


def build_parser(command: str | None = ALL) -> argparse.ArgumentParser:
    """The ``tcpinc`` parser, every subcommand listed; ``command`` says which of them get
    their arguments (imports their modules): :data:`ALL`, one name, or None."""
    parser = _Parser(
        prog="tcpinc",
        description=(
            "Tools for TCPINC traffic: TCP-ENO (RFC 8547) and tcpcrypt (RFC 8548), "
            "in the rfc dialect (option kind 69) and the legacy one (kind 253, tcpcryptd 0.5)."
        ),
    )
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, help_line in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_line)
        if command in (ALL, name):
            command_module(name).configure(sub_parser)
    return parser


def _named_command(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` runs: its first word that is not an option (``tcpinc`` itself
    takes no option with a value), if that names one."""
    for arg in argv:
        if arg == "--":
            return None
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    command = _named_command(words)
    parser = build_parser(command)
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        status: int = command_module(args.command).run(args)
    except BrokenPipeError:
        # The reader of our output went away (`tcpinc gen --list | head`): no traceback.
        _drop_stdout()
        return 1
    except OSError as exc:
        # What the commands do not report themselves: the system failed a read or a write
        # (no space left where the output goes, an I/O error). One line, not a traceback.
        _drop_stdout()
        where = f"{exc.filename}: " if exc.filename is not None else ""
        sys.stderr.write(f"tcpinc {args.command}: {where}{exc.strerror or exc}\n")
        return 2
    return status


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush of what could not
    be written fails silently too."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
