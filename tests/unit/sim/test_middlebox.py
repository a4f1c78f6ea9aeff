"""Middlebox and attacker stages: exactly the change each one promises, on the packets it
picks, and nothing else."""

from __future__ import annotations

import pytest

from tcpinc_tools.errors import EncodeError, LocalProtocolError
from tcpinc_tools.protocol.segment import TcpFlags
from tcpinc_tools.sim.link import Packet
from tcpinc_tools.sim.middlebox import (
    AddOptions,
    InjectAfter,
    Replay,
    RewriteOption,
    RewriteSegment,
    StripEno,
    TamperPayload,
    all_of,
    eno_option,
    has_fin,
    has_payload,
    is_syn_ack,
    is_syn_only,
    offers_resumption,
    rewrite_options,
)

from .helpers import packet, segment

# MSS 1460, SACK-permitted, timestamps, NOP, window scale 7 (20 bytes), ENO<21,22,24,23>
# (6 bytes) and two zero bytes of padding: a SYN as our TCP builds it.
SYN_OPTIONS = bytes.fromhex("020405b40402080a000000010000000001030307")
SYN_OPTIONS += bytes.fromhex("450621222423") + b"\x00\x00"
SYN = packet(TcpFlags.SYN, options=SYN_OPTIONS)


def test_predicates() -> None:
    synack = packet(TcpFlags.SYN | TcpFlags.ACK)
    assert is_syn_only(SYN) and not is_syn_only(synack) and is_syn_ack(synack)
    data_fin = packet(TcpFlags.ACK | TcpFlags.FIN, payload=b"x")
    assert all_of(has_fin, has_payload)(data_fin) and not all_of(has_fin, has_payload)(SYN)
    opt = eno_option(SYN.segment)
    assert opt is not None and opt.teps == (0x21, 0x22, 0x24, 0x23)
    assert not offers_resumption(SYN)
    # RFC 8548 §3.5: TEP|0x80 with at least 9 bytes of data offers resumption.
    resume = packet(TcpFlags.SYN, options=bytes.fromhex("450da3") + bytes(10) + b"\x00")
    assert offers_resumption(resume)
    short = packet(TcpFlags.SYN, options=bytes.fromhex("4507a3") + bytes(4) + b"\x00")
    assert not offers_resumption(short)


def test_strip_eno_with_nops_keeps_the_layout() -> None:
    [(t, out)] = StripEno(is_syn_only).process(SYN, 2.0)
    assert t == 2.0
    assert out.segment.options == SYN_OPTIONS[:20] + b"\x01" * 6 + b"\x00\x00"
    assert eno_option(out.segment) is None


def test_strip_eno_cutting_it_out_repads() -> None:
    [(_, out)] = StripEno(is_syn_only, nop=False).process(SYN, 0.0)
    assert out.segment.options == SYN_OPTIONS[:20]


def test_strip_only_the_first_match_by_default() -> None:
    stage = StripEno(is_syn_only)
    stage.process(SYN, 0.0)
    [(_, again)] = stage.process(SYN, 1.0)
    assert again == SYN and stage.matched == 2 and stage.applied == 1


def test_rewrite_option_doubles_or_drops() -> None:
    doubled = rewrite_options(SYN_OPTIONS, 69, lambda raw: raw + raw)
    assert doubled == SYN_OPTIONS[:26] + bytes.fromhex("450621222423")
    # Without the window scale: MSS, SACK-permitted, timestamps, NOP, ENO, one byte of pad.
    dropped = rewrite_options(SYN_OPTIONS, 3, lambda raw: b"")
    assert dropped == SYN_OPTIONS[:17] + bytes.fromhex("450621222423") + b"\x00"
    with pytest.raises(EncodeError):
        rewrite_options(SYN_OPTIONS, 69, lambda raw: raw * 4)
    stage = RewriteOption(is_syn_ack, 69, lambda raw: b"")
    assert stage.process(SYN, 0.0) == [(0.0, SYN)]  # not a SYN-ACK: untouched


def test_add_options_leaves_out_what_does_not_fit() -> None:
    stage = AddOptions(is_syn_only, (b"\x1e\x04\x01\x01", b"\x22\x02", b"\x22\x02"))
    [(_, out)] = stage.process(SYN, 0.0)
    # 26 bytes used + 4 + 2 + 2 = 34: all fit, padded to 36.
    assert out.segment.options == SYN_OPTIONS[:26] + bytes.fromhex("1e04010122022202") + b"\0\0"
    full = packet(TcpFlags.SYN, options=bytes.fromhex("45") + bytes((36,)) + bytes(34))
    crowding = AddOptions(is_syn_only, (b"\x1e\x04\x01\x01", b"\x22\x02"))
    [(_, crowded)] = crowding.process(full, 0)
    # 36 + 4 = 40 bytes: MP_CAPABLE fits, the TFO request is left out.
    assert crowded.segment.options == full.segment.options + b"\x1e\x04\x01\x01"
    assert crowding.left_out == [b"\x22\x02"] and stage.left_out == []


def test_tamper_payload_flips_one_byte() -> None:
    data = packet(payload=b"abcdef")
    stage = TamperPayload(has_payload, index=2, skip=1)
    assert stage.process(data, 0.0) == [(0.0, data)]  # skipped
    [(_, out)] = stage.process(data, 0.0)
    assert out.segment.payload == b"abbdef"
    with pytest.raises(LocalProtocolError):
        TamperPayload(lambda p: True, xor=0)
    with pytest.raises(LocalProtocolError):
        TamperPayload(lambda p: True).process(packet(), 0.0)


def test_rewrite_segment_can_drop() -> None:
    stage = RewriteSegment(has_payload, lambda seg: None)
    assert stage.process(packet(payload=b"x"), 0.0) == []


def test_inject_after_and_replay() -> None:
    def forge(p: Packet) -> Packet:
        return Packet(p.src, p.dst, segment(TcpFlags.RST, seq=p.segment.seq + 1))

    stage = InjectAfter(has_payload, forge, delay=0.5)
    original = packet(payload=b"x")
    out = stage.process(original, 1.0)
    assert out[0] == (1.0, original)
    assert out[1][0] == 1.5 and out[1][1].segment.flags == TcpFlags.RST
    assert stage.injected == [out[1][1]]
    replay = Replay(is_syn_only, after=5.0).process(SYN, 2.0)
    assert replay == [(2.0, SYN), (7.0, SYN)]
    with pytest.raises(LocalProtocolError):
        Replay(is_syn_only, after=0)
