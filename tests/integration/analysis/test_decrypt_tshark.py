"""``tcpinc decrypt`` output read by tshark with its own dissectors: the HTTP request and
response inside every committed capture that carries HTTP, and TCP that adds up (valid
checksums, nothing tshark's TCP analysis flags that the original did not have)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tcpinc_tools.cli import main

CAPTURES = Path(__file__).resolve().parents[3] / "captures"
FRESH = sorted(CAPTURES.glob("fresh-*.pcap"))
TSHARK = shutil.which("tshark")

pytestmark = [
    pytest.mark.tshark,
    pytest.mark.skipif(TSHARK is None, reason="tshark is not installed"),
]


def tshark(path: Path, *args: str) -> list[list[str]]:
    assert TSHARK is not None
    proc = subprocess.run(
        [TSHARK, "-r", str(path), *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return [line.split("\t") for line in proc.stdout.splitlines()]


def decrypted(tmp_path: Path, name: str) -> Path:
    out = tmp_path / f"{name}.plain.pcap"
    keys = CAPTURES / f"{name}.keys"
    assert (
        main(["decrypt", str(CAPTURES / f"{name}.pcap"), "--keylog", str(keys), "-o", str(out)])
        == 0
    )
    return out


def flagged(path: Path, what: str) -> list[list[str]]:
    """Frame numbers matching ``what``, with tshark checking IPv4 and TCP checksums."""
    checks = ("-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE")
    return tshark(path, *checks, "-Y", what, "-T", "fields", "-e", "frame.number")


BROKEN = "tcp.checksum.status == 0 || ip.checksum.status == 0 || _ws.malformed"


@pytest.mark.parametrize("path", FRESH, ids=[p.stem for p in FRESH])
def test_tshark_dissects_the_http_request(tmp_path: Path, path: Path) -> None:
    out = decrypted(tmp_path, path.stem)
    assert tshark(out, "-Y", "http.request", "-T", "fields", "-e", "http.request.method") == [
        ["GET"]
    ]
    # The original: tcpcrypt frames, no HTTP for tshark to find.
    assert tshark(path, "-Y", "http", "-T", "fields", "-e", "frame.number") == []
    assert tshark(out, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri") == [
        [f"/{path.stem}"]
    ]
    assert tshark(out, "-Y", "http.response", "-T", "fields", "-e", "http.response.code") == [
        ["200"]
    ]
    assert flagged(out, BROKEN) == []
    assert flagged(out, "tcp.analysis.flags") == []  # no retransmission, no unseen segment


@pytest.mark.parametrize(
    ("name", "uris"),
    [
        ("resume", ["/resume/0-fresh", "/resume/1-resumed", "/resume/2-resumed"]),
        (
            "legacy-resume",
            ["/legacy-resume/0-fresh", "/legacy-resume/1-resumed", "/legacy-resume/2-resumed"],
        ),
        ("rekey", ["/rekey"]),
        ("simultaneous-open", ["/simultaneous-open"]),
    ],
)
def test_resumed_legacy_and_rekeyed_sessions(tmp_path: Path, name: str, uris: list[str]) -> None:
    out = decrypted(tmp_path, name)
    rows = tshark(out, "-Y", "http.request", "-T", "fields", "-e", "http.request.uri")
    assert [row[0] for row in rows] == uris
    assert flagged(out, BROKEN) == []
    # Nothing that the original does not have (a simultaneous open's SYN-ACKs look like
    # retransmissions to tshark in both).
    before = flagged(CAPTURES / f"{name}.pcap", "tcp.analysis.flags")
    assert len(flagged(out, "tcp.analysis.flags")) == len(before)


def test_bulk_and_lossy_bodies_are_reassembled(tmp_path: Path) -> None:
    for name, length in (("bulk-256k", "262144"), ("lossy", "49152")):
        out = decrypted(tmp_path, name)
        rows = tshark(out, "-Y", "http.response", "-T", "fields", "-e", "http.content_length")
        assert rows == [[length]]
        assert flagged(out, BROKEN) == []
        # The loss, duplicates and reordering of the lossy run stay visible; nothing is added.
        before = len(flagged(CAPTURES / f"{name}.pcap", "tcp.analysis.flags"))
        assert len(flagged(out, "tcp.analysis.flags")) <= before
