"""The TCP-ENO option codec (RFC 8547 §4.1-§4.4) and the legacy kind-253 form (LEGACY.md).

:func:`decode_eno_option` / :func:`encode_eno_option` convert one option, SYN-form or not;
the round trip is exact for every option the decoder accepts. The negotiation over two
options is in :mod:`.eno`, which also exports everything here (import from there).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ..errors import EncodeError, MalformedError, TruncatedError
from ..records import picklable
from .buffer import BytesLike
from .constants import (
    ENO_EXID,
    ENO_MAX_OPTION_LEN,
    EXID_LEN,
    GLOBAL_A,
    GLOBAL_B,
    GLOBAL_RESERVED,
    LENGTH_BYTE_N,
    SUBOPTION_DATA_MAX,
    SUBOPTION_GLT,
    SUBOPTION_V,
    TEP_MIN,
    Dialect,
    TcpOptionKind,
    tep_name,
)

__all__ = [
    "BAD_LENGTH",
    "LENGTH_OVERRUN",
    "LENGTH_THEN_NON_TEP",
    "MEMO_SIZE",
    "NOT_ENO",
    "NOT_ENO_EXID",
    "TRUNCATED",
    "EnoOption",
    "EnoSuboption",
    "decode_eno_option",
    "encode_eno_option",
]

# Expert ids of decode errors.
TRUNCATED = "tcpeno.truncated"
BAD_LENGTH = "tcpeno.bad_length"
NOT_ENO = "tcpeno.not_eno"
NOT_ENO_EXID = "tcpeno.not_eno_exid"
LENGTH_OVERRUN = "tcpeno.ill_formed.length_overrun"
LENGTH_THEN_NON_TEP = "tcpeno.ill_formed.length_then_non_tep"

_EXID_BYTES = ENO_EXID.to_bytes(EXID_LEN, "big")
# First byte of a TEP suboption with v=1 (RFC 8547 §4.4: "0xa0 or higher").
_TEP_V1_MIN = SUBOPTION_V | TEP_MIN


@dataclass(frozen=True, slots=True, init=False)
class EnoSuboption:
    """A TEP suboption (RFC 8547 §4.1 Table 1): TEP id, v bit, data.

    ``length_byte`` is the ``100nnnnn`` byte that preceded it on the wire (None: none did);
    ``offset`` is the offset of the suboption's first byte (its length byte if it has one)
    inside the option.
    """

    tep: int
    v: bool = False
    data: bytes = b""
    length_byte: int | None = None
    offset: int = 0

    def __init__(
        self,
        tep: int,
        v: bool = False,
        data: bytes = b"",
        length_byte: int | None = None,
        offset: int = 0,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "tep", tep)
        object.__setattr__(self, "v", v)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "length_byte", length_byte)
        object.__setattr__(self, "offset", offset)

    @property
    def byte(self) -> int:
        """The TEP byte as sent: glt with the v bit."""
        return self.tep | (SUBOPTION_V if self.v else 0)

    @property
    def name(self) -> str | None:
        return tep_name(self.tep)


@dataclass(frozen=True, slots=True, init=False)
class EnoOption:
    """One ENO option, SYN-form (suboptions) or non-SYN-form (opaque contents).

    ``global_suboption`` is the first global suboption byte as sent (None: the SYN had
    none, so the implicit 0x00 applies); ``ignored_globals`` holds later ones (RFC 8547
    §4.2: ignored on receipt). ``global_positions`` records where each global byte sat, as
    the number of TEP suboptions before it (first global, then the ignored ones); the
    empty tuple means "all before the first TEP", the usual layout.
    """

    kind: int
    syn: bool
    global_suboption: int | None = None
    ignored_globals: bytes = b""
    suboptions: tuple[EnoSuboption, ...] = ()
    contents: bytes = b""
    raw: bytes = b""
    global_positions: tuple[int, ...] = ()

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        kind: int,
        syn: bool,
        global_suboption: int | None = None,
        ignored_globals: bytes = b"",
        suboptions: tuple[EnoSuboption, ...] = (),
        contents: bytes = b"",
        raw: bytes = b"",
        global_positions: tuple[int, ...] = (),
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "syn", syn)
        object.__setattr__(self, "global_suboption", global_suboption)
        object.__setattr__(self, "ignored_globals", ignored_globals)
        object.__setattr__(self, "suboptions", suboptions)
        object.__setattr__(self, "contents", contents)
        object.__setattr__(self, "raw", raw)
        object.__setattr__(self, "global_positions", global_positions)

    @classmethod
    def build(
        cls,
        *,
        kind: int = TcpOptionKind.ENO,
        syn: bool = True,
        global_suboption: int | None = None,
        suboptions: Iterable[EnoSuboption] = (),
        contents: bytes = b"",
        ignored_globals: bytes = b"",
        global_positions: tuple[int, ...] = (),
    ) -> EnoOption:
        """Encode from the parts (lengths and length bytes computed) and decode it back."""
        spec = cls(
            kind=kind,
            syn=syn,
            global_suboption=global_suboption,
            ignored_globals=ignored_globals,
            suboptions=tuple(suboptions),
            contents=contents,
            global_positions=global_positions,
        )
        return decode_eno_option(encode_eno_option(spec), syn=syn)

    @property
    def effective_global(self) -> int:
        """RFC 8547 §4.2: the global suboption, or the implicit 0x00."""
        return 0 if self.global_suboption is None else self.global_suboption

    @property
    def b(self) -> bool:
        return bool(self.effective_global & GLOBAL_B)

    @property
    def a(self) -> bool:
        return bool(self.effective_global & GLOBAL_A)

    @property
    def reserved_bits(self) -> int:
        return self.effective_global & GLOBAL_RESERVED

    @property
    def vacuous(self) -> bool:
        """RFC 8547 §4.6: a SYN-form option with no TEP identifier."""
        return self.syn and not self.suboptions

    @property
    def teps(self) -> tuple[int, ...]:
        return tuple(s.tep for s in self.suboptions)

    @property
    def syn_tep(self) -> int | None:
        """RFC 8547 §4.7: the last TEP id of a SYN-form option (it defines SYN data)."""
        return self.suboptions[-1].tep if self.suboptions else None

    @property
    def dialect(self) -> Dialect:
        return "rfc" if self.kind == TcpOptionKind.ENO else "legacy"


def _header_len(kind: int) -> int:
    return 2 + (EXID_LEN if kind == TcpOptionKind.EXPERIMENTAL_1 else 0)


# Entries each of the decode memo (and negotiate()'s, in eno.py) holds before it starts again.
MEMO_SIZE: Final = 4096
_decoded: dict[tuple[bytes, bool], EnoOption] = {}


# RFC 8547 §4.1 Fig. 1 and §11 (kind 253 + ExID 0x454E, RFC 6994 §3): kind, length, contents.
def decode_eno_option(data: BytesLike, *, syn: bool) -> EnoOption:
    """Decode the ENO option at the start of ``data`` (bytes after its end are not read).

    A host sends the same ENO option in every SYN, so a capture holds few distinct ones:
    decoded options (immutable) are kept by their bytes, up to :data:`MEMO_SIZE`.
    """
    raw = bytes(data)
    if len(raw) < 2 or not 2 <= raw[1] <= len(raw):
        return _decode_eno_option(raw, syn)  # no whole option: the decoder says why
    own = raw[: raw[1]]  # what the decoder reads: the option's own bytes, never past them
    key = (own, syn)
    opt = _decoded.get(key)
    if opt is None:
        opt = _decode_eno_option(own, syn)
        if len(_decoded) >= MEMO_SIZE:
            _decoded.clear()
        _decoded[key] = opt
    return opt


def _decode_eno_option(data: bytes, syn: bool) -> EnoOption:
    if not data:
        raise TruncatedError("no ENO option kind byte", offset=0, field="kind", expert_id=TRUNCATED)
    kind = data[0]
    if kind not in (TcpOptionKind.ENO, TcpOptionKind.EXPERIMENTAL_1):
        raise MalformedError(
            f"option kind {kind} is not ENO (69, or 253 with ExID 0x454E)",
            offset=0,
            field="kind",
            expert_id=NOT_ENO,
        )
    if len(data) < 2:
        raise TruncatedError(
            "no ENO option length byte", offset=1, field="length", expert_id=TRUNCATED
        )
    length = data[1]
    header = _header_len(kind)
    if not header <= length <= ENO_MAX_OPTION_LEN:
        raise MalformedError(
            f"ENO option length {length} outside {header}..{ENO_MAX_OPTION_LEN}",
            offset=1,
            field="length",
            expert_id=BAD_LENGTH,
        )
    if kind == TcpOptionKind.EXPERIMENTAL_1:
        if len(data) < header:
            raise TruncatedError(
                "no room for the ExID", offset=2, field="exid", expert_id=TRUNCATED
            )
        if data[2:header] != _EXID_BYTES:
            raise MalformedError(
                f"kind 253 with ExID 0x{data[2:header].hex()}, not ENO's 0x454e",
                offset=2,
                field="exid",
                expert_id=NOT_ENO_EXID,
            )
    if length > len(data):
        raise TruncatedError(
            f"ENO option length {length} but {len(data)} bytes given",
            offset=1,
            field="length",
            expert_id=TRUNCATED,
        )
    raw = data[:length]
    if not syn:
        # RFC 8547 §4.1 Fig. 3: non-SYN-form contents are opaque to ENO.
        return EnoOption(kind=kind, syn=False, contents=raw[header:], raw=raw)
    return _decode_syn_form(kind, raw, header)


# RFC 8547 §4.1-§4.4 (DIGEST.md §1.5): global suboptions 0x00-0x1f, TEP v=0 0x20-0x7f,
# length byte 0x80-0x9f before a TEP with v=1, TEP v=1 0xa0-0xff taking the rest.
def _decode_syn_form(kind: int, raw: bytes, header: int) -> EnoOption:
    globals_ = bytearray()
    positions: list[int] = []
    subs: list[EnoSuboption] = []
    i, end = header, len(raw)
    while i < end:
        c = raw[i]
        if c < TEP_MIN:
            # RFC 8547 §4.2: only the first global suboption counts.
            globals_.append(c)
            positions.append(len(subs))
            i += 1
        elif c < SUBOPTION_V:
            subs.append(EnoSuboption(tep=c, offset=i))
            i += 1
        elif c < _TEP_V1_MIN:
            # RFC 8547 §4.4 Fig. 6-7: length byte, TEP with v=1, nnnnn + 1 bytes of data.
            if i + 1 >= end:
                raise MalformedError(
                    f"length byte 0x{c:02x} is the last byte of the option",
                    offset=i,
                    field="length_byte",
                    expert_id=LENGTH_OVERRUN,
                )
            tep_byte = raw[i + 1]
            if tep_byte < _TEP_V1_MIN:
                # RFC 8547 §4.4 rule 2.
                raise MalformedError(
                    f"length byte followed by 0x{tep_byte:02x}, not a TEP with v=1",
                    offset=i + 1,
                    field="tep",
                    expert_id=LENGTH_THEN_NON_TEP,
                )
            n = (c & LENGTH_BYTE_N) + 1
            if i + 2 + n > end:
                # RFC 8547 §4.4 rule 1.
                raise MalformedError(
                    f"length byte 0x{c:02x} announces {n} data bytes, {end - i - 2} left",
                    offset=i,
                    field="length_byte",
                    expert_id=LENGTH_OVERRUN,
                )
            subs.append(
                EnoSuboption(
                    tep=tep_byte & SUBOPTION_GLT,
                    v=True,
                    data=raw[i + 2 : i + 2 + n],
                    length_byte=c,
                    offset=i,
                )
            )
            i += 2 + n
        else:
            # RFC 8547 §4.4: without a length byte, the data runs to the end of the option.
            subs.append(EnoSuboption(tep=c & SUBOPTION_GLT, v=True, data=raw[i + 1 :], offset=i))
            i = end
    return EnoOption(
        kind=kind,
        syn=True,
        global_suboption=globals_[0] if globals_ else None,
        ignored_globals=bytes(globals_[1:]),
        suboptions=tuple(subs),
        contents=raw[header:],
        raw=raw,
        global_positions=tuple(positions) if any(positions) else (),
    )


def _encode_suboption(sub: EnoSuboption, *, last: bool) -> bytes:
    # RFC 8547 §4.1 Table 1 and §4.4.
    if not TEP_MIN <= sub.tep <= SUBOPTION_GLT:
        raise EncodeError(f"TEP id 0x{sub.tep:02x} outside 0x20..0x7f")
    if not sub.v:
        if sub.data:
            raise EncodeError(f"TEP 0x{sub.tep:02x} has data but v=0")
        return bytes((sub.tep,))
    if last and sub.length_byte is None:
        return bytes((sub.byte,)) + sub.data
    if not 1 <= len(sub.data) <= SUBOPTION_DATA_MAX:
        raise EncodeError(
            f"TEP 0x{sub.tep:02x} needs a length byte but has {len(sub.data)} data bytes"
            f" (1..{SUBOPTION_DATA_MAX})"
        )
    length_byte = SUBOPTION_V | (len(sub.data) - 1)
    if sub.length_byte is not None and sub.length_byte != length_byte:
        raise EncodeError(
            f"length byte 0x{sub.length_byte:02x} does not match {len(sub.data)} data bytes"
        )
    return bytes((length_byte, sub.byte)) + sub.data


def _encode_syn_contents(opt: EnoOption) -> bytes:
    if opt.global_suboption is None and opt.ignored_globals:
        raise EncodeError("ignored globals without a first global suboption")
    globals_ = ([] if opt.global_suboption is None else [opt.global_suboption]) + list(
        opt.ignored_globals
    )
    for g in globals_:
        if not 0 <= g < TEP_MIN:
            raise EncodeError(f"global suboption 0x{g:02x} outside 0x00..0x1f")
    positions = opt.global_positions or (0,) * len(globals_)
    if len(positions) != len(globals_):
        raise EncodeError(f"{len(positions)} global positions for {len(globals_)} globals")
    if list(positions) != sorted(positions) or not all(
        0 <= p <= len(opt.suboptions) for p in positions
    ):
        raise EncodeError(f"global positions {positions} out of order or out of range")
    elements: list[int | EnoSuboption] = []
    for k, sub in enumerate(opt.suboptions):
        elements += [g for g, p in zip(globals_, positions, strict=True) if p == k]
        elements.append(sub)
    elements += [g for g, p in zip(globals_, positions, strict=True) if p == len(opt.suboptions)]
    out = bytearray()
    for idx, element in enumerate(elements):
        if isinstance(element, int):
            out.append(element)
        else:
            out += _encode_suboption(element, last=idx == len(elements) - 1)
    return bytes(out)


# RFC 8547 §4.1 Fig. 1-2 and §11 (legacy kind 253 with the ExID before the contents).
def encode_eno_option(opt: EnoOption) -> bytes:
    """The option's bytes, with the length and the length bytes computed (``raw`` unused)."""
    if opt.kind not in (TcpOptionKind.ENO, TcpOptionKind.EXPERIMENTAL_1):
        raise EncodeError(f"option kind {opt.kind} is not ENO (69 or 253)")
    if opt.syn:
        contents = _encode_syn_contents(opt)
        if opt.contents and opt.contents != contents:
            raise EncodeError("contents disagree with the suboptions of a SYN-form option")
    else:
        if (
            opt.global_suboption is not None
            or opt.ignored_globals
            or opt.suboptions
            or opt.global_positions
        ):
            raise EncodeError("a non-SYN-form ENO option has contents, not suboptions")
        contents = opt.contents
    header = bytes((opt.kind, 0))
    if opt.kind == TcpOptionKind.EXPERIMENTAL_1:
        header += _EXID_BYTES
    length = len(header) + len(contents)
    if length > ENO_MAX_OPTION_LEN:
        raise EncodeError(f"ENO option of {length} bytes, at most {ENO_MAX_OPTION_LEN} fit")
    return bytes((opt.kind, length)) + header[2:] + contents


picklable(EnoSuboption, EnoOption)
