"""The `tcpinc` entry point: --version and --help, in-process and as the installed script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tcpinc_tools import __version__
from tcpinc_tools.build import build_description
from tcpinc_tools.cli import main, version_line


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    # which build runs: tests/integration/native checks both descriptions
    assert capsys.readouterr().out.strip() == f"tcpinc {__version__} ({build_description()})"


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: tcpinc" in out
    assert "RFC 8547" in out


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "usage: tcpinc" in out
    assert "gen" in out  # the subcommands are listed


def test_unknown_subcommand_is_one_line_and_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice: 'frobnicate'" in err


def test_console_script_installed() -> None:
    exe = shutil.which("tcpinc") or str(Path(sys.executable).parent / "tcpinc")
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.strip() == version_line()


def test_module_entry() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tcpinc_tools.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and __version__ in proc.stdout
