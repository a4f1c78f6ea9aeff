"""Speed and memory of ``tcpinc analyze`` beside tshark and a bare dpkt read loop.

    python bench/analyze_bench.py [--capture PCAP [--keylog KEYS]] [--packets N] [--no-tshark]

Without ``--capture`` it makes (once, cached in bench/.cache/) a capture of at least
``--packets`` packets (default 300,000) with the generator: rounds of the ``many`` scenario
(1,000 overlapping connections: mixed TEPs and AEADs, resumptions, fallbacks to plain TCP,
1% loss) and the ``bulk`` one (4 MiB of 64 KiB frames), each round with its own seed and
shifted in time, and their key logs in one file. It also keeps the first half of the packets
as a second capture, for the memory figure at two sizes.

Figures, in one run, in packets per second (all packets of the file, as tshark counts them),
each the median of ``--repeat`` runs (default 3: one run moves by up to 8% on a shared
machine, the loop and tshark as much as ours):

    dpkt loop           ``for ts, buf in dpkt.pcap.Reader(f)``: reading records, nothing more
    tshark              ``tshark -r CAPTURE -T fields -e tcp.options`` (a subprocess)
    tcpinc analyze      the command as a subprocess (interpreter start and output included),
                        no key log: the summary, ``--jsonl`` and ``--json``, each on the half
                        and the whole capture, with the process's peak RSS (VmHWM); first
                        as installed by ``pip install .`` (tcpinc_tools.build's
                        NATIVE_MODULES compiled with mypyc: built here into
                        bench/.cache/native-site), then the pure sources (this .venv)
    --jobs 2            the compiled build split over two worker processes
    stages              where the compiled summary's time goes (bench/stages.py): the
                        interpreter's start and imports, reading, the flow table, the
                        analysis and the output, each against what the goals leave for the
                        whole command
    analyze_streaming   the analysis in this process (pure), without and with the key log
                        (the latter decrypts every frame)

Goals (issue 5), checked on ``tcpinc analyze`` (compiled build, no key log): >= 10x tshark
and >= 0.6x the dpkt loop (the summary), peak RSS < 150 MB and flat as the capture grows (the
whole capture's peak at most 1.25x the half's; the summary, ``--jsonl`` and ``--json``). The
script prints each goal with "met" or "MISSED"; it does not fail.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import dpkt
from mixed import (  # bench/mixed.py, beside this script
    add_capture_arguments,
    chosen_capture,
    verdict,
)

from tcpinc_tools.analysis.streaming import analyze_streaming
from tcpinc_tools.capture import CaptureReader, CaptureWriter
from tcpinc_tools.keylog import KeyLog

ROOT: Final = Path(__file__).resolve().parent.parent
CACHE: Final = ROOT / "bench" / ".cache"
NATIVE_SITE: Final = CACHE / "native-site"
DEFAULT_PACKETS: Final = 300_000
# One round of the mixed capture: (scenario, count, size).
ROUND: Final = (("many", 1000, None), ("bulk", None, 4 << 20))
GOAL_TSHARK: Final = 10.0
GOAL_LOOP: Final = 0.6
GOAL_RSS_MB: Final = 150.0
FLAT_TOLERANCE: Final = 1.25  # the whole capture may cost this much more than its half


def first_packets(source: Path, target: Path, count: int) -> None:
    """The first ``count`` packets of ``source`` (all TCP) as a capture of their own."""
    tmp = target.with_name(target.name + ".part")
    with CaptureWriter(tmp) as writer:
        for pkt in CaptureReader(source):
            if pkt.number > count:
                break
            writer.write_frame(pkt.ts, pkt.frame)
    tmp.replace(target)


@dataclass(frozen=True)
class Figure:
    name: str
    packets: int
    seconds: float
    rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.packets / self.seconds


def median(figures: list[Figure]) -> Figure:
    """The run with the median time (the lower one of the middle two for an even count),
    with its own RSS: one slow run, from another process on the machine, does not count."""
    ordered = sorted(figures, key=lambda fig: fig.seconds)
    return ordered[(len(ordered) - 1) // 2]


def timed(name: str, packets: int, run: Callable[[], object], repeat: int) -> Figure:
    figures = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        figures.append(Figure(name, packets, time.perf_counter() - start))
    return median(figures)


def dpkt_loop(path: Path) -> int:
    count = 0
    with path.open("rb") as handle:
        for _ts, _buf in dpkt.pcap.Reader(handle):
            count += 1
    return count


# Runs the CLI and reports the process's own peak RSS (VmHWM: the high-water mark of this
# process image; getrusage's ru_maxrss would include the bench's own size at fork time).
_WRAPPER: Final = """
import sys
from tcpinc_tools.cli import main
status = main(sys.argv[1:])
with open("/proc/self/status") as handle:
    hwm = next(line.split()[1] for line in handle if line.startswith("VmHWM"))
sys.stderr.write(f"\\nVmHWM {hwm}\\n")
sys.exit(status)
"""


def build_native() -> Path:
    """The package as ``pip install .`` builds it (compiled), in NATIVE_SITE."""
    print("building the compiled package (pip install --target; incremental) ...")
    shutil.rmtree(NATIVE_SITE, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if k != "TCPINC_PURE"}
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(NATIVE_SITE), str(ROOT)],
        check=False, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"building the compiled package failed:\n{proc.stderr}")
    return NATIVE_SITE


def subprocess_figure(
    name: str,
    packets: int,
    argv: list[str],
    *,
    python: bool,
    repeat: int,
    site: Path | None = None,
) -> Figure:
    """Run ``argv`` ``repeat`` times (``tcpinc`` arguments when ``python``; the package in
    ``site`` when given, else this .venv's) with stdout to /dev/null: the median wall time,
    and the peak RSS of that tcpinc run."""
    return median([_run_once(name, packets, argv, python, site) for _ in range(repeat)])


def _run_once(name: str, packets: int, argv: list[str], python: bool, site: Path | None) -> Figure:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if python:
        argv = [sys.executable, "-c", _WRAPPER, *argv]
        if site is not None:
            env["PYTHONPATH"] = str(site)
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        proc = subprocess.run(
            argv, stdout=null, stderr=subprocess.PIPE, check=False, env=env, cwd=CACHE
        )
        seconds = time.perf_counter() - start
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed: {' '.join(argv)}\n{stderr}")
    rss = None
    if python:
        rss = int(stderr.rsplit("VmHWM ", 1)[1].split()[0]) / 1024
    return Figure(name, packets, seconds, rss)


def stage_seconds(capture: Path, site: Path, repeat: int) -> dict[str, float]:
    """Cumulative seconds of the compiled summary's stages (see ``bench/stages.py``), with
    ``start``: the interpreter's start and the imports of ``tcpinc analyze``."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    starts = []
    for _ in range(repeat):
        begin = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import tcpinc_tools.cli, tcpinc_tools.commands.analyze"],
            check=True, env=env, cwd=CACHE,
        )  # fmt: skip
        starts.append(time.perf_counter() - begin)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "stages.py"), str(capture), "--repeat", str(repeat)],
        check=True, env=env, cwd=CACHE, capture_output=True, text=True,
    )  # fmt: skip
    found = json.loads(proc.stdout)
    if not str(found["build"]).startswith("compiled"):
        raise SystemExit(f"bench/stages.py did not run the compiled build: {found['build']}")
    start = sorted(starts)[(len(starts) - 1) // 2]
    return {"start": start, **{k: start + found[k] for k in ("read", "flows", "analysis")}}


def print_stages(stages: dict[str, float], whole: Figure, budgets: list[tuple[str, float]]) -> None:
    """The stages of the compiled summary, cumulative and each on its own, and what each
    goal leaves for the whole command."""
    rows = (
        ("interpreter start and imports", stages["start"]),
        ("+ reading (records; link, IP, TCP headers)", stages["read"]),
        ("+ flow table and reassembly", stages["flows"]),
        ("+ the analysis (what comes before the output)", stages["analysis"]),
        ("+ the output: the whole command", whole.seconds),
    )
    print("\nwhere the compiled summary's time goes (seconds; each stage with those above):")
    print(f"  {'':46} {'in all':>7} {'stage':>7}")
    before = 0.0
    for name, seconds in rows:
        print(f"  {name:46} {seconds:7.2f} {seconds - before:7.2f}")
        before = seconds
    for goal, seconds in budgets:
        print(f"  what {goal} leaves for the whole command: {seconds:.2f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_capture_arguments(parser, DEFAULT_PACKETS)
    parser.add_argument("--no-tshark", action="store_true", help="skip the tshark figure")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        metavar="N",
        help="runs of each figure; the median is shown (default 3)",
    )
    args = parser.parse_args()
    capture, keys = chosen_capture(args, CACHE, "mixed", ROUND)
    total = dpkt_loop(capture)
    half = CACHE / f"{capture.stem}-half.pcap"
    if not half.exists() or half.stat().st_mtime < capture.stat().st_mtime:
        CACHE.mkdir(parents=True, exist_ok=True)
        first_packets(capture, half, total // 2)
    size_mb = capture.stat().st_size / 1e6
    print(f"capture: {capture} ({total} packets, {size_mb:.1f} MB)")

    repeat = max(1, args.repeat)
    loop = timed("dpkt loop", total, lambda: dpkt_loop(capture), repeat)
    figures = [loop]
    tshark_fig: Figure | None = None
    tshark = shutil.which("tshark")
    if tshark and not args.no_tshark:
        argv = [tshark, "-r", str(capture), "-T", "fields", "-e", "tcp.options"]
        tshark_fig = subprocess_figure(
            "tshark -T fields -e tcp.options", total, argv, python=False, repeat=repeat
        )
        figures.append(tshark_fig)
    # The CLI first (peak RSS at two sizes), while this process is still small.
    half_packets = dpkt_loop(half)
    site = build_native()
    runs: dict[str, tuple[Figure, Figure]] = {}
    for build, build_site in (("compiled", site), ("pure", None)):
        for label, extra in (("", []), (" --jsonl", ["--jsonl"]), (" --json", ["--json"])):
            half_fig, whole_fig = (
                subprocess_figure(
                    f"tcpinc analyze{label} [{build}] ({part})",
                    count,
                    ["analyze", *extra, str(path)],
                    python=True,
                    repeat=repeat,
                    site=build_site,
                )
                for part, count, path in (("half", half_packets, half), ("whole", total, capture))
            )
            runs[build + label] = (half_fig, whole_fig)
            figures += runs[build + label]
    figures.append(
        subprocess_figure(
            "tcpinc analyze --jobs 2 [compiled]",
            total,
            ["analyze", "--jobs", "2", str(capture)],
            python=True,
            repeat=repeat,
            site=site,
        )
    )
    ours = timed(
        "analyze_streaming (in-process)",
        total,
        lambda: analyze_streaming(capture, keep_flows=False),
        repeat,
    )
    figures.append(ours)
    if keys is not None:
        keylog = KeyLog.load(keys)
        figures.append(
            timed(
                "  the same with the key log",
                total,
                lambda: analyze_streaming(capture, keylog=keylog, keep_flows=False),
                repeat,
            )
        )
    cli_full = runs["compiled"][1]
    stages = stage_seconds(capture, site, repeat)

    print(f"\neach figure: the median of {repeat} run{'s' if repeat != 1 else ''}")
    print(f"{'':44} {'packets/s':>10} {'seconds':>8} {'vs loop':>8} {'vs tshark':>9} {'RSS MB':>7}")
    for fig in figures:
        vs_tshark = f"{fig.rate / tshark_fig.rate:8.1f}x" if tshark_fig else "        -"
        rss = f"{fig.rss_mb:7.1f}" if fig.rss_mb is not None else "      -"
        print(
            f"{fig.name:44} {fig.rate:10.0f} {fig.seconds:8.2f} {fig.rate / loop.rate:7.2f}x "
            f"{vs_tshark} {rss}"
        )
    budgets = [(f">= {GOAL_LOOP}x the dpkt loop", total / (GOAL_LOOP * loop.rate))]
    if tshark_fig is not None:
        budgets.insert(
            0, (f">= {GOAL_TSHARK:.0f}x tshark", total / (GOAL_TSHARK * tshark_fig.rate))
        )
    print_stages(stages, cli_full, budgets)
    print("\ngoals (tcpinc analyze, compiled build, no key log; speed: the summary):")
    if tshark_fig is not None:
        ratio = cli_full.rate / tshark_fig.rate
        print(f"  >= {GOAL_TSHARK:.0f}x tshark: {ratio:.1f}x  {verdict(ratio >= GOAL_TSHARK)}")
    ratio = cli_full.rate / loop.rate
    print(f"  >= {GOAL_LOOP}x the dpkt loop: {ratio:.2f}x  {verdict(ratio >= GOAL_LOOP)}")
    for label in ("", " --jsonl", " --json"):
        half_fig, whole_fig = runs["compiled" + label]
        output = f" ({label.strip()})" if label else ""
        peak = max(half_fig.rss_mb or 0.0, whole_fig.rss_mb or 0.0)
        print(
            f"  peak RSS < {GOAL_RSS_MB:.0f} MB{output}: {peak:.1f} MB  "
            f"{verdict(peak < GOAL_RSS_MB)}"
        )
        grow = (whole_fig.rss_mb or 0.0) / (half_fig.rss_mb or 1.0)
        print(
            f"  RSS flat{output}: {half_fig.rss_mb:.1f} MB at {half_packets} packets, "
            f"{whole_fig.rss_mb:.1f} MB at {total} ({grow:.2f}x)  "
            f"{verdict(grow <= FLAT_TOLERANCE)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
