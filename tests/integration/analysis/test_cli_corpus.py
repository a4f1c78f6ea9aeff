"""Every committed capture through ``tcpinc analyze`` with its key log, checked in the JSON
against what its scenario promises (status, fallback reason, TEP, AEAD, decryption, the
attack's finding), with the session IDs of fresh sessions recomputed by hand from the key
log (RFC 8548 §3.4); and the same facts in the other outputs (JSON lines, Parquet, the
summary's totals). tests/unit/analysis/test_corpus.py checks the engine's objects; this
checks what a user of the command line gets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.unit.analysis.builder import by_hand_session_id
from tests.unit.analysis.test_corpus import AEADS, ATTACKS, TEPS
from tests.unit.commands.clirun import CAPTURES, tcpinc

PCAPS = sorted(CAPTURES.glob("*.pcap"))
Json = dict[str, Any]


def analyze_json(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> Json:
    run = tcpinc(capsys, "analyze", "--json", path, "--keylog", path.with_suffix(".keys"), *extra)
    assert run.status == 0 and run.err == "", run.err
    doc: Json = json.loads(run.out)
    return doc


def all_ids(doc: Json) -> set[str]:
    return {f["id"] for flow in doc["flows"] for f in flow["findings"]} | {
        f["id"] for f in doc["findings"]
    }


def init1_secrets(path: Path) -> dict[str, bytes]:
    """N_A (hex) -> ss[0] from the key log, read by hand."""
    out = {}
    for line in path.with_suffix(".keys").read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "TCPCRYPT_SS_INIT1":
            out[fields[1]] = bytes.fromhex(fields[2])
    return out


def check_encrypted(doc: Json, dialect: str = "rfc") -> None:
    assert doc["flows"]
    for flow in doc["flows"]:
        eno, tc = flow["eno"], flow["tcpcrypt"]
        assert eno["status"] == "encrypted" and eno["reason"] is None
        assert eno["dialect"] == dialect
        assert tc["decrypted"] is True and tc["decrypt_failures"] == 0
        assert tc["fin_authenticated"] is True and tc["session_id"] is not None
        # ARCHITECTURE.md: the session ID starts with the TEP byte as B sent it.
        assert int(tc["session_id"][:2], 16) == eno["negotiated_tep_byte"]


def scenario(path: Path) -> str:
    name = path.stem
    return name.split("-")[0] if name.startswith(("many-", "bulk-")) else name


@pytest.mark.parametrize("path", PCAPS, ids=[p.stem for p in PCAPS])
def test_json_shows_the_scenario(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    doc = analyze_json(capsys, path)
    name = scenario(path)
    flows = doc["flows"]
    assert doc["version"] == 1 and doc["captures"][0]["error"] is None
    assert doc["stats"]["flows"] == len(flows)
    if name.startswith("fresh-"):
        _, tep, aead = name.split("-")
        check_encrypted(doc)
        (flow,) = flows
        assert flow["eno"]["tep_name"] == TEPS[tep]
        assert flow["tcpcrypt"]["aead"] == AEADS[aead]
        assert flow["tcpcrypt"]["init1"] and flow["tcpcrypt"]["init2"]
        # RFC 8548 §3.4: session ID = TEP byte | CPRF(ss[0], CONST_SESSID, 32).
        (ss0,) = init1_secrets(path).values()
        tep_byte = flow["eno"]["negotiated_tep_byte"]
        assert flow["tcpcrypt"]["session_id"] == by_hand_session_id(ss0, tep_byte).hex()
    elif name == "fallback-stripped-syn":
        (flow,) = flows
        assert flow["eno"] is None and "tcpeno.option_overwritten" in all_ids(doc)
    elif name.startswith("fallback-"):
        reason = name.removeprefix("fallback-").replace("-", "_")
        reason = "stripped" if reason.startswith("stripped") else reason
        (flow,) = flows
        assert flow["eno"]["status"] == "fallback" and flow["tcpcrypt"] is None
        assert flow["eno"]["reason"] == f"tcpeno.fallback.{reason}"
    elif name in ATTACKS:
        assert ATTACKS[name] in all_ids(doc)
    elif name in ("resume", "legacy-resume"):
        check_encrypted(doc, "legacy" if name.startswith("legacy") else "rfc")
        assert [f["tcpcrypt"]["resumed"] for f in flows] == [False, True, True]
        assert doc["stats"]["resumed"] == 2
    elif name == "legacy-fresh":
        check_encrypted(doc, "legacy")
        assert "tcpeno.legacy_kind" in all_ids(doc)
    elif name == "rekey":
        check_encrypted(doc)
        assert flows[0]["tcpcrypt"]["rekeys"] >= 1
    elif name == "simultaneous-open":
        check_encrypted(doc)
        assert flows[0]["eno"]["simultaneous_open"] is True
    elif name == "urgent":
        check_encrypted(doc)
        assert flows[0]["tcpcrypt"]["urgent_frames"] >= 1
    elif name in ("bulk", "lossy", "coexist-mptcp-tfo"):
        check_encrypted(doc)
    elif name == "tls-tep":
        assert flows[0]["eno"]["status"] == "fallback"
        assert "tcpeno.tls_draft_tep" in all_ids(doc)
    elif name == "many":
        assert {f["eno"]["status"] for f in flows} == {"encrypted", "fallback"}
        encrypted = [f for f in flows if f["eno"]["status"] == "encrypted"]
        assert all(f["tcpcrypt"]["decrypted"] for f in encrypted)
        assert doc["stats"]["encrypted"] == len(encrypted)
    else:
        pytest.fail(f"no expectation for scenario {name!r}: add one here")


@pytest.mark.parametrize("path", PCAPS, ids=[p.stem for p in PCAPS])
def test_every_output_tells_the_same(
    capsys: pytest.CaptureFixture[str], path: Path, tmp_path: Path
) -> None:
    keys = path.with_suffix(".keys")
    doc = analyze_json(capsys, path, "--payload")
    lines = [
        json.loads(line)
        for line in tcpinc(
            capsys, "analyze", "--jsonl", "--payload", path, "--keylog", keys
        ).out.splitlines()
    ]
    flows = sorted((line for line in lines if line["type"] == "flow"), key=lambda f: f["id"])
    assert [f["id"] for f in flows] == [f["id"] for f in doc["flows"]]
    for line, flow in zip(flows, doc["flows"], strict=True):
        assert line["eno"] == flow["eno"] and line["tcpcrypt"] == flow["tcpcrypt"]
        assert line["findings"] == flow["findings"][: len(line["findings"])]
    assert lines[-1] == {"type": "stats", "version": 1, **doc["stats"]}

    out = tmp_path / "t.parquet"
    tcpinc(capsys, "analyze", "--parquet", str(out), "--payload", path, "--keylog", keys)
    rows = pq.read_table(out).to_pylist()
    for row, flow in zip(rows, doc["flows"], strict=True):
        assert row["id"] == flow["id"] and row["findings"] == flow["findings"]
        tc = flow["tcpcrypt"] or {}
        assert row["tcpcrypt_session_id"] == tc.get("session_id")
        if tc.get("plaintext_b_to_a") is not None:
            assert row["tcpcrypt_plaintext_b_to_a"] == bytes.fromhex(tc["plaintext_b_to_a"])

    summary = tcpinc(capsys, "analyze", path, "--keylog", keys).out.splitlines()[-1]
    stats = doc["stats"]
    assert summary.startswith(
        f"{stats['flows']} connection{'s' if stats['flows'] != 1 else ''}: "
        f"{stats['encrypted']} encrypted ({stats['decrypted']} decrypted, "
        f"{stats['resumed']} resumed), {stats['fallback']} fell back"
    )
