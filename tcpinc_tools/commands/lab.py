"""``tcpinc lab``: live traffic between two endpoints in network namespaces (root).

    tcpinc lab SCENARIO -o OUT.pcap [--keylog KEYS] [--size BYTES] [--timeout S]
    tcpinc lab --list

Prints what happened (each side's report line and the scenario's checks). Exit status 0
when every check passed, 1 when one failed, 2 for errors (one line on stderr), 128 + the
signal number after Ctrl-C or SIGTERM, with the namespaces deleted in every case.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final

from ..endpoint.lab import SCENARIOS, LabResult, run_lab
from ..endpoint.signals import terminate_on_signals
from ..errors import TcpincError
from . import COMMANDS
from .gen import parse_size

__all__ = ["HELP", "configure", "print_result", "run"]

HELP: Final = COMMANDS["lab"]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Create two network namespaces joined by a veth pair, run a scenario between our "
        "endpoints (or one endpoint and a plain Linux socket), capture it with tcpdump, and "
        "delete everything again. 'tcpinc lab --list' names the scenarios."
    )
    parser.add_argument("scenario", nargs="?", metavar="SCENARIO", help="scenario name")
    parser.add_argument("-o", "--output", metavar="OUT.pcap", help="the capture to write")
    parser.add_argument("--keylog", metavar="KEYS", help="append the session secrets here")
    parser.add_argument("--size", type=parse_size, metavar="BYTES", help="bytes (bulk, lossy)")
    parser.add_argument(
        "--timeout", type=float, default=60.0, metavar="S", help="per process (60 s)"
    )
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")


def print_result(result: LabResult) -> None:
    out = sys.stdout
    status = "ok" if result.ok else "FAILED"
    out.write(f"tcpinc lab {result.scenario}: {status} in {result.seconds:.1f} s\n")
    packets = f" ({result.packets} packets)" if result.packets is not None else ""
    out.write(f"  capture  {result.capture}{packets}\n")
    out.write(f"  key log  {result.keylog or 'none (use --keylog KEYS)'}\n")
    if result.impairment:
        out.write(f"  impaired {result.impairment}\n")
    for who, reports in result.reports.items():
        for report in reports:
            line = " ".join(f"{k}={v}" for k, v in report.items())
            out.write(f"  {who:<13} {line}\n")
    for check in result.checks:
        mark = "ok  " if check.ok else "FAIL"
        detail = f": {check.detail}" if check.detail else ""
        out.write(f"  {mark} {check.name}{detail}\n")


def run(args: argparse.Namespace) -> int:
    if args.list:
        width = max(map(len, SCENARIOS))
        for scenario in SCENARIOS.values():
            sys.stdout.write(f"{scenario.name:<{width}}  {scenario.description}\n")
        return 0
    if not args.scenario or not args.output:
        sys.stderr.write("tcpinc lab: error: needs SCENARIO and -o OUT.pcap (see --help)\n")
        return 2
    with terminate_on_signals():
        try:
            result = run_lab(
                args.scenario,
                args.output,
                keylog=args.keylog,
                size=args.size,
                timeout=args.timeout,
            )
        except KeyboardInterrupt:
            sys.stderr.write("tcpinc lab: interrupted; namespaces deleted\n")
            return 130
        except (TcpincError, OSError) as exc:
            sys.stderr.write(f"tcpinc lab: error: {exc}\n")
            return 2
    print_result(result)
    return 0 if result.ok else 1
