"""ENO option codec (RFC 8547 §4.1-§4.4, §11; LEGACY.md): hex vectors, ill-formed rules, fuzz."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from tcpinc_tools.errors import DecodeError, EncodeError, MalformedError, TruncatedError
from tcpinc_tools.wire import eno as eno_module
from tcpinc_tools.wire import eno_codec
from tcpinc_tools.wire.eno import (
    EnoOption,
    EnoSuboption,
    decode_eno_option,
    encode_eno_option,
    negotiate,
)
from tests.support import fuzz_settings, property_settings

H = bytes.fromhex
NINE = H("010203040506070809")


# -- decoding, one structure at a time --------------------------------------------------------


def test_vacuous_syn_without_global() -> None:
    opt = decode_eno_option(H("4502"), syn=True)
    assert opt == EnoOption(kind=69, syn=True, raw=H("4502"))
    assert opt.global_suboption is None
    assert opt.effective_global == 0
    assert (opt.b, opt.a, opt.reserved_bits) == (False, False, 0)
    assert opt.vacuous
    assert opt.dialect == "rfc"
    assert opt.syn_tep is None


def test_vacuous_syn_ack_with_b() -> None:
    opt = decode_eno_option(H("450301"), syn=True)
    assert opt.global_suboption == 0x01
    assert opt.b and not opt.a
    assert opt.vacuous
    assert opt.contents == H("01")


def test_one_tep_v0() -> None:
    opt = decode_eno_option(H("450321"), syn=True)
    assert opt.suboptions == (EnoSuboption(tep=0x21, v=False, data=b"", offset=2),)
    assert opt.suboptions[0].byte == 0x21
    assert opt.suboptions[0].name == "TCPCRYPT_ECDHE_P256"
    assert not opt.vacuous
    assert opt.teps == (0x21,)
    assert opt.syn_tep == 0x21


def test_global_then_teps() -> None:
    opt = decode_eno_option(H("4506 03 21 23 24"), syn=True)
    assert opt.global_suboption == 0x03
    assert opt.b and opt.a
    assert opt.teps == (0x21, 0x23, 0x24)
    assert [s.offset for s in opt.suboptions] == [3, 4, 5]
    assert opt.global_positions == ()
    assert opt.syn_tep == 0x24


def test_last_tep_v1_takes_the_rest() -> None:
    opt = decode_eno_option(H("450d 01 a1") + NINE, syn=True)
    (sub,) = opt.suboptions
    assert sub == EnoSuboption(tep=0x21, v=True, data=NINE, length_byte=None, offset=3)
    assert sub.byte == 0xA1


def test_v1_data_is_not_parsed_as_suboptions() -> None:
    # DIGEST T4: after a v=1 TEP without a length byte everything is data, even 0x01 or 0x80.
    opt = decode_eno_option(H("4506 a3 01 80 22"), syn=True)
    assert opt.global_suboption is None
    (sub,) = opt.suboptions
    assert (sub.tep, sub.v, sub.data) == (0x23, True, H("018022"))


def test_last_tep_v1_with_zero_data() -> None:
    (sub,) = decode_eno_option(H("4503 a1"), syn=True).suboptions
    assert (sub.tep, sub.v, sub.data, sub.length_byte) == (0x21, True, b"", None)


def test_length_byte_form() -> None:
    opt = decode_eno_option(H("450a 01 83 a1 aabbccdd 22"), syn=True)
    assert opt.suboptions == (
        EnoSuboption(tep=0x21, v=True, data=H("aabbccdd"), length_byte=0x83, offset=3),
        EnoSuboption(tep=0x22, v=False, data=b"", length_byte=None, offset=9),
    )


def test_length_byte_on_the_last_suboption() -> None:
    (sub,) = decode_eno_option(H("4505 80 a1 ff"), syn=True).suboptions
    assert (sub.tep, sub.v, sub.data, sub.length_byte, sub.offset) == (0x21, True, H("ff"), 0x80, 2)


def test_length_byte_32_bytes() -> None:
    data32 = bytes(range(32))
    opt = decode_eno_option(H("4525 9f a4") + data32 + H("23"), syn=True)
    assert opt.suboptions[0].data == data32
    assert opt.suboptions[0].length_byte == 0x9F
    assert opt.suboptions[1].tep == 0x23


def test_last_suboption_may_exceed_32_bytes() -> None:
    data36 = bytes(range(36))
    (sub,) = decode_eno_option(H("4527 a1") + data36, syn=True).suboptions
    assert sub.data == data36


def test_later_globals_are_ignored_and_placed() -> None:
    opt = decode_eno_option(H("4506 02 21 05 22"), syn=True)
    assert opt.global_suboption == 0x02
    assert opt.ignored_globals == H("05")
    assert opt.global_positions == (0, 1)
    assert opt.a and not opt.b
    assert opt.teps == (0x21, 0x22)


def test_global_after_tep_is_still_the_global() -> None:
    opt = decode_eno_option(H("4504 21 01"), syn=True)
    assert opt.global_suboption == 0x01
    assert opt.global_positions == (1,)


def test_reserved_bits_kept_not_rejected() -> None:
    opt = decode_eno_option(H("4504 1d 21"), syn=True)
    assert opt.global_suboption == 0x1D
    assert opt.reserved_bits == 0x1C
    assert opt.b and not opt.a


def test_legacy_syn() -> None:
    opt = decode_eno_option(H("fd06454e2122"), syn=True)
    assert opt.kind == 253
    assert opt.dialect == "legacy"
    assert opt.teps == (0x21, 0x22)
    assert [s.offset for s in opt.suboptions] == [4, 5]
    assert opt.contents == H("2122")


def test_legacy_syn_ack_with_0x04() -> None:
    opt = decode_eno_option(H("fd06454e04a1"), syn=True)
    assert opt.global_suboption == 0x04
    assert opt.reserved_bits == 0x04
    assert not opt.b
    (sub,) = opt.suboptions
    assert (sub.tep, sub.v, sub.data, sub.byte) == (0x21, True, b"", 0xA1)


def test_legacy_minimal_non_syn() -> None:
    opt = decode_eno_option(H("fd04454e"), syn=False)
    assert opt == EnoOption(kind=253, syn=False, contents=b"", raw=H("fd04454e"))
    assert not opt.vacuous


def test_non_syn_contents_are_opaque() -> None:
    # A non-SYN option is not parsed: 0x80 0x21 would be ill-formed in a SYN.
    opt = decode_eno_option(H("4504 8021"), syn=False)
    assert opt.suboptions == ()
    assert opt.contents == H("8021")
    assert opt.global_suboption is None
    assert decode_eno_option(H("4502"), syn=False).contents == b""


def test_bytes_after_the_option_are_not_read() -> None:
    opt = decode_eno_option(H("450321 0402 ff"), syn=True)
    assert opt.raw == H("450321")
    assert opt.contents == H("21")


def test_accepts_bytearray() -> None:
    assert decode_eno_option(bytearray(H("450321")), syn=True).raw == H("450321")


# -- decode errors (RFC 8547 §4.4 and the option header) ---------------------------------------


@pytest.mark.parametrize(
    ("hexstr", "error", "expert_id", "offset"),
    [
        ("", TruncatedError, "tcpeno.truncated", 0),
        ("45", TruncatedError, "tcpeno.truncated", 1),
        ("4505 2122", TruncatedError, "tcpeno.truncated", 1),
        ("020405b4", MalformedError, "tcpeno.not_eno", 0),
        ("fe04454e", MalformedError, "tcpeno.not_eno", 0),
        ("4500", MalformedError, "tcpeno.bad_length", 1),
        ("4501", MalformedError, "tcpeno.bad_length", 1),
        ("4529" + "21" * 39, MalformedError, "tcpeno.bad_length", 1),
        ("fd02", MalformedError, "tcpeno.bad_length", 1),
        ("fd03454e", MalformedError, "tcpeno.bad_length", 1),
        ("fd0645", TruncatedError, "tcpeno.truncated", 2),
        ("fd06f98900aa", MalformedError, "tcpeno.not_eno_exid", 2),
        ("fd0a1234", MalformedError, "tcpeno.not_eno_exid", 2),
        ("fd06454e21", TruncatedError, "tcpeno.truncated", 1),
        # RFC 8547 §4.4 rule 1: the data would run past the end of the option.
        ("4503 85", MalformedError, "tcpeno.ill_formed.length_overrun", 2),
        ("4504 01 80", MalformedError, "tcpeno.ill_formed.length_overrun", 3),
        ("4504 80 a1", MalformedError, "tcpeno.ill_formed.length_overrun", 2),
        ("4506 21 81 a1 aa", MalformedError, "tcpeno.ill_formed.length_overrun", 3),
        ("fd06454e 80a1", MalformedError, "tcpeno.ill_formed.length_overrun", 4),
        # RFC 8547 §4.4 rule 2: a length byte followed by 0x00-0x9f.
        ("4505 80 21 aa", MalformedError, "tcpeno.ill_formed.length_then_non_tep", 3),
        ("4505 80 01 aa", MalformedError, "tcpeno.ill_formed.length_then_non_tep", 3),
        ("4505 80 9f aa", MalformedError, "tcpeno.ill_formed.length_then_non_tep", 3),
        ("4506 80 80 a1 aa", MalformedError, "tcpeno.ill_formed.length_then_non_tep", 3),
        ("4504 9f 7f", MalformedError, "tcpeno.ill_formed.length_then_non_tep", 3),
    ],
)
def test_decode_errors(hexstr: str, error: type[DecodeError], expert_id: str, offset: int) -> None:
    with pytest.raises(error) as info:
        decode_eno_option(H(hexstr), syn=True)
    assert type(info.value) is error
    assert info.value.expert_id == expert_id
    assert info.value.offset == offset


def test_ill_formed_rules_are_syn_only() -> None:
    assert decode_eno_option(H("4503 85"), syn=False).contents == H("85")
    assert decode_eno_option(H("4505 80 21 aa"), syn=False).contents == H("8021aa")


def test_header_errors_apply_to_non_syn_too() -> None:
    for hexstr in ("4501", "4505 21", "fd06f98900aa", "0101"):
        with pytest.raises(DecodeError):
            decode_eno_option(H(hexstr), syn=False)


def test_failed_decode_leaves_no_partial_state() -> None:
    good = H("450a 01 83 a1 aabbccdd 22")
    fresh = decode_eno_option(good, syn=True)
    bad = bytearray(H("4506 21 81 a1 aa"))
    before = bytes(bad)
    with pytest.raises(MalformedError):
        decode_eno_option(bad, syn=True)
    assert bytes(bad) == before
    again = decode_eno_option(good, syn=True)
    assert again == fresh
    assert encode_eno_option(again) == good


# -- encoding ------------------------------------------------------------------------------------


def test_build_fresh_offer() -> None:
    opt = EnoOption.build(suboptions=[EnoSuboption(0x21), EnoSuboption(0x23)])
    assert opt.raw == H("45042123")
    assert opt.suboptions[1].offset == 3


def test_build_passive_answer() -> None:
    assert EnoOption.build(global_suboption=0x01, suboptions=[EnoSuboption(0x23)]).raw == H(
        "45040123"
    )
    assert EnoOption.build(global_suboption=0x01).raw == H("450301")
    assert EnoOption.build().raw == H("4502")


def test_build_computes_length_bytes() -> None:
    opt = EnoOption.build(
        global_suboption=0x01,
        suboptions=[
            EnoSuboption(0x21, v=True, data=NINE),
            EnoSuboption(0x22, v=True, data=H("797a")),
        ],
    )
    # 45 len, 01, 88 (9 bytes), a1 + 9 bytes, a2 + 2 bytes (no length byte: last).
    assert opt.raw == H("4511 01 88 a1") + NINE + H("a2 797a")
    assert opt.suboptions[0].length_byte == 0x88
    assert opt.suboptions[1].length_byte is None


def test_build_keeps_an_explicit_length_byte_on_the_last_suboption() -> None:
    sub = EnoSuboption(0x21, v=True, data=H("ff"), length_byte=0x80)
    assert EnoOption.build(suboptions=[sub]).raw == H("4505 80 a1 ff")


def test_build_global_after_a_v1_suboption_gives_it_a_length_byte() -> None:
    opt = EnoOption.build(
        global_suboption=0x01,
        suboptions=[EnoSuboption(0x21, v=True, data=H("aa"))],
        global_positions=(1,),
    )
    assert opt.raw == H("4506 80 a1 aa 01")


def test_build_ignored_globals() -> None:
    opt = EnoOption.build(
        global_suboption=0x02,
        ignored_globals=H("05"),
        suboptions=[EnoSuboption(0x21), EnoSuboption(0x22)],
        global_positions=(0, 1),
    )
    assert opt.raw == H("4506 02 21 05 22")
    assert EnoOption.build(global_suboption=0x02, ignored_globals=H("05")).raw == H("45040205")


def test_build_legacy_and_non_syn() -> None:
    assert EnoOption.build(kind=253, suboptions=[EnoSuboption(0x21), EnoSuboption(0x22)]).raw == H(
        "fd06454e2122"
    )
    assert EnoOption.build(kind=253, syn=False).raw == H("fd04454e")
    assert EnoOption.build(syn=False).raw == H("4502")
    assert EnoOption.build(syn=False, contents=H("aabb")).raw == H("4504aabb")


def test_encode_ignores_raw_and_accepts_matching_contents() -> None:
    opt = EnoOption(kind=69, syn=True, suboptions=(EnoSuboption(0x21),), contents=H("21"), raw=b"x")
    assert encode_eno_option(opt) == H("450321")


def test_build_forty_bytes() -> None:
    opt = EnoOption.build(suboptions=[EnoSuboption(0x21, v=True, data=bytes(37))])
    assert len(opt.raw) == 40
    assert opt.raw[:3] == H("4528a1")


@pytest.mark.parametrize(
    "spec",
    [
        EnoOption(kind=2, syn=True),
        EnoOption(kind=69, syn=True, suboptions=(EnoSuboption(0x1F),)),
        EnoOption(kind=69, syn=True, suboptions=(EnoSuboption(0x80),)),
        EnoOption(kind=69, syn=True, suboptions=(EnoSuboption(0x21, data=H("aa")),)),
        EnoOption(kind=69, syn=True, suboptions=(EnoSuboption(0x21, v=True), EnoSuboption(0x22))),
        EnoOption(
            kind=69,
            syn=True,
            suboptions=(EnoSuboption(0x21, v=True, data=bytes(33)), EnoSuboption(0x22)),
        ),
        EnoOption(
            kind=69,
            syn=True,
            suboptions=(EnoSuboption(0x21, v=True, data=H("aa"), length_byte=0x81),),
        ),
        EnoOption(kind=69, syn=True, global_suboption=0x20),
        EnoOption(kind=69, syn=True, global_suboption=-1),
        EnoOption(kind=69, syn=True, ignored_globals=H("01")),
        EnoOption(kind=69, syn=True, global_suboption=1, global_positions=(0, 0)),
        EnoOption(
            kind=69,
            syn=True,
            global_suboption=1,
            ignored_globals=H("02"),
            suboptions=(EnoSuboption(0x21),),
            global_positions=(1, 0),
        ),
        EnoOption(kind=69, syn=True, global_suboption=1, global_positions=(1,)),
        EnoOption(kind=69, syn=True, suboptions=(EnoSuboption(0x21),), contents=H("22")),
        EnoOption(kind=69, syn=False, global_suboption=1),
        EnoOption(kind=69, syn=False, suboptions=(EnoSuboption(0x21),)),
        EnoOption(kind=69, syn=False, ignored_globals=H("01")),
        EnoOption(kind=69, syn=False, global_positions=(0,)),
        EnoOption(kind=69, syn=False, contents=bytes(39)),
        EnoOption(kind=253, syn=False, contents=bytes(37)),
        EnoOption(kind=69, syn=True, suboptions=(EnoSuboption(0x21, v=True, data=bytes(38)),)),
    ],
)
def test_encode_errors(spec: EnoOption) -> None:
    with pytest.raises(EncodeError):
        encode_eno_option(spec)


# -- round trips ---------------------------------------------------------------------------------

ROUND_TRIP_SYN = [
    "4502",
    "450301",
    "450321",
    "45040123",
    "4506032123 24",
    "450d01a1" + NINE.hex(),
    "4503a1",
    "4506a3018022",
    "450a0183a1aabbccdd22",
    "450580a1ff",
    "4525 9fa4" + bytes(range(32)).hex() + "23",
    "4527a1" + bytes(range(36)).hex(),
    "450602210522",
    "45042101",
    "4505 21 01 02",
    "45041d21",
    "4506 80a1aa 01",
    "fd06454e2122",
    "fd06454e04a1",
    "fd04454e",
    "fd10454e2122a1" + NINE.hex(),
]
ROUND_TRIP_NON_SYN = ["4502", "4504aabb", "450380", "fd04454e", "fd06454e8021"]


@pytest.mark.parametrize("hexstr", ROUND_TRIP_SYN)
def test_syn_round_trip(hexstr: str) -> None:
    raw = H(hexstr)
    opt = decode_eno_option(raw, syn=True)
    assert opt.raw == raw
    assert encode_eno_option(opt) == raw
    assert decode_eno_option(encode_eno_option(opt), syn=True) == opt


@pytest.mark.parametrize("hexstr", ROUND_TRIP_NON_SYN)
def test_non_syn_round_trip(hexstr: str) -> None:
    raw = H(hexstr)
    opt = decode_eno_option(raw, syn=False)
    assert encode_eno_option(opt) == raw
    assert decode_eno_option(raw, syn=False) == opt


_teps = st.integers(0x20, 0x7F)
_suboption = st.one_of(
    st.builds(EnoSuboption, tep=_teps),
    st.builds(EnoSuboption, tep=_teps, v=st.just(True), data=st.binary(min_size=1, max_size=8)),
)


@st.composite
def _syn_specs(draw: st.DrawFn) -> EnoOption:
    subs = draw(st.lists(_suboption, max_size=4))
    if draw(st.booleans()):
        subs.append(EnoSuboption(draw(_teps), v=True, data=draw(st.binary(max_size=12))))
    first = draw(st.none() | st.integers(0, 0x1F))
    ignored = (
        b""
        if first is None
        else draw(st.binary(max_size=2).map(lambda b: bytes(x & 0x1F for x in b)))
    )
    count = (first is not None) + len(ignored)
    positions = tuple(
        sorted(draw(st.lists(st.integers(0, len(subs)), min_size=count, max_size=count)))
    )
    return EnoOption(
        kind=draw(st.sampled_from([69, 253])),
        syn=True,
        global_suboption=first,
        ignored_globals=ignored,
        suboptions=tuple(subs),
        global_positions=positions,
    )


def _positions(opt: EnoOption) -> tuple[int, ...]:
    """Where each global sits, with the empty tuple spelled out as all zeros."""
    count = (opt.global_suboption is not None) + len(opt.ignored_globals)
    return opt.global_positions or (0,) * count


@property_settings
@given(_syn_specs())
def test_property_syn_encode_decode(spec: EnoOption) -> None:
    try:
        raw = encode_eno_option(spec)
    except EncodeError:
        assume(False)
        raise
    opt = decode_eno_option(raw, syn=True)
    assert opt.raw == raw
    assert encode_eno_option(opt) == raw
    assert opt.kind == spec.kind
    assert opt.global_suboption == spec.global_suboption
    assert opt.ignored_globals == spec.ignored_globals
    assert [(s.tep, s.v, s.data) for s in opt.suboptions] == [
        (s.tep, s.v, s.data) for s in spec.suboptions
    ]
    assert _positions(opt) == _positions(spec)


@property_settings
@given(st.sampled_from([69, 253]), st.binary(max_size=36))
def test_property_non_syn_encode_decode(kind: int, contents: bytes) -> None:
    raw = encode_eno_option(EnoOption(kind=kind, syn=False, contents=contents))
    assert raw[0] == kind
    assert raw[1] == len(raw)
    opt = decode_eno_option(raw, syn=False)
    assert opt.contents == contents
    assert encode_eno_option(opt) == raw


# -- decoder contract ----------------------------------------------------------------------------


@st.composite
def eno_like(draw: st.DrawFn) -> bytes:
    """Bytes that often look like an ENO option, with a length that is often right."""
    kind = draw(st.sampled_from([69, 253]))
    body = draw(st.binary(max_size=40))
    if kind == 253 and draw(st.integers(0, 9)):
        body = H("454e") + body
    length = len(body) + 2 + draw(st.sampled_from([0, 0, 0, -1, 1, -3, 3]))
    return bytes((kind, max(0, min(255, length)))) + body


fuzz_inputs = st.one_of(st.binary(max_size=48), eno_like())


def _check_contract(data: bytes, *, syn: bool) -> None:
    try:
        opt = decode_eno_option(data, syn=syn)
    except DecodeError as exc:
        assert exc.expert_id.startswith("tcpeno.")
        return
    assert opt.raw == data[: data[1]]
    assert encode_eno_option(opt) == opt.raw
    assert decode_eno_option(opt.raw, syn=syn) == opt


@fuzz_settings
@given(fuzz_inputs)
def test_decode_syn_contract(data: bytes) -> None:
    _check_contract(data, syn=True)


@fuzz_settings
@given(fuzz_inputs)
def test_decode_non_syn_contract(data: bytes) -> None:
    _check_contract(data, syn=False)


# -- memos ------------------------------------------------------------------------------------


def test_decoding_the_same_bytes_again_gives_the_same_object() -> None:
    raw = H("450a 01 83 a1 aabbccdd 22")
    first = decode_eno_option(raw, syn=True)
    assert decode_eno_option(bytearray(raw), syn=True) is first
    # the SYN flag is part of the key: the same bytes in a non-SYN segment decode anew
    assert decode_eno_option(raw, syn=False) is not first


def test_negotiating_the_same_options_again_gives_the_same_outcome() -> None:
    a, b = H("450323"), H("45040123")  # A offers 0x23; B (b=1) answers 0x23
    first = negotiate(a, b)
    assert first.ok and negotiate(bytearray(a), b) is first
    assert negotiate(a, b, aa_mandatory_a=True) is not first


def test_the_memos_stay_bounded() -> None:
    for n in range(eno_module.MEMO_SIZE + 10):
        tep = 0x20 + n % 0x50
        raw = bytes([0x45, 5, 0x21, tep, n & 0xFF])
        with contextlib.suppress(DecodeError):
            decode_eno_option(raw, syn=True)
        negotiate(raw, bytes([0x45, 3, n & 0xFF]))
    assert len(eno_codec._decoded) <= eno_module.MEMO_SIZE
    assert len(eno_module._negotiated) <= eno_module.MEMO_SIZE


def test_the_decode_memo_keys_on_the_option_bytes_only() -> None:
    """The bytes after the option (a timestamp, say) differ from SYN to SYN."""
    option = H("450a 01 83 a1 aabbccdd 22")
    first = decode_eno_option(option + H("080a 00000001 00000000"), syn=True)
    again = decode_eno_option(option + H("080a 00000002 00000000"), syn=True)
    assert again is first and first == decode_eno_option(option, syn=True)
    assert first.raw == option
