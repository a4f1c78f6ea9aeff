"""Helpers of the live endpoint tests: analysing a lab capture, running a Host's loop in a
thread, starting `tcpinc endpoint` in a namespace, and segment surgery for scripted peers."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tcpinc_tools.analysis import analyze_capture, to_json_document
from tcpinc_tools.analysis.registry import Severity
from tcpinc_tools.endpoint import Host
from tcpinc_tools.endpoint.lab import Proc
from tcpinc_tools.endpoint.linux import netns_command
from tcpinc_tools.endpoint.netns import NetnsPair
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.protocol.segment import Segment
from tcpinc_tools.wire.constants import TcpOptionKind
from tcpinc_tools.wire.tcp_options import iter_tcp_options

SERIOUS = {Severity.WARN.value, Severity.ERROR.value}


def analyze(capture: Path, keylog: Path | None) -> dict[str, Any]:
    """`tcpinc analyze --json --payload` of a capture, as a dict."""
    keys = KeyLog.load(keylog) if keylog is not None else None
    doc: dict[str, Any] = to_json_document([analyze_capture(capture, keylog=keys, payload=True)])
    return doc


def serious_findings(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The warnings and errors of an analysis (notes and chat are informational)."""
    found = [(f["id"], f["message"]) for f in doc["findings"] if f["severity"] in SERIOUS]
    for flow in doc["flows"]:
        found += [(f["id"], f["message"]) for f in flow["findings"] if f["severity"] in SERIOUS]
    return found


class HostThread:
    """Runs ``host``'s loop in a thread until stopped (the host is only touched there)."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._stop = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.host.step(0.05)
        except BaseException as exc:  # reported by stop()
            self.error = exc

    def __enter__(self) -> HostThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.host.close()
        if self.error is not None:
            raise self.error


def endpoint(pair: NetnsPair, side: str, action: str, *args: str, stdin: bool = False) -> Proc:
    """`tcpinc endpoint ACTION ...` as a subprocess inside side ``side``'s namespace."""
    ns, veth, addr = pair.side(side)
    argv = [sys.executable, "-m", "tcpinc_tools.cli", "endpoint", action, *args]
    return Proc(action, netns_command(ns, [*argv, "--iface", veth, "--addr", addr]), stdin=stdin)


def replace_eno(options: bytes, new: bytes) -> bytes:
    """``options`` with their ENO option (kind 69) replaced by ``new``, of the same length."""
    for opt in iter_tcp_options(options):
        if opt.kind == TcpOptionKind.ENO:
            assert len(new) == len(opt.raw), (new.hex(), opt.raw.hex())
            return options[: opt.offset] + new + options[opt.offset + len(opt.raw) :]
    raise AssertionError(f"no ENO option in {options.hex()}")


Mutation = Callable[[Segment], Segment]


class Saboteur:
    """A Host tx_filter that changes the next segment matching a test, once."""

    def __init__(self) -> None:
        self.armed: tuple[Callable[[Segment], bool], Mutation] | None = None
        self.done = 0

    def arm(self, when: Callable[[Segment], bool], mutate: Mutation) -> None:
        self.armed = (when, mutate)

    def __call__(self, _sock: object, seg: Segment) -> list[Segment]:
        if self.armed is not None and self.armed[0](seg):
            mutate = self.armed[1]
            self.armed = None
            self.done += 1
            return [mutate(seg)]
        return [seg]


def set_payload(seg: Segment, start: int, data: bytes) -> Segment:
    payload = bytearray(seg.payload)
    payload[start : start + len(data)] = data
    return replace(seg, payload=bytes(payload))
