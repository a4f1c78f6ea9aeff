"""The ``tcpeno.option_space`` note: how a SYN spends its 40 option bytes (RFC 9293 §3.1,
RFC 8547 §4.1; DIGEST.md trap T22), each option by name and size."""

from __future__ import annotations

from typing import Final

from ..wire.constants import TCP_OPTION_SPACE, TcpOptionKind
from ..wire.tcp_options import SynOptionReport, is_eno_option

__all__ = ["space_note_text"]

_OPTION_NAMES: Final[dict[int, str]] = {
    TcpOptionKind.EOL: "EOL",
    TcpOptionKind.NOP: "NOP",
    TcpOptionKind.MSS: "MSS",
    TcpOptionKind.WINDOW_SCALE: "window scale",
    TcpOptionKind.SACK_PERMITTED: "SACK-permitted",
    TcpOptionKind.SACK: "SACK",
    TcpOptionKind.TIMESTAMPS: "timestamps",
    TcpOptionKind.MPTCP: "MPTCP",
    TcpOptionKind.TFO: "TFO",
    TcpOptionKind.ENO: "ENO",
}

# tcpeno.option_space messages by (segment kind, option layout); cleared when full.
_SPACE_NOTES: dict[tuple[str, tuple[tuple[int, int], ...]], str] = {}
_SPACE_NOTES_MAX: Final = 4096


def _space_text(report: SynOptionReport, kind: str) -> str:
    """The ``tcpeno.option_space`` message: each option's name and size, the total."""
    parts = []
    for opt in report.options:
        if opt.kind == TcpOptionKind.EOL:
            parts.append("EOL 1")
            continue
        name = _OPTION_NAMES.get(opt.kind, f"kind {opt.kind}")
        if opt.kind == TcpOptionKind.EXPERIMENTAL_1 and is_eno_option(opt):
            name = "ENO (kind 253)"
        parts.append(f"{name} {opt.length}")
    return (
        f"{kind} uses {report.total_used} of {TCP_OPTION_SPACE} option bytes "
        f"({', '.join(parts)}); {report.space_left} left"
    )


def space_note_text(report: SynOptionReport, kind: str) -> str:
    """The note's message for a SYN-form segment of ``kind`` ("SYN", "SYN-ACK")."""
    # SYNs of one stack share their layout: the message is cached by it (the kinds and
    # sizes in order; kind 253 is named by its contents, so those are not cached).
    key = (kind, report.space_used)
    text = _SPACE_NOTES.get(key)
    if text is None:
        text = _space_text(report, kind)
        if not any(k == TcpOptionKind.EXPERIMENTAL_1 for k, _ in report.space_used):
            if len(_SPACE_NOTES) >= _SPACE_NOTES_MAX:
                _SPACE_NOTES.clear()
            _SPACE_NOTES[key] = text
    return text
