"""bench/stages.py, the bench's breakdown of ``tcpinc analyze`` by stage, on sample captures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tcpinc_tools.build import build_description
from tcpinc_tools.capture import CaptureReader

ROOT = Path(__file__).resolve().parents[3]
STAGES = ROOT / "bench" / "stages.py"


@pytest.mark.parametrize("name", ["many-16.pcap", "lossy.pcap"])
def test_every_stage_goes_through_every_tcp_packet(name: str) -> None:
    capture = ROOT / "captures" / name
    proc = subprocess.run(
        [sys.executable, str(STAGES), str(capture), "--repeat", "2"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = json.loads(proc.stdout)
    assert found["build"] == build_description()
    tcp = sum(1 for _pkt in CaptureReader(capture))
    assert tcp > 0
    assert found["packets"] == {"read": tcp, "flows": tcp, "analysis": tcp}
    for stage in ("read", "flows", "analysis"):
        assert isinstance(found[stage], float)
        assert found[stage] > 0.0
