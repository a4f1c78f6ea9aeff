"""`tcpinc gen` on the command line: --list, its errors (one line on stderr, status 2, no
traceback, nothing left behind), and what a run prints and writes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tcpinc_tools.cli import main
from tcpinc_tools.sim.scenarios import names

# The names issue 4 fixes (other checks use them): all of them, and nothing else.
ISSUE_NAMES = (
    [f"fresh-{t}-{a}" for t in ("p256", "p521", "x25519", "x448")
     for a in ("aes128gcm", "aes256gcm", "chacha20poly1305")]
    + ["resume", "rekey", "simultaneous-open", "urgent", "bulk", "lossy", "many"]
    + [f"fallback-{n}" for n in ("no-eno", "stripped-syn", "stripped-synack", "b-conflict",
                                  "no-common-tep", "aa-mandatory", "vacuous", "ill-formed",
                                  "multiple-eno")]
    + [f"attack-{n}" for n in ("bad-tag", "truncation", "rst-injection", "resume-replay",
                                "plaintext-after-enable", "tracking")]
    + ["coexist-mptcp-tfo", "tls-tep", "legacy-fresh", "legacy-resume"]
)  # fmt: skip


def run_gen(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["gen", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_list_names_every_scenario_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run_gen(capsys, "--list")
    assert status == 0 and err == ""
    lines = out.splitlines()
    listed = [line.split()[0] for line in lines]
    assert listed == list(names())
    assert sorted(listed) == sorted(ISSUE_NAMES)
    for line in lines:
        name, _, description = line.partition("  ")
        assert len(description.strip()) > 20, name


def test_unknown_scenario_suggests_close_names(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "x.pcap"
    status, stdout, err = run_gen(capsys, "fallback-stripped", "-o", str(out))
    assert status == 2 and stdout == ""
    assert err.count("\n") == 1 and err.startswith("tcpinc gen: unknown scenario")
    assert "fallback-stripped-syn" in err and "fallback-stripped-synack" in err
    assert not out.exists()
    status, _, err = run_gen(capsys, "atack-bad-tag", "-o", str(out))
    assert status == 2 and "did you mean attack-bad-tag" in err


def test_unwritable_output(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "x.pcap"
    status, _, err = run_gen(capsys, "resume", "-o", str(missing))
    assert status == 2 and err.count("\n") == 1
    assert str(missing) in err and "No such file or directory" in err
    # A key log that cannot be made: the capture already created is removed again.
    out = tmp_path / "x.pcap"
    status, _, err = run_gen(capsys, "resume", "-o", str(out), "--keylog", str(missing))
    assert status == 2 and err.count("\n") == 1 and not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["resume", "-o", "X", "--count", "3"], "--count applies only to: many"),
        (["many", "-o", "X", "--count", "0"], "--count must be at least 1"),
        (["lossy", "-o", "X", "--size", "1k"], "--size applies only to: bulk"),
        (["resume"], "-o OUT is needed"),
        ([], "a SCENARIO is needed"),
        (["resume", "-o", "X", "--keylog", "X"], "cannot be the same file"),
    ],
)
def test_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    args = [str(tmp_path / a) if a == "X" else a for a in args]
    status, _, err = run_gen(capsys, *args)
    assert status == 2 and err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_bad_size_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["gen", "bulk", "-o", "x.pcap", "--size", "lots"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a size: 'lots'" in err


def test_run_reports_and_writes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out, keys = tmp_path / "r.pcap", tmp_path / "r.keys"
    status, stdout, err = run_gen(capsys, "resume", "-o", str(out), "--keylog", str(keys))
    assert status == 0 and err == ""
    lines = stdout.splitlines()
    assert lines[0] == f"resume: 29 packets, {out.stat().st_size} bytes -> {out} (seed 0)"
    assert lines[1] == f"key log -> {keys}"
    assert lines[2].endswith("tcpcrypt TCPCRYPT_ECDHE_Curve25519 AEAD_AES_128_GCM")
    assert lines[3].endswith("AEAD_AES_128_GCM resumed") and len(lines) == 5
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    text = keys.read_text()
    assert text.startswith("# tcpinc gen resume --seed 0\n")
    # A second run replaces the key log rather than appending to it.
    assert main(["gen", "resume", "-o", str(out), "--keylog", str(keys)]) == 0
    assert keys.read_text() == text


def test_installed_command_fails_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tcpinc_tools.cli", "gen", "nope", "-o", str(tmp_path / "x")],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_closed_stdout_is_no_traceback() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to stdout now fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tcpinc_tools.cli", "gen", "--list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 1 and proc.stderr == ""
