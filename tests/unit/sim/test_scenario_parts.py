"""Pieces of the scenarios that make bytes: the ill-formed ENO option, the cleartext that
replaces frames, the bulk body, TEP/AEAD preference lists."""

from __future__ import annotations

import pytest

from tcpinc_tools.errors import DecodeError
from tcpinc_tools.sim.apps import http_response
from tcpinc_tools.sim.scenarios.attack import cleartext_response
from tcpinc_tools.sim.scenarios.common import prefer
from tcpinc_tools.sim.scenarios.fallback import ill_formed
from tcpinc_tools.sim.scenarios.traffic import bulk_body
from tcpinc_tools.wire.eno import LENGTH_THEN_NON_TEP, decode_eno_option


def test_ill_formed_inserts_a_length_byte_before_a_v0_tep() -> None:
    # RFC 8547 §4.4 rule 2: 0x80 (one byte of data follows) then 0x23 (v = 0).
    assert ill_formed(bytes.fromhex("45040123")) == bytes.fromhex("4505018023")
    assert ill_formed(bytes.fromhex("4505212223")) == bytes.fromhex("450680212223")
    with pytest.raises(DecodeError) as info:
        decode_eno_option(ill_formed(bytes.fromhex("45040123")), syn=True)
    assert info.value.expert_id == LENGTH_THEN_NON_TEP


def test_cleartext_response_has_the_exact_size() -> None:
    for size in (150, 211, 400):
        text = cleartext_response(size)
        assert len(text) == size and text.startswith(b"HTTP/1.1 200 OK\r\n")
        head, _, body = text.partition(b"\r\n\r\n")
        assert f"Content-Length: {len(body)}".encode() in head
    smallest = len(http_response(b""))
    assert (
        cleartext_response(smallest - 10)
        == http_response(b"a cleartext response where tcpcrypt frames belong\n")[: smallest - 10]
    )


def test_bulk_body_is_numbered_lines() -> None:
    body = bulk_body(1000)
    assert len(body) == 1000
    assert body.startswith(b"000000000 tcpinc gen bulk transfer: numbered lines of text\n")
    assert body.split(b"\n")[1].startswith(b"000000001 ")
    assert bulk_body(0) == b""


def test_prefer_moves_the_choice_last() -> None:
    assert prefer((0x21, 0x22, 0x23, 0x24), 0x22) == (0x21, 0x23, 0x24, 0x22)
