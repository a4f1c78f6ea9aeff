"""Where the time of ``tcpinc analyze`` goes: its stages, each with the ones before it.

    PYTHONPATH=SITE python bench/stages.py CAPTURE [--repeat N]

Run by ``analyze_bench.py`` in the compiled build (``PYTHONPATH`` set to the package that
``pip install .`` built); it prints one JSON object: the build, and for each stage the
median seconds of ``--repeat`` runs in this process (the file in the page cache), and under
``packets`` the TCP packets each stage went through:

    read        iterating ``CaptureReader``: record framing, link, IP and TCP headers
                into a ``TcpPacket``
    flows       the same, each packet filed in the flow table with reassembly
                (``ExpiringFlowTable``, looked at for ended flows every second of capture
                time, as the analyzer does), and the table flushed at the end
    analysis    ``analyze_streaming``: the same, with the per-connection analysis, the
                results and the cross-connection findings (what ``tcpinc analyze`` runs
                before its output)

The interpreter's start and the imports, and the output, are timed by the bench itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tcpinc_tools.analysis.streaming import EXPIRE_INTERVAL, analyze_streaming
from tcpinc_tools.build import build_description
from tcpinc_tools.capture import CaptureReader
from tcpinc_tools.capture.expiry import ExpiringFlowTable


def read(path: Path) -> int:
    count = 0
    for _pkt in CaptureReader(path):
        count += 1
    return count


def flows(path: Path) -> int:
    table = ExpiringFlowTable()
    next_expiry: float | None = None
    count = 0
    for pkt in CaptureReader(path):
        table.add(pkt)
        count += 1
        if next_expiry is None or pkt.ts >= next_expiry:
            next_expiry = pkt.ts + EXPIRE_INTERVAL
            table.expire(pkt.ts)
    table.flush()
    return count


def analysis(path: Path) -> int:
    return analyze_streaming(path, keep_flows=False).capture.stats.tcp


def median_seconds(run: Callable[[Path], int], path: Path, repeat: int) -> tuple[float, int]:
    """The median seconds of ``repeat`` runs, and the TCP packets the run went through."""
    times = []
    count = 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = run(path)
        times.append(time.perf_counter() - start)
    return sorted(times)[(len(times) - 1) // 2], count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("capture", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    out: dict[str, object] = {"build": build_description()}
    packets: dict[str, int] = {}
    for name, run in (("read", read), ("flows", flows), ("analysis", analysis)):
        out[name], packets[name] = median_seconds(run, args.capture, max(1, args.repeat))
    out["packets"] = packets
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
