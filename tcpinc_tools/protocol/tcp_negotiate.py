"""The options TCP itself builds and reads: MSS, window scale, SACK, timestamps.

Builders lay the options out as Linux does (so captures look familiar) and make room for
the hook's option bytes (TCP-ENO, RFC 8547) within the 40 bytes of option space.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from ..errors import DecodeError, LocalProtocolError
from ..wire.constants import TCP_OPTION_SPACE, TcpOptionKind
from ..wire.tcp_options import (
    decode_mss,
    decode_sack,
    decode_timestamps,
    decode_window_scale,
    encode_tcp_options,
    iter_tcp_options,
    mss_option,
    sack_option,
    sack_permitted_option,
    timestamps_option,
    window_scale_option,
)
from .tcp_seq import SEQ_MASK

__all__ = [
    "DEFAULT_PEER_MSS",
    "MAX_WINDOW_SHIFT",
    "MIN_SEND_MSS",
    "PeerOptions",
    "SynOffer",
    "build_segment_options",
    "build_syn_options",
    "parse_peer_options",
    "ts_clock",
]

# RFC 9293 §3.7.1: with no MSS option the peer's segment size is taken as 536 (IPv4).
DEFAULT_PEER_MSS: Final = 536
# Smallest segment size used for sending, whatever the peer's MSS option says, so that a
# full 40 bytes of options still leave room for data.
MIN_SEND_MSS: Final = 64
# RFC 7323 §2.3: a shift count above 14 is used as 14.
MAX_WINDOW_SHIFT: Final = 14
# RFC 7323 §5.4: the timestamp clock ticks between once a millisecond and once a second.
TS_TICKS_PER_SECOND: Final = 1000

_NOP: Final = bytes((TcpOptionKind.NOP,))


@dataclass(frozen=True, slots=True)
class PeerOptions:
    """What TCP uses from a received segment's options."""

    mss: int | None = None
    window_scale: int | None = None
    sack_permitted: bool = False
    timestamps: tuple[int, int] | None = None
    sack_blocks: tuple[tuple[int, int], ...] = ()


# RFC 9293 §3.2 (MUST-64): options TCP does not implement are ignored; so is a malformed
# one of those it does (as if absent), and only the first of each kind counts.
def parse_peer_options(options: bytes) -> PeerOptions:
    found: dict[int, object] = {}
    for opt in iter_tcp_options(options):
        if opt.error is not None or opt.kind in found:
            continue
        try:
            if opt.kind == TcpOptionKind.MSS:
                found[opt.kind] = decode_mss(opt)
            elif opt.kind == TcpOptionKind.WINDOW_SCALE:
                found[opt.kind] = decode_window_scale(opt)
            elif opt.kind == TcpOptionKind.SACK_PERMITTED:
                found[opt.kind] = opt.data == b""
            elif opt.kind == TcpOptionKind.TIMESTAMPS:
                found[opt.kind] = decode_timestamps(opt)
            elif opt.kind == TcpOptionKind.SACK:
                found[opt.kind] = decode_sack(opt)
        except DecodeError:
            continue
    mss = found.get(TcpOptionKind.MSS)
    shift = found.get(TcpOptionKind.WINDOW_SCALE)
    ts = found.get(TcpOptionKind.TIMESTAMPS)
    sack = found.get(TcpOptionKind.SACK)
    return PeerOptions(
        mss=mss if isinstance(mss, int) else None,
        window_scale=shift if isinstance(shift, int) else None,
        sack_permitted=found.get(TcpOptionKind.SACK_PERMITTED) is True,
        timestamps=ts if isinstance(ts, tuple) else None,
        sack_blocks=sack if isinstance(sack, tuple) else (),
    )


# RFC 7323 §5.4 and §7.1: a millisecond clock with a random per-connection offset.
def ts_clock(now: float, offset: int) -> int:
    return (offset + int(now * TS_TICKS_PER_SECOND)) & SEQ_MASK


@dataclass(frozen=True, slots=True)
class SynOffer:
    """TCP's own options for a SYN or SYN-ACK: None/False leaves one out."""

    mss: int
    window_scale: int | None
    sack_permitted: bool
    timestamps: tuple[int, int] | None

    def parts(self) -> list[bytes]:
        """Linux's layout: MSS, SACK-permitted, timestamps, NOP, window scale."""
        parts = [mss_option(self.mss)]
        if self.timestamps is not None:
            head = [sack_permitted_option()] if self.sack_permitted else [_NOP, _NOP]
            parts += [*head, timestamps_option(*self.timestamps)]
        elif self.sack_permitted:
            parts += [_NOP, _NOP, sack_permitted_option()]
        if self.window_scale is not None:
            parts += [_NOP, window_scale_option(self.window_scale)]
        return parts

    def shrunk(self) -> SynOffer | None:
        """The next smaller offer: without timestamps, then SACK-permitted, then window
        scale (the order the hook's options displace them in); None when nothing is left."""
        if self.timestamps is not None:
            return replace(self, timestamps=None)
        if self.sack_permitted:
            return replace(self, sack_permitted=False)
        if self.window_scale is not None:
            return replace(self, window_scale=None)
        return None


def _padded(parts: list[bytes]) -> int:
    total = sum(len(p) for p in parts)
    return total + (-total % 4)


# RFC 9293 §3.1: at most 40 bytes of options (data offset 15); RFC 8547 §4 puts the ENO
# option in that same space.
def build_syn_options(offer: SynOffer, hook: bytes) -> tuple[bytes, SynOffer]:
    """The option bytes of a SYN/SYN-ACK and the offer that fitted beside ``hook``."""
    current: SynOffer | None = offer
    while current is not None:
        parts = [*current.parts(), hook]
        if _padded(parts) <= TCP_OPTION_SPACE:
            return encode_tcp_options(parts), current
        current = current.shrunk()
    raise LocalProtocolError(
        f"the hook's {len(hook)} option bytes leave no room for the MSS option in a SYN"
    )


def build_segment_options(
    timestamps: tuple[int, int] | None, sack_blocks: list[tuple[int, int]], hook: bytes
) -> bytes:
    """Options of a non-SYN segment: NOP NOP timestamps, then as many SACK blocks as fit
    (RFC 2018 §3), then the hook's bytes."""
    head = [_NOP, _NOP, timestamps_option(*timestamps)] if timestamps is not None else []
    if _padded([*head, hook]) > TCP_OPTION_SPACE:
        raise LocalProtocolError(
            f"the hook's {len(hook)} option bytes do not fit beside TCP's own options"
        )
    for n in range(len(sack_blocks), 0, -1):
        parts = [*head, _NOP, _NOP, sack_option(sack_blocks[:n]), hook]
        if _padded(parts) <= TCP_OPTION_SPACE:
            return encode_tcp_options(parts)
    return encode_tcp_options([*head, hook])
