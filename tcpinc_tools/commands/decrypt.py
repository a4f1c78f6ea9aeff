"""``tcpinc decrypt``: a copy of a capture with its tcpcrypt connections decrypted, for
Wireshark's own dissectors.

    tcpinc decrypt CAPTURE --keylog F -o OUT.pcap

Every connection that decrypts with the key log (``--keylog`` or TCPCRYPT_KEYLOG_FILE) is
rewritten as plain TCP carrying its application data: Init1 / Init2 and frame headers gone,
sequence and acknowledgement numbers (and SACK blocks) renumbered, ENO options turned into
NOPs, checksums recomputed; everything else is copied as it is (docs/decrypt.md,
:mod:`tcpinc_tools.analysis.rewrite`). Exit status: 0, or 2 when the capture could not be
read to its end (OUT then holds every record before the problem), the key log could not be
read, or OUT could not be written.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Final

from ..analysis.rewrite import decrypt_capture
from ..errors import CaptureError, KeyLogError
from . import COMMANDS
from .analyze import load_keylog

__all__ = ["HELP", "configure", "run"]

HELP: Final = COMMANDS["decrypt"]
PROG: Final = "tcpinc decrypt"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Write a pcap in which every tcpcrypt connection that decrypts with the key log is "
        "plain TCP carrying its application data, with consistent sequence numbers, so that "
        "Wireshark's own dissectors (HTTP, ...) read it. Other packets are copied as they are."
    )
    parser.epilog = (
        "Exit status: 0; 2 when the capture could not be read to its end (the output then "
        "holds every packet before the problem), the key log could not be read, or the "
        "output could not be written."
    )
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument(
        "--keylog", metavar="F", help="tcpcrypt key log (default: $TCPCRYPT_KEYLOG_FILE)"
    )
    parser.add_argument("-o", "--output", metavar="OUT", required=True, help="pcap to write")


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    return 2


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def run(args: argparse.Namespace) -> int:
    try:
        keylog = load_keylog(args.keylog, PROG)
    except KeyLogError as exc:
        return _fail(str(exc))
    if keylog is None:
        return _fail("a key log is needed: --keylog F, or TCPCRYPT_KEYLOG_FILE")
    if _same_file(args.capture, args.output):
        return _fail("the output cannot be the capture itself")
    try:
        stats, result = decrypt_capture(args.capture, args.output, keylog=keylog)
    except CaptureError as exc:
        return _fail(str(exc))
    status = 0
    for error in result.capture_errors:
        _fail(str(error))
        status = 2
    locked = [
        f.id
        for f in result.flows
        if f.tcpcrypt is not None and not f.tcpcrypt.decrypted and f.id not in stats.flows
    ]
    out = sys.stdout
    ids = ", ".join(map(str, stats.flows)) or "none"
    out.write(
        f"{len(stats.flows)} of {len(result.flows)} connections decrypted (flows {ids}): "
        f"{stats.frames} frames of plaintext; {stats.dropped} segments left out, "
        f"{stats.split} added by splitting; {stats.written} packets -> {args.output}\n"
    )
    if locked:
        sys.stderr.write(
            f"{PROG}: warning: tcpcrypt without a usable key, copied as they are: flows "
            f"{', '.join(map(str, locked))}\n"
        )
    if stats.undecrypted:
        sys.stderr.write(
            f"{PROG}: warning: {stats.undecrypted} frames of decrypted connections did not "
            "authenticate; their bytes are left out\n"
        )
    if stats.other_link:
        sys.stderr.write(
            f"{PROG}: warning: {stats.other_link} packets of another link type than the "
            "first packet's are left out\n"
        )
    return status
