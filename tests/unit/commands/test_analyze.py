"""``tcpinc analyze`` on the command line: the summary, the JSON document, JSON lines and
Parquet, the key log from an option or the environment, and bad input: one line on stderr,
exit status 2, and every packet before the problem still reported."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tcpinc_tools.analysis import analyze_capture, to_json_document
from tcpinc_tools.commands import analyze as analyze_command
from tcpinc_tools.keylog import KEYLOG_ENV, KeyLog
from tests.unit.analysis.builder import by_hand_session_id
from tests.unit.commands.clirun import capture, keylog_lines, keys, tcpinc


def document(name: str, *, payload: bool = False) -> dict[str, Any]:
    """The engine's document for a committed capture, through JSON (floats, lists)."""
    result = analyze_capture(capture(name), keylog=KeyLog.load(keys(name)), payload=payload)
    doc: dict[str, Any] = json.loads(json.dumps(to_json_document([result])))
    return doc


def truncated(tmp_path: Path) -> Path:
    path = tmp_path / "cut.pcap"
    path.write_bytes(capture("resume").read_bytes()[:1000])  # inside packet 8
    return path


# -- the summary -----------------------------------------------------------------------------


def test_summary_lists_each_connection(capsys: pytest.CaptureFixture[str]) -> None:
    run = tcpinc(capsys, "analyze", capture("resume"), "--keylog", keys("resume"))
    assert run.status == 0 and run.err == ""
    lines = run.out.splitlines()
    assert lines[0].startswith(f"{capture('resume')}  pcap, 29 packets (29 TCP), 3 connections")
    # RFC 8548 §3.4: session ID = TEP byte | CPRF(ss[0], CONST_SESSID, 32), by hand.
    (_, _n_a, ss0) = keylog_lines("resume")[0]
    sid = by_hand_session_id(ss0, 0x23).hex()
    row1 = next(line for line in lines if line.lstrip().startswith("1 "))
    for cell in ("192.0.2.1:51861", "198.51.100.1:80", "encrypted", "Curve25519", "AES_128_GCM"):
        assert cell in row1
    assert " no " in row1 and sid[:10] + "…" in row1
    row2 = next(line for line in lines if line.lstrip().startswith("2 "))
    assert " yes " in row2
    assert lines[-1] == (
        "3 connections: 3 encrypted (3 decrypted, 2 resumed), 0 fell back, 0 incomplete, "
        "0 plain TCP; 0 errors, 0 warnings, 6 notes; 29 packets in 1 capture"
    )
    assert "\x1b[" not in run.out  # not a terminal: no colour


def test_summary_findings_and_fallbacks(capsys: pytest.CaptureFixture[str]) -> None:
    run = tcpinc(
        capsys,
        "analyze",
        capture("attack-bad-tag"),
        capture("fallback-no-common-tep"),
        "--keylog",
        keys("attack-bad-tag"),
    )
    assert run.status == 0  # findings do not change the exit status
    assert "fallback (no_common_tep)" in run.out
    error = next(line for line in run.out.splitlines() if "tcpcrypt.tag_failure" in line)
    assert error.split()[0] == "error"
    assert "2 connections: 1 encrypted (1 decrypted" in run.out


def test_payload_adds_the_plaintext(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("analyze", capture("resume"), "--keylog", keys("resume"))
    assert "GET /resume/0-fresh" not in tcpinc(capsys, *args).out
    run = tcpinc(capsys, *args, "--payload")
    assert "flow 1 (A→B 192.0.2.1:51861 → 198.51.100.1:80)" in run.out
    assert "  GET /resume/0-fresh HTTP/1.1\n  Host: server.example\n" in run.out
    assert "  tcpinc gen scenario resume\n" in run.out


# -- JSON, JSON lines, Parquet ---------------------------------------------------------------


def test_json_is_the_engine_document(capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("resume", "attack-resume-replay"):
        run = tcpinc(capsys, "analyze", "--json", capture(name), "--keylog", keys(name))
        assert run.status == 0
        assert json.loads(run.out) == document(name)
    run = tcpinc(
        capsys, "analyze", "--json", "--payload", capture("resume"), "--keylog", keys("resume")
    )
    assert json.loads(run.out) == document("resume", payload=True)


def test_jsonl_lines_match_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    name = "attack-resume-replay"
    run = tcpinc(capsys, "analyze", "--jsonl", capture(name), "--keylog", keys(name))
    lines = [json.loads(line) for line in run.out.splitlines()]
    doc = document(name)
    assert [line["type"] for line in lines] == ["flow", "flow", "capture"] + ["finding"] * len(
        doc["findings"]
    ) + ["stats"]
    cross = {(f["capture"], f["flow"]) for f in doc["findings"] if f["flow"] is not None}
    for line, flow in zip(lines[:2], doc["flows"], strict=True):
        del line["type"]
        own = [f for f in flow["findings"]]
        if (0, flow["id"]) in cross:  # cross-connection findings come at the end
            own = own[: len(line["findings"])]
        assert line == {**flow, "findings": own}
    assert {k: v for k, v in lines[2].items() if k != "type"} == doc["captures"][0]
    assert [{k: v for k, v in f.items() if k != "type"} for f in lines[3:-1]] == doc["findings"]
    assert lines[-1] == {"type": "stats", "version": 1, **doc["stats"]}


def test_parquet_round_trip(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    name = "attack-resume-replay"
    out = tmp_path / "flows.parquet"
    args = ("analyze", capture(name), "--keylog", keys(name), "--payload", "--parquet", out)
    run = tcpinc(capsys, *args)
    assert run.status == 0 and run.out == f"2 connections -> {out}\n"
    rows = pq.read_table(out).to_pylist()
    doc = document(name, payload=True)
    assert len(rows) == len(doc["flows"]) == 2
    for row, flow in zip(rows, doc["flows"], strict=True):
        assert (row["capture"], row["capture_name"]) == (0, str(capture(name)))
        assert (row["id"], row["client"], row["server"]) == (
            flow["id"],
            flow["client"],
            flow["server"],
        )
        assert row["first_ts"] == flow["first_ts"] and row["packets"] == flow["packets"]
        assert row["eno_status"] == flow["eno"]["status"]
        assert row["eno_tep_name"] == flow["eno"]["tep_name"]
        assert row["eno_transcript"] == flow["eno"]["transcript"]
        tc = flow["tcpcrypt"]
        assert row["tcpcrypt_session_id"] == tc["session_id"]
        assert row["tcpcrypt_resumed"] is tc["resumed"]
        assert row["tcpcrypt_plaintext_a_to_b"] == bytes.fromhex(tc["plaintext_a_to_b"])
        # Cross-connection findings are in the row of the flow they are reported on.
        assert row["findings"] == flow["findings"]
        assert row["findings_count"] == len(flow["findings"])
    assert rows[1]["max_severity"] == "error"  # tcpcrypt.resume.replay
    assert any(f["id"] == "tcpcrypt.resume.replay" for f in rows[1]["findings"])


def test_parquet_without_payload_has_null_plaintext(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "t.parquet"
    assert tcpinc(capsys, "analyze", capture("fallback-no-eno"), "--parquet", out).status == 0
    (row,) = pq.read_table(out).to_pylist()
    assert row["eno_status"] == "fallback" and row["eno_reason"] == "tcpeno.fallback.no_eno"
    assert row["tcpcrypt_aead"] is None and row["tcpcrypt_plaintext_a_to_b"] is None


def test_parquet_to_an_unwritable_place(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = tcpinc(capsys, "analyze", capture("resume"), "--parquet", tmp_path / "no" / "x.parquet")
    assert run.status == 2 and run.err.startswith("tcpinc analyze: cannot write ")
    assert run.err.count("\n") == 1


def test_output_formats_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    run = tcpinc(capsys, "analyze", "--json", "--jsonl", capture("resume"))
    assert run.status == 2 and "not allowed with argument" in run.err


# -- several captures --------------------------------------------------------------------------


def test_several_captures_one_document(capsys: pytest.CaptureFixture[str]) -> None:
    run = tcpinc(capsys, "analyze", "--json", capture("resume"), capture("fallback-vacuous"))
    doc = json.loads(run.out)
    assert [c["name"] for c in doc["captures"]] == [
        str(capture("resume")),
        str(capture("fallback-vacuous")),
    ]
    assert [(f["capture"], f["id"]) for f in doc["flows"]] == [(0, 1), (0, 2), (0, 3), (1, 1)]
    assert doc["stats"]["captures"] == 2 and doc["stats"]["packets"] == 29 + 8


# -- the key log -------------------------------------------------------------------------------


def test_key_log_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEYLOG_ENV, str(keys("resume")))
    doc = json.loads(tcpinc(capsys, "analyze", "--json", capture("resume")).out)
    assert all(f["tcpcrypt"]["decrypted"] for f in doc["flows"])
    monkeypatch.delenv(KEYLOG_ENV)
    doc = json.loads(tcpinc(capsys, "analyze", "--json", capture("resume")).out)
    assert not any(f["tcpcrypt"]["decrypted"] for f in doc["flows"])


def test_bad_key_log_lines_are_one_warning_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "bad.keys"
    good = keys("resume").read_text()
    log.write_text("TCPCRYPT_SS_INIT1 zz 00\n" + good + "TCPCRYPT_SS_INIT1 0011\n")
    last = len(("TCPCRYPT_SS_INIT1 zz 00\n" + good).splitlines()) + 1
    run = tcpinc(capsys, "analyze", "--json", capture("resume"), "--keylog", log)
    assert run.status == 0
    warnings = run.err.splitlines()
    assert len(warnings) == 2
    assert warnings[0].startswith(f"tcpinc analyze: warning: key log line not used: {log}:1: ")
    assert warnings[1].startswith(f"tcpinc analyze: warning: key log line not used: {log}:{last}: ")
    doc = json.loads(run.out)
    assert all(f["tcpcrypt"]["decrypted"] for f in doc["flows"])  # the rest was used
    assert [f["id"] for f in doc["findings"]] == ["tcpinc.keylog.bad_line"] * 2


def test_a_key_for_another_session(capsys: pytest.CaptureFixture[str]) -> None:
    # The two scenarios ran with one seed: the same N_A, another TEP, so another ss[0].
    other = keys("fresh-x448-aes128gcm")
    run = tcpinc(capsys, "analyze", "--json", capture("fresh-p256-aes128gcm"), "--keylog", other)
    assert run.status == 0 and run.err == ""
    (flow,) = json.loads(run.out)["flows"]
    tc = flow["tcpcrypt"]
    assert tc["decrypted"] is False and tc["session_id"] is None and tc["frames_a_to_b"] == 2
    assert "tcpcrypt.key_mismatch" in {f["id"] for f in flow["findings"]}


def test_a_key_log_without_this_session(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "other.keys"
    log.write_text(f"TCPCRYPT_SS_INIT1 {'ab' * 32} {'cd' * 32}\n")
    run = tcpinc(capsys, "analyze", "--json", capture("fresh-p256-aes128gcm"), "--keylog", log)
    assert run.status == 0 and run.err == ""
    (flow,) = json.loads(run.out)["flows"]
    assert flow["tcpcrypt"]["decrypted"] is False
    assert "tcpcrypt.no_key" in {f["id"] for f in flow["findings"]}


def test_an_unreadable_key_log_stops_everything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    run = tcpinc(capsys, "analyze", capture("resume"), "--keylog", tmp_path / "none.keys")
    assert run.status == 2 and run.out == ""
    assert run.err == (
        f"tcpinc analyze: cannot read key log '{tmp_path / 'none.keys'}': No such file or "
        "directory\n"
    )


# -- bad captures ------------------------------------------------------------------------------


def test_missing_and_not_a_capture(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a capture\n")
    missing = tmp_path / "missing.pcap"
    run = tcpinc(capsys, "analyze", missing, text, capture("fallback-no-eno"))
    assert run.status == 2
    assert run.err.splitlines() == [
        f"tcpinc analyze: {missing}: no such file",
        f"tcpinc analyze: {text}: not a pcap or pcapng file (magic number 0x68656c6c) at byte 0",
    ]
    assert "fallback (no_eno)" in run.out  # the good capture is still reported
    assert "Traceback" not in run.out + run.err


def test_truncated_capture_keeps_what_was_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    cut = truncated(tmp_path)
    for fmt in ("--json", "--jsonl", None):
        args = ["analyze", str(cut), "--keylog", str(keys("resume"))]
        run = tcpinc(capsys, *args, *([fmt] if fmt else []))
        assert run.status == 2
        assert run.err == f"tcpinc analyze: {cut}: truncated packet record at byte 896\n"
        if fmt == "--json":
            doc = json.loads(run.out)
            assert doc["captures"][0]["error_offset"] == 896
            (flow,) = doc["flows"]
            assert flow["packets"] == 7 and flow["tcpcrypt"]["decrypted"] is True
        elif fmt == "--jsonl":
            first = json.loads(run.out.splitlines()[0])
            assert first["type"] == "flow" and first["packets"] == 7
        else:
            assert "read stopped: " in run.out and "2379d6f123…" in run.out


def test_progress_bar_waits_and_goes(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(analyze_command.time, "monotonic", lambda: clock[0])
    with analyze_command._ProgressBar(True) as bar:
        bar.capture("big.pcap")
        bar(10, 1000)
        assert bar._progress is None  # a short capture never shows one
        clock[0] += analyze_command.PROGRESS_DELAY
        bar(20, 1000)
        assert bar._progress is not None
        (task,) = bar._progress.tasks
        assert (task.description, task.completed, task.total) == ("big.pcap", 20, 1000)
    assert bar._progress is None
    off = analyze_command._ProgressBar(False)
    off.capture("x")
    clock[0] += 10
    off(1, 2)
    assert off._progress is None
