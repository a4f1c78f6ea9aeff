"""tshark reads every capture of captures/ (and an IPv6 pcapng one) without a malformed-packet
or checksum complaint, with TCP and IP checksum validation on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tcpinc_tools.capture import CaptureWriter
from tcpinc_tools.cli import main
from tcpinc_tools.protocol.segment import Segment, TcpFlags, encode_tcp_header

COMMITTED = Path(__file__).resolve().parents[2] / "captures"
TSHARK = shutil.which("tshark")

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(TSHARK is None, reason="tshark is not installed"),
]


def complaints(capture: Path) -> list[str]:
    """One line per problem tshark reports: a checksum that is not Good, a malformed
    packet, or an expert message about either."""
    assert TSHARK is not None
    fields = ["frame.number", "tcp.checksum.status", "ip.checksum.status", "ip.version"]
    fields += ["_ws.malformed", "_ws.expert.message"]
    command = [TSHARK, "-n", "-r", str(capture), "-o", "tcp.check_checksum:TRUE"]
    command += ["-o", "ip.check_checksum:TRUE", "-T", "fields", "-E", "separator=|"]
    for name in fields:
        command += ["-e", name]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    problems: list[str] = []
    rows = proc.stdout.splitlines()
    assert rows, f"tshark read no packet from {capture.name}"
    for row in rows:
        number, tcp_status, ip_status, version, malformed, messages = row.split("|", 5)
        # Wireshark's checksum status: 0 bad, 1 good, 2 unverified.
        if tcp_status != "1":
            problems.append(f"#{number}: TCP checksum status {tcp_status!r}")
        if version == "4" and ip_status != "1":
            problems.append(f"#{number}: IP checksum status {ip_status!r}")
        if malformed:
            problems.append(f"#{number}: malformed: {malformed}")
        lowered = messages.lower()
        if "malformed" in lowered or "checksum" in lowered:
            problems.append(f"#{number}: {messages}")
    return problems


@pytest.mark.parametrize("capture", sorted(COMMITTED.glob("*.pcap")), ids=lambda p: p.stem)
def test_committed_capture_is_clean(capture: Path) -> None:
    assert complaints(capture) == []


def test_ipv6_pcapng_capture_is_clean(tmp_path: Path) -> None:
    out = tmp_path / "lossy.pcapng"
    assert main(["gen", "lossy", "-o", str(out), "--ipv6", "--pcapng", "--seed", "3"]) == 0
    assert complaints(out) == []


def test_the_check_sees_a_bad_checksum(tmp_path: Path) -> None:
    out = tmp_path / "bad.pcap"
    seg = Segment(40000, 80, 1, 0, TcpFlags.SYN, 65535, b"", b"")
    tcp = bytearray(encode_tcp_header(seg, bytes((192, 0, 2, 1)), bytes((198, 51, 100, 1))))
    tcp[16] ^= 0xFF  # the checksum's first byte
    with CaptureWriter(out) as writer:
        writer.write_tcp(1_767_225_600.0, "192.0.2.1", "198.51.100.1", bytes(tcp))
    assert any("TCP checksum status" in line for line in complaints(out))
