"""The ENO option as the dissector shows it, on segments written here with the option bytes
spelled out from RFC 8547 §4.1-§4.4 (and RFC 6994 for kind 253)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from tcpinc_tools.capture import CaptureWriter
from tcpinc_tools.protocol.segment import Segment, TcpFlags, encode_tcp_header
from tcpinc_tools.wireshark import plugin_path

from .tshark_run import lua_errors, needs_tshark, split, tshark

pytestmark = needs_tshark

CLIENT, SERVER = "192.0.2.1", "198.51.100.1"
SYN, ACK = TcpFlags.SYN, TcpFlags.ACK

# (client port, flags, option bytes as hex): one segment each, every one its own stream
SEGMENTS = [
    # 1. MSS 1460, then ENO: global 0x03 (a=1, b=1), TEP 0x21 v=0, length byte 0x82 (3 data
    #    bytes) before TEP 0xa3 (0x23 with v=1) and its data aa bb cc; EOL padding
    (40001, SYN, "020405b44509032182a3aabbcc000000"),
    # 2. kind 253 with ExID 0x1234 (RFC 6994): not ENO, Wireshark's own dissector shows it
    (40002, SYN, "fd06123401020000"),
    # 3. legacy ENO: kind 253, length 6, ExID 0x454e, TEPs 0x21 0x22
    (40003, SYN, "fd06454e21220000"),
    # 4. a length byte followed by a v=0 TEP: ill-formed (RFC 8547 §4.4)
    (40004, SYN, "45048121"),
    # 5. a non-SYN ENO option with one byte of contents
    (40005, ACK, "4503aa00"),
    # 6. a resumption offer: TEP 0xa3, a 9-byte identifier half, a 2-byte nonce
    (40006, SYN, "450ea30102030405060708090a0b0000"),
    # 7. kind 253 with the TFO ExID 0xf989 and a 2-byte cookie (RFC 7413 §4.1.1)
    (40007, SYN, "fd06f98901020000"),
]


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, str]]:
    path = tmp_path_factory.mktemp("options") / "options.pcap"
    src, dst = ipaddress.ip_address(CLIENT).packed, ipaddress.ip_address(SERVER).packed
    with CaptureWriter(path) as writer:
        for i, (port, flags, options) in enumerate(SEGMENTS):
            seg = Segment(
                port, 80, 1000, 0 if flags == SYN else 1, flags, 65535, bytes.fromhex(options), b""
            )
            writer.write_tcp(1_767_225_600.0 + i, CLIENT, SERVER, encode_tcp_header(seg, src, dst))
    fields = [
        "tcp.srcport",
        "tcpeno.kind",
        "tcpeno.length",
        "tcpeno.exid",
        "tcpeno.syn_form",
        "tcpeno.global",
        "tcpeno.global.b",
        "tcpeno.global.a",
        "tcpeno.global.z",
        "tcpeno.tep",
        "tcpeno.suboption.v",
        "tcpeno.suboption.length_byte",
        "tcpeno.suboption.data",
        "tcpeno.contents",
        "tcpeno.option_space.used",
        "tcpeno.option_space.left",
        "tcpcrypt.resume.half",
        "tcpcrypt.resume.nonce",
        "tcp.options.experimental.exid",
        "tcpeno.ill_formed.length_then_non_tep",
    ]
    run = tshark(path, keylog=None, fields=fields)
    assert run.returncode == 0 and lua_errors(run) == [], run.stderr
    return {int(r["tcp.srcport"]): r for r in run.rows}


def test_syn_form_fields(rows: dict[int, dict[str, str]]) -> None:
    r = rows[40001]
    assert (r["tcpeno.kind"], r["tcpeno.length"], r["tcpeno.syn_form"]) == ("69", "9", "1")
    assert (r["tcpeno.global"], r["tcpeno.global.b"], r["tcpeno.global.a"]) == ("0x03", "1", "1")
    assert r["tcpeno.global.z"] == "0x00"
    assert split(r["tcpeno.tep"]) == ["0x21", "0x23"]
    assert split(r["tcpeno.suboption.v"]) == ["0", "1"]
    assert r["tcpeno.suboption.length_byte"] == "0x82"
    assert r["tcpeno.suboption.data"] == "aabbcc"
    # MSS 4 + ENO 9 + EOL 1 (its padding is free): 14 of 40
    assert (r["tcpeno.option_space.used"], r["tcpeno.option_space.left"]) == ("14", "26")
    assert r["tcpcrypt.resume.half"] == ""


def test_other_exid_goes_to_wireshark(rows: dict[int, dict[str, str]]) -> None:
    r = rows[40002]
    assert r["tcp.options.experimental.exid"] == "0x1234"
    assert r["tcpeno.kind"] == ""
    # the TFO ExID is only labelled (Wireshark's dissector needs TCP's header structure)
    assert rows[40007]["tcpeno.kind"] == "" and rows[40007]["tcpeno.tep"] == ""


def test_legacy_kind(rows: dict[int, dict[str, str]]) -> None:
    r = rows[40003]
    assert (r["tcpeno.kind"], r["tcpeno.length"], r["tcpeno.exid"]) == ("253", "6", "0x454e")
    assert split(r["tcpeno.tep"]) == ["0x21", "0x22"]
    assert r["tcp.options.experimental.exid"] == ""


def test_ill_formed_option(rows: dict[int, dict[str, str]]) -> None:
    r = rows[40004]
    assert r["tcpeno.kind"] == "69"
    assert r["tcpeno.ill_formed.length_then_non_tep"] != ""
    assert r["tcpeno.tep"] == ""


def test_non_syn_form(rows: dict[int, dict[str, str]]) -> None:
    r = rows[40005]
    assert (r["tcpeno.syn_form"], r["tcpeno.contents"]) == ("0", "aa")
    assert r["tcpeno.tep"] == ""


def test_resumption_suboption(rows: dict[int, dict[str, str]]) -> None:
    r = rows[40006]
    assert split(r["tcpeno.tep"]) == ["0x23"] and split(r["tcpeno.suboption.v"]) == ["1"]
    assert r["tcpcrypt.resume.half"] == "010203040506070809"
    assert r["tcpcrypt.resume.nonce"] == "0a0b"


def test_plugin_loaded_twice(tmp_path: Path) -> None:
    """Loading the plugin twice (installed and -X lua_script) is harmless."""
    path = tmp_path / "one.pcap"
    src, dst = ipaddress.ip_address(CLIENT).packed, ipaddress.ip_address(SERVER).packed
    with CaptureWriter(path) as writer:
        seg = Segment(40001, 80, 1, 0, SYN, 65535, bytes.fromhex("45032300"), b"")
        writer.write_tcp(1_767_225_600.0, CLIENT, SERVER, encode_tcp_header(seg, src, dst))
    run = tshark(path, keylog=None, fields=["tcpeno.tep"], scripts_before=[plugin_path()])
    assert run.returncode == 0 and lua_errors(run) == [], run.stderr
    assert [r["tcpeno.tep"] for r in run.rows] == ["0x23"]
