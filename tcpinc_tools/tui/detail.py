"""The detail of one connection as rich renderables: handshake, option space, ENO outcome,
tcpcrypt session, rekeys, findings, and the decrypted conversation.

Pure functions of a :class:`~tcpinc_tools.tui.model.Row`: the detail pane widget shows what
:func:`render_detail` returns. Option bytes are decoded with the wire codecs for display;
nothing here decides anything about the connection (the analysis did).
"""

from __future__ import annotations

from typing import Final

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..analysis.follow import escape_bytes
from ..analysis.live import FlowSnapshot, HandshakePacket
from ..analysis.model import Finding
from ..analysis.registry import Severity
from ..analysis.report import endpoint_text
from ..errors import DecodeError
from ..wire.constants import (
    GLOBAL_A,
    GLOBAL_B,
    TCP_OPTION_SPACE,
    AeadId,
    LegacyAeadId,
    TcpFlag,
    TcpOptionKind,
    tep_name,
)
from ..wire.eno import EnoOption, decode_eno_option
from ..wire.tcp_options import is_eno_option, iter_tcp_options, syn_option_report
from ..wire.tcpcrypt import Init1, Init2
from .model import Row

__all__ = [
    "DIRECTION_STYLE",
    "SEVERITY_STYLE",
    "STATUS_STYLE",
    "option_bar",
    "render_detail",
]

STATUS_STYLE: Final = {
    "encrypted": "green",
    "fallback": "yellow",
    "incomplete": "magenta",
    "plain": "bright_black",
}
SEVERITY_STYLE: Final = {
    Severity.ERROR: "bold red",
    Severity.WARN: "yellow",
    Severity.NOTE: "cyan",
    Severity.CHAT: "bright_black",
}
# Wireshark's Follow TCP Stream colours: client to server red, server to client blue.
DIRECTION_STYLE: Final = {"client_to_server": "red", "server_to_client": "blue"}
_SHORT_ARROW: Final = {"client_to_server": "c→s", "server_to_client": "s→c"}
_ARROW: Final = {"client_to_server": "client → server", "server_to_client": "server → client"}
# Short names and bar colours of the options a SYN usually carries.
_OPTION_STYLE: Final[dict[int, tuple[str, str]]] = {
    TcpOptionKind.EOL: ("EOL", "grey50"),
    TcpOptionKind.NOP: ("NOP", "grey50"),
    TcpOptionKind.MSS: ("MSS", "blue"),
    TcpOptionKind.WINDOW_SCALE: ("WS", "cyan"),
    TcpOptionKind.SACK_PERMITTED: ("SACKok", "magenta"),
    TcpOptionKind.SACK: ("SACK", "magenta"),
    TcpOptionKind.TIMESTAMPS: ("TS", "yellow"),
    TcpOptionKind.MPTCP: ("MPTCP", "bright_blue"),
    TcpOptionKind.TFO: ("TFO", "bright_magenta"),
}
_ENO_STYLE: Final = "bold green"
_HEX_SHOWN: Final = 32  # bytes of a long value (public key) shown in hex
_FINDINGS_SHOWN: Final = 50


def _flags(flags: int) -> str:
    if flags & TcpFlag.SYN and flags & TcpFlag.ACK:
        return "SYN-ACK"
    return "-".join(f.name for f in TcpFlag if flags & f and f.name is not None) or "none"


def _short_hex(data: bytes, shown: int = _HEX_SHOWN) -> str:
    text = data[:shown].hex()
    return f"{text}… ({len(data)} bytes)" if len(data) > shown else text


def option_bar(options: bytes) -> Text:
    """The 40 bytes of a SYN's option space, one cell per byte, each option in its colour
    with its name (ENO bold green, free bytes as ``░``); on the next line a legend with
    the sizes (consecutive NOPs counted together)."""
    report = syn_option_report(options)
    bar = Text()
    legend: list[tuple[str, int, str]] = []  # (name, bytes, style)
    for opt, (kind, size) in zip(report.options, report.space_used, strict=True):
        if size <= 0:
            continue
        if is_eno_option(opt):
            name = "ENO" if kind == TcpOptionKind.ENO else "ENO/253"
            style = _ENO_STYLE
        else:
            name, style = _OPTION_STYLE.get(kind, (f"kind{kind}", "white"))
        if legend and kind == TcpOptionKind.NOP and legend[-1][0] == name:
            legend[-1] = (name, legend[-1][1] + size, style)
        else:
            legend.append((name, size, style))
        label = name if len(name) <= size else name[:size]
        bar.append(label.ljust(size), style=f"reverse {style}")
    bar.append("░" * max(report.space_left, 0), style="grey50")
    used = f" {report.total_used}/{TCP_OPTION_SPACE} bytes, {report.space_left} free"
    bar.append(used, style="bold red" if report.space_left < 0 else "grey50")
    bar.append("\n")
    for index, (name, size, style) in enumerate(legend):
        if index:
            bar.append(" · ", style="grey50")
        bar.append(f"{name} {size}", style=style)
    return bar


def _eno_line(opt: EnoOption) -> Text:
    line = Text()
    if opt.kind == TcpOptionKind.EXPERIMENTAL_1:
        line.append("kind 253/0x454E ", style="yellow")
    if not opt.syn:
        line.append(f"non-SYN form, contents {opt.contents.hex() or '(none)'}")
        return line
    if opt.global_suboption is not None:
        g = opt.global_suboption
        line.append(
            f"global 0x{g:02x} (b={int(bool(g & GLOBAL_B))} a={int(bool(g & GLOBAL_A))}) ",
            style="bold",
        )
    else:
        line.append("global (implicit 0x00) ", style="grey50")
    for sub in opt.suboptions:
        name = (sub.name or f"0x{sub.tep:02x}").removeprefix("TCPCRYPT_ECDHE_")
        text = f"{name} 0x{sub.byte:02x}"
        if sub.v:
            text += f" v=1 +{len(sub.data)} bytes" if sub.data else " v=1"
        line.append(f"[{text}] ", style="cyan")
    return line


def _handshake_row(pkt: HandshakePacket) -> list[RenderableType]:
    syn = bool(pkt.flags & TcpFlag.SYN)
    lines: list[RenderableType] = []
    for opt in iter_tcp_options(pkt.options):
        if not is_eno_option(opt):
            continue
        try:
            decoded = decode_eno_option(opt.raw, syn=syn)
        except DecodeError as exc:
            lines.append(Text(f"ENO {opt.raw.hex()}: {exc}", style="red"))
            continue
        lines.append(Text.assemble("ENO ", (opt.raw.hex(), _ENO_STYLE)))
        lines.append(_eno_line(decoded))
    if not lines:
        lines.append(Text("no ENO option", style="grey50"))
    if syn:
        lines.append(option_bar(pkt.options))
    return [
        Text(f"#{pkt.packet}"),
        Text(
            _ARROW.get(pkt.direction, pkt.direction), style=DIRECTION_STYLE.get(pkt.direction, "")
        ),
        Text(_flags(pkt.flags), style="bold"),
        Group(*lines),
    ]


def _section(title: str) -> Text:
    return Text(f"\n{title}", style="bold underline")


def _kv(table: Table, key: str, value: str | Text) -> None:
    table.add_row(Text(key, style="bold"), value if isinstance(value, Text) else Text(value))


def _kv_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    return table


def _aead_text(cipher: int, dialect: str) -> str:
    try:
        if dialect == "legacy":
            return f"0x{cipher:02x} {LegacyAeadId(cipher).name}"
        return f"0x{cipher:04x} {AeadId(cipher).name}"
    except ValueError:
        return f"0x{cipher:04x} (unknown)"


def _init_rows(table: Table, init1: Init1 | None, init2: Init2 | None, dialect: str) -> None:
    if init1 is not None:
        ciphers = ", ".join(_aead_text(c, dialect) for c in init1.ciphers)
        _kv(table, "Init1", f"message_len {init1.message_len}, ciphers {ciphers}")
        _kv(table, "  N_A", init1.n_a.hex())
        _kv(table, "  Pub_A", _short_hex(init1.pubkey))
        if init1.trailing:
            _kv(table, "  ignored", _short_hex(init1.trailing))
    if init2 is not None:
        _kv(
            table,
            "Init2",
            f"message_len {init2.message_len}, cipher {_aead_text(init2.cipher, dialect)}",
        )
        _kv(table, "  N_B", init2.n_b.hex())
        _kv(table, "  Pub_B", _short_hex(init2.pubkey))
        if init2.trailing:
            _kv(table, "  ignored", _short_hex(init2.trailing))


def _findings(findings: tuple[Finding, ...]) -> RenderableType:
    if not findings:
        return Text("none", style="grey50")
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, justify="right")
    table.add_column(overflow="fold")
    for finding in findings[:_FINDINGS_SHOWN]:
        table.add_row(
            Text(finding.severity.value, style=SEVERITY_STYLE[finding.severity]),
            finding.id,
            f"#{finding.packet}" if finding.packet is not None else "",
            finding.message,
        )
    if len(findings) > _FINDINGS_SHOWN:
        table.add_row("", f"… {len(findings) - _FINDINGS_SHOWN} more", "", "")
    return table


def _conversation(snap: FlowSnapshot) -> RenderableType:
    tc = snap.result.tcpcrypt
    if tc is None:
        return Text("not a tcpcrypt connection", style="grey50")
    if not tc.decrypted:
        why = (
            "no secret for this session in the key log"
            if tc.frames_a_to_b + tc.frames_b_to_a
            else "no frames yet"
        )
        return Text(f"not decrypted: {why}", style="grey50")
    text = Text()
    for piece in snap.conversation:
        style = DIRECTION_STYLE.get(piece.direction, "")
        text.append(escape_bytes(piece.data), style=style)
        if not piece.data.endswith(b"\n"):
            text.append("\n")
    cut_c2s, cut_s2c = snap.conversation_cut
    if cut_c2s or cut_s2c:
        text.append(
            f"… {cut_c2s} more bytes client → server, {cut_s2c} server → client\n",
            style="grey50",
        )
    return text


def render_detail(row: Row | None) -> RenderableType:
    """Everything the detail pane shows for ``row`` (a hint when no row is selected)."""
    if row is None:
        return Text(
            "Select a connection (↑/↓) to see its handshake, session and findings.", style="grey50"
        )
    snap = row.snapshot
    flow = snap.result
    eno = flow.eno
    tc = flow.tcpcrypt
    status = row.status
    title = Text()
    title.append(f"Connection {flow.id}  ", style="bold")
    title.append(f"{endpoint_text(flow.client)} → {endpoint_text(flow.server)}  ")
    label: str = "no ENO" if eno is None else eno.status
    if eno is not None and eno.reason:
        label += f" ({eno.reason})"
    title.append(label, style=f"bold {STATUS_STYLE[status]}")
    if eno is not None:
        title.append(f"  {eno.dialect} dialect", style="grey50")
    title.append("  open" if snap.active else "  closed", style="grey50")
    facts = Text(
        f"packets {flow.packets} from #{flow.first_packet}, "
        f"{flow.bytes_client_to_server} bytes client → server, "
        f"{flow.bytes_server_to_client} bytes server → client, "
        f"{max(flow.last_ts - flow.first_ts, 0.0):.3f} s",
        style="grey50",
    )
    parts: list[RenderableType] = [title, facts, _section("Handshake")]
    if snap.handshake:
        table = Table.grid(padding=(0, 1))
        for _ in range(3):
            table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for pkt in snap.handshake:
            table.add_row(*_handshake_row(pkt))
        parts.append(table)
    else:
        parts.append(Text("no SYN captured", style="grey50"))
    if eno is not None:
        parts.append(_section("TCP-ENO"))
        table = _kv_table()
        role_a = "client" if eno.a_is_client else "server"
        _kv(table, "A / B", f"{endpoint_text(eno.host_a)} ({role_a}) / {endpoint_text(eno.host_b)}")
        if eno.global_a is not None or eno.global_b is not None:
            ga = "-" if eno.global_a is None else f"0x{eno.global_a:02x}"
            gb = "-" if eno.global_b is None else f"0x{eno.global_b:02x}"
            _kv(table, "global A / B", f"{ga} / {gb}")
        if eno.negotiated_tep is not None:
            byte = eno.negotiated_tep_byte
            _kv(
                table,
                "TEP",
                f"0x{eno.negotiated_tep:02x} {eno.tep_name or tep_name(eno.negotiated_tep)}"
                + (f" (byte 0x{byte:02x})" if byte is not None else ""),
            )
        if eno.simultaneous_open:
            _kv(table, "open", "simultaneous")
        _kv(table, "transcript", eno.transcript.hex() if eno.transcript else "-")
        parts.append(table)
    if tc is not None:
        parts.append(_section("tcpcrypt"))
        table = _kv_table()
        _kv(table, "AEAD", tc.aead or "-")
        _kv(table, "resumed", "yes" if tc.resumed else "no")
        _kv(table, "session ID", tc.session_id.hex() if tc.session_id else "- (no key)")
        _init_rows(table, snap.init1, snap.init2, eno.dialect if eno else "rfc")
        _kv(
            table,
            "frames",
            f"A→B {tc.frames_a_to_b}, B→A {tc.frames_b_to_a}; decrypted {tc.frames_decrypted}, "
            f"failures {tc.decrypt_failures}",
        )
        fin = {True: "yes", False: "NO", None: "-"}[tc.fin_authenticated]
        _kv(table, "FIN by FINp", fin)
        rekeys = f"{tc.rekeys}"
        if snap.rekeys:
            listed = ", ".join(
                f"#{r.packet} {_SHORT_ARROW.get(r.direction, '?')} gen {r.generation}"
                for r in snap.rekeys[:8]
            )
            rekeys += f" ({listed}{', …' if len(snap.rekeys) > 8 else ''})"
        _kv(table, "rekeys", rekeys)
        parts.append(table)
    parts.append(_section(f"Findings ({len(row.findings)})"))
    parts.append(_findings(row.findings))
    parts.append(_section("Conversation"))
    parts.append(_conversation(snap))
    return Group(*parts)
