"""Middlebox and attacker behaviours, as link stages (see :mod:`.link` for how stages compose).

Each stage acts on the packets its ``match`` predicate picks: the ``skip`` first matches
pass untouched, then at most ``limit`` of them are changed (``None``: every one). What a
stage does to a segment is what a device on the path would do, and the TCP checksum is
always right (the capture writes it for the final bytes: a rewriting middlebox fixes it up,
as real ones do).

    StripEno        overwrite the ENO option with NOPs (or cut it out): RFC 8547 §6, Fig. 11
    RewriteOption   replace one option kind's bytes (a mangled, doubled or dropped option)
    AddOptions      append options another extension of the sending host adds (MPTCP, TFO)
    RewriteSegment  any change to a whole segment (cut a payload, swap it for cleartext)
    TamperPayload   flip one payload byte (a frame that fails its AEAD tag)
    InjectAfter     forge an extra packet after a matching one (an injected RST)
    Replay          send a copy of a matching packet again later (a replayed SYN)

These are the only places the simulator produces bytes an honest stack would not send; the
protocol stacks themselves have no misbehaviour switches.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from ..errors import DecodeError, LocalProtocolError
from ..protocol.segment import Segment
from ..wire.constants import TCP_OPTION_SPACE, TcpOptionKind
from ..wire.eno import EnoOption, decode_eno_option
from ..wire.tcp_options import encode_tcp_options, is_eno_option, iter_tcp_options
from .link import Emitted, Packet, Stage

__all__ = [
    "AddOptions",
    "InjectAfter",
    "Match",
    "Replay",
    "RewriteOption",
    "RewriteSegment",
    "StripEno",
    "TamperPayload",
    "all_of",
    "eno_option",
    "has_fin",
    "has_payload",
    "is_syn_ack",
    "is_syn_only",
    "offers_resumption",
    "rewrite_options",
]

Match = Callable[[Packet], bool]
_NOP = bytes((TcpOptionKind.NOP,))


# -- predicates ------------------------------------------------------------------------------


def is_syn_only(packet: Packet) -> bool:
    return packet.segment.is_syn and not packet.segment.is_ack


def is_syn_ack(packet: Packet) -> bool:
    return packet.segment.is_syn and packet.segment.is_ack


def has_payload(packet: Packet) -> bool:
    return bool(packet.segment.payload)


def has_fin(packet: Packet) -> bool:
    return packet.segment.is_fin


def all_of(*matches: Match) -> Match:
    return lambda packet: all(m(packet) for m in matches)


def eno_option(seg: Segment) -> EnoOption | None:
    """The SYN-form ENO option of a SYN segment, if it has exactly one well-formed one."""
    enos = [o for o in iter_tcp_options(seg.options) if is_eno_option(o)]
    if len(enos) != 1:
        return None
    try:
        return decode_eno_option(enos[0].raw, syn=True)
    except DecodeError:
        return None


def offers_resumption(packet: Packet) -> bool:
    """A SYN-only segment whose ENO option carries a resumption suboption (RFC 8548 §3.5:
    a tcpcrypt TEP with v = 1 and at least 9 bytes of data; the legacy SYN's exactly 9)."""
    if not is_syn_only(packet):
        return False
    opt = eno_option(packet.segment)
    return opt is not None and any(s.v and len(s.data) >= 9 for s in opt.suboptions)


# -- option surgery --------------------------------------------------------------------------


# RFC 9293 §3.1: options are kind (NOP, EOL: one byte) or kind, length, data; the list is
# padded to a 32-bit boundary. The EOL and its padding are dropped and made again.
def rewrite_options(options: bytes, kind: int, rewrite: Callable[[bytes], bytes]) -> bytes:
    """``options`` with every option of ``kind`` (ENO: the ENO kinds, RFC 8547 §4.1 and the
    legacy 253/0x454E) replaced by ``rewrite(raw)``, re-padded; at most 40 bytes."""
    parts: list[bytes] = []
    for opt in iter_tcp_options(options):
        if opt.kind == TcpOptionKind.EOL:
            continue
        wanted = is_eno_option(opt) if kind == TcpOptionKind.ENO else opt.kind == kind
        parts.append(rewrite(opt.raw) if wanted else opt.raw)
    return encode_tcp_options(parts)


class _Matching(Stage):
    """Applies :meth:`apply` to the matching packets past ``skip``, at most ``limit``."""

    def __init__(self, match: Match, *, skip: int = 0, limit: int | None = 1) -> None:
        self.match = match
        self.skip = skip
        self.limit = limit
        self.matched = 0
        self.applied = 0

    def process(self, packet: Packet, now: float) -> Emitted:
        if self.match(packet):
            self.matched += 1
            if self.matched > self.skip and (self.limit is None or self.applied < self.limit):
                self.applied += 1
                return self.apply(packet, now)
        return [(now, packet)]

    def apply(self, packet: Packet, now: float) -> Emitted:
        return [(now, packet)]


class RewriteOption(_Matching):
    """Replace the raw bytes of each option of ``kind`` with ``rewrite(raw)`` (empty drops
    it; two options' worth of bytes doubles it)."""

    def __init__(
        self,
        match: Match,
        kind: int,
        rewrite: Callable[[bytes], bytes],
        *,
        skip: int = 0,
        limit: int | None = 1,
    ) -> None:
        super().__init__(match, skip=skip, limit=limit)
        self.kind = kind
        self.rewrite = rewrite

    def apply(self, packet: Packet, now: float) -> Emitted:
        seg = packet.segment
        options = rewrite_options(seg.options, self.kind, self.rewrite)
        return [(now, packet.with_segment(replace(seg, options=options)))]


class StripEno(RewriteOption):
    """A middlebox that removes TCP-ENO: overwritten with NOPs (the header keeps its size,
    as many firewalls do it) or, with ``nop=False``, cut out and the options re-padded."""

    def __init__(
        self, match: Match, *, nop: bool = True, skip: int = 0, limit: int | None = 1
    ) -> None:
        blank: Callable[[bytes], bytes] = (lambda raw: _NOP * len(raw)) if nop else _drop
        super().__init__(match, TcpOptionKind.ENO, blank, skip=skip, limit=limit)


def _drop(raw: bytes) -> bytes:
    return b""


class AddOptions(_Matching):
    """Options another part of the sending host's stack adds (e.g. MPTCP, TFO), appended
    in order while they fit in the 40 bytes; the ones that do not are left out (and
    counted in ``left_out``), as a stack under option-space pressure does."""

    def __init__(
        self, match: Match, options: Sequence[bytes], *, skip: int = 0, limit: int | None = None
    ) -> None:
        super().__init__(match, skip=skip, limit=limit)
        self.options = tuple(bytes(o) for o in options)
        self.left_out: list[bytes] = []

    def apply(self, packet: Packet, now: float) -> Emitted:
        seg = packet.segment
        parts = [o.raw for o in iter_tcp_options(seg.options) if o.kind != TcpOptionKind.EOL]
        for option in self.options:
            if sum(map(len, parts)) + len(option) <= TCP_OPTION_SPACE:
                parts.append(option)
            else:
                self.left_out.append(option)
        return [(now, packet.with_segment(replace(seg, options=encode_tcp_options(parts))))]


class RewriteSegment(_Matching):
    """Replace a matching segment by ``rewrite(segment)``; None drops it."""

    def __init__(
        self,
        match: Match,
        rewrite: Callable[[Segment], Segment | None],
        *,
        skip: int = 0,
        limit: int | None = 1,
    ) -> None:
        super().__init__(match, skip=skip, limit=limit)
        self.rewrite = rewrite

    def apply(self, packet: Packet, now: float) -> Emitted:
        seg = self.rewrite(packet.segment)
        return [] if seg is None else [(now, packet.with_segment(seg))]


class TamperPayload(_Matching):
    """XOR one payload byte (``index`` counts from the start, negative from the end)."""

    def __init__(
        self,
        match: Match,
        *,
        index: int = -1,
        xor: int = 0x01,
        skip: int = 0,
        limit: int | None = 1,
    ) -> None:
        super().__init__(match, skip=skip, limit=limit)
        if not 1 <= xor <= 0xFF:
            raise LocalProtocolError(f"xor {xor} must change the byte (1..255)")
        self.index = index
        self.xor = xor

    def apply(self, packet: Packet, now: float) -> Emitted:
        seg = packet.segment
        payload = bytearray(seg.payload)
        if not payload:
            raise LocalProtocolError(f"no payload to tamper with: {packet.describe()}")
        payload[self.index] ^= self.xor
        return [(now, packet.with_segment(replace(seg, payload=bytes(payload))))]


class InjectAfter(_Matching):
    """After a matching packet, a forged one: ``forge(packet)``, ``delay`` seconds later."""

    def __init__(
        self,
        match: Match,
        forge: Callable[[Packet], Packet],
        *,
        delay: float = 0.0,
        skip: int = 0,
        limit: int | None = 1,
    ) -> None:
        super().__init__(match, skip=skip, limit=limit)
        self.forge = forge
        self.delay = delay
        self.injected: list[Packet] = []

    def apply(self, packet: Packet, now: float) -> Emitted:
        forged = self.forge(packet)
        self.injected.append(forged)
        return [(now, packet), (now + self.delay, forged)]


class Replay(_Matching):
    """A recorder that sends a matching packet again, byte for byte, ``after`` seconds
    later (the original goes on at once)."""

    def __init__(self, match: Match, *, after: float, skip: int = 0, limit: int | None = 1) -> None:
        super().__init__(match, skip=skip, limit=limit)
        if after <= 0:
            raise LocalProtocolError(f"replay delay {after} must be positive")
        self.after = after

    def apply(self, packet: Packet, now: float) -> Emitted:
        return [(now, packet), (now + self.after, packet)]
