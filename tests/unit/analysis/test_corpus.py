"""Every capture in captures/ (made by ``tcpinc gen``), analyzed with its key log, shows what
its scenario name promises: fresh-* encrypted with that TEP and AEAD and decrypted,
fallback-* the named fallback reason, attack-* the matching finding."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpinc_tools.analysis import analyze_capture
from tcpinc_tools.analysis.model import AnalysisResult, FlowResult
from tcpinc_tools.analysis.registry import Severity, get
from tcpinc_tools.keylog import KeyLog

CAPTURES = Path(__file__).resolve().parents[3] / "captures"
PCAPS = sorted(CAPTURES.glob("*.pcap"))

TEPS = {
    "p256": "TCPCRYPT_ECDHE_P256",
    "p521": "TCPCRYPT_ECDHE_P521",
    "x25519": "TCPCRYPT_ECDHE_Curve25519",
    "x448": "TCPCRYPT_ECDHE_Curve448",
}
AEADS = {
    "aes128gcm": "AEAD_AES_128_GCM",
    "aes256gcm": "AEAD_AES_256_GCM",
    "chacha20poly1305": "AEAD_CHACHA20_POLY1305",
}
ATTACKS = {
    "attack-bad-tag": "tcpcrypt.tag_failure",
    "attack-truncation": "tcpcrypt.truncation",
    "attack-rst-injection": "tcpcrypt.unauthenticated_reset",
    "attack-resume-replay": "tcpcrypt.resume.replay",
    "attack-plaintext-after-enable": "tcpcrypt.plaintext_after_enable",
    "attack-tracking": "tcpcrypt.resume.tracking",
}


def analyzed(path: Path) -> AnalysisResult:
    keys = path.with_suffix(".keys")
    keylog = KeyLog.load(keys) if keys.exists() else None
    result = analyze_capture(path, keylog=keylog, payload=True)
    assert not result.capture_errors
    assert keylog is None or not keylog.errors
    for flow in result.flows:
        for finding in flow.findings:
            assert get(finding.id) is not None and finding.id != "tcpinc.analyzer_error"
    return result


def all_ids(result: AnalysisResult) -> set[str]:
    return {f.id for flow in result.flows for f in result.flow_findings(flow.id)}


def serious(result: AnalysisResult, flow: FlowResult) -> list[str]:
    return [
        f.id
        for f in result.flow_findings(flow.id)
        if f.severity in (Severity.WARN, Severity.ERROR) and f.id != "tcpeno.legacy_kind"
    ]


def check_clean_encrypted(result: AnalysisResult, *, dialect: str = "rfc") -> None:
    assert result.flows
    for flow in result.flows:
        eno, tc = flow.eno, flow.tcpcrypt
        assert eno is not None and eno.status == "encrypted" and eno.dialect == dialect
        assert tc is not None and tc.decrypted and tc.decrypt_failures == 0
        assert tc.session_id is not None and tc.fin_authenticated is True
        assert not serious(result, flow), serious(result, flow)


def scenario(path: Path) -> str:
    """The scenario a capture shows: its name without a count suffix (many-16, bulk-256k)."""
    name = path.stem
    for base in ("many", "bulk"):
        if name.startswith(base + "-"):
            return base
    return name


def test_the_corpus_is_there() -> None:
    names = {scenario(p) for p in PCAPS}
    assert {"fresh-x25519-aes128gcm", "resume", "fallback-no-eno", "attack-bad-tag"} <= names


@pytest.mark.parametrize("path", PCAPS, ids=[p.stem for p in PCAPS])
def test_capture_matches_its_scenario(path: Path) -> None:
    name = scenario(path)
    result = analyzed(path)
    flows = result.flows
    if name.startswith("fresh-"):
        _, tep, aead = name.split("-")
        check_clean_encrypted(result)
        for flow in flows:
            assert flow.eno is not None and flow.eno.tep_name == TEPS[tep]
            assert flow.tcpcrypt is not None and flow.tcpcrypt.aead == AEADS[aead]
            assert not flow.tcpcrypt.resumed and flow.tcpcrypt.plaintext_a_to_b
    elif name == "fallback-stripped-syn":
        # Captured behind the middlebox: no ENO is left to see, only the NOPs it wrote.
        (flow,) = flows
        assert flow.eno is None and "tcpeno.option_overwritten" in all_ids(result)
    elif name.startswith("fallback-"):
        reason = name.removeprefix("fallback-").replace("-", "_")
        reason = "stripped" if reason.startswith("stripped") else reason
        (flow,) = flows
        assert flow.eno is not None and flow.eno.status == "fallback"
        assert flow.eno.reason == f"tcpeno.fallback.{reason}" and flow.tcpcrypt is None
    elif name in ATTACKS:
        assert ATTACKS[name] in all_ids(result)
    elif name in ("resume", "legacy-resume"):
        check_clean_encrypted(result, dialect="legacy" if name.startswith("legacy") else "rfc")
        assert [f.tcpcrypt.resumed for f in flows if f.tcpcrypt] == [False, True, True]
    elif name == "legacy-fresh":
        check_clean_encrypted(result, dialect="legacy")
    elif name == "rekey":
        check_clean_encrypted(result)
        assert flows[0].tcpcrypt is not None and flows[0].tcpcrypt.rekeys >= 1
    elif name == "simultaneous-open":
        check_clean_encrypted(result)
        assert flows[0].eno is not None and flows[0].eno.simultaneous_open
    elif name == "urgent":
        check_clean_encrypted(result)
        assert flows[0].tcpcrypt is not None and flows[0].tcpcrypt.urgent_frames >= 1
    elif name in ("bulk", "lossy"):
        check_clean_encrypted(result)
        tc = flows[0].tcpcrypt
        assert tc is not None and len(tc.plaintext_a_to_b or b"") + len(tc.plaintext_b_to_a or b"")
    elif name == "coexist-mptcp-tfo":
        check_clean_encrypted(result)
        notes = [f.message for f in flows[0].findings if f.id == "tcpeno.option_space"]
        assert any("MPTCP" in m and "TFO" in m for m in notes)
    elif name == "tls-tep":
        assert "tcpeno.tls_draft_tep" in all_ids(result)
        assert flows[0].eno is not None and flows[0].eno.status == "fallback"
    elif name == "many":
        statuses = {f.eno.status if f.eno else None for f in flows}
        assert {"encrypted", "fallback"} <= statuses
        for flow in flows:
            if flow.eno is not None and flow.eno.status == "encrypted":
                assert flow.tcpcrypt is not None and flow.tcpcrypt.decrypted
    else:
        pytest.fail(f"no expectation for scenario {name!r}: add one here")
