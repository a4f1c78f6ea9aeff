"""Speed-up of ``tcpinc analyze`` on several processes: a folder of captures on a process
pool and on a Dask cluster, and one large capture split by connection.

    python bench/parallel_bench.py [--captures N] [--count C] [--big-count B] [--repeat R]
    python bench/parallel_bench.py --make-links DIR [--links L] [--days D] [--count C]

The first form makes (once, cached in bench/.cache/) a folder of N captures of the ``many``
scenario (C overlapping connections each: mixed TEPs and AEADs, resumptions, fallbacks) with
one key log, and two large captures; then it times, best of R runs each (every run reads
the key log afresh, as a new process does):

    serial       the captures one after the other in this process (``--jobs 1``)
    pool 2       a process pool of 2 workers, one capture per task (``--jobs 2``; the pool
                 is started inside the timing, as the command does)
    dask 1, 2    a LocalCluster of 1 and 2 worker processes (``--dask local:N``), started
                 before the timing (its start-up is printed on its own)
    split 1, 2   a large capture read here and split by connection across 1 and 2
                 worker processes (``--jobs N`` on a lone capture), against the same
                 capture analyzed in this process; two large captures: ``many`` (B short
                 connections, about 9 packets each) and ``mixed`` (four rounds of B/4 short
                 connections and a 1 MiB ``bulk`` download)

and prints captures/s, packets/s and each speed-up over serial, the Amdahl serial fraction
that the 2-worker speed-up implies, and what that predicts for 4, 8 and 16 workers. The
split's ceiling is also measured: this process reading, routing and pickling the packets
with no worker at all (the part that does not parallelize).

The second form writes the example folder of docs/parallel.md: ``DIR/link-X/2026-01-0D.pcap``
for L links and D days (link-a as generated; link-b behind a middlebox that strips ENO from
some SYNs; link-c adds tcpcryptd 0.5 "legacy" traffic and a replayed resumption), with every
secret in ``DIR/links.keys``.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tcpinc_tools.analysis.hashsplit import (  # noqa: E402
    ShareAnalyzer,
    analyze_split,
    packet_record,
    record_packet,
)
from tcpinc_tools.analysis.parallel import (  # noqa: E402
    CaptureOutcome,
    CaptureTask,
    TaskOptions,
    analyze_pool,
    analyze_serial,
    analyze_task,
    expand_inputs,
    forget_keylogs,
    make_tasks,
)
from tcpinc_tools.analysis.shares import ShareResult, merge_shares  # noqa: E402
from tcpinc_tools.capture import CaptureReader, CaptureWriter  # noqa: E402
from tcpinc_tools.capture.packet import packet_share  # noqa: E402
from tcpinc_tools.keylog import KeyLogWriter  # noqa: E402
from tcpinc_tools.sim.link import EPOCH  # noqa: E402
from tcpinc_tools.sim.scenarios import generate  # noqa: E402

CACHE: Final = ROOT / "bench" / ".cache"
DAY: Final = 86_400.0


class Shifted:
    """A packet sink that moves every timestamp by ``offset`` seconds and notes the last."""

    def __init__(self, writer: CaptureWriter, offset: float) -> None:
        self.writer = writer
        self.offset = offset
        self.last = EPOCH + offset

    def write_tcp(self, ts: float, src_ip: str, dst_ip: str, tcp: bytes) -> None:
        self.last = ts + self.offset
        self.writer.write_tcp(self.last, src_ip, dst_ip, tcp)


# A scenario run: (name, seed, count, size); None for the scenario's default.
Run = tuple[str, int, int | None, int | None]


def write_runs(path: Path, keys: Path, runs: list[Run], *, offset: float = 0.0) -> int:
    """Scenario runs one after the other in one capture; its packets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    packets = 0
    with CaptureWriter(path) as writer, KeyLogWriter(keys) as keylog:
        for name, seed, count, size in runs:
            sink = Shifted(writer, offset)
            summary = generate(name, sink, keylog=keylog, seed=seed, count=count, size=size)
            packets += summary.packets
            offset = sink.last - EPOCH + 1.0
    return packets


# -- the example folder of docs/parallel.md ---------------------------------------------------

# Per link, the scenarios (name, seed offset) after its ``many`` run.
LINK_EXTRAS: Final = {
    "link-a": [],
    "link-b": [("fallback-stripped-syn", k) for k in range(6)],
    "link-c": [("legacy-resume", 0), ("attack-resume-replay", 1)],
}


def make_links(folder: Path, *, links: int = 3, days: int = 2, count: int = 40) -> list[Path]:
    """Write the example folder (see the module doc); the captures written."""
    keys = folder / "links.keys"
    keys.unlink(missing_ok=True)
    written = []
    names = sorted(LINK_EXTRAS)[:links]
    for day in range(days):
        for number, link in enumerate(names):
            path = folder / link / f"2026-01-{day + 1:02d}.pcap"
            seed = 100 * number + 10 * day  # distinct seeds: distinct nonces and keys
            runs: list[Run] = [("many", seed, count, None)]
            runs += [(name, seed + 1 + k, None, None) for name, k in LINK_EXTRAS[link]]
            write_runs(path, keys, runs, offset=day * DAY + 3600.0 * (number + 1))
            written.append(path)
    return written


# -- the bench --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    name: str
    workers: int
    seconds: float
    captures: int
    packets: int

    def line(self, base: Figure) -> str:
        return (
            f"{self.name:<10} {self.workers:>7} {self.seconds:>8.3f} "
            f"{self.captures / self.seconds:>11.1f} {self.packets / self.seconds:>11.0f} "
            f"{base.seconds / self.seconds:>8.2f}x"
        )


def best_of(repeat: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def amdahl(speedup: float, workers: int = 2) -> float:
    """The serial fraction s with 1 / (s + (1 - s) / workers) == speedup."""
    return max(0.0, min(1.0, (workers / speedup - 1) / (workers - 1)))


def predict(serial_fraction: float, workers: int) -> float:
    return 1 / (serial_fraction + (1 - serial_fraction) / workers)


def folder_inputs(args: argparse.Namespace) -> tuple[Path, Path]:
    folder = CACHE / f"folder-{args.captures}x{args.count}"
    keys = folder / "all.keys"
    if not keys.exists():
        print(f"making {folder} (once; cached) ...")
        for i in range(args.captures):
            write_runs(folder / f"capture-{i:03d}.pcap", keys, [("many", i, args.count, None)])
    return folder, keys


def large_inputs(args: argparse.Namespace) -> list[tuple[str, Path, Path]]:
    """The large captures: ``many`` alone (short connections, about 9 packets each) and
    ``mixed`` (rounds of ``many`` and a 1 MiB ``bulk`` download: a few long connections)."""
    kinds: dict[str, list[Run]] = {
        f"many-{args.big_count}": [("many", 7, args.big_count, None)],
        f"mixed-{args.big_count}": [
            run
            for r in range(4)
            for run in (("many", 10 + r, args.big_count // 4, None), ("bulk", r, None, 1 << 20))
        ],
    }
    out = []
    for name, runs in kinds.items():
        path = CACHE / f"{name}.pcap"
        keys = path.with_suffix(".keys")
        if not keys.exists():
            print(f"making {path} (once; cached) ...")
            keys.unlink(missing_ok=True)
            write_runs(path, keys, runs)
        out.append((name.split("-")[0], path, keys))
    return out


def packets_of(outcomes: list[CaptureOutcome]) -> int:
    return sum(o.result.capture.stats.packets for o in outcomes)


def reader_only(path: Path, shares: int) -> None:
    """What the split's reader does, without workers: read, route, batch and pickle."""
    batches: list[list[Any]] = [[] for _ in range(shares)]
    for pkt in CaptureReader(path):
        share = packet_share(pkt, shares)
        batches[share].append(packet_record(pkt))
        if len(batches[share]) >= 512:
            pickle.dumps(batches[share], protocol=pickle.HIGHEST_PROTOCOL)
            batches[share] = []


def _spin(count: int = 3_000_000) -> float:
    start = time.perf_counter()
    total = 0
    for i in range(count):
        total += i
    return time.perf_counter() - start


def parallelism_now() -> float:
    """How many CPUs this bench gets at the moment (1.0 to 2.0 on two cores): a fixed loop
    in one process, then in two at once. Other work on the machine lowers it."""
    import multiprocessing

    one = min(_spin() for _ in range(3))
    with multiprocessing.get_context("forkserver").Pool(2) as pool:
        two = max(pool.map(_spin, [3_000_000, 3_000_000]))
    return 2 * one / two


@dataclass(frozen=True)
class CostModel:
    """Where the time of a parallel run goes, measured in this process (so not disturbed by
    other work on the machine): ``serial`` seconds of one process; ``parent`` seconds the
    coordinating process spends whatever the number of workers (reading and routing for the
    split, taking the workers' results in: unpickling, merging); ``work`` seconds of worker
    time in all (the analysis plus the workers' own overhead: records in, results out)."""

    serial: float
    parent: float
    work: float

    def predict(self, workers: int) -> float:
        """Speed-up on ``workers`` free cores: the parent's part does not shrink."""
        return self.serial / (self.parent + self.work / workers)


def _loads_time(blob: bytes, repeat: int) -> float:
    return best_of(repeat, lambda: pickle.loads(blob))


def pool_costs(tasks: list[CaptureTask], options: TaskOptions, repeat: int) -> CostModel:
    """Per capture: analysis and pickling in a worker; unpickling here."""

    def serial_run() -> None:
        forget_keylogs()
        for task in tasks:
            analyze_task(task, options)

    serial = best_of(repeat, serial_run)
    outcomes = [analyze_task(t, options) for t in tasks]
    blobs = [pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL) for o in outcomes]
    dumps = best_of(
        repeat, lambda: [pickle.dumps(o, protocol=pickle.HIGHEST_PROTOCOL) for o in outcomes]
    )
    loads = sum(_loads_time(b, repeat) for b in blobs)
    return CostModel(serial, loads, serial + dumps)


def split_costs(path: Path, options: TaskOptions, repeat: int) -> CostModel:
    """The reader and the merge here; the share analyzers (records in, results out) there."""
    (task,) = make_tasks([str(path)])

    def serial_run() -> None:
        forget_keylogs()
        analyze_task(task, options)

    serial = best_of(repeat, serial_run)
    records = [packet_record(p) for p in CaptureReader(path)]
    batches = [records[i : i + 512] for i in range(0, len(records), 512)]
    blobs = [pickle.dumps(b, protocol=pickle.HIGHEST_PROTOCOL) for b in batches]

    def worker() -> ShareResult:
        forget_keylogs()
        analyzer = ShareAnalyzer(options)
        for blob in blobs:
            for rec in pickle.loads(blob):
                analyzer.feed(record_packet(rec))
        return analyzer.result()

    work = best_of(repeat, worker)
    result = worker()
    blob = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    work += best_of(repeat, lambda: pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    parent = best_of(repeat, lambda: reader_only(path, 2))
    parent += best_of(repeat, lambda: merge_shares([pickle.loads(blob)]))
    return CostModel(serial, parent, work)


def print_model(name: str, model: CostModel) -> None:
    guesses = ", ".join(f"{n}: {model.predict(n):.2f}x" for n in (2, 4, 8, 16))
    print(
        f"  {name:<12} one process {model.serial:.3f} s; parent {model.parent:.3f} s, workers "
        f"{model.work:.3f} s in all -> {guesses}; ceiling {model.serial / model.parent:.1f}x"
    )


def bench(args: argparse.Namespace) -> None:
    folder, keys = folder_inputs(args)
    tasks = make_tasks(list(expand_inputs([str(folder)]).paths))
    options = TaskOptions.with_keylog(str(keys))
    outcomes = list(analyze_serial(tasks, options))
    packets = packets_of(outcomes)
    n = len(tasks)
    print(f"folder: {n} captures, {packets} packets; {os.cpu_count()} CPUs; best of {args.repeat}")
    print(f"parallelism available at the start: {parallelism_now():.2f} of 2 CPUs")
    # Warm the fork server (started once per process) before timing the pool.
    list(analyze_pool(tasks[:2], options, jobs=2))

    def serial() -> None:
        forget_keylogs()  # a fresh process reads the key log: so do the workers
        list(analyze_serial(tasks, options))

    figures = [
        Figure("serial", 1, best_of(args.repeat, serial), n, packets),
        Figure(
            "pool",
            2,
            best_of(args.repeat, lambda: list(analyze_pool(tasks, options, jobs=2))),
            n,
            packets,
        ),
    ]
    dask_start: dict[int, float] = {}
    try:
        import distributed

        from tcpinc_tools.analysis.dask_backend import analyze_dask
    except ImportError:
        print("dask: distributed is not installed (the cluster extra): skipped")
    else:
        for workers in (1, 2):
            start = time.perf_counter()
            with distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                silence_logs=logging.CRITICAL,
            ) as cluster:
                address = cluster.scheduler_address
                dask_start[workers] = time.perf_counter() - start
                list(analyze_dask(tasks[:workers], options, address=address))  # warm workers
                seconds = best_of(
                    args.repeat, lambda a=address: list(analyze_dask(tasks, options, address=a))
                )
            figures.append(Figure("dask", workers, seconds, n, packets))
    header = (
        f"{'mode':<10} {'workers':>7} {'seconds':>8} {'captures/s':>11} {'packets/s':>11} "
        f"{'speedup':>9}"
    )
    print()
    print(header)
    for figure in figures:
        print(figure.line(figures[0]))
    for workers, seconds in sorted(dask_start.items()):
        print(f"  (LocalCluster of {workers} started in {seconds:.2f} s, outside the timing)")
    split_rows = []
    models = [("pool/dask", pool_costs(tasks, options, args.repeat))]
    for kind, big, big_keys in large_inputs(args):
        big_options = TaskOptions.with_keylog(str(big_keys))
        (big_task,) = make_tasks([str(big)])
        big_outcome = analyze_task(big_task, big_options)
        big_packets = big_outcome.result.capture.stats.packets

        def one_process(task: CaptureTask = big_task, options: TaskOptions = big_options) -> None:
            forget_keylogs()
            analyze_task(task, options)

        base = Figure("one proc", 1, best_of(args.repeat, one_process), 1, big_packets)
        splits = [
            Figure(
                "split",
                shares,
                best_of(
                    args.repeat,
                    lambda s=shares, p=big, o=big_options: analyze_split(
                        str(p), shares=s, options=o
                    ),
                ),
                1,
                big_packets,
            )
            for shares in (1, 2)
        ]
        reader = best_of(args.repeat, lambda p=big: reader_only(p, 2))
        print()
        print(
            f"large capture, {kind}: {big_packets} packets, {len(big_outcome.handed_out)} "
            "connections"
        )
        print(header)
        print(base.line(base))
        for figure in splits:
            print(figure.line(base))
        print(
            f"reader alone (read, route, pickle): {reader:.3f} s = "
            f"{big_packets / reader:.0f} packets/s -> split ceiling {base.seconds / reader:.1f}x"
        )
        split_rows.append((f"split {kind}", splits[1], base))
        models.append((f"split {kind}", split_costs(big, big_options, args.repeat)))
    print()
    print(f"parallelism available at the end: {parallelism_now():.2f} of 2 CPUs")
    print("Cost model (measured in this process; speed-up predicted on free cores):")
    for name, model in models:
        print_model(name, model)
    print("Amdahl extrapolation from the measured 2-worker speed-up (s = serial fraction):")
    rows = [("pool", figures[1], figures[0])]
    rows += [("dask", f, figures[0]) for f in figures if f.name == "dask" and f.workers == 2]
    rows += split_rows
    for name, figure, base in rows:
        speedup = base.seconds / figure.seconds
        s = amdahl(speedup)
        guesses = ", ".join(f"{w}: {predict(s, w):.1f}x" for w in (4, 8, 16))
        print(f"  {name:<12} 2 workers {speedup:.2f}x -> s = {s:.2f}; predicts {guesses}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--captures", type=int, default=24, help="captures in the folder")
    parser.add_argument("--count", type=int, default=80, help="connections per capture")
    parser.add_argument("--big-count", type=int, default=2000, help="connections, large capture")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--make-links", type=Path, metavar="DIR", help="write the docs' folder")
    parser.add_argument("--links", type=int, default=3)
    parser.add_argument("--days", type=int, default=2)
    args = parser.parse_args()
    if args.make_links is not None:
        written = make_links(args.make_links, links=args.links, days=args.days, count=args.count)
        print(
            f"{len(written)} captures -> {args.make_links}/, key log {args.make_links}/links.keys"
        )
        return 0
    bench(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
