"""Wireshark's fuzz-test idea for the Lua plugin: captures mutated at random must never make
it raise a Lua error, whatever the key log, one pass or two.

Each mutant is a whole connection of a good capture with a few TCP payloads or option areas
changed (a byte flipped, inserted or deleted); mutants get their own client port so each is
its own TCP stream, and they are written one after the other into one capture, so that one
tshark run covers hundreds of them. The seed makes the run reproducible.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcpinc_tools.capture import CaptureWriter, TcpPacket, read_packets
from tcpinc_tools.protocol.segment import Segment, TcpFlags, encode_tcp_header

from .tshark_run import CAPTURES, lua_errors, needs_tshark, tshark

pytestmark = needs_tshark

SEED = 6
MUTANTS_PER_CAPTURE = 120
# Connections of good captures to mutate: fresh and resumed sessions, both dialects.
SOURCES = ("resume", "legacy-resume", "fresh-p256-chacha20poly1305", "rekey", "urgent")


@dataclass(frozen=True)
class Connection:
    packets: tuple[TcpPacket, ...]
    client_port: int


def _connections(capture: Path) -> list[Connection]:
    """The TCP connections of a capture, by unordered address/port pair."""
    groups: dict[frozenset[tuple[str, int]], list[TcpPacket]] = {}
    for pkt in read_packets(str(capture)):
        groups.setdefault(frozenset({(pkt.src, pkt.sport), (pkt.dst, pkt.dport)}), []).append(pkt)
    out = []
    for packets in groups.values():
        syn = next(
            (p for p in packets if p.flags & TcpFlags.SYN and not p.flags & TcpFlags.ACK), None
        )
        out.append(Connection(tuple(packets), (syn or packets[0]).sport))
    return out


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buf = bytearray(data)
    what = rng.choice(("flip", "insert", "delete", "flip"))
    if what == "insert" or not buf:
        buf.insert(rng.randrange(len(buf) + 1), rng.randrange(256))
    elif what == "delete":
        del buf[rng.randrange(len(buf))]
    else:
        buf[rng.randrange(len(buf))] ^= 1 << rng.randrange(8)
    return bytes(buf)


def _options(data: bytes) -> bytes:
    # RFC 9293 §3.1: a multiple of 4 bytes, at most 40.
    data = data[:40]
    return data + bytes(-len(data) % 4)


def _mutants(conn: Connection, rng: random.Random, count: int) -> Iterator[list[Segment]]:
    for _ in range(count):
        segments = []
        targets = {rng.randrange(len(conn.packets)) for _ in range(rng.randint(1, 3))}
        for i, pkt in enumerate(conn.packets):
            options, payload = pkt.options, pkt.payload
            if i in targets:
                if options and (not payload or rng.random() < 0.5):
                    options = _options(_mutate(options, rng))
                elif payload:
                    payload = _mutate(payload, rng)
                else:
                    options = _options(_mutate(options, rng))
            segments.append(
                Segment(
                    pkt.sport,
                    pkt.dport,
                    pkt.seq,
                    pkt.ack,
                    TcpFlags(pkt.flags & 0xFF),
                    pkt.window,
                    options,
                    payload,
                    pkt.urgent_pointer,
                )
            )
        yield segments


def _write_mutants(path: Path, sources: list[Path], per_capture: int) -> int:
    rng = random.Random(SEED)
    count = 0
    ts = 1_767_225_600.0
    with CaptureWriter(path) as writer:
        for capture in sources:
            conns = _connections(capture)
            for conn in conns:
                for segments in _mutants(conn, rng, per_capture // len(conns) + 1):
                    count += 1
                    port = 20000 + count  # a TCP stream of its own
                    for seg, pkt in zip(segments, conn.packets, strict=True):
                        sport = port if seg.src_port == conn.client_port else seg.src_port
                        dport = port if seg.dst_port == conn.client_port else seg.dst_port
                        moved = Segment(
                            sport,
                            dport,
                            seg.seq,
                            seg.ack,
                            seg.flags,
                            seg.window,
                            seg.options,
                            seg.payload,
                            seg.urgent_pointer,
                        )
                        src, dst = pkt.src, pkt.dst
                        tcp = encode_tcp_header(
                            moved,
                            ipaddress.ip_address(src).packed,
                            ipaddress.ip_address(dst).packed,
                        )
                        writer.write_tcp(ts, src, dst, tcp)
                        ts += 0.001
                    ts += 1.0
    return count


@pytest.fixture(scope="module")
def mutants(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("fuzz") / "mutants.pcap"
    sources = [CAPTURES / f"{name}.pcap" for name in SOURCES]
    return path, _write_mutants(path, sources, MUTANTS_PER_CAPTURE)


def test_there_are_enough_mutants(mutants: tuple[Path, int]) -> None:
    assert mutants[1] >= 200


@pytest.mark.parametrize(
    ("keylog", "extra"),
    [
        ("resume", []),  # one key log holds the secrets of several sources
        (None, []),
        # two passes: the second shows what the first stored; without a display filter
        # the first pass has no protocol tree, and the plugin tracks in the second
        ("legacy-resume", ["-2", "-Y", "tcp"]),
        ("legacy-resume", ["-2"]),
        ("resume", ["-o", "tcp.reassemble_out_of_order:FALSE"]),
    ],
    ids=["keys", "no-keys", "two-pass", "two-pass-no-tree", "in-order-reassembly"],
)
def test_no_lua_error_on_mutants(
    mutants: tuple[Path, int], keylog: str | None, extra: list[str], tmp_path: Path
) -> None:
    path, _ = mutants
    keys = None
    if keylog is not None:
        # all the sources' secrets in one file
        keys = tmp_path / "all.keys"
        keys.write_text("".join((CAPTURES / f"{name}.keys").read_text() for name in SOURCES))
    run = tshark(path, keylog=keys, verbose=True, extra=extra)
    assert run.returncode == 0, run.stderr[-2000:]
    assert lua_errors(run) == []
    assert "tcpcrypt" in run.stdout and "TCP-ENO" in run.stdout
