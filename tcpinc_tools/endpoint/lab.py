"""``tcpinc lab``: one scenario of live traffic between two hosts in network namespaces.

:func:`run_lab` creates a :class:`~.netns.NetnsPair` (side a: the client, 10.201.0.1;
side b: the server, 10.201.0.2), starts tcpdump on side a's veth, runs the scenario's
processes, and writes the capture (and, with ``keylog``, the key log: written by our
endpoint on side a, or on side b when side a is a kernel; both ends know the same secrets,
so one writer gives each secret once). Whatever happens (an error, Ctrl-C, SIGTERM), it
stops every process it started and deletes both namespaces, which takes their veth ends
and nftables tables with them.

The endpoints run as subprocesses, ``ip netns exec NS python -m tcpinc_tools.cli endpoint
...``: each is the real command line, with its own signal handling and clean-up, and a
crash or hang in one cannot take the lab's own process (which must tear down) with it.
Threads after setns(2) would be cheaper to start but would share one interpreter, one
GIL and one fate. (The test suite's scripted peers do use :func:`~.linux.in_netns`: they
need to reach into a host's state.)

The scenarios (:data:`SCENARIOS`) and what each checks:

    fresh-<tep>-<aead>    the server prefers that TEP and AEAD (B's order), the client
                          offers its defaults: both encrypted with them, one session ID,
                          the echo intact
    resume                two connections from one client: the second is resumed
    rekey                 the client rekeys every 1 KiB; the echo intact, rekeys seen
    simultaneous-open     both sides connect at once (fixed ports, side b sets b=1):
                          one session, each got the other's text
    fallback-kernel-peer  our client against a kernel echo server: fallback (no ENO),
                          plain TCP, echo intact
    kernel-client         a kernel client against our listener: fallback, echo intact
    lossy                 netem loss 10%, duplicate 5%, reorder 25% on both veth ends
                          (or the endpoints' own impairment where the kernel has no
                          netem): encrypted, echo intact
    bulk                  1 MiB (``size``) echoed: encrypted, intact; prints the rate
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ..sim.scenarios.common import AEADS, TEPS, prefer
from ..wire.constants import aead_name, tep_name
from .errors import EndpointError
from .linux import netns_command, require_tools, run
from .netns import NetnsPair
from .report import parse_report
from .signals import deferred_signals

__all__ = ["SCENARIOS", "LabError", "LabResult", "run_lab", "scenario_names"]

PORT: Final = 7  # RFC 862: echo
SIM_PORT_A: Final = 40001  # simultaneous open: fixed ports on both sides
SIM_PORT_B: Final = 40002
DEFAULT_BULK: Final = 1 << 20
DEFAULT_LOSSY: Final = 64 << 10
REKEY_EVERY: Final = 1024
REKEY_SIZE: Final = 8 * REKEY_EVERY
NETEM: Final = ("loss", "10%", "duplicate", "5%", "reorder", "25%", "50%", "delay", "2ms")
IMPAIR: Final = "loss=10%,duplicate=5%,reorder=25%"
# How long a process gets to start (print its ready line) and to stop when asked.
START_TIMEOUT: Final = 15.0
STOP_TIMEOUT: Final = 5.0
# After the last process is done: time for the last frames to reach tcpdump.
SETTLE: Final = 0.2
# tcpdump's capture buffer: 64 MiB.
CAPTURE_BUFFER_KIB: Final = 65536


class LabError(EndpointError):
    """The lab could not run a scenario (a process failed to start, or hung)."""


@dataclass(slots=True)
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass(slots=True)
class LabResult:
    scenario: str
    capture: Path
    keylog: Path | None
    packets: int | None = None
    reports: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    impairment: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)


class Proc:
    """A child process; threads collect its stdout (bytes) and stderr (lines)."""

    def __init__(self, name: str, argv: Sequence[str], *, stdin: bool = False) -> None:
        self.name = name
        self.argv = list(argv)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        try:
            self.popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise LabError(f"{name}: cannot start {argv[0]}: {exc.strerror}") from None
        self.stdout = bytearray()
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _read_out(self) -> None:
        stream = self.popen.stdout
        assert stream is not None
        while chunk := os.read(stream.fileno(), 65536):
            self.stdout += chunk

    def _read_err(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(self, text: str, timeout: float = START_TIMEOUT, *, since: int = 0) -> str:
        """The first stderr line from index ``since`` on containing ``text``; LabError if the
        process exits or the time runs out first."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[since:]:
                    if text in line:
                        return line
                if self.popen.poll() is not None and not self._threads[1].is_alive():
                    raise LabError(f"{self.name} exited ({self.popen.returncode}): {self.tail()}")
                left = end - time.monotonic()
                if left <= 0:
                    raise LabError(f"{self.name}: no {text!r} within {timeout:g} s")
                self._cond.wait(min(left, 0.1))

    def send_line(self, text: str) -> None:
        assert self.popen.stdin is not None
        self.popen.stdin.write(text.encode() + b"\n")
        self.popen.stdin.flush()

    def wait(self, timeout: float) -> int:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            raise LabError(f"{self.name} still running after {timeout:g} s") from None
        for thread in self._threads:
            thread.join(2.0)
        return code

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        """Ask the process to stop (``sig``), then kill it if it does not; its status."""
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        for thread in self._threads:
            thread.join(2.0)
        return self.popen.returncode

    def tail(self) -> str:
        return " | ".join(self.lines[-3:]) or "(no output)"

    @property
    def reports(self) -> list[dict[str, str]]:
        return [r for r in map(parse_report, self.lines) if r is not None]


class LabRun:
    """The state of one run that the scenario functions use."""

    def __init__(
        self, pair: NetnsPair, *, keylog: Path | None, keylog_side: str, size: int | None
    ) -> None:
        self.pair = pair
        self.keylog = keylog
        self.keylog_side = keylog_side
        self.size = size
        self.procs: list[Proc] = []
        self.checks: list[Check] = []
        self.reports: dict[str, list[dict[str, str]]] = {}
        self.impairment: str | None = None

    def endpoint(self, side: str, name: str, action: str, *args: str, stdin: bool = False) -> Proc:
        ns, veth, addr = self.pair.side(side)
        argv = [sys.executable, "-m", "tcpinc_tools.cli", "endpoint", action, *args]
        argv += ["--iface", veth, "--addr", addr]
        if self.keylog is not None and side == self.keylog_side:
            argv += ["--keylog", str(self.keylog)]
        return self.start(name, netns_command(ns, argv), stdin=stdin)

    def kernel(self, side: str, name: str, *args: str) -> Proc:
        ns = self.pair.side(side)[0]
        argv = [sys.executable, "-m", "tcpinc_tools.endpoint.kernel_peer", *args]
        return self.start(name, netns_command(ns, argv))

    def start(self, name: str, argv: Sequence[str], *, stdin: bool = False) -> Proc:
        proc = Proc(name, argv, stdin=stdin)
        self.procs.append(proc)
        return proc

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        self.checks.append(Check(name, ok, detail))

    def finish(self, proc: Proc, timeout: float) -> int:
        code = proc.wait(timeout)
        self.reports[proc.name] = proc.reports
        detail = str(code) if code == 0 else f"{code}: {proc.tail()}"
        self.check(f"{proc.name} exit status", code == 0, detail)
        return code


Scenario = Callable[[LabRun, float], None]


def _text(name: str) -> str:
    return f"hello from tcpinc lab, scenario {name}\n"


def _expect(run: LabRun, who: str, **want: str) -> dict[str, str]:
    reports = run.reports.get(who, [])
    report = reports[-1] if reports else {}
    for key, value in want.items():
        got = report.get(key, "(no report)")
        run.check(f"{who} {key}", got == value, f"{got} (want {value})")
    return report


def _same_session(run: LabRun, a: dict[str, str], b: dict[str, str]) -> None:
    sid_a, sid_b = a.get("session_id", "-"), b.get("session_id", "-")
    run.check("one session ID at both ends", sid_a == sid_b and sid_a != "-", sid_a[:16])


def _echo_intact(run: LabRun, client: Proc, name: str) -> None:
    """The client's own verdicts on the echo (``--verify-echo``: "echo verified: ...")."""
    verdicts = [line for line in client.lines if line.startswith("echo ")]
    ok = bool(verdicts) and all(v.startswith("echo verified") for v in verdicts)
    run.check(name, ok, "; ".join(verdicts) or "no verdict")


def _serve(run: LabRun, *args: str, count: int = 1) -> Proc:
    server = run.endpoint(
        "b", "server", "listen", "--port", str(PORT), "--count", str(count), *args
    )
    server.wait_line("listening on")
    return server


def _client(run: LabRun, *args: str) -> Proc:
    return run.endpoint("a", "client", "connect", f"{run.pair.addr_b}:{PORT}", *args)


def _fresh(name: str, tep: int, aead: int) -> Scenario:
    def scenario(run: LabRun, timeout: float) -> None:
        server = _serve(
            run,
            "--tep",
            ",".join(f"{t:#x}" for t in prefer(tuple(TEPS.values()), tep)),
            "--aead-order",
            ",".join(f"{a:#06x}" for a in prefer(tuple(AEADS.values()), aead)),
        )
        client = _client(run, "--send", _text(name), "--verify-echo")
        run.finish(client, timeout)
        run.finish(server, timeout)
        _echo_intact(run, client, "echo intact")
        want = {"outcome": "encrypted", "tep": tep_name(tep) or "", "aead": aead_name(aead) or ""}
        a = _expect(run, "client", role="A", **want)
        b = _expect(run, "server", role="B", **want)
        _same_session(run, a, b)

    return scenario


def _resume(run: LabRun, timeout: float) -> None:
    server = _serve(run, count=2)
    client = _client(run, "--count", "2", "--send", _text("resume"), "--verify-echo")
    run.finish(client, timeout)
    run.finish(server, timeout)
    _echo_intact(run, client, "echo intact")
    for who in ("client", "server"):
        outcomes = [r.get("outcome") for r in run.reports.get(who, [])]
        run.check(f"{who}: fresh then resumed", outcomes == ["encrypted", "resumed"], str(outcomes))
    sids = [r.get("session_id", "") for r in run.reports.get("client", [])]
    run.check(
        "resumed session ID has v=1 (0xa1-0xa4)",
        len(sids) == 2 and sids[1][:1] == "a" and sids[0] != sids[1],
        " / ".join(s[:4] for s in sids),
    )


def _rekey(run: LabRun, timeout: float) -> None:
    server = _serve(run)
    size = run.size or REKEY_SIZE
    client = _client(run, "--size", str(size), "--rekey-bytes", str(REKEY_EVERY), "--verify-echo")
    run.finish(client, timeout)
    run.finish(server, timeout)
    _echo_intact(run, client, "echo intact")
    a = _expect(run, "client", outcome="encrypted")
    _expect(run, "server", outcome="encrypted")
    rekeys = int(a.get("rekeys", "0"))
    want = max(1, size // REKEY_EVERY - 1)
    run.check("key generations", rekeys >= want, f"{rekeys} (want >= {want})")


def _simultaneous(run: LabRun, timeout: float) -> None:
    text_a, text_b = _text("simultaneous-open (side a)"), _text("simultaneous-open (side b)")
    to_b = [f"{run.pair.addr_b}:{SIM_PORT_B}", "--local-port", str(SIM_PORT_A)]
    to_a = [f"{run.pair.addr_a}:{SIM_PORT_A}", "--local-port", str(SIM_PORT_B), "--role-b"]
    a = run.endpoint("a", "side-a", "connect", *to_b, "--wait-go", "--send", text_a, stdin=True)
    b = run.endpoint("b", "side-b", "connect", *to_a, "--wait-go", "--send", text_b, stdin=True)
    a.wait_line("ready")
    b.wait_line("ready")
    # Each sends its SYN before it reads its socket, and both sockets are open: the SYNs
    # cross (RFC 9293 §3.5 Figure 7) however the two processes are scheduled.
    a.send_line("go")
    b.send_line("go")
    run.finish(a, timeout)
    run.finish(b, timeout)
    ra = _expect(run, "side-a", outcome="encrypted", role="A")
    rb = _expect(run, "side-b", outcome="encrypted", role="B")
    _same_session(run, ra, rb)
    run.check("side a got b's text", a.stdout.decode(errors="replace") == text_b, "")
    run.check("side b got a's text", b.stdout.decode(errors="replace") == text_a, "")


def _fallback_kernel_peer(run: LabRun, timeout: float) -> None:
    server = run.kernel(
        "b",
        "kernel-server",
        "serve",
        "--addr",
        run.pair.addr_b,
        "--port",
        str(PORT),
        "--count",
        "1",
    )
    server.wait_line("listening on")
    client = _client(run, "--send", _text("fallback-kernel-peer"), "--verify-echo")
    run.finish(client, timeout)
    run.finish(server, timeout)
    _expect(run, "client", outcome="fallback", reason="tcpeno.fallback.no_eno")
    _echo_intact(run, client, "echo intact over plain TCP")


def _kernel_client(run: LabRun, timeout: float) -> None:
    server = _serve(run)
    target = f"{run.pair.addr_b}:{PORT}"
    text = _text("kernel-client")
    client = run.kernel("a", "kernel-client", "connect", target, "--send", text, "--verify-echo")
    run.finish(client, timeout)
    run.finish(server, timeout)
    _expect(run, "server", outcome="fallback", reason="tcpeno.fallback.no_eno")
    _echo_intact(run, client, "echo intact over plain TCP")


def netem_available(pair: NetnsPair) -> bool:
    """Put netem on both veth ends; False (and nothing changed) where the kernel lacks it."""
    try:
        for ns, veth in ((pair.a, pair.veth_a), (pair.b, pair.veth_b)):
            run(["tc", "qdisc", "add", "dev", veth, "root", "netem", *NETEM], netns=ns)
    except EndpointError as exc:
        if "unknown" in str(exc).lower() or "not supported" in str(exc).lower():
            return False
        raise
    return True


def _lossy(run: LabRun, timeout: float) -> None:
    server_extra: list[str] = []
    client_extra: list[str] = []
    if netem_available(run.pair):
        run.impairment = "tc netem " + " ".join(NETEM)
    else:
        # The kernel has no sch_netem: the endpoints impair their own output instead.
        run.impairment = f"endpoint --impair {IMPAIR} (no netem in this kernel)"
        server_extra = ["--impair", f"{IMPAIR},seed=2"]
        client_extra = ["--impair", f"{IMPAIR},seed=1"]
    server = _serve(run, *server_extra)
    size = run.size or DEFAULT_LOSSY
    client = _client(run, "--size", str(size), "--verify-echo", *client_extra)
    run.finish(client, timeout)
    run.finish(server, timeout)
    _expect(run, "client", outcome="encrypted")
    _expect(run, "server", outcome="encrypted")
    _echo_intact(run, client, "echo intact")


def _bulk(run: LabRun, timeout: float) -> None:
    server = _serve(run)
    start = time.monotonic()
    size = run.size or DEFAULT_BULK
    client = _client(run, "--size", str(size), "--verify-echo")
    run.finish(client, timeout)
    seconds = time.monotonic() - start
    run.finish(server, timeout)
    _expect(run, "client", outcome="encrypted")
    _echo_intact(run, client, "echo intact")
    rate = f"{2 * size / seconds / 1e6:.2f} MB/s both ways, {seconds:.2f} s with start-up"
    run.check("bulk rate", True, rate)


@dataclass(frozen=True, slots=True)
class LabScenario:
    name: str
    description: str
    run: Scenario
    kernel_a: bool = False
    kernel_b: bool = False


def _scenarios() -> dict[str, LabScenario]:
    table: dict[str, LabScenario] = {}
    for tkey, tep in TEPS.items():
        for akey, aead in AEADS.items():
            name = f"fresh-{tkey}-{akey}"
            table[name] = LabScenario(
                name,
                f"full key exchange, {tep_name(tep)} and {aead_name(aead)}; echo",
                _fresh(name, tep, aead),
            )
    for item in (
        LabScenario("resume", "two connections, the second resumed (RFC 8548 §3.5)", _resume),
        LabScenario("rekey", "rekey every 1 KiB sent (RFC 8548 §3.8); echo", _rekey),
        LabScenario(
            "simultaneous-open", "both sides connect at once, side b sets b=1", _simultaneous
        ),
        LabScenario(
            "fallback-kernel-peer",
            "our client, a kernel echo server: fallback to plain TCP",
            _fallback_kernel_peer,
            kernel_b=True,
        ),
        LabScenario(
            "kernel-client",
            "a kernel client, our listener: fallback to plain TCP",
            _kernel_client,
            kernel_a=True,
        ),
        LabScenario("lossy", "loss 10%, duplication 5%, reordering 25%; echo", _lossy),
        LabScenario("bulk", "1 MiB echoed (--size)", _bulk),
    ):
        table[item.name] = item
    return table


SCENARIOS: Final = _scenarios()


def scenario_names() -> list[str]:
    return list(SCENARIOS)


def run_lab(
    name: str,
    output: str | os.PathLike[str],
    *,
    keylog: str | os.PathLike[str] | None = None,
    size: int | None = None,
    timeout: float = 60.0,
    log: Callable[[str], None] | None = None,
) -> LabResult:
    """Run scenario ``name``; the capture goes to ``output``, secrets to ``keylog``."""
    scenario = SCENARIOS.get(name)
    if scenario is None:
        raise LabError(f"unknown scenario {name!r} (tcpinc lab --list names them)")
    if os.geteuid() != 0:
        raise LabError("tcpinc lab needs root (network namespaces, packet sockets)")
    require_tools("ip", "nft", "tcpdump")
    capture = Path(output).resolve()
    keys = Path(keylog).resolve() if keylog is not None else None
    for path in (capture, keys):
        if path is not None and not path.parent.is_dir():
            raise LabError(f"no such directory: {path.parent}")
    say = log or (lambda text: None)
    started = time.monotonic()
    pair = NetnsPair(kernel_a=scenario.kernel_a, kernel_b=scenario.kernel_b)
    result = LabResult(name, capture, keys)
    run_: LabRun | None = None
    tcpdump: Proc | None = None
    try:
        pair.create()
        say(f"namespaces {pair.a} and {pair.b}, veth {pair.veth_a} <-> {pair.veth_b}")
        # --immediate-mode: every packet reaches the file at once (with the default ring
        # buffer timeout, a short scenario can end before tcpdump has seen anything).
        # -B: a kernel buffer (KiB) deep enough for a bulk transfer's bursts.
        argv = ["tcpdump", "-i", pair.veth_a, "-w", str(capture), "-U", "-n", "-Z", "root"]
        argv += ["--immediate-mode", "-B", str(CAPTURE_BUFFER_KIB)]
        tcpdump = Proc("tcpdump", netns_command(pair.a, [*argv, "tcp"]))
        tcpdump.wait_line("listening on")
        keylog_side = "b" if scenario.kernel_a else "a"
        run_ = LabRun(pair, keylog=keys, keylog_side=keylog_side, size=size)
        scenario.run(run_, timeout)
        time.sleep(SETTLE)
    finally:
        with deferred_signals():
            for proc in reversed(run_.procs if run_ is not None else []):
                proc.stop()
            if tcpdump is not None:
                tcpdump.stop(signal.SIGINT)
            pair.delete()
    assert run_ is not None and tcpdump is not None
    result.packets = _count(tcpdump.lines, "packets captured")
    dropped = _count(tcpdump.lines, "packets dropped by kernel")
    run_.check("tcpdump dropped no packet", dropped == 0, f"{dropped} dropped")
    result.reports = run_.reports
    result.checks = run_.checks
    result.impairment = run_.impairment
    result.seconds = time.monotonic() - started
    return result


def _count(lines: list[str], what: str) -> int | None:
    """N from tcpdump's closing "N packets captured" / "N packets dropped by kernel"."""
    for line in lines:
        number, _, rest = line.partition(" ")
        if rest == what and number.isdigit():
            return int(number)
    return None
