"""``tcpinc monitor`` on the command line: arguments, one-line errors with exit 2, and the
import rule (the headless layers never import textual)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tcpinc_tools.cli import build_parser, main
from tcpinc_tools.commands.monitor import config_from_args
from tcpinc_tools.tui import MonitorConfig

from .support import capture, keys


def parse(*argv: str) -> MonitorConfig:
    return config_from_args(build_parser().parse_args(["monitor", *argv]))


def test_arguments_make_the_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TCPCRYPT_KEYLOG_FILE", raising=False)
    config = parse("-r", "x.pcap", "--follow", "--keylog", "k", "--export-dir", "/tmp")
    assert (config.source, config.target, config.keylog, config.export_dir) == (
        "follow",
        "x.pcap",
        "k",
        "/tmp",
    )
    config = parse("-i", "veth0", "--bpf", "tcp port 80", "--via", "tcpdump", "--netns", "ns")
    assert (config.source, config.target, config.bpf, config.via, config.netns) == (
        "live",
        "veth0",
        "tcp port 80",
        "tcpdump",
        "ns",
    )
    assert parse("-r", "x.pcap").source == "file"
    monkeypatch.setenv("TCPCRYPT_KEYLOG_FILE", "/from/env.keys")
    assert parse("-r", "x.pcap").keylog == "/from/env.keys"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-i", "lo", "--follow"], "--follow goes with -r CAPTURE"),
        (["-r", "x.pcap", "--bpf", "tcp"], "--bpf goes with -i IFACE"),
        (["-r", "x.pcap", "--netns", "ns"], "--netns goes with -i IFACE"),
        (["-r", "x.pcap", "--via", "tcpdump"], "--via goes with -i IFACE"),
        (["-r", "/nonexistent/x.pcap"], "/nonexistent/x.pcap: no such file"),
        (["-i", "nosuch0"], "nosuch0: no such interface"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["monitor", *argv]) == 2
    err = capsys.readouterr().err
    assert err == f"tcpinc monitor: error: {message}\n"


def test_needs_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    # pytest's captured stdout is no terminal.
    assert main(["monitor", "-r", capture("resume"), "--keylog", keys("resume")]) == 2
    assert "needs a terminal" in capsys.readouterr().err


def test_source_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["monitor"])
    assert exc.value.code == 2
    assert "one of the arguments -i/--interface -r/--read is required" in capsys.readouterr().err


def test_headless_layers_do_not_import_textual() -> None:
    code = (
        "import sys\n"
        "import tcpinc_tools.analysis, tcpinc_tools.analysis.live, tcpinc_tools.capture.follow\n"
        "import tcpinc_tools.cli, tcpinc_tools.tui, tcpinc_tools.tui.sources\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
