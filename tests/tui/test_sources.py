"""Packet sources: the choice of capture tool, the checks before the screen starts, and the
pipe source with stand-in capture tools (scripts named tcpdump on PATH)."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from tcpinc_tools.tui.config import KEY_GRACE, MonitorConfig
from tcpinc_tools.tui.sources import (
    PipeSource,
    SourceError,
    capture_tool,
    check_config,
    open_source,
)

from .support import capture

# The stand-in tools run with nothing but themselves on PATH: they name what they use.
CAT = shutil.which("cat") or "/bin/cat"
SLEEP = shutil.which("sleep") or "/bin/sleep"


def _tool(folder: Path, name: str, script: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def fake_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH with nothing on it but what the test puts in tmp_path/bin."""
    folder = tmp_path / "bin"
    folder.mkdir()
    monkeypatch.setenv("PATH", str(folder))
    return folder


def test_auto_takes_tcpdump_then_dumpcap_then_af_packet(fake_path: Path) -> None:
    assert capture_tool("auto", None) == "af_packet"
    with pytest.raises(SourceError, match="needs tcpdump or dumpcap"):
        capture_tool("auto", "tcp port 80")
    _tool(fake_path, "dumpcap", "exit 0\n")
    assert capture_tool("auto", "tcp") == "dumpcap"
    _tool(fake_path, "tcpdump", "exit 0\n")
    assert capture_tool("auto", None) == "tcpdump"
    assert capture_tool("af_packet", None) == "af_packet"
    os.remove(fake_path / "tcpdump")
    with pytest.raises(SourceError, match="tcpdump is not installed"):
        capture_tool("tcpdump", None)


def test_the_pipe_source_reads_what_the_tool_writes(fake_path: Path) -> None:
    # The stand-in writes a whole capture to stdout, as `tcpdump -w -` does, and records
    # its arguments.
    args = fake_path / "args"
    _tool(fake_path, "tcpdump", f'echo "$@" > {args}\n{CAT} {capture("resume")}\n{SLEEP} 30\n')
    source = PipeSource("tcpdump", "veth0", bpf="tcp port 80", netns=None)
    packets = []
    for pkt in source.packets():
        packets.append(pkt)
        if len(packets) == 29:
            source.stop()
    source.close()
    assert [p.number for p in packets] == list(range(1, 30))
    assert args.read_text().split() == [
        "-i",
        "veth0",
        "-n",
        "-s",
        "0",
        "-U",
        "--immediate-mode",
        "-w",
        "-",
        "tcp",
        "port",
        "80",
    ]


def test_a_failing_tool_gives_its_own_message(fake_path: Path) -> None:
    _tool(
        fake_path,
        "tcpdump",
        'echo "tcpdump: listening on nosuch0" >&2\n'
        'echo "tcpdump: nosuch0: No such device exists" >&2\nexit 1\n',
    )
    source = PipeSource("tcpdump", "nosuch0", bpf=None, netns=None)
    with pytest.raises(SourceError, match="tcpdump on nosuch0: tcpdump: nosuch0: No such device"):
        list(source.packets())
    source.close()


def test_dumpcap_arguments(fake_path: Path) -> None:
    args = fake_path / "args"
    _tool(fake_path, "dumpcap", f'echo "$@" > {args}\n{CAT} {capture("resume")}\n')
    source = PipeSource("dumpcap", "eth1", bpf="tcp", netns=None)
    with pytest.raises(SourceError, match="exited with status 0"):
        list(source.packets())  # the tool ended although nobody asked it to
    source.close()
    assert args.read_text().split() == ["-i", "eth1", "-q", "-P", "-w", "-", "-f", "tcp"]


def test_checks_before_the_screen(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no such file"):
        check_config(MonitorConfig("file", str(tmp_path / "none.pcap")))
    with pytest.raises(SourceError, match="is a directory"):
        check_config(MonitorConfig("follow", str(tmp_path)))
    with pytest.raises(SourceError, match="no such interface"):
        check_config(MonitorConfig("live", "nosuch0", via="af_packet"))
    with pytest.raises(SourceError, match="no such network namespace"):
        check_config(MonitorConfig("live", "eth0", via="af_packet", netns="tcpinc-none-x"))
    check_config(MonitorConfig("live", "lo", via="af_packet"))
    check_config(MonitorConfig("file", capture("resume")))


def test_config_labels_and_grace() -> None:
    live = MonitorConfig("live", "veth0", bpf="tcp", netns="ns1", keylog="k")
    assert live.label == "veth0 in ns1 [tcp]"
    assert live.grace == KEY_GRACE
    assert MonitorConfig("follow", "/tmp/x.pcap", keylog="k").label == "x.pcap (following)"
    assert MonitorConfig("follow", "/tmp/x.pcap").grace == 0.0  # no key log: no wait
    assert MonitorConfig("file", "/tmp/x.pcap", keylog="k").grace == 0.0
    assert MonitorConfig("live", "lo", key_grace=1.5).grace == 1.5


def test_open_source_kinds(tmp_path: Path) -> None:
    source = open_source(MonitorConfig("file", capture("resume")))
    assert not source.blocking and len(list(source.packets())) == 29
    source.close()
    follow = open_source(MonitorConfig("follow", capture("resume")))
    assert follow.blocking
    follow.stop()
    assert len(list(follow.packets())) == 29  # what is there; then the stop ends it
    follow.close()
    with pytest.raises(SourceError, match="cannot open"):
        open_source(MonitorConfig("follow", str(tmp_path / "missing.pcap")))
