"""Reading a capture that is still being written (capture/follow.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tcpinc_tools.capture.follow import GrowingFile, open_growing
from tcpinc_tools.capture.reader import CaptureReader
from tcpinc_tools.errors import CaptureError

CAPTURES = Path(__file__).resolve().parents[3] / "captures"


def records(data: bytes) -> tuple[bytes, list[bytes]]:
    """A pcap file split by hand: the 24-byte file header, then each record (a 16-byte
    header whose third little-endian field is the captured length, and that many bytes)."""
    header, rest, out = data[:24], data[24:], []
    while rest:
        caplen = int.from_bytes(rest[8:12], "little")
        out.append(rest[: 16 + caplen])
        rest = rest[16 + caplen :]
    return header, out


def test_packets_come_as_the_file_grows(tmp_path: Path) -> None:
    header, recs = records((CAPTURES / "resume.pcap").read_bytes())
    assert len(recs) == 29
    target = tmp_path / "growing.pcap"
    target.write_bytes(b"")  # tcpdump has created the file, written nothing yet
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def read() -> None:
        try:
            with open_growing(target, stop.is_set, poll=0.005) as handle:
                for pkt in CaptureReader(handle):
                    seen.append(pkt.number)
        except BaseException as exc:
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    with target.open("ab", buffering=0) as out:
        time.sleep(0.05)
        out.write(header + recs[0][:10])  # a record half written
        time.sleep(0.05)
        assert seen == []
        out.write(recs[0][10:])
        deadline = time.monotonic() + 5
        while seen != [1] and time.monotonic() < deadline:
            time.sleep(0.005)
        assert seen == [1]
        for rec in recs[1:]:
            out.write(rec)
        deadline = time.monotonic() + 5
        while len(seen) < 29 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert reader.is_alive()  # still waiting for more
    stop.set()
    reader.join(5)
    assert not reader.is_alive() and not errors
    assert seen == list(range(1, 30))


def test_a_stop_inside_a_record_is_a_truncated_record(tmp_path: Path) -> None:
    header, recs = records((CAPTURES / "resume.pcap").read_bytes())
    target = tmp_path / "cut.pcap"
    target.write_bytes(header + recs[0] + recs[1][:20])
    with open_growing(target, lambda: True) as handle:
        reader = CaptureReader(handle)
        numbers = []
        with pytest.raises(CaptureError, match="truncated packet record"):
            for pkt in reader:
                numbers.append(pkt.number)
    assert numbers == [1]


def test_missing_file() -> None:
    with pytest.raises(CaptureError, match="cannot open"):
        GrowingFile("/nonexistent/capture.pcap", lambda: True)


def test_raw_file_reads_what_is_there_then_waits(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"abc")
    polls = []

    def stopped() -> bool:
        polls.append(1)
        return len(polls) > 3

    raw = GrowingFile(target, stopped, poll=0.001)
    assert raw.readable() and raw.name == str(target)
    buf = bytearray(10)
    assert raw.readinto(buf) == 3 and bytes(buf[:3]) == b"abc"
    assert raw.readinto(buf) == 0  # nothing more, and stopped after a few looks
    assert len(polls) == 4
    raw.close()
    assert raw.closed
