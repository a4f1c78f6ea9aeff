"""``tcpinc analyze --jsonl -``: a connection's line comes out while the capture is still
arriving on a pipe (the way ``tcpdump -w - | tcpinc analyze --jsonl -`` runs)."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys

from tcpinc_tools.capture.expiry import LINGER
from tcpinc_tools.capture.reader import read_packets
from tests.unit.analysis.builder import fresh_rfc
from tests.unit.commands.clirun import ROOT

PCAP_HEADER = 24  # pcap-savefile(5): the file header; then 16 bytes before each record
RECORD_HEADER = 16


def test_first_line_before_the_end_of_the_capture() -> None:
    cap, _, sess = fresh_rfc()
    cap.t += LINGER + 10  # the second connection starts long after the first closed
    fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.1", 40001)}, seed=2)
    data = cap.pcap()
    packets = list(read_packets(io.BytesIO(data)))
    first_of_second = next(i for i, p in enumerate(packets) if p.sport == 40001)
    split = PCAP_HEADER + sum(RECORD_HEADER + len(p.frame) for p in packets[: first_of_second + 1])

    env = {**os.environ, "TCPCRYPT_KEYLOG_FILE": ""}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tcpinc_tools.cli", "analyze", "--jsonl", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(data[:split])
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 60)
        assert ready, "no line while the capture was still open"
        first = json.loads(proc.stdout.readline())
        assert proc.poll() is None  # still waiting for the rest of the capture
        assert (first["type"], first["id"], first["packets"]) == ("flow", 1, len(packets) // 2)
        proc.stdin.write(data[split:])
        proc.stdin.close()
        rest = [json.loads(line) for line in proc.stdout.read().splitlines()]
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == 0
    assert [(r["type"], r.get("id")) for r in rest] == [
        ("flow", 2),
        ("capture", None),
        ("stats", None),
    ]
    assert rest[1]["name"] == "<stdin>" and rest[1]["packets"] == len(packets)
    assert sess.keylog()  # (the session exists; no key log given: nothing decrypted)
