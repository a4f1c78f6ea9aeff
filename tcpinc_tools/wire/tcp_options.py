"""TCP option area: a walker that reports anomalies, builders, and the SYN option account.

:func:`iter_tcp_options` never repairs what it reads (unlike dpkt's ``parse_opts``, which
treats lengths below 2 as 2 and reads past EOL): each anomaly is an ``error`` expert id on
the option where it was seen, and the walk stops where the bytes can no longer be trusted.

Invariant: ``b"".join(o.raw for o in iter_tcp_options(data)) == data`` for any ``data``.
The option that ends the walk (EOL, or an ill-formed option) has as ``raw`` everything from
its kind byte to the end of the area.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ..errors import EncodeError, MalformedError
from ..records import picklable
from .buffer import BytesLike
from .constants import ENO_EXID, TCP_OPTION_SPACE, TcpOptionKind

__all__ = [
    "OptionAnomaly",
    "SynOptionReport",
    "TcpOption",
    "decode_mss",
    "decode_sack",
    "decode_sack_permitted",
    "decode_timestamps",
    "decode_window_scale",
    "encode_tcp_options",
    "is_eno_option",
    "iter_tcp_options",
    "mss_option",
    "sack_option",
    "sack_permitted_option",
    "syn_option_report",
    "timestamps_option",
    "window_scale_option",
]

# Expert ids (the shared vocabulary of findings).
DATA_AFTER_EOL = "tcp.option.data_after_eol"
BAD_LENGTH = "tcp.option.bad_length"
PAST_END = "tcp.option.past_end"
MULTIPLE_ENO = "tcpeno.multiple_eno"
MIXED_KINDS = "tcpeno.mixed_kinds"
TFO_WITH_ENO = "tcpeno.tfo_with_eno"

_ENO_EXID_BYTES = ENO_EXID.to_bytes(2, "big")
_EOL = int(TcpOptionKind.EOL)
_NOP = int(TcpOptionKind.NOP)
_ENO = int(TcpOptionKind.ENO)
_EXP1 = int(TcpOptionKind.EXPERIMENTAL_1)


@dataclass(frozen=True, slots=True, init=False)
class TcpOption:
    """One option of a TCP header.

    ``data`` is what follows kind and length; for EOL it is the padding after the EOL byte.
    ``raw`` is the option as on the wire (for EOL: the EOL byte and its padding; for an
    ill-formed option that ends the walk: every byte from its kind byte on).
    """

    kind: int
    offset: int
    data: bytes
    raw: bytes
    error: str | None = None

    def __init__(
        self, kind: int, offset: int, data: bytes, raw: bytes, error: str | None = None
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "error", error)

    @property
    def length(self) -> int:
        return len(self.raw)


# RFC 9293 §3.1 (Options): EOL ends the list, NOP is one byte, every other option is
# kind, length (counting kind and length), data.
def iter_tcp_options(data: BytesLike) -> Iterator[TcpOption]:
    """Walk a TCP header's option bytes (after the 20 fixed bytes). Never raises."""
    return iter(_walk(bytes(data)))


# RFC 9293 §3.1 (Options): the walk itself, as a list (no generator frames per option).
def _walk(data: bytes) -> list[TcpOption]:
    out: list[TcpOption] = []
    append = out.append
    end = len(data)
    i = 0
    while i < end:
        kind = data[i]
        if kind == _EOL:
            padding = data[i + 1 :]
            error = DATA_AFTER_EOL if any(padding) else None
            append(TcpOption(kind, i, padding, data[i:], error))
            break
        if kind == _NOP:
            append(_NOPS[i] if i < TCP_OPTION_SPACE else TcpOption(kind, i, b"", b"\x01"))
            i += 1
            continue
        if i + 1 >= end:
            append(TcpOption(kind, i, b"", data[i:], PAST_END))
            break
        length = data[i + 1]
        if length < 2:
            append(TcpOption(kind, i, data[i + 2 :], data[i:], BAD_LENGTH))
            break
        if i + length > end:
            append(TcpOption(kind, i, data[i + 2 :], data[i:], PAST_END))
            break
        append(TcpOption(kind, i, data[i + 2 : i + length], data[i : i + length]))
        i += length
    return out


# The NOP option at each offset of a 40-byte option area (options are immutable: shared).
_NOPS: tuple[TcpOption, ...] = tuple(TcpOption(_NOP, i, b"", b"\x01") for i in range(40))


# RFC 9293 §3.1: the options end on a 32-bit boundary, padded with zeros (EOL is 0).
def encode_tcp_options(options: Iterable[bytes]) -> bytes:
    """Concatenate whole options and pad with zero bytes to a multiple of 4."""
    out = b"".join(bytes(o) for o in options)
    out += bytes(-len(out) % 4)
    if len(out) > TCP_OPTION_SPACE:
        raise EncodeError(f"{len(out)} bytes of TCP options, at most {TCP_OPTION_SPACE} fit")
    return out


def _uint(value: int, width: int, what: str) -> bytes:
    if not 0 <= value < 1 << (8 * width):
        raise EncodeError(f"{what} {value} does not fit in {width} byte(s)")
    return value.to_bytes(width, "big")


# RFC 9293 §3.1: MSS is kind 2, length 4, a 16-bit segment size.
def mss_option(mss: int) -> bytes:
    return bytes((TcpOptionKind.MSS, 4)) + _uint(mss, 2, "MSS")


# RFC 7323 §2.2: window scale is kind 3, length 3, a shift count (receivers cap it at 14).
def window_scale_option(shift: int) -> bytes:
    return bytes((TcpOptionKind.WINDOW_SCALE, 3)) + _uint(shift, 1, "window scale shift")


# RFC 2018 §2: SACK-permitted is kind 4, length 2.
def sack_permitted_option() -> bytes:
    return bytes((TcpOptionKind.SACK_PERMITTED, 2))


# RFC 7323 §3.2: timestamps are kind 8, length 10, TSval and TSecr (32 bits each).
def timestamps_option(tsval: int, tsecr: int) -> bytes:
    return (
        bytes((TcpOptionKind.TIMESTAMPS, 10)) + _uint(tsval, 4, "TSval") + _uint(tsecr, 4, "TSecr")
    )


# RFC 2018 §3: SACK is kind 5, length 2 + 8n, n (left edge, right edge) pairs of 32 bits.
def sack_option(blocks: Iterable[tuple[int, int]]) -> bytes:
    body = b"".join(
        _uint(left, 4, "SACK edge") + _uint(right, 4, "SACK edge") for left, right in blocks
    )
    if len(body) + 2 > TCP_OPTION_SPACE:
        raise EncodeError(f"{len(body) // 8} SACK blocks do not fit in {TCP_OPTION_SPACE} bytes")
    return bytes((TcpOptionKind.SACK, len(body) + 2)) + body


def _checked(opt: TcpOption | bytes, kind: TcpOptionKind, name: str) -> TcpOption:
    """One well-formed option of ``kind`` (given walked, or as the option's bytes)."""
    if not isinstance(opt, TcpOption):
        first = next(iter_tcp_options(bytes(opt)), None)
        if first is None:
            raise MalformedError(
                f"no {name} option in empty bytes", offset=0, field=name, expert_id=PAST_END
            )
        opt = first
    if opt.kind != kind:
        raise MalformedError(
            f"option kind {opt.kind} is not {name} ({int(kind)})",
            offset=opt.offset,
            field=name,
            expert_id="tcp.option.wrong_kind",
        )
    if opt.error is not None:
        raise MalformedError(
            f"ill-formed {name} option ({opt.error})",
            offset=opt.offset,
            field=name,
            expert_id=opt.error,
        )
    return opt


def _fixed(opt: TcpOption | bytes, kind: TcpOptionKind, name: str, size: int) -> bytes:
    checked = _checked(opt, kind, name)
    if len(checked.data) != size:
        raise MalformedError(
            f"{name} option has length {checked.length}, expected {size + 2}",
            offset=checked.offset,
            field=name,
            expert_id=f"tcp.option.{name}.bad_length",
        )
    return checked.data


def decode_mss(opt: TcpOption | bytes) -> int:
    """RFC 9293 §3.1: the MSS value. ``opt`` is a walked option or the option's bytes."""
    return int.from_bytes(_fixed(opt, TcpOptionKind.MSS, "mss", 2), "big")


def decode_window_scale(opt: TcpOption | bytes) -> int:
    """RFC 7323 §2.2: the shift count as sent (not capped at 14)."""
    return _fixed(opt, TcpOptionKind.WINDOW_SCALE, "wscale", 1)[0]


def decode_sack_permitted(opt: TcpOption | bytes) -> None:
    """RFC 2018 §2: check a SACK-permitted option (it carries no value)."""
    _fixed(opt, TcpOptionKind.SACK_PERMITTED, "sack_perm", 0)


def decode_timestamps(opt: TcpOption | bytes) -> tuple[int, int]:
    """RFC 7323 §3.2: (TSval, TSecr)."""
    data = _fixed(opt, TcpOptionKind.TIMESTAMPS, "timestamps", 8)
    return int.from_bytes(data[:4], "big"), int.from_bytes(data[4:], "big")


# RFC 2018 §3: the data is a whole number of 8-byte blocks (at least one).
def decode_sack(opt: TcpOption | bytes) -> tuple[tuple[int, int], ...]:
    checked = _checked(opt, TcpOptionKind.SACK, "sack")
    data = checked.data
    if not data or len(data) % 8:
        raise MalformedError(
            f"SACK option has length {checked.length}, expected 2 + 8n with n >= 1",
            offset=checked.offset,
            field="sack",
            expert_id="tcp.option.sack.bad_length",
        )
    return tuple(
        (int.from_bytes(data[j : j + 4], "big"), int.from_bytes(data[j + 4 : j + 8], "big"))
        for j in range(0, len(data), 8)
    )


# RFC 8547 §4.1 and §11: ENO is kind 69, or (legacy, RFC 6994) kind 253 with ExID 0x454E.
def is_eno_option(opt: TcpOption) -> bool:
    if opt.kind == TcpOptionKind.ENO:
        return True
    return opt.kind == TcpOptionKind.EXPERIMENTAL_1 and opt.data[:2] == _ENO_EXID_BYTES


@dataclass(frozen=True, slots=True)
class OptionAnomaly:
    expert_id: str
    offset: int
    message: str


@dataclass(frozen=True, slots=True, init=False)
class SynOptionReport:
    """The options of a SYN, what is wrong with them, and how the 40 bytes are spent.

    ``space_used`` has one ``(kind, bytes)`` entry per option; EOL counts one byte (the
    padding after it is free space). ``space_left`` is ``40 - total_used`` and is negative
    only when more than 40 bytes were given.
    """

    options: tuple[TcpOption, ...]
    anomalies: tuple[OptionAnomaly, ...]
    space_used: tuple[tuple[int, int], ...]
    total_used: int
    space_left: int

    def __init__(
        self,
        options: tuple[TcpOption, ...],
        anomalies: tuple[OptionAnomaly, ...],
        space_used: tuple[tuple[int, int], ...],
        total_used: int,
        space_left: int,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "anomalies", anomalies)
        object.__setattr__(self, "space_used", space_used)
        object.__setattr__(self, "total_used", total_used)
        object.__setattr__(self, "space_left", space_left)

    @property
    def eno_options(self) -> tuple[TcpOption, ...]:
        return tuple(
            [
                o
                for o in self.options
                if o.kind == _ENO or (o.kind == _EXP1 and o.data[:2] == _ENO_EXID_BYTES)
            ]
        )


_OPTION_ERROR_TEXT = {
    DATA_AFTER_EOL: "non-zero bytes after the end-of-option-list",
    BAD_LENGTH: "option length below 2",
    PAST_END: "option runs past the end of the option area",
}


def syn_option_report(data: BytesLike) -> SynOptionReport:
    """Check the option bytes of a SYN segment. Never raises."""
    options = tuple(_walk(bytes(data)))
    anomalies: list[OptionAnomaly] = []
    enos: list[TcpOption] = []
    space: list[tuple[int, int]] = []
    total = 0
    for o in options:
        kind = o.kind
        if o.error is not None:
            text = _OPTION_ERROR_TEXT[o.error]
            anomalies.append(OptionAnomaly(o.error, o.offset, f"kind {kind}: {text}"))
        if kind == _ENO or (kind == _EXP1 and o.data[:2] == _ENO_EXID_BYTES):
            enos.append(o)
        # EOL counts one byte: the padding after it is free space.
        size = 1 if kind == _EOL else len(o.raw)
        space.append((kind, size))
        total += size
    if enos:
        # RFC 8547 §4.1: more than one ENO option in a SYN means no ENO at all.
        if len(enos) > 1:
            anomalies.append(
                OptionAnomaly(
                    MULTIPLE_ENO,
                    enos[1].offset,
                    f"{len(enos)} ENO options in one SYN (treated as none, RFC 8547 §4.1)",
                )
            )
        # RFC 8547 §11: a segment must not carry both kind 69 and kind 253/0x454E.
        kinds = [o.kind for o in enos]
        if TcpOptionKind.ENO in kinds and TcpOptionKind.EXPERIMENTAL_1 in kinds:
            second = next(o for o in enos if o.kind != enos[0].kind)
            anomalies.append(
                OptionAnomaly(
                    MIXED_KINDS,
                    second.offset,
                    "ENO under kind 69 and kind 253/ExID 0x454E in one segment (RFC 8547 §11)",
                )
            )
        # RFC 8547 §4.7: a SYN+ENO segment must not carry a non-empty TFO option (RFC 7413).
        for o in options:
            if o.kind == TcpOptionKind.TFO and o.data:
                anomalies.append(
                    OptionAnomaly(
                        TFO_WITH_ENO,
                        o.offset,
                        "non-empty TFO option beside ENO (RFC 8547 §4.7)",
                    )
                )
    if len(anomalies) > 1:
        anomalies.sort(key=lambda a: a.offset)
    return SynOptionReport(
        options=options,
        anomalies=tuple(anomalies),
        space_used=tuple(space),
        total_used=total,
        space_left=TCP_OPTION_SPACE - total,
    )


picklable(TcpOption, OptionAnomaly, SynOptionReport)
