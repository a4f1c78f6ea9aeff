"""The JSON document (ARCHITECTURE.md "JSON output contract"): every key and its type."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from tcpinc_tools.analysis import analyze_capture, flow_to_json, to_json_document
from tcpinc_tools.analysis.report import endpoint_text
from tcpinc_tools.keylog import KeyLog
from tests.unit.analysis.builder import ENO_SYN_X25519, Capture, analyze, fresh_rfc

HEX = re.compile(r"^(?:[0-9a-f]{2})*$")
ADDR = re.compile(r"^(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:]+\]):\d+$")
NoneType = type(None)

# ARCHITECTURE.md, key by key ("hex" / "addr" are strings of that form).
TOP = {"version": int, "captures": list, "flows": list, "findings": list, "stats": dict}
FLOW = {
    "id": int,
    "client": "addr",
    "server": "addr",
    "first_ts": float,
    "last_ts": float,
    "packets": int,
    "eno": (dict, NoneType),
    "tcpcrypt": (dict, NoneType),
    "findings": list,
}
ENO = {
    "dialect": str,
    "status": str,
    "reason": (str, NoneType),
    "host_a": "addr",
    "host_b": "addr",
    "syn_a": ("hex", NoneType),
    "syn_b": ("hex", NoneType),
    "transcript": ("hex", NoneType),
    "global_a": (int, NoneType),
    "global_b": (int, NoneType),
    "negotiated_tep": (int, NoneType),
    "negotiated_tep_byte": (int, NoneType),
    "tep_name": (str, NoneType),
}
TCPCRYPT = {
    "aead": (str, NoneType),
    "resumed": bool,
    "init1": bool,
    "init2": bool,
    "session_id": ("hex", NoneType),
    "frames_a_to_b": int,
    "frames_b_to_a": int,
    "rekeys": int,
    "fin_authenticated": (bool, NoneType),
    "decrypted": bool,
    "decrypt_failures": int,
    "plaintext_a_to_b": "hex",
    "plaintext_b_to_a": "hex",
}
FINDING = {"id": str, "severity": str, "message": str, "packet": (int, NoneType)}


def check(value: Any, kind: object) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if k == "hex" and isinstance(value, str) and HEX.match(value):
            return
        if k == "addr" and isinstance(value, str) and ADDR.match(value):
            return
        # bool is an int subclass; an int field must not hold a bool.
        if (
            isinstance(k, type)
            and isinstance(value, k)
            and not (k is int and value in (True, False) and isinstance(value, bool))
        ):
            return
    raise AssertionError(f"{value!r} is not {kind}")


def check_object(
    obj: dict[str, Any],
    schema: dict[str, object],
    *,
    optional: frozenset[str] | set[str] = frozenset(),
) -> None:
    for key, kind in schema.items():
        if key in optional and key not in obj:
            continue
        assert key in obj, f"missing {key}"
        check(obj[key], kind)


def document() -> dict[str, Any]:
    good, _, sess = fresh_rfc()
    failing = Capture()
    conn = failing.conn(client=("fd00::1", 1234), server=("fd00::2", 80))
    conn.handshake(ENO_SYN_X25519, b"", b"")
    conn.segment(0, 0x10)
    data = good.pcap()
    results = [
        analyze_capture(io.BytesIO(data), keylog=KeyLog.parse(sess.keylog()), payload=True),
        analyze_capture(io.BytesIO(failing.pcap())),
        analyze_capture(io.BytesIO(data[:-7])),  # a truncated capture
    ]
    return to_json_document(results)


def test_document_keys_and_types() -> None:
    doc = json.loads(json.dumps(document()))  # plain JSON types only
    assert set(doc) == set(TOP)
    check_object(doc, TOP)
    assert doc["version"] == 1
    assert len(doc["captures"]) == 3
    for flow in doc["flows"]:
        check_object(flow, FLOW)
        for item in flow["findings"]:
            check_object(item, FINDING)
            assert set(item) == set(FINDING)
            assert item["severity"] in ("chat", "note", "warn", "error")
        if flow["eno"] is not None:
            check_object(flow["eno"], ENO)
            assert flow["eno"]["dialect"] in ("rfc", "legacy")
            assert flow["eno"]["status"] in ("encrypted", "fallback", "incomplete")
        if flow["tcpcrypt"] is not None:
            # Only the first capture was analyzed with payload=True.
            payload = flow["capture"] == 0
            plaintext = set() if payload else {"plaintext_a_to_b", "plaintext_b_to_a"}
            check_object(flow["tcpcrypt"], TCPCRYPT, optional=plaintext)
            assert ("plaintext_a_to_b" in flow["tcpcrypt"]) is payload
    first = doc["flows"][0]
    assert first["eno"]["tep_name"] == "TCPCRYPT_ECDHE_Curve25519"
    assert first["tcpcrypt"]["aead"] == "AEAD_AES_128_GCM"
    assert len(first["tcpcrypt"]["session_id"]) == 66  # 33 bytes, TEP byte included
    assert bytes.fromhex(first["tcpcrypt"]["plaintext_a_to_b"]).startswith(b"GET /")
    ipv6 = doc["flows"][1]
    assert ipv6["client"] == "[fd00::1]:1234" and ipv6["tcpcrypt"] is None
    assert ipv6["eno"]["status"] == "fallback" and ipv6["eno"]["syn_b"] is None
    assert ipv6["eno"]["reason"] == "tcpeno.fallback.no_eno"
    for item in doc["findings"]:
        check_object(item, FINDING)
        assert "capture" in item and "flow" in item
    errors = [f for f in doc["findings"] if f["id"] == "tcpinc.capture.error"]
    assert len(errors) == 1 and errors[0]["capture"] == 2
    assert doc["captures"][2]["error"] and doc["captures"][2]["error_offset"] > 0
    stats = doc["stats"]
    assert stats["captures"] == 3 and stats["flows"] == len(doc["flows"])
    assert stats["encrypted"] >= 1 and stats["fallback"] == 1 and stats["decrypted"] == 1
    assert set(stats["findings"]) == {"chat", "note", "warn", "error"}


def test_plaintext_only_with_payload() -> None:
    cap, _, sess = fresh_rfc()
    result = analyze(cap, sess.keylog())
    tcpcrypt = flow_to_json(result.flows[0])["tcpcrypt"]
    assert "plaintext_a_to_b" not in tcpcrypt and "plaintext_b_to_a" not in tcpcrypt
    check_object(tcpcrypt, TCPCRYPT, optional={"plaintext_a_to_b", "plaintext_b_to_a"})


def test_flow_to_json_alone() -> None:
    cap, _, _ = fresh_rfc()
    flow = analyze(cap).flows[0]
    line = json.dumps(flow_to_json(flow, capture=3))
    obj = json.loads(line)
    check_object(obj, FLOW)
    assert obj["capture"] == 3 and obj["eno"]["transcript"] == "45032345040123"
    assert isinstance(obj["first_ts"], float) and obj["first_ts"] > 1.6e9


def test_endpoint_text() -> None:
    assert endpoint_text(("192.0.2.1", 80)) == "192.0.2.1:80"
    assert endpoint_text(("2001:db8::1", 443)) == "[2001:db8::1]:443"
