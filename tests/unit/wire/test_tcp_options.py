"""TCP option walker, builders and the SYN option report (RFC 9293 §3.1, RFC 8547 §4.1/§4.7/§11)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import DecodeError, EncodeError, MalformedError
from tcpinc_tools.wire.tcp_options import (
    OptionAnomaly,
    SynOptionReport,
    TcpOption,
    decode_mss,
    decode_sack,
    decode_sack_permitted,
    decode_timestamps,
    decode_window_scale,
    encode_tcp_options,
    is_eno_option,
    iter_tcp_options,
    mss_option,
    sack_option,
    sack_permitted_option,
    syn_option_report,
    timestamps_option,
    window_scale_option,
)
from tests.support import fuzz_settings, property_settings

H = bytes.fromhex

# A Linux SYN: MSS 1460, SACK-permitted, timestamps, NOP, window scale 7.
LINUX_SYN = H("020405b4 0402 080a 0001e240 00000000 01 030307")


def test_walk_linux_syn() -> None:
    opts = list(iter_tcp_options(LINUX_SYN))
    assert [(o.kind, o.offset, o.length, o.error) for o in opts] == [
        (2, 0, 4, None),
        (4, 4, 2, None),
        (8, 6, 10, None),
        (1, 16, 1, None),
        (3, 17, 3, None),
    ]
    assert opts[0].data == H("05b4")
    assert opts[0].raw == H("020405b4")
    assert opts[1].data == b""
    assert opts[3].raw == H("01")
    assert opts[3].data == b""
    assert decode_mss(opts[0]) == 1460
    decode_sack_permitted(opts[1])
    assert decode_timestamps(opts[2]) == (123456, 0)
    assert decode_window_scale(opts[4]) == 7


def test_length_property_is_len_raw() -> None:
    opt = TcpOption(kind=2, offset=0, data=H("05b4"), raw=H("020405b4"))
    assert opt.length == 4
    assert opt.error is None


def test_eol_with_zero_padding() -> None:
    opts = list(iter_tcp_options(H("020405b4 00 000000")))
    assert len(opts) == 2
    eol = opts[1]
    assert (eol.kind, eol.offset, eol.data, eol.raw, eol.error) == (
        0,
        4,
        H("000000"),
        H("00000000"),
        None,
    )


def test_eol_alone_at_end() -> None:
    (eol,) = iter_tcp_options(H("00"))
    assert (eol.kind, eol.offset, eol.data, eol.raw, eol.error) == (0, 0, b"", H("00"), None)


def test_data_after_eol_is_reported_not_parsed() -> None:
    # dpkt would go on and read "02 04 05 b4" as an MSS option after the EOL.
    opts = list(iter_tcp_options(H("01 00 020405b4")))
    assert [o.kind for o in opts] == [1, 0]
    eol = opts[1]
    assert eol.offset == 1
    assert eol.data == H("020405b4")
    assert eol.error == "tcp.option.data_after_eol"


@pytest.mark.parametrize("length", [0, 1])
def test_length_zero_or_one_stops(length: int) -> None:
    # dpkt would treat the length as 2 and carry on.
    data = H("0402") + bytes((8, length)) + H("01010101")
    opts = list(iter_tcp_options(data))
    assert len(opts) == 2
    bad = opts[1]
    assert bad.kind == 8
    assert bad.offset == 2
    assert bad.error == "tcp.option.bad_length"
    assert bad.raw == data[2:]
    assert bad.data == H("01010101")


def test_length_past_end() -> None:
    opts = list(iter_tcp_options(H("01 080a 00010203")))
    assert [o.kind for o in opts] == [1, 8]
    assert opts[1].error == "tcp.option.past_end"
    assert opts[1].offset == 1
    assert opts[1].data == H("00010203")
    assert opts[1].raw == H("080a00010203")


def test_kind_without_length_byte() -> None:
    opts = list(iter_tcp_options(H("0101 02")))
    assert opts[-1] == TcpOption(
        kind=2, offset=2, data=b"", raw=H("02"), error="tcp.option.past_end"
    )


def test_empty_area() -> None:
    assert list(iter_tcp_options(b"")) == []


def test_option_ending_exactly_at_end_is_fine() -> None:
    (opt,) = iter_tcp_options(H("4503 21"))
    assert opt.error is None
    assert opt.raw == H("450321")


def test_accepts_bytearray_and_memoryview() -> None:
    for data in (bytearray(LINUX_SYN), memoryview(LINUX_SYN)):
        assert [o.raw for o in iter_tcp_options(data)] == [
            o.raw for o in iter_tcp_options(LINUX_SYN)
        ]


# -- builders -------------------------------------------------------------------------------


def test_builders_spelled_out() -> None:
    assert mss_option(1460) == H("020405b4")
    assert mss_option(0xFFFF) == H("0204ffff")
    assert window_scale_option(14) == H("03030e")
    assert sack_permitted_option() == H("0402")
    assert timestamps_option(0x01020304, 0xA0B0C0D0) == H("080a01020304a0b0c0d0")
    assert sack_option([(1, 2), (0xFFFFFFFF, 0x10)]) == H(
        "0512 00000001 00000002 ffffffff 00000010"
    )


@pytest.mark.parametrize(
    "build",
    [
        lambda: mss_option(-1),
        lambda: mss_option(0x10000),
        lambda: window_scale_option(256),
        lambda: timestamps_option(1 << 32, 0),
        lambda: timestamps_option(0, -1),
        lambda: sack_option([(0, 1 << 32)]),
        lambda: sack_option([(0, 0)] * 5),
    ],
)
def test_builders_reject_out_of_range(build: object) -> None:
    with pytest.raises(EncodeError):
        build()  # type: ignore[operator]


def test_sack_four_blocks_fit() -> None:
    opt = sack_option([(i, i + 1) for i in range(4)])
    assert len(opt) == 34
    assert decode_sack(opt) == ((0, 1), (1, 2), (2, 3), (3, 4))


def test_decoders_accept_raw_bytes() -> None:
    assert decode_mss(H("02040218")) == 536
    assert decode_window_scale(H("030300")) == 0
    assert decode_timestamps(H("080a 00000001 00000002")) == (1, 2)
    assert decode_sack(H("050a 00000010 00000020")) == ((16, 32),)
    decode_sack_permitted(H("0402"))


@pytest.mark.parametrize(
    ("decoder", "raw", "expert_id"),
    [
        (decode_mss, H("020302"), "tcp.option.mss.bad_length"),
        (decode_mss, H("0205000000"), "tcp.option.mss.bad_length"),
        (decode_window_scale, H("0302"), "tcp.option.wscale.bad_length"),
        (decode_sack_permitted, H("040300"), "tcp.option.sack_perm.bad_length"),
        (decode_timestamps, H("0809 0000000000000000"), "tcp.option.timestamps.bad_length"),
        (decode_sack, H("0502"), "tcp.option.sack.bad_length"),
        (decode_sack, H("0506 00000000"), "tcp.option.sack.bad_length"),
        (decode_mss, H("030307"), "tcp.option.wrong_kind"),
        (decode_mss, H("0204 05"), "tcp.option.past_end"),
        (decode_mss, H("0201"), "tcp.option.bad_length"),
        (decode_mss, b"", "tcp.option.past_end"),
    ],
)
def test_value_decoders_reject(decoder: object, raw: bytes, expert_id: str) -> None:
    with pytest.raises(MalformedError) as info:
        decoder(raw)  # type: ignore[operator]
    assert info.value.expert_id == expert_id


def test_value_decoder_reports_offset_of_walked_option() -> None:
    opts = list(iter_tcp_options(H("01 020302")))
    with pytest.raises(DecodeError) as info:
        decode_mss(opts[1])
    assert info.value.offset == 1


@property_settings
@given(
    mss=st.integers(0, 0xFFFF),
    shift=st.integers(0, 255),
    tsval=st.integers(0, 0xFFFFFFFF),
    tsecr=st.integers(0, 0xFFFFFFFF),
)
def test_builder_decoder_round_trip(mss: int, shift: int, tsval: int, tsecr: int) -> None:
    assert decode_mss(mss_option(mss)) == mss
    assert decode_window_scale(window_scale_option(shift)) == shift
    assert decode_timestamps(timestamps_option(tsval, tsecr)) == (tsval, tsecr)


# -- encode_tcp_options ---------------------------------------------------------------------


def test_encode_pads_to_four() -> None:
    out = encode_tcp_options([mss_option(1460), sack_permitted_option(), window_scale_option(7)])
    assert out == H("020405b4 0402 030307 000000")
    assert encode_tcp_options([]) == b""
    assert encode_tcp_options([H("020405b4")]) == H("020405b4")


def test_encode_forty_bytes_fit_and_more_do_not() -> None:
    forty = [timestamps_option(1, 2)] * 4
    assert len(encode_tcp_options(forty)) == 40
    with pytest.raises(EncodeError):
        encode_tcp_options([*forty, H("01")])
    with pytest.raises(EncodeError):
        encode_tcp_options([bytes(38), bytes(1), H("0402")])


# -- is_eno_option ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (H("4502"), True),
        (H("450321"), True),
        (H("fd04454e"), True),
        (H("fd05454e21"), True),
        (H("fd04f989"), False),  # another ExID (TFO's experimental one)
        (H("fd02"), False),
        (H("fe04454e"), False),  # kind 254 is not the legacy ENO kind
        (H("0402"), False),
    ],
)
def test_is_eno_option(raw: bytes, expected: bool) -> None:
    (opt,) = iter_tcp_options(raw)
    assert is_eno_option(opt) is expected


# -- syn_option_report ----------------------------------------------------------------------


def test_report_clean_syn_with_eno_space_account() -> None:
    data = LINUX_SYN + H("450321") + H("00")
    report = syn_option_report(data)
    assert isinstance(report, SynOptionReport)
    assert report.anomalies == ()
    assert report.space_used == ((2, 4), (4, 2), (8, 10), (1, 1), (3, 3), (69, 3), (0, 1))
    assert report.total_used == 24
    assert report.space_left == 16
    assert [o.raw for o in report.eno_options] == [H("450321")]


def test_report_padding_after_eol_is_free_space() -> None:
    report = syn_option_report(H("020405b4 00 000000"))
    assert report.space_used == ((2, 4), (0, 1))
    assert report.total_used == 5
    assert report.space_left == 35


def test_report_empty() -> None:
    report = syn_option_report(b"")
    assert report == SynOptionReport((), (), (), 0, 40)


def test_report_multiple_eno() -> None:
    report = syn_option_report(H("450321 01 4502"))
    assert report.anomalies == (
        OptionAnomaly(
            "tcpeno.multiple_eno",
            4,
            "2 ENO options in one SYN (treated as none, RFC 8547 §4.1)",
        ),
    )


def test_report_mixed_kinds() -> None:
    report = syn_option_report(H("fd05454e21 450321"))
    assert [(a.expert_id, a.offset) for a in report.anomalies] == [
        ("tcpeno.multiple_eno", 5),
        ("tcpeno.mixed_kinds", 5),
    ]
    report = syn_option_report(H("450321 4502 fd04454e"))
    assert [(a.expert_id, a.offset) for a in report.anomalies] == [
        ("tcpeno.multiple_eno", 3),
        ("tcpeno.mixed_kinds", 5),
    ]


def test_report_other_exid_is_not_eno() -> None:
    report = syn_option_report(H("450321 fd06f989aabb"))
    assert report.anomalies == ()


def test_report_tfo_with_eno() -> None:
    cookie = H("220a 0102030405060708")
    report = syn_option_report(cookie + H("450321"))
    assert [(a.expert_id, a.offset) for a in report.anomalies] == [("tcpeno.tfo_with_eno", 0)]
    # An empty TFO option (a cookie request) is allowed beside ENO.
    assert syn_option_report(H("2202 450321")).anomalies == ()
    # A TFO cookie without ENO is not an ENO matter.
    assert syn_option_report(cookie).anomalies == ()


def test_report_per_option_errors() -> None:
    report = syn_option_report(H("450321 00 0001"))
    assert [(a.expert_id, a.offset) for a in report.anomalies] == [("tcp.option.data_after_eol", 3)]
    report = syn_option_report(H("0401"))
    assert [(a.expert_id, a.offset) for a in report.anomalies] == [("tcp.option.bad_length", 0)]
    report = syn_option_report(H("01 4509 21"))
    assert [(a.expert_id, a.offset) for a in report.anomalies] == [("tcp.option.past_end", 1)]
    assert "kind 69" in report.anomalies[0].message


def test_report_space_left_negative_beyond_forty() -> None:
    report = syn_option_report(H("01") * 41)
    assert report.total_used == 41
    assert report.space_left == -1


# -- decoder contract -----------------------------------------------------------------------


@fuzz_settings
@given(st.binary(max_size=60))
def test_iter_tcp_options_never_raises_and_covers_input(data: bytes) -> None:
    opts = list(iter_tcp_options(data))
    assert b"".join(o.raw for o in opts) == data
    for o in opts:
        assert data[o.offset : o.offset + o.length] == o.raw
        assert o.raw[:1] == bytes((o.kind,))
        assert o.raw.endswith(o.data)
    # Only the last option may be an error, EOL or a truncated one.
    for o in opts[:-1]:
        assert o.error is None
        assert o.kind != 0


@fuzz_settings
@given(st.binary(max_size=60))
def test_syn_option_report_never_raises(data: bytes) -> None:
    report = syn_option_report(data)
    assert report.options == tuple(iter_tcp_options(data))
    assert report.total_used + report.space_left == 40
    assert report.total_used <= len(data)
    offsets = [a.offset for a in report.anomalies]
    assert offsets == sorted(offsets)
    assert {a.expert_id for a in report.anomalies} <= {
        "tcp.option.data_after_eol",
        "tcp.option.bad_length",
        "tcp.option.past_end",
        "tcpeno.multiple_eno",
        "tcpeno.mixed_kinds",
        "tcpeno.tfo_with_eno",
    }


@fuzz_settings
@given(st.binary(max_size=44))
def test_value_decoders_contract(data: bytes) -> None:
    for decoder in (
        decode_mss,
        decode_window_scale,
        decode_sack_permitted,
        decode_timestamps,
        decode_sack,
    ):
        with contextlib.suppress(DecodeError):
            decoder(data)
