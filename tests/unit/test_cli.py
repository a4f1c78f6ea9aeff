"""The `tcpinc` entry point: --version and --help, in-process and as the installed script."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tcpinc_tools import __version__
from tcpinc_tools.build import build_description
from tcpinc_tools.cli import build_parser, command_module, main, version_line
from tcpinc_tools.commands import COMMANDS


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


def _commands_loaded(argv: list[str]) -> set[str]:
    """The subcommand modules that ``tcpinc ARGV`` imports (in a fresh interpreter)."""
    code = (
        "import sys\n"
        "from tcpinc_tools.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "prefix = 'tcpinc_tools.commands.'\n"
        "print(' '.join(sorted(m[len(prefix):] for m in sys.modules if m.startswith(prefix))))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(proc.stdout.split("\n")[-2].split())


def test_a_run_imports_only_its_subcommand() -> None:
    assert _commands_loaded(["gen", "--list"]) == {"gen"}
    # analyze's own helpers (its output writers) come with it; no other subcommand does
    assert _commands_loaded(["analyze", "--help"]) & set(COMMANDS) == {"analyze"}
    assert _commands_loaded(["--help"]) == set()


def test_help_lists_every_subcommand_with_its_modules_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in COMMANDS:
        module = command_module(name)
        assert COMMANDS[name] == module.HELP
        assert f"    {name}" in out
        assert " ".join(module.HELP.split()[:4]) in " ".join(out.split())


def test_a_subcommands_help_shows_its_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["analyze", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: tcpinc analyze" in out and "--keylog" in out and "--jsonl" in out


def test_build_parser_configures_every_subcommand_by_default() -> None:
    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit):
            parser.parse_args([name, "--definitely-not-an-option"])
    # configured: the subcommands' own arguments parse
    args = build_parser().parse_args(["gen", "--list"])
    assert args.command == "gen"
    # only the named one: another subcommand's parser has no arguments of its own
    lazy = build_parser("gen")
    assert lazy.parse_args(["decrypt"]).command == "decrypt"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["decrypt"])  # configured: its capture is required


def test_command_module_refuses_unknown_names() -> None:
    with pytest.raises(KeyError):
        command_module("os")


CAPTURES = Path(__file__).resolve().parents[2] / "captures"
FULL = Path("/dev/full")  # every write fails with ENOSPC (Linux)


@pytest.mark.parametrize(
    "argv",
    [
        ["analyze", "--json"],
        ["analyze", "--jsonl"],
        ["analyze"],
        ["follow", "--keylog", str(CAPTURES / "resume.keys")],
    ],
    ids=["json", "jsonl", "summary", "follow"],
)
def test_output_to_a_full_device_is_one_line_and_status_2(argv: list[str]) -> None:
    """No space left where the output goes: one line on stderr, no traceback."""
    if not FULL.exists():
        pytest.skip("no /dev/full on this system")
    capture = str(CAPTURES / "resume.pcap")
    with FULL.open("w") as full:
        proc = subprocess.run(
            [sys.executable, "-m", "tcpinc_tools.cli", *argv, capture],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert proc.returncode == 2
    assert proc.stderr == f"tcpinc {argv[0]}: No space left on device\n"
