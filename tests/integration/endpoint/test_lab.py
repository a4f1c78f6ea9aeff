"""Every `tcpinc lab` scenario, live in its own namespaces, and its capture read back by the
analyzer with the key log: encrypted (or fallen back), decrypted, the data intact, no
warnings or errors on the clean scenarios."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from tcpinc_tools.endpoint.lab import SCENARIOS, run_lab, scenario_names
from tcpinc_tools.endpoint.services import pattern
from tcpinc_tools.sim.scenarios.common import AEADS, TEPS
from tcpinc_tools.wire.constants import aead_name, tep_name

from .conftest import NEEDS_ROOT
from .support import analyze, serious_findings

pytestmark = NEEDS_ROOT

# Small data keeps the suite quick; the lab's own defaults are larger.
SIZES = {"bulk": 256 << 10, "lossy": 32 << 10}
FALLBACK = {"fallback-kernel-peer", "kernel-client"}
IMPAIRED = {"lossy"}


def _text(name: str) -> bytes:
    return f"hello from tcpinc lab, scenario {name}\n".encode()


def _plain_a_to_b(flow: dict[str, Any]) -> bytes:
    return bytes.fromhex(flow["tcpcrypt"]["plaintext_a_to_b"])


def _plain_b_to_a(flow: dict[str, Any]) -> bytes:
    return bytes.fromhex(flow["tcpcrypt"]["plaintext_b_to_a"])


def test_scenario_names_are_the_issue_s() -> None:
    fresh = {f"fresh-{t}-{a}" for t in ("p256", "p521", "x25519", "x448") for a in AEADS}
    others = {
        "resume",
        "rekey",
        "simultaneous-open",
        "fallback-kernel-peer",
        "kernel-client",
        "lossy",
        "bulk",
    }
    assert set(scenario_names()) == fresh | others
    assert len(SCENARIOS) == 19


@pytest.mark.parametrize("name", scenario_names())
def test_lab_scenario(name: str, tmp_path: Path) -> None:
    capture, keys = tmp_path / f"{name}.pcap", tmp_path / f"{name}.keys"
    result = run_lab(name, capture, keylog=keys, size=SIZES.get(name))
    assert result.ok, "\n".join(f"{c.ok} {c.name}: {c.detail}" for c in result.checks)
    # The key log: created by the endpoints, owner-only (ARCHITECTURE.md "Key log format").
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    doc = analyze(capture, keys)
    assert doc["captures"][0]["error"] is None
    assert doc["captures"][0]["packets"] == result.packets
    flows = doc["flows"]
    if name not in IMPAIRED:
        assert serious_findings(doc) == []

    if name in FALLBACK:
        assert len(flows) == 1
        flow = flows[0]
        assert flow["tcpcrypt"] is None
        if name == "fallback-kernel-peer":
            assert flow["eno"]["status"] == "fallback"
            assert flow["eno"]["reason"] == "tcpeno.fallback.no_eno"
        else:
            assert flow["eno"] is None  # a kernel SYN, our SYN-ACK answers without ENO
        assert keys.read_text() == ""  # no session, no secret
        return

    client_reports = result.reports.get("client") or result.reports["side-a"]
    assert len(flows) == len(client_reports)
    for flow, report in zip(flows, client_reports, strict=True):
        eno, tcpcrypt = flow["eno"], flow["tcpcrypt"]
        assert eno["status"] == "encrypted"
        assert tcpcrypt["decrypted"] is True
        assert tcpcrypt["decrypt_failures"] == 0
        assert tcpcrypt["fin_authenticated"] is True
        assert tcpcrypt["session_id"] == report["session_id"]
        assert eno["tep_name"] == report["tep"]
        assert tcpcrypt["aead"] == report["aead"]

    # One writer (side a's endpoint): each secret once; resumption logs its own line.
    labels = [line.split()[0] for line in keys.read_text().splitlines()]
    want = (
        ["TCPCRYPT_SS_INIT1", "TCPCRYPT_SS_RESUME"] if name == "resume" else ["TCPCRYPT_SS_INIT1"]
    )
    assert labels == want

    flow = flows[-1]
    if name.startswith("fresh-"):
        _, tkey, akey = name.split("-")
        assert flow["eno"]["tep_name"] == tep_name(TEPS[tkey])
        assert flow["tcpcrypt"]["aead"] == aead_name(AEADS[akey])
        assert _plain_a_to_b(flow) == _plain_b_to_a(flow) == _text(name)
    elif name == "resume":
        assert [f["tcpcrypt"]["resumed"] for f in flows] == [False, True]
        assert flows[1]["eno"]["negotiated_tep_byte"] & 0x80
        for f in flows:
            assert _plain_a_to_b(f) == _plain_b_to_a(f) == _text(name)
    elif name == "rekey":
        assert flow["tcpcrypt"]["rekeys"] >= 7
        assert _plain_a_to_b(flow) == _plain_b_to_a(flow) == pattern(8192)
    elif name == "simultaneous-open":
        assert flow["eno"]["simultaneous_open"] is True
        assert _plain_a_to_b(flow) == _text("simultaneous-open (side a)")
        assert _plain_b_to_a(flow) == _text("simultaneous-open (side b)")
    else:  # bulk, lossy
        data = pattern(SIZES[name])
        assert _plain_a_to_b(flow) == _plain_b_to_a(flow) == data
    if name in IMPAIRED:
        assert result.impairment is not None
