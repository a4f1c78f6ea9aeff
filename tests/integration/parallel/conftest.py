"""Captures for the parallel suites, generated once per test session.

``links`` is a folder laid out as operators keep captures (``LINK/DAY.pcap``)::

    link-a/2026-01-01.pcap     many (40 connections, seed 1)
    link-a/2026-01-02.pcapng   many (30 connections, seed 2), one day later, pcapng
    link-b/2026-01-01.pcap     resume (a full exchange and two resumptions)
    link-b/2026-01-02.pcap     the same resume traffic again, a day later: a resumption
                               id and a nonce seen in two captures (cross-capture findings)
    link-b/legacy.pcap         legacy-resume (tcpcryptd 0.5 dialect)
    link-b/README.txt          not a capture: a folder input skips it
    link-c/broken.pcap         not a capture at all
    link-c/cut.pcap            many (seed 4) cut inside a packet record

with every secret in ``links.keys``. ``big`` is one capture of the ``many`` scenario with
a few thousand packets, for the split by connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tcpinc_tools.capture import CaptureWriter
from tcpinc_tools.capture.writer import CaptureFormat
from tcpinc_tools.keylog import KeyLogWriter
from tcpinc_tools.sim.scenarios import generate

DAY = 86_400.0
BIG_COUNT = 400  # connections of the big capture: about 3,500 packets


class _Shifted:
    """A packet sink that moves every timestamp by ``offset`` seconds."""

    def __init__(self, writer: CaptureWriter, offset: float) -> None:
        self.writer = writer
        self.offset = offset

    def write_tcp(self, ts: float, src_ip: str, dst_ip: str, tcp: bytes) -> None:
        self.writer.write_tcp(ts + self.offset, src_ip, dst_ip, tcp)


def write_scenario(
    path: Path,
    keys: Path,
    scenario: str,
    *,
    seed: int = 0,
    count: int | None = None,
    days: int = 0,
    fmt: CaptureFormat = "pcap",
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with CaptureWriter(path, format=fmt) as writer, KeyLogWriter(keys) as keylog:
        generate(scenario, _Shifted(writer, days * DAY), keylog=keylog, seed=seed, count=count)
    return path


@dataclass(frozen=True)
class Links:
    root: Path  # the folder of link folders
    keys: Path
    good: tuple[Path, ...]  # the captures that read to their end, in expansion order
    bad: tuple[Path, ...]  # broken.pcap, cut.pcap


@pytest.fixture(scope="session")
def links(tmp_path_factory: pytest.TempPathFactory) -> Links:
    base = tmp_path_factory.mktemp("parallel")
    root = base / "links"
    keys = base / "links.keys"
    a, b, c = root / "link-a", root / "link-b", root / "link-c"
    write_scenario(a / "2026-01-01.pcap", keys, "many", seed=1, count=40)
    write_scenario(a / "2026-01-02.pcapng", keys, "many", seed=2, count=30, days=1, fmt="pcapng")
    write_scenario(b / "2026-01-01.pcap", keys, "resume")
    write_scenario(b / "2026-01-02.pcap", base / "again.keys", "resume", days=1)
    write_scenario(b / "legacy.pcap", keys, "legacy-resume")
    (b / "README.txt").write_text("captures of link b\n")
    c.mkdir()
    (c / "broken.pcap").write_bytes(b"this is not a capture file at all")
    whole = write_scenario(base / "whole.pcap", base / "cut.keys", "many", seed=4, count=10)
    (c / "cut.pcap").write_bytes(whole.read_bytes()[:5000])
    good = (
        a / "2026-01-01.pcap",
        a / "2026-01-02.pcapng",
        b / "2026-01-01.pcap",
        b / "2026-01-02.pcap",
        b / "legacy.pcap",
    )
    return Links(root, keys, good, (c / "broken.pcap", c / "cut.pcap"))


@dataclass(frozen=True)
class Big:
    path: Path
    keys: Path


@pytest.fixture(scope="session")
def big(tmp_path_factory: pytest.TempPathFactory) -> Big:
    base = tmp_path_factory.mktemp("big")
    keys = base / "big.keys"
    path = write_scenario(base / "big.pcap", keys, "many", seed=3, count=BIG_COUNT)
    return Big(path, keys)
