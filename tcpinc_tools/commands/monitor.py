"""``tcpinc monitor``: a terminal UI that watches TCPINC traffic live.

    tcpinc monitor (-i IFACE | -r CAPTURE [--follow]) [--keylog F] [--bpf FILTER]
                   [--via auto|tcpdump|dumpcap|af_packet] [--netns NS] [--export-dir DIR]

A connections table (ENO status, TEP, AEAD, resumption, session ID, counters, findings), a
detail pane for the selected connection (handshake and options, Init messages, transcript,
rekeys, findings, the decrypted conversation), totals in the header; see docs/monitor.md.

Exit status: 0 after quitting; 2 when the source or the key log cannot be used (one line on
stderr: before the screen starts when it can be told then, after it closes otherwise).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from ..errors import KeyLogError
from ..keylog import KEYLOG_ENV
from ..tui.config import MonitorConfig, SourceKind, Via
from ..tui.sources import SourceError, check_config
from . import COMMANDS

__all__ = ["HELP", "configure", "run"]

HELP: Final = COMMANDS["monitor"]
PROG: Final = "tcpinc monitor"
VIAS: Final = ("auto", "tcpdump", "dumpcap", "af_packet")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Watch TCPINC traffic in a terminal UI: live on an interface (through tcpdump or "
        "dumpcap, or an AF_PACKET socket when neither is installed), or from a capture "
        "file, also one that is still being written (--follow). Keys: ? for help, q to quit."
    )
    parser.epilog = (
        "Exit status: 0 after quitting; 2 when the source or the key log cannot be used. "
        "See docs/monitor.md."
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("-i", "--interface", metavar="IFACE", help="capture live on IFACE")
    source.add_argument("-r", "--read", metavar="CAPTURE", help="read a pcap / pcapng file")
    parser.add_argument(
        "--follow",
        action="store_true",
        help="with -r: keep reading as the file grows (tcpdump -w still writing it)",
    )
    parser.add_argument(
        "--keylog",
        metavar="F",
        help=f"tcpcrypt key log, re-read as it grows (default: ${KEYLOG_ENV}, if set)",
    )
    parser.add_argument(
        "--bpf", metavar="FILTER", help="with -i: capture filter (tcpdump syntax), e.g. 'tcp'"
    )
    parser.add_argument(
        "--via",
        choices=VIAS,
        default="auto",
        help="with -i: how to capture (auto: tcpdump, else dumpcap, else AF_PACKET)",
    )
    parser.add_argument("--netns", metavar="NS", help="with -i: the interface's network namespace")
    parser.add_argument(
        "--export-dir",
        metavar="DIR",
        default=".",
        help="where the export key (e) writes its JSON files (default: here)",
    )


def _error(message: str) -> int:
    sys.stderr.write(f"{PROG}: error: {message}\n")
    return 2


def config_from_args(args: argparse.Namespace) -> MonitorConfig:
    """The run ``args`` describe; ValueError with one line for a contradiction."""
    live = args.interface is not None
    if args.follow and live:
        raise ValueError("--follow goes with -r CAPTURE")
    for flag, value in (("--bpf", args.bpf), ("--netns", args.netns)):
        if value is not None and not live:
            raise ValueError(f"{flag} goes with -i IFACE")
    if args.via != "auto" and not live:
        raise ValueError("--via goes with -i IFACE")
    kind: SourceKind = "live" if live else ("follow" if args.follow else "file")
    via: Via = args.via
    keylog = args.keylog if args.keylog is not None else os.environ.get(KEYLOG_ENV) or None
    return MonitorConfig(
        source=kind,
        target=args.interface if live else args.read,
        keylog=keylog,
        bpf=args.bpf,
        via=via,
        netns=args.netns,
        export_dir=args.export_dir,
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        check_config(config)
    except (ValueError, SourceError) as exc:
        return _error(str(exc))
    if not sys.stdout.isatty() or not sys.stdin.isatty():
        return _error("needs a terminal (for a report on a capture: tcpinc analyze)")
    from ..tui.app import create_app  # textual: only when the screen is wanted

    try:
        app = create_app(config)
    except (SourceError, KeyLogError) as exc:
        return _error(str(exc))
    app.run()
    if app.error is not None:
        return _error(app.error)
    return 0
