"""Ingest rate and key latency of ``tcpinc monitor`` on a large capture.

    python bench/monitor_bench.py [--capture PCAP [--keylog KEYS]] [--packets N] [--no-keys]

Without ``--capture`` it makes (once, cached in bench/.cache/) a capture of at least
``--packets`` packets (default 100,000) with the generator: rounds of the ``many`` scenario
(500 overlapping connections: mixed TEPs and AEADs, resumptions, fallbacks, 1% loss) and
the ``bulk`` one (2 MiB echoed in 64 KiB frames), with their key log.

For each run (without and with the key log) the app is built as ``tcpinc monitor -r``
builds it and driven with ``App.run_test()`` at 120x40:

    ingest          packets analyzed per second, from mount to the end of the file
                    (the app showing every update: table, header, detail pane)
    analysis alone  the same packets through the live analyzer with no app (the ceiling)
    key latency     a key event (↓ / ↑ alternately, every 100 ms during the ingest) posted
                    to the app as the terminal driver posts it, until the table's cursor
                    has moved: median, 95th percentile and worst, in ms
    updates         FlowsUpdated messages the app applied (folded ones count once)

Goals (issue 8): ingest >= 20,000 packets/s, key latency p95 < 100 ms. The script prints
each goal with "met" or "MISSED"; it does not fail.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mixed import (  # bench/mixed.py, beside this script
    add_capture_arguments,
    chosen_capture,
    verdict,
)
from textual import events

from tcpinc_tools.analysis.live import LiveAnalyzer
from tcpinc_tools.capture import CaptureReader
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.tui import MonitorConfig
from tcpinc_tools.tui.app import MonitorApp, create_app

CACHE: Final = Path(__file__).resolve().parent / ".cache"
DEFAULT_PACKETS: Final = 100_000
ROUND: Final = (("many", 500, None), ("bulk", None, 2 << 20))
GOAL_RATE: Final = 20_000.0
GOAL_LATENCY_MS: Final = 100.0
SIZE: Final = (120, 40)
PRESS_EVERY: Final = 0.1
LATENCY_TIMEOUT: Final = 5.0


@dataclass(frozen=True)
class Run:
    name: str
    packets: int
    seconds: float
    latencies_ms: list[float]
    updates: int
    rows: int

    @property
    def rate(self) -> float:
        return self.packets / self.seconds


async def key_latency(app: MonitorApp, key: str) -> float:
    """Seconds from a key event entering the app's queue (as the terminal driver posts it)
    to the selection having moved (↑ on the first row is sent as ↓)."""
    table = app.table
    if key == "up" and table.cursor == 0:
        key = "down"
    before = table.selected
    start = time.perf_counter()
    app.post_message(events.Key(key, None))
    while table.selected == before and time.perf_counter() - start < LATENCY_TIMEOUT:
        await asyncio.sleep(0.001)
    return time.perf_counter() - start


async def drive(capture: Path, keylog: Path | None) -> Run:
    config = MonitorConfig("file", str(capture), keylog=str(keylog) if keylog else None)
    app: MonitorApp = create_app(config)
    latencies: list[float] = []
    async with app.run_test(size=SIZE):
        start = time.perf_counter()
        key = "down"
        while app.ended is None:
            await asyncio.sleep(PRESS_EVERY)
            if app.ended is not None or app.table.row_count < 2:
                continue
            latencies.append(await key_latency(app, key) * 1000)
            key = "up" if key == "down" else "down"
        seconds = time.perf_counter() - start
        return Run(
            "monitor -r" + (" --keylog" if keylog else ""),
            app.stats.packets,
            seconds,
            latencies,
            app.updates,
            len(app.model.rows),
        )


def analysis_alone(capture: Path, keylog: Path | None) -> tuple[int, float]:
    log = KeyLog.load(keylog) if keylog else None
    start = time.perf_counter()
    analyzer = LiveAnalyzer(log)
    count = 0
    for pkt in CaptureReader(capture):
        analyzer.feed(pkt)
        count += 1
        if count % 2000 == 0:
            analyzer.snapshots()
    analyzer.close()
    return count, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_capture_arguments(parser, DEFAULT_PACKETS)
    parser.add_argument("--no-keys", action="store_true", help="only the run without key log")
    args = parser.parse_args()
    capture, keys = chosen_capture(args, CACHE, "monitor", ROUND)
    print(f"capture: {capture} ({capture.stat().st_size / 1e6:.1f} MB)")
    runs: list[tuple[Run, tuple[int, float]]] = []
    for keylog in (None, keys) if keys is not None and not args.no_keys else (None,):
        run = asyncio.run(drive(capture, keylog))
        alone = analysis_alone(capture, keylog)
        runs.append((run, alone))
    print(
        f"\n{'':22} {'packets':>8} {'seconds':>8} {'packets/s':>10} {'alone/s':>9} "
        f"{'key ms p50':>10} {'p95':>6} {'max':>6} {'updates':>8} {'rows':>6}"
    )
    ok = True
    for run, (count, seconds) in runs:
        lat = sorted(run.latencies_ms) or [0.0]
        p50 = statistics.median(lat)
        p95 = lat[min(len(lat) - 1, int(len(lat) * 0.95))]
        print(
            f"{run.name:22} {run.packets:>8} {run.seconds:>8.2f} {run.rate:>10.0f} "
            f"{count / seconds:>9.0f} {p50:>10.1f} {p95:>6.1f} {lat[-1]:>6.1f} "
            f"{run.updates:>8} {run.rows:>6}"
        )
        rate_ok = run.rate >= GOAL_RATE
        lat_ok = p95 < GOAL_LATENCY_MS
        ok = ok and rate_ok and lat_ok
        print(
            f"  goal ingest >= {GOAL_RATE:.0f}/s: {verdict(rate_ok)}; "
            f"key p95 < {GOAL_LATENCY_MS:.0f} ms: {verdict(lat_ok)}"
        )
    print("all goals met" if ok else "some goals MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
