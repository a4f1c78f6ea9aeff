"""``tcpinc gen``: write a scenario's traffic as a capture, and its key log, with no privileges.

    tcpinc gen SCENARIO -o OUT [--keylog KEYS] [--seed N] [--count N] [--size BYTES]
               [--ipv6] [--pcapng]
    tcpinc gen --list

The same arguments give the same bytes (captures and key log). Errors are one line on
stderr and exit status 2; no partial output is left behind.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from typing import Final, TextIO

from ..capture import CaptureWriter
from ..errors import KeyLogError, TcpincError
from ..keylog import KeyLogWriter
from ..sim.scenarios import Summary, check, generate, scenarios
from . import COMMANDS

__all__ = ["HELP", "configure", "parse_size", "reproduce_command", "run", "write_list"]

HELP: Final = COMMANDS["gen"]

_SIZE = re.compile(r"(\d+)([kKmMgG]?)(i?[bB])?")
_UNITS: Final = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """A byte count: ``262144``, ``256k``, ``4M`` or ``4MiB`` (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 262144, 256k, 4M)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run a scenario between two simulated TCP-ENO/tcpcrypt stacks over an in-memory link "
        "and write every segment seen at its capture point, with the session secrets in a "
        "key log. 'tcpinc gen --list' names the scenarios."
    )
    parser.add_argument("scenario", nargs="?", metavar="SCENARIO", help="scenario name")
    parser.add_argument("-o", "--output", metavar="OUT", help="the capture file to write")
    parser.add_argument("--keylog", metavar="KEYS", help="write the key log here (mode 0600)")
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="randomness seed (default 0)"
    )
    parser.add_argument("--count", type=int, metavar="N", help="connections (many)")
    parser.add_argument("--size", type=parse_size, metavar="BYTES", help="bytes to send (bulk)")
    parser.add_argument("--ipv6", action="store_true", help="IPv6 addresses instead of IPv4")
    parser.add_argument("--pcapng", action="store_true", help="pcapng instead of pcap")
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")


def write_list(out: TextIO) -> None:
    """``tcpinc gen --list``: each scenario's name and one line."""
    known = scenarios()
    width = max(len(s.name) for s in known)
    for scenario in known:
        out.write(f"{scenario.name:<{width}}  {scenario.description}\n")


def reproduce_command(
    scenario: str,
    *,
    seed: int = 0,
    count: int | None = None,
    size: int | None = None,
    ipv6: bool = False,
) -> str:
    """The options that make a run, as a ``tcpinc gen`` command line (without outputs)."""
    words = ["tcpinc", "gen", scenario, "--seed", str(seed)]
    if count is not None:
        words += ["--count", str(count)]
    if size is not None:
        words += ["--size", str(size)]
    if ipv6:
        words.append("--ipv6")
    return " ".join(words)


def _open_keylog(path: str, header: str) -> TextIO:
    """A new key log file (truncated: a run's output is the run's alone), mode 0600."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as exc:
        raise KeyLogError(f"{path}: cannot create: {exc.strerror or exc}") from None
    handle = os.fdopen(fd, "w", encoding="ascii", newline="\n")
    handle.write(f"# {header}\n")
    return handle


def _fail(message: str) -> int:
    sys.stderr.write(f"tcpinc gen: {message}\n")
    return 2


def run(args: argparse.Namespace) -> int:
    if args.list:
        write_list(sys.stdout)
        return 0
    if args.scenario is None:
        return _fail("a SCENARIO is needed (tcpinc gen --list names them)")
    if args.output is None:
        return _fail("-o OUT is needed: where to write the capture")
    if args.keylog is not None and os.path.abspath(args.keylog) == os.path.abspath(args.output):
        return _fail("the capture and the key log cannot be the same file")
    created: list[str] = []
    try:
        summary = _generate(args, created)
    except TcpincError as exc:
        for path in created:
            with contextlib.suppress(OSError):
                os.remove(path)
        return _fail(str(exc))
    _report(summary, args)
    return 0


def _generate(args: argparse.Namespace, created: list[str]) -> Summary:
    command = reproduce_command(
        args.scenario, seed=args.seed, count=args.count, size=args.size, ipv6=args.ipv6
    )
    check(args.scenario, count=args.count, size=args.size)  # before any file is made
    keys: TextIO | None = None
    writer = CaptureWriter(args.output, format="pcapng" if args.pcapng else "pcap")
    created.append(args.output)
    try:
        if args.keylog is not None:
            keys = _open_keylog(args.keylog, command)
            created.append(args.keylog)
        keylog = KeyLogWriter(keys) if keys is not None else None
        return generate(
            args.scenario,
            writer,
            keylog=keylog,
            seed=args.seed,
            count=args.count,
            size=args.size,
            ipv6=args.ipv6,
        )
    finally:
        writer.close()
        if keys is not None:
            keys.close()


def _report(summary: Summary, args: argparse.Namespace) -> None:
    size = os.path.getsize(args.output)
    out = sys.stdout
    out.write(
        f"{summary.scenario}: {summary.packets} packets, {size} bytes -> {args.output}"
        f" (seed {args.seed})\n"
    )
    if args.keylog is not None:
        out.write(f"key log -> {args.keylog}\n")
    for conn in summary.connections:
        out.write(f"  {conn.local} -> {conn.remote}  {conn.result}\n")
