"""``tcpinc follow``: one connection's conversation as text, like Wireshark's "Follow TCP
Stream", decrypted with a key log.

    tcpinc follow CAPTURE [--keylog F] [--flow N | --all]

Without ``--flow`` it shows the first tcpcrypt connection that decrypts (else the first
tcpcrypt one, else the first connection); ``--flow N`` picks a connection by its id (the
``id`` column of ``tcpinc analyze``), ``--all`` shows every one. Lines from the client are
marked ``>``, from the server ``<`` (and red / blue on a terminal, as Wireshark colours
them); bytes that are not printable ASCII are shown as ``\\xNN``, a backslash as ``\\\\``.
Plain TCP connections are shown as they are; a tcpcrypt connection without its key says so.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final

from rich.console import Console
from rich.text import Text

from ..analysis.follow import CLIENT_TO_SERVER, Conversation, Piece, escape_bytes, follow_capture
from ..analysis.report import endpoint_text
from ..errors import KeyLogError
from . import COMMANDS
from .analyze import load_keylog
from .render import A_TO_B_STYLE, B_TO_A_STYLE, make_console, short_aead, short_tep

__all__ = ["HELP", "configure", "render_conversation", "run"]

HELP: Final = COMMANDS["follow"]
PROG: Final = "tcpinc follow"
RULE: Final = "=" * 67  # as wide as tshark's -z follow separators


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Print one connection's application data in capture order, client lines marked '>' "
        "and server lines '<', decrypted with the key log; like Wireshark's Follow TCP Stream."
    )
    parser.epilog = (
        "Without --flow: the first tcpcrypt connection that decrypts (else the first "
        "connection). Exit status: 0; 2 when the capture or the key log could not be read, or "
        "there is no such flow."
    )
    parser.add_argument("capture", metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument(
        "--keylog", metavar="F", help="tcpcrypt key log (default: $TCPCRYPT_KEYLOG_FILE)"
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--flow", type=int, metavar="N", help="the connection with id N")
    which.add_argument("--all", action="store_true", help="every connection, one after another")


def _fail(message: str) -> int:
    sys.stderr.write(f"{PROG}: {message}\n")
    return 2


def _merged(pieces: tuple[Piece, ...]) -> list[tuple[str, bytes]]:
    """Consecutive pieces of one direction joined (a line may span frames)."""
    out: list[tuple[str, bytes]] = []
    for piece in pieces:
        if out and out[-1][0] == piece.direction:
            out[-1] = (piece.direction, out[-1][1] + piece.data)
        else:
            out.append((piece.direction, piece.data))
    return out


def _describe(conv: Conversation) -> str:
    flow = conv.flow
    eno, tc = flow.eno, flow.tcpcrypt
    if tc is not None:
        what = f"tcpcrypt {short_tep(eno.tep_name if eno else None)} {short_aead(tc.aead)}"
        if tc.resumed:
            what += " resumed"
        return what + (", decrypted" if conv.mode == "decrypted" else ", not decrypted")
    if eno is not None and eno.status == "fallback":
        return f"plain TCP (TCP-ENO fell back: {eno.reason})"
    if eno is not None:
        return f"TCP-ENO {eno.status}, not tcpcrypt: shown as sent"
    return "plain TCP"


def render_conversation(console: Console, conv: Conversation) -> None:
    """One conversation: a header, the data by direction, the byte counts."""
    flow = conv.flow
    console.print(Text(RULE))
    console.print(Text(f"Follow: flow {flow.id}, {_describe(conv)}"))
    console.print(Text(f"Client: {endpoint_text(flow.client)}  (lines marked >)"))
    console.print(Text(f"Server: {endpoint_text(flow.server)}  (lines marked <)"))
    console.print(Text(RULE))
    if conv.mode == "encrypted":
        tc = flow.tcpcrypt
        frames = (tc.frames_a_to_b + tc.frames_b_to_a) if tc is not None else 0
        console.print(
            Text(
                f"({frames} frames not decrypted: no key for this session in the key log)",
                style="dim",
            )
        )
    for direction, data in _merged(conv.pieces):
        client = direction == CLIENT_TO_SERVER
        marker, style = ("> ", A_TO_B_STYLE) if client else ("< ", B_TO_A_STYLE)
        text = escape_bytes(data)
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        body = Text()
        for line in lines:
            body.append(marker + line + "\n", style=style)
        console.print(body, end="")
    console.print(Text(RULE))
    cut = ""
    if any(conv.cut):
        cut = f" (not shown: {conv.cut[0]} client bytes, {conv.cut[1]} server bytes)"
    console.print(
        Text(
            f"client {conv.total(CLIENT_TO_SERVER)} bytes, server "
            f"{conv.total('server_to_client')} bytes{cut}"
        )
    )


def run(args: argparse.Namespace) -> int:
    try:
        keylog = load_keylog(args.keylog, PROG)
    except KeyLogError as exc:
        return _fail(str(exc))
    conversations, result = follow_capture(
        args.capture, keylog=keylog, flow=args.flow, every=args.all
    )
    status = 0
    for error in result.capture_errors:
        _fail(str(error))
        status = 2
    if not conversations:
        if args.flow is not None:
            ids = [f.id for f in result.flows]
            known = f"flows {ids[0]}-{ids[-1]}" if ids else "no flows"
            return _fail(f"no flow {args.flow} in {args.capture} ({known})")
        if not result.capture_errors:
            sys.stderr.write(f"{PROG}: {args.capture} has no TCP connection\n")
        return status
    console = make_console()
    for conv in conversations:
        render_conversation(console, conv)
    if args.flow is None and not args.all and len(result.flows) > 1:
        sys.stderr.write(
            f"{PROG}: showing flow {conversations[0].flow.id} of {len(result.flows)}; "
            "pick another with --flow N (ids: tcpinc analyze), or --all\n"
        )
    return status
