"""The capture writer: bytes spelled out from the formats, exact timestamps, tshark's view."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.capture.reader import CaptureReader, read_packets
from tcpinc_tools.capture.writer import CaptureWriter, mac_for_ip
from tcpinc_tools.errors import CaptureError, EncodeError, LocalProtocolError
from tests.support import property_settings
from tests.unit.capture import handmade as hm

A4, B4 = "10.0.0.1", "10.0.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"
TS = 1700000000.5


def seg(src: str = A4, dst: str = B4, **kw: Any) -> bytes:
    args: dict[str, Any] = {"sport": 40000, "dport": 80, "seq": 1000, "ack": 2000}
    args.update(kw)
    return hm.tcp_segment(src, dst, **args)


def written(**kw: Any) -> tuple[CaptureWriter, io.BytesIO]:
    out = io.BytesIO()
    return CaptureWriter(out, **kw), out


# -- file headers, spelled out --------------------------------------------------------------

PCAP_USEC_HEADER = bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000")
PCAP_NSEC_HEADER = bytes.fromhex("4d3cb2a1 0200 0400 00000000 00000000 00000400 65000000")
# SHB: type, length 48, byte-order magic, 1.0, section length -1, shb_userappl
# "tcpinc_tools" (12 bytes), opt_endofopt, length again.
PCAPNG_SHB = bytes.fromhex(
    "0a0d0d0a 30000000 4d3c2b1a 0100 0000 ffffffffffffffff"
    "0400 0c00 746370696e635f746f6f6c73 0000 0000 30000000"
)
# IDB: type 1, length 20, link type 1, reserved, snap length 262144, length again.
PCAPNG_IDB_USEC = bytes.fromhex("01000000 14000000 0100 0000 00000400 14000000")
# ... with if_tsresol = 9 (10^-9 s) and opt_endofopt: length 32.
PCAPNG_IDB_NSEC = bytes.fromhex(
    "01000000 20000000 0100 0000 00000400 0900 0100 09000000 0000 0000 20000000"
)


def test_pcap_file_headers() -> None:
    w, out = written()
    w.close()
    assert out.getvalue() == PCAP_USEC_HEADER
    w, out = written(nanosecond=True, linktype=101)
    w.close()
    assert out.getvalue() == PCAP_NSEC_HEADER


def test_pcapng_file_headers() -> None:
    w, out = written(format="pcapng")
    w.close()
    assert out.getvalue() == PCAPNG_SHB + PCAPNG_IDB_USEC
    w, out = written(format="pcapng", nanosecond=True)
    w.close()
    assert out.getvalue() == PCAPNG_SHB + PCAPNG_IDB_NSEC


# -- records --------------------------------------------------------------------------------


def test_ipv4_ethernet_frame_bytes() -> None:
    w, out = written()
    tcp = seg(payload=b"hi")
    w.write_tcp(TS, A4, B4, tcp)
    w.write_tcp(TS, A4, B4, tcp)
    w.write_tcp(TS, B4, A4, tcp, ttl=5, ip_id=0xBEEF)
    macs = bytes.fromhex("02000a000002 02000a000001")  # destination, source
    expected = [
        macs + b"\x08\x00" + hm.ipv4(A4, B4, tcp, ident=0),
        macs + b"\x08\x00" + hm.ipv4(A4, B4, tcp, ident=1),  # counter per direction
        bytes.fromhex("02000a000001 02000a000002 0800") + hm.ipv4(B4, A4, tcp, ident=0xBEEF, ttl=5),
    ]
    records = out.getvalue()[24:]
    for frame in expected:
        # 1700000000.5: seconds 0x6553f100, 500000 µs, captured = original length.
        head = struct.pack("<IIII", 1700000000, 500000, len(frame), len(frame))
        assert records[:16] == head
        assert records[16 : 16 + len(frame)] == frame
        records = records[16 + len(frame) :]
    assert records == b""


def test_ipv6_frame_bytes() -> None:
    w, out = written(format="pcapng")
    tcp = seg(A6, B6, payload=b"x")
    w.write_tcp(TS, A6, B6, tcp, ttl=9, flow_label=0xABCDE)
    frame = (
        bytes.fromhex("060000000002 060000000001 86dd")
        + bytes.fromhex("600abcde")
        + struct.pack("!HBB", len(tcp), 6, 9)
        + hm.packed(A6)
        + hm.packed(B6)
        + tcp
    )
    epb = out.getvalue()[len(PCAPNG_SHB + PCAPNG_IDB_USEC) :]
    units = 1700000000_500000
    pad = b"\x00" * (-len(frame) % 4)
    total = 32 + len(frame) + len(pad)
    assert epb == (
        struct.pack(
            "<IIIIIII", 6, total, 0, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame)
        )
        + frame
        + pad
        + struct.pack("<I", total)
    )


@pytest.mark.parametrize(
    ("linktype", "v4_head", "v6_head"),
    [
        (101, b"", b""),
        (0, bytes.fromhex("02000000"), bytes.fromhex("18000000")),  # host order: LE, AF 24
        (108, bytes.fromhex("00000002"), bytes.fromhex("00000018")),  # network order
    ],
)
def test_other_link_types(linktype: int, v4_head: bytes, v6_head: bytes) -> None:
    w, out = written(linktype=linktype)
    w.write_tcp(1.0, A4, B4, seg())
    w.write_tcp(2.0, A6, B6, seg(A6, B6))
    w.close()
    data = out.getvalue()
    assert data[20:24] == struct.pack("<I", linktype)
    first = v4_head + hm.ipv4(A4, B4, seg(), ident=0)
    assert data[24 + 16 : 24 + 16 + len(first)] == first
    pkts = list(read_packets(io.BytesIO(data)))
    assert [(p.src, p.dst) for p in pkts] == [(A4, B4), (A6, B6)]
    assert pkts[1].ip_offset == len(v6_head)


def test_write_frame_as_given_and_wire_length() -> None:
    w, out = written(format="pcap", linktype=147)
    w.write_frame(3.25, b"\x01\x02\x03", wire_len=100)
    w.write_frame(3.5, b"\x04", wire_len=0)  # never below the captured length
    assert out.getvalue()[24:] == (
        struct.pack("<IIII", 3, 250000, 3, 100)
        + b"\x01\x02\x03"
        + struct.pack("<IIII", 3, 500000, 1, 1)
        + b"\x04"
    )
    assert w.packets == 2


def test_mac_for_ip() -> None:
    assert mac_for_ip(bytes((192, 0, 2, 7))) == bytes.fromhex("0200c0000207")
    assert mac_for_ip(hm.packed("2001:db8::aa:bbcc:ddee")) == bytes.fromhex("06aabbccddee")
    for mac in (mac_for_ip(b"\x00" * 4), mac_for_ip(b"\xff" * 16)):
        assert mac[0] & 0x02 and not mac[0] & 0x01  # locally administered, unicast


# -- timestamps -----------------------------------------------------------------------------


def _records(data: bytes, header: int) -> list[tuple[int, int]]:
    out = []
    pos = header
    while pos < len(data):
        sec, frac, caplen, _ = struct.unpack_from("<IIII", data, pos)
        out.append((sec, frac))
        pos += 16 + caplen
    return out


def test_simulated_clock_in_milliseconds_does_not_drift() -> None:
    w, out = written()
    steps = range(0, 200000, 997)
    for i in steps:
        w.write_frame(1700000000 + i / 1000, b"")
    assert _records(out.getvalue(), 24) == [
        (1700000000 + i // 1000, i % 1000 * 1000) for i in steps
    ]


def test_microsecond_steps_are_exact() -> None:
    w, out = written()
    steps = range(0, 1_000_000, 9973)
    for k in steps:
        w.write_frame(1700000000 + k * 1e-6, b"")
    assert _records(out.getvalue(), 24) == [(1700000000, k) for k in steps]


@property_settings
@given(st.floats(min_value=0, max_value=4e9, allow_nan=False), st.booleans())
def test_timestamp_is_the_float_rounded_once(ts: float, nano: bool) -> None:
    w, out = written(nanosecond=nano)
    w.write_frame(ts, b"")
    scale = 10**9 if nano else 10**6
    exact = round(Fraction(ts) * scale)  # the float's exact value, rounded half to even
    assert _records(out.getvalue(), 24) == [divmod(exact, scale)]


@pytest.mark.parametrize("ts", [-1.0, float("nan"), float("inf")])
def test_bad_timestamps(ts: float) -> None:
    w, _ = written()
    with pytest.raises(EncodeError):
        w.write_frame(ts, b"")


def test_pcap_cannot_hold_times_after_2106_but_pcapng_can() -> None:
    w, _ = written()
    with pytest.raises(EncodeError, match="2106"):
        w.write_frame(2.0**32, b"")
    w, out = written(format="pcapng", nanosecond=True)
    w.write_tcp(2.0**32 + 0.5, A4, B4, seg())
    (pkt,) = read_packets(io.BytesIO(out.getvalue()))
    assert pkt.ts == 2.0**32 + 0.5


# -- determinism, files, misuse -------------------------------------------------------------


def _scenario(target: object, fmt: str) -> None:
    with CaptureWriter(target, format=fmt, nanosecond=True) as w:  # type: ignore[arg-type]
        w.write_tcp(TS, A4, B4, seg(flags=0x02))
        w.write_tcp(TS + 0.001, B4, A4, seg(B4, A4, flags=0x12))
        w.write_tcp(TS + 0.002, A6, B6, seg(A6, B6, payload=b"abc"))


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_same_input_same_bytes(tmp_path: Path, fmt: str) -> None:
    _scenario(tmp_path / "one", fmt)
    _scenario(str(tmp_path / "two"), fmt)
    buffer = io.BytesIO()
    _scenario(buffer, fmt)
    assert (tmp_path / "one").read_bytes() == (tmp_path / "two").read_bytes() == buffer.getvalue()
    assert not buffer.closed  # a caller's file object stays open


def test_round_trip_through_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "rt.pcapng"
    _scenario(path, "pcapng")
    pkts = list(read_packets(path))
    assert [(p.src, p.dst, p.flags, p.payload) for p in pkts] == [
        (A4, B4, 0x02, b""),
        (B4, A4, 0x12, b""),
        (A6, B6, 0x10, b"abc"),
    ]
    assert pkts[0].ts == TS


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("nano", [False, True])
def test_every_format_reads_back(fmt: str, nano: bool) -> None:
    out = io.BytesIO()
    times = [1700000000.0, 1700000000.001, 1700000000.25, 1700000123.999999]
    with CaptureWriter(out, format=fmt, nanosecond=nano) as w:  # type: ignore[arg-type]
        for i, ts in enumerate(times):
            src, dst = (A4, B4) if i % 2 else (A6, B6)
            w.write_tcp(ts, src, dst, seg(src, dst, seq=i, payload=bytes([i]) * i))
    reader = CaptureReader(io.BytesIO(out.getvalue()))
    pkts = list(reader)
    assert reader.format == fmt
    assert [p.seq for p in pkts] == [0, 1, 2, 3]
    assert [p.payload for p in pkts] == [b"", b"\x01", b"\x02\x02", b"\x03\x03\x03"]
    assert [p.ip_version for p in pkts] == [6, 4, 6, 4]
    # The float the writer was given comes back to within the file's resolution.
    for pkt, ts in zip(pkts, times, strict=True):
        assert abs(pkt.ts - ts) <= (5e-10 if nano else 5e-7) + 2e-7  # + float spacing at 1.7e9


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((TS, "10.0.0.300", B4, b""), {}, "not an IPv4 or IPv6 address"),
        ((TS, A4, B6, b""), {}, "address families differ"),
        ((TS, A4, B4, b""), {"ttl": 256}, "TTL"),
        ((TS, A4, B4, b""), {"ip_id": 70000}, "identification"),
        ((TS, A6, B6, b""), {"flow_label": 1 << 20}, "flow label"),
        ((TS, A4, B4, b"\x00" * 65516), {}, "exceeds an IPv4 datagram"),
        ((TS, A6, B6, b"\x00" * 65536), {}, "exceeds an IPv6 payload"),
    ],
)
def test_write_tcp_rejects(args: tuple[object, ...], kwargs: dict[str, object], match: str) -> None:
    w, out = written()
    with pytest.raises(EncodeError, match=match):
        w.write_tcp(*args, **kwargs)  # type: ignore[arg-type]
    assert out.getvalue() == PCAP_USEC_HEADER  # nothing half-written


def test_write_tcp_needs_a_link_layer_it_can_build() -> None:
    w, _ = written(linktype=113)
    with pytest.raises(EncodeError, match="cannot frame link type 113"):
        w.write_tcp(TS, A4, B4, seg())
    w.write_frame(TS, hm.sll(b"", 0x0800))  # raw frames are fine


def test_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        CaptureWriter(io.BytesIO(), format="erf")  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError):
        CaptureWriter(io.BytesIO(), linktype=70000)
    w, _ = written()
    w.close()
    w.close()  # idempotent
    with pytest.raises(LocalProtocolError, match="closed"):
        w.write_frame(TS, b"")


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot create"):
        CaptureWriter(tmp_path / "missing" / "x.pcap")

    class Full(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data: object) -> int:
            raise OSError(28, "No space left on device")

    with pytest.raises(CaptureError, match="write error: No space left on device"):
        CaptureWriter(Full())  # type: ignore[arg-type]


# -- tshark ---------------------------------------------------------------------------------

TSHARK = shutil.which("tshark")


def _conversation(path: Path, fmt: str, nano: bool, a: str, b: str) -> list[str]:
    """A whole connection; returns the timestamps tshark should print."""
    isn_a, isn_b = 0xFFFFFF00, 0x1000
    mss = bytes.fromhex("020405b4")
    segments = [
        (a, b, 40000, 80, isn_a, 0, 0x02, b"", mss),
        (b, a, 80, 40000, isn_b, isn_a + 1, 0x12, b"", mss),
        (a, b, 40000, 80, isn_a + 1, isn_b + 1, 0x10, b"", b""),
        (a, b, 40000, 80, isn_a + 1, isn_b + 1, 0x18, b"GET / HTTP/1.0\r\n\r\n", b""),
        (b, a, 80, 40000, isn_b + 1, (isn_a + 19) % 2**32, 0x18, b"HTTP/1.0 200 OK\r\n\r\n", b""),
        (a, b, 40000, 80, (isn_a + 19) % 2**32, isn_b + 20, 0x11, b"", b""),
        (b, a, 80, 40000, isn_b + 20, (isn_a + 20) % 2**32, 0x11, b"", b""),
        (a, b, 40000, 80, (isn_a + 20) % 2**32, isn_b + 21, 0x10, b"", b""),
    ]
    times = []
    with CaptureWriter(path, format=fmt, nanosecond=nano) as w:  # type: ignore[arg-type]
        for i, (src, dst, sp, dp, sq, ak, fl, data, opts) in enumerate(segments):
            ts = 1700000000 + i * 0.0123
            tcp = hm.tcp_segment(src, dst, sp, dp, sq, ak, fl, data, opts)
            w.write_tcp(ts, src, dst, tcp)
            scale = 10**9 if nano else 10**6
            units = round(Fraction(ts) * scale)
            digits = 9 if nano else 6
            times.append(f"{units // scale}.{units % scale:0{digits}d}")
    return times


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
@pytest.mark.parametrize(
    ("fmt", "nano", "a", "b"),
    [
        ("pcap", False, A4, B4),
        ("pcapng", True, A4, B4),
        ("pcap", True, A6, B6),
        ("pcapng", False, A6, B6),
    ],
)
def test_tshark_reads_our_captures_without_complaint(
    tmp_path: Path, fmt: str, nano: bool, a: str, b: str
) -> None:
    assert TSHARK is not None
    path = tmp_path / f"conv.{fmt}"
    times = _conversation(path, fmt, nano, a, b)
    checks = ["-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE"]
    run = subprocess.run(
        [TSHARK, "-n", "-r", str(path), *checks, "-z", "expert,note"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "Malformed" not in out and "Bad checksum" not in out and "INCORRECT" not in out, out
    assert "Errors (" not in out and "Warnings (" not in out, out
    assert len([line for line in out.splitlines() if " TCP " in line]) == 8, out
    fields = subprocess.run(
        [
            TSHARK,
            "-n",
            "-r",
            str(path),
            *checks,
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.checksum.status",
            "-e",
            "tcp.checksum.status",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split("\n")
    rows = [line.split("\t") for line in fields if line]
    assert [row[0] for row in rows] == [t if nano else t + "000" for t in times]
    assert all(row[2] == "1" for row in rows)  # PROTO_CHECKSUM_E_GOOD
    if a == A4:
        assert all(row[1] == "1" for row in rows)


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
def test_tshark_does_complain_about_a_bad_checksum(tmp_path: Path) -> None:
    """The check above can fail: a wrong TCP checksum is reported."""
    assert TSHARK is not None
    path = tmp_path / "bad.pcap"
    tcp = bytearray(seg())
    tcp[16] ^= 0xFF
    with CaptureWriter(path) as w:
        w.write_tcp(TS, A4, B4, bytes(tcp))
    run = subprocess.run(
        [TSHARK, "-n", "-r", str(path), "-o", "tcp.check_checksum:TRUE", "-z", "expert,note"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert "Bad checksum" in run.stdout
