"""The fallback-* captures read back: negotiate() on the options seen gives the scenario's
reason (or the segment that proves it), and the payload is plain TCP: HTTP in the clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpinc_tools.commands.corpus import Written
from tcpinc_tools.errors import DecodeError
from tcpinc_tools.wire.eno import (
    FALLBACK_AA_MANDATORY,
    FALLBACK_B_CONFLICT,
    FALLBACK_ILL_FORMED,
    FALLBACK_NO_COMMON_TEP,
    FALLBACK_NO_ENO,
    FALLBACK_VACUOUS,
    LENGTH_THEN_NON_TEP,
    decode_eno_option,
    negotiate,
)
from tcpinc_tools.wire.tcp_options import MULTIPLE_ENO, syn_option_report

from .readback import FlowView, eno_options, eno_raw, is_pure_syn, is_synack, read_flows

Corpus = tuple[Path, dict[str, Written]]

NOP = 0x01


def only_flow(corpus: Corpus, stem: str) -> FlowView:
    (view,) = read_flows(corpus[0] / f"{stem}.pcap")
    return view


def assert_plain_http(view: FlowView, stem: str) -> None:
    """The connection carried HTTP in the clear and closed cleanly (FIN both ways)."""
    assert view.c2s.startswith(f"GET /{stem} HTTP/1.1\r\n".encode())
    assert view.s2c.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"TCP-ENO fell back" in view.s2c or stem == "tls-tep"
    assert view.has_fin(client=True) and view.has_fin(client=False)
    assert not view.has_rst(client=True) and not view.has_rst(client=False)


def no_eno_after_handshake(view: FlowView) -> bool:
    """RFC 8547 §4.6: after a fallback no segment carries ENO (SYNs aside)."""
    return not any(eno_options(p) for p in view.packets if not p.flags & 0x02)


def test_no_eno(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-no-eno")
    assert eno_raw(view.syn) is not None and not eno_options(view.synack)
    assert negotiate(eno_raw(view.syn), None).reason == FALLBACK_NO_ENO
    assert no_eno_after_handshake(view)
    assert_plain_http(view, "fallback-no-eno")


def test_stripped_syn(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-stripped-syn")
    # Captured at the server: the SYN arrives with NOPs where the 6-byte ENO option was
    # (our TCP puts one NOP at most in a SYN, before the window scale).
    assert not eno_options(view.syn)
    assert bytes([NOP] * 6) in view.syn.options
    assert not eno_options(view.synack)
    assert view.negotiate().reason == FALLBACK_NO_ENO
    assert no_eno_after_handshake(view)
    assert_plain_http(view, "fallback-stripped-syn")


def test_stripped_synack(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-stripped-synack")
    # Captured at the server: both SYNs carry ENO and negotiate; the client never saw the
    # SYN-ACK's, so its first ACK lacks ENO: RFC 8547 §4.6 rule 1 (the "stripped" reason).
    assert view.negotiate().ok
    assert not eno_options(view.first_client_ack)
    assert view.first_client_ack.payload  # the ACK is its first data segment
    assert_plain_http(view, "fallback-stripped-synack")


def test_b_conflict(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-b-conflict")
    syns = [p for p in view.packets if is_pure_syn(p)]
    assert len(syns) == 2  # a simultaneous open
    outcome = negotiate(eno_raw(syns[0]), eno_raw(syns[1]))
    assert outcome.reason == FALLBACK_B_CONFLICT
    assert outcome.global_a == outcome.global_b == 0
    # RFC 8547 §4.6: a simultaneous opener may leave ENO out of its SYN-ACK once it failed.
    assert all(not eno_options(p) for p in view.packets if is_synack(p))
    assert_plain_http(view, "fallback-b-conflict")


def test_no_common_tep(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-no-common-tep")
    assert eno_raw(view.syn) == bytes.fromhex("450323")
    assert eno_raw(view.synack) == bytes.fromhex("45040121")
    assert view.negotiate().reason == FALLBACK_NO_COMMON_TEP
    assert not eno_options(view.first_client_ack)
    assert_plain_http(view, "fallback-no-common-tep")


def test_aa_mandatory(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-aa-mandatory")
    outcome = view.negotiate(aa_mandatory_a=True)
    assert outcome.reason == FALLBACK_AA_MANDATORY
    assert outcome.global_a == 0x02 and outcome.global_b == 0x01  # a=1; b=1 and a=0
    assert view.negotiate().ok  # without the mandatory mode the options agree
    assert not eno_options(view.first_client_ack)
    assert_plain_http(view, "fallback-aa-mandatory")


def test_vacuous(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-vacuous")
    assert eno_raw(view.syn) == bytes.fromhex("4502")
    assert eno_raw(view.synack) == bytes.fromhex("450301")
    assert view.negotiate().reason == FALLBACK_VACUOUS
    assert_plain_http(view, "fallback-vacuous")


def test_ill_formed(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-ill-formed")
    synack = eno_raw(view.synack)
    assert synack == bytes.fromhex("4505018023")
    with pytest.raises(DecodeError) as info:
        decode_eno_option(synack, syn=True)
    assert info.value.expert_id == LENGTH_THEN_NON_TEP
    assert view.negotiate().reason == FALLBACK_ILL_FORMED
    assert not eno_options(view.first_client_ack)
    assert_plain_http(view, "fallback-ill-formed")


def test_multiple_eno(corpus: Corpus) -> None:
    view = only_flow(corpus, "fallback-multiple-eno")
    report = syn_option_report(view.syn.options)
    assert [a.expert_id for a in report.anomalies] == [MULTIPLE_ENO]
    first, second = report.eno_options
    assert first.raw == second.raw == bytes.fromhex("450621222423")
    assert not eno_options(view.synack)
    assert_plain_http(view, "fallback-multiple-eno")


def test_tls_tep(corpus: Corpus) -> None:
    view = only_flow(corpus, "tls-tep")
    syn = decode_eno_option(eno_raw(view.syn) or b"", syn=True)
    assert [s.tep for s in syn.suboptions] == [0x30]
    assert syn.suboptions[0].name == "TCP-use-TLS (draft)"
    assert eno_raw(view.synack) == bytes.fromhex("450301")  # vacuous, b = 1
    assert view.negotiate().reason == FALLBACK_VACUOUS
    assert_plain_http(view, "tls-tep")
