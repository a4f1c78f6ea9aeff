"""The one entry point: ``tcpinc``. Subcommands register here as their issues land."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tcpinc",
        description=(
            "Tools for TCPINC traffic: TCP-ENO (RFC 8547) and tcpcrypt (RFC 8548), "
            "in the rfc dialect (option kind 69) and the legacy one (kind 253, tcpcryptd 0.5)."
        ),
    )
    parser.add_argument("--version", action="version", version=f"tcpinc {__version__}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
