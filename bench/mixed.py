"""The benches' generated captures: rounds of generator scenarios, one after the other.

``make_capture(path, keys, packets, rounds)`` writes rounds of ``rounds`` (scenario, count,
size), each round with its own seed and shifted in time after the previous one, until at
least ``packets`` packets, and their key log in ``keys``. Both files appear only when
complete (written as ``.part`` first), so an interrupted run leaves no half capture in the
cache.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tcpinc_tools.capture import CaptureWriter
from tcpinc_tools.keylog import KeyLogWriter
from tcpinc_tools.sim.link import EPOCH
from tcpinc_tools.sim.scenarios import generate

__all__ = ["Round", "add_capture_arguments", "chosen_capture", "make_capture", "verdict"]

# (scenario, count, size): generate()'s arguments for one scenario of a round.
Round = Sequence[tuple[str, int | None, int | None]]


class _Shifted:
    """A packet sink that moves every timestamp by ``offset`` (rounds follow each other)."""

    def __init__(self, writer: CaptureWriter, offset: float) -> None:
        self.writer = writer
        self.offset = offset
        self.last = 0.0

    def write_tcp(self, ts: float, src_ip: str, dst_ip: str, tcp: bytes) -> None:
        self.last = ts + self.offset
        self.writer.write_tcp(self.last, src_ip, dst_ip, tcp)


def make_capture(path: Path, keys: Path, packets: int, rounds: Round) -> None:
    """Write rounds of generated traffic until ``packets`` packets (see the module doc)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp_keys = keys.with_name(keys.name + ".part")
    tmp_keys.unlink(missing_ok=True)
    offset = 0.0
    written = 0
    seed = 0
    with CaptureWriter(tmp) as writer, KeyLogWriter(tmp_keys) as keylog:
        while written < packets:
            for name, count, size in rounds:
                sink = _Shifted(writer, offset)
                summary = generate(name, sink, keylog=keylog, seed=seed, count=count, size=size)
                written += summary.packets
                offset = sink.last - EPOCH + 1.0
                print(f"  {name} seed {seed}: {summary.packets} packets ({written} in all)")
            seed += 1
    tmp.replace(path)
    tmp_keys.replace(keys)


def add_capture_arguments(parser: argparse.ArgumentParser, default_packets: int) -> None:
    """--capture, --keylog and --packets, as every bench takes them."""
    parser.add_argument(
        "--capture", type=Path, help="a capture to use instead of the generated one"
    )
    parser.add_argument("--keylog", type=Path, help="its key log")
    parser.add_argument("--packets", type=int, default=default_packets)


def chosen_capture(
    args: argparse.Namespace, cache: Path, stem: str, rounds: Round
) -> tuple[Path, Path | None]:
    """The capture and key log to measure: --capture's, or ``cache/STEM-PACKETS.pcap`` made
    once (see the module doc) and kept."""
    if args.capture is not None:  # absolute: the benches run commands in other folders
        keylog = args.keylog.resolve() if args.keylog is not None else None
        return args.capture.resolve(), keylog
    capture = cache / f"{stem}-{args.packets}.pcap"
    keys = capture.with_suffix(".keys")
    if not capture.exists() or not keys.exists():
        print(f"making {capture} (once; cached) ...")
        make_capture(capture, keys, args.packets, rounds)
    return capture, keys


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"
