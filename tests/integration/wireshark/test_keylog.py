"""The plugin reads the key log as tcpinc_tools.keylog does (docs/keylog.md): lenient line by
line, later resumptions found by chaining from an earlier secret, problems as expert infos."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tshark_run import CAPTURES, Run, lua_errors, needs_tshark, split, tshark

pytestmark = needs_tshark

FIELDS = [
    "frame.number",
    "tcpcrypt.session_id",
    "tcpcrypt.data",
    "tcpcrypt.no_key",
    "tcpinc.keylog.note",
    "tcpinc.keylog.bad_line",
    "_ws.expert.message",
]


def _run(name: str, keys: Path | str | None) -> Run:
    run = tshark(CAPTURES / f"{name}.pcap", keylog=keys, fields=FIELDS)
    assert run.returncode == 0 and lua_errors(run) == [], run.stderr
    return run


def _lines(name: str, label: str) -> list[str]:
    text = (CAPTURES / f"{name}.keys").read_text()
    return [line for line in text.splitlines() if line.startswith(label)]


def _sessions(run: Run) -> set[str]:
    return {s for r in run.rows for s in split(r["tcpcrypt.session_id"])}


def _count(run: Run, field: str) -> int:
    return sum(1 for r in run.rows if r[field])


def _messages(run: Run, prefix: str) -> list[str]:
    return [m for r in run.rows for m in split(r["_ws.expert.message"]) if m.startswith(prefix)]


@pytest.mark.parametrize("name", ["resume", "legacy-resume"])
def test_resumptions_from_the_init1_line_alone(name: str, tmp_path: Path) -> None:
    """ss[1], ss[2] follow from ss[0] (RFC 8548 §3.3): no RESUME line needed."""
    full = _run(name, CAPTURES / f"{name}.keys")
    only_init1 = tmp_path / "init1.keys"
    only_init1.write_text("\n".join(_lines(name, "TCPCRYPT_SS_INIT1")) + "\n")
    chained = _run(name, only_init1)
    assert len(_sessions(full)) == 3
    assert _sessions(chained) == _sessions(full)
    assert [r["tcpcrypt.data"] for r in chained.rows] == [r["tcpcrypt.data"] for r in full.rows]


def test_resume_lines_alone(tmp_path: Path) -> None:
    keys = tmp_path / "resume-only.keys"
    keys.write_text("\n".join(_lines("resume", "TCPCRYPT_SS_RESUME")) + "\n")
    run = _run("resume", keys)
    assert len(_sessions(run)) == 2  # the fresh session's ss[0] is not in the file
    assert _count(run, "tcpcrypt.no_key") == 1
    assert _messages(run, "No secret for this session in the key log: N_A 38c12bcf")


def test_bad_lines_are_reported_once_and_skipped(tmp_path: Path) -> None:
    keys = tmp_path / "mixed.keys"
    good = _lines("fresh-x25519-aes128gcm", "TCPCRYPT_SS_INIT1")
    keys.write_text(
        "# a comment\n"
        "TCPCRYPT_SS_INIT1 zz 00\n"  # line 2: not hex
        "CLIENT_RANDOM 00 11\n"  # an unknown label: skipped quietly
        + "\n".join(good)
        + "\nTCPCRYPT_SS_RESUME 0011 22\n"  # wrong lengths
    )
    run = _run("fresh-x25519-aes128gcm", keys)
    assert any(r["tcpcrypt.data"] for r in run.rows)
    bad = _messages(run, "Key log line not used")
    assert len(bad) == 1 and f"{keys}:2: a field is not hex (2 unusable line(s))" in bad[0]


def test_missing_key_log_file(tmp_path: Path) -> None:
    run = _run("fresh-x25519-aes128gcm", tmp_path / "absent.keys")
    notes = _messages(run, "Key log note: cannot read the key log")
    assert len(notes) == 1
    assert not any(r["tcpcrypt.data"] for r in run.rows)
    assert _count(run, "tcpcrypt.no_key") == 0


def test_another_sessions_secret(tmp_path: Path) -> None:
    """A key log for other sessions: each session says so once (chat), nothing decrypts."""
    run = _run("many-16", CAPTURES / "resume.keys")
    assert not any(r["tcpcrypt.data"] for r in run.rows)
    assert _count(run, "tcpcrypt.no_key") >= 10
