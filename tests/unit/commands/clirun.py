"""Running ``tcpinc`` in this process and reading what it printed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tcpinc_tools.cli import main

ROOT = Path(__file__).resolve().parents[3]
CAPTURES = ROOT / "captures"


@dataclass(frozen=True)
class Run:
    status: int
    out: str
    err: str


def tcpinc(capsys: pytest.CaptureFixture[str], *args: str | Path) -> Run:
    """``tcpinc ARGS``: its exit status, stdout and stderr (argparse errors give status 2)."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as exc:
        status = int(exc.code or 0)
    captured = capsys.readouterr()
    return Run(status, captured.out, captured.err)


def capture(name: str) -> Path:
    return CAPTURES / f"{name}.pcap"


def keys(name: str) -> Path:
    return CAPTURES / f"{name}.keys"


def keylog_lines(name: str) -> list[tuple[str, bytes, bytes]]:
    """The secrets of a committed key log: (label, lookup key, ss), read by hand."""
    out = []
    for line in keys(name).read_text().splitlines():
        if line and not line.startswith("#"):
            label, key, ss = line.split()
            out.append((label, bytes.fromhex(key), bytes.fromhex(ss)))
    return out
