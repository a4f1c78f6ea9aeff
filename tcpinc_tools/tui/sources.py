"""Where the monitor's packets come from: a capture file, a capture file still being written,
or a live interface (tcpdump or dumpcap writing pcap to a pipe, or an AF_PACKET socket).

Every source has the same small surface: :attr:`~PacketSource.name`, :attr:`~PacketSource.stats`
(frames read, by kind), :meth:`~PacketSource.packets` (blocks while nothing arrives; ends at
the end of a file or once stopped), :meth:`~PacketSource.stop` (from any thread) and
:meth:`~PacketSource.close`. A source that cannot start or dies raises :class:`SourceError`
with one line saying why.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from typing import BinaryIO, Final, Protocol, cast

from ..capture.follow import open_growing
from ..capture.packet import CaptureStats, TcpPacket
from ..capture.reader import CaptureReader
from ..errors import CaptureError, TcpincError
from .afpacket import AfPacketCapture, CaptureSetupError
from .config import MonitorConfig, Via

__all__ = [
    "FileSource",
    "FollowSource",
    "PacketSource",
    "PipeSource",
    "SourceError",
    "capture_tool",
    "check_config",
    "open_source",
]

# Lines of a capture tool's stderr kept for the error message.
_STDERR_LINES: Final = 20
# Seconds a stopped capture tool gets to exit before it is killed.
_STOP_TIMEOUT: Final = 2.0


class SourceError(TcpincError):
    """A packet source that cannot start or stopped with an error (one line)."""


class PacketSource(Protocol):
    name: str
    # Whether packets() may wait for packets (a pipe, a socket, a growing file): the ingest
    # then reads in a thread of its own; a plain file is read by the worker itself.
    blocking: bool

    @property
    def stats(self) -> CaptureStats: ...

    def packets(self) -> Iterator[TcpPacket]: ...

    def stop(self) -> None: ...

    def close(self) -> None: ...


class FileSource:
    """A capture file, read once to its end."""

    blocking = False

    def __init__(self, path: str) -> None:
        self.name = path
        self._reader = CaptureReader(path)
        self._stopped = threading.Event()

    @property
    def stats(self) -> CaptureStats:
        return self._reader.stats

    def packets(self) -> Iterator[TcpPacket]:
        try:
            for pkt in self._reader:
                if self._stopped.is_set():
                    return
                yield pkt
        except CaptureError as exc:
            raise SourceError(str(exc)) from None

    def stop(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        self._stopped.set()
        self._reader.close()


class FollowSource:
    """A capture file that is still being written: read as it grows, until stopped."""

    blocking = True

    def __init__(self, path: str) -> None:
        self.name = path
        self._stopped = threading.Event()
        self._file: BinaryIO = open_growing(path, self._stopped.is_set)
        self._reader = CaptureReader(self._file)

    @property
    def stats(self) -> CaptureStats:
        return self._reader.stats

    def packets(self) -> Iterator[TcpPacket]:
        try:
            yield from self._reader
        except CaptureError as exc:
            if not self._stopped.is_set():  # a record cut short by the stop is no error
                raise SourceError(str(exc)) from None

    def stop(self) -> None:
        self._stopped.set()

    def close(self) -> None:
        self._stopped.set()
        self._file.close()


def _pipe_argv(tool: str, iface: str, bpf: str | None) -> list[str]:
    if tool == "tcpdump":
        # -U: each packet written as it comes; --immediate-mode: no kernel batching delay.
        argv = ["tcpdump", "-i", iface, "-n", "-s", "0", "-U", "--immediate-mode", "-w", "-"]
        return [*argv, bpf] if bpf else argv
    argv = ["dumpcap", "-i", iface, "-q", "-P", "-w", "-"]
    return [*argv, "-f", bpf] if bpf else argv


class PipeSource:
    """tcpdump or dumpcap on an interface, writing pcap to our pipe."""

    blocking = True

    def __init__(self, tool: str, iface: str, *, bpf: str | None, netns: str | None) -> None:
        self.name = iface
        self.tool = tool
        argv = _pipe_argv(tool, iface, bpf)
        if netns is not None:
            argv = ["ip", "netns", "exec", netns, *argv]
        self._stopped = threading.Event()
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        try:
            # A process group of its own: stopping it stops whatever it started too
            # (ip netns exec, a wrapper script), and the terminal's Ctrl-C is ours alone.
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise SourceError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        stdout = self._proc.stdout
        assert stdout is not None
        self._reader = CaptureReader(cast(BinaryIO, stdout))
        self._err_thread = threading.Thread(target=self._read_stderr, daemon=True)
        self._err_thread.start()

    @property
    def stats(self) -> CaptureStats:
        return self._reader.stats

    def _read_stderr(self) -> None:
        stream = self._proc.stderr
        assert stream is not None
        for raw in stream:
            line = raw.decode(errors="replace").strip()
            if line:
                self._stderr.append(line)

    def _failure(self) -> str:
        try:
            code = self._proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        self._err_thread.join(_STOP_TIMEOUT)
        useful = [
            line
            for line in self._stderr
            if not line.startswith(("listening on", "tcpdump: listening", "Capturing on"))
        ]
        why = useful[-1] if useful else f"exited with status {code}"
        return f"{self.tool} on {self.name}: {why}"

    def packets(self) -> Iterator[TcpPacket]:
        try:
            yield from self._reader
        except CaptureError as exc:
            if self._stopped.is_set():
                return
            if self.stats.packets == 0:
                raise SourceError(self._failure()) from None
            raise SourceError(str(exc)) from None
        if not self._stopped.is_set():
            raise SourceError(self._failure())

    def _signal(self, sig: int) -> None:
        if self._proc.poll() is not None:
            return  # the group's leader is gone (and reaped): its id is not ours any more
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def stop(self) -> None:
        self._stopped.set()
        self._signal(signal.SIGTERM)

    def close(self) -> None:
        self.stop()
        try:
            self._proc.wait(_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self._proc.wait()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()


class AfPacketSource:
    """An AF_PACKET socket on an interface (no capture tool needed, no filter)."""

    blocking = True

    def __init__(self, iface: str, *, netns: str | None) -> None:
        self.name = iface
        try:
            self._capture = AfPacketCapture(iface, netns=netns)
        except CaptureSetupError as exc:
            raise SourceError(str(exc)) from None

    @property
    def stats(self) -> CaptureStats:
        return self._capture.stats

    def packets(self) -> Iterator[TcpPacket]:
        try:
            yield from self._capture.packets()
        except CaptureSetupError as exc:
            raise SourceError(str(exc)) from None

    def stop(self) -> None:
        self._capture.stop()

    def close(self) -> None:
        self._capture.close()


def capture_tool(via: Via, bpf: str | None) -> str:
    """The way a live interface is captured: ``tcpdump``, ``dumpcap`` or ``af_packet``
    (``auto``: the first installed, in that order). SourceError when the one asked for is
    not installed, or a filter is asked of AF_PACKET."""
    if via == "auto":
        via = "tcpdump" if shutil.which("tcpdump") else "dumpcap"
        if shutil.which(via) is None:
            via = "af_packet"
    elif via != "af_packet" and shutil.which(via) is None:
        raise SourceError(f"{via} is not installed")
    if via == "af_packet" and bpf:
        raise SourceError("a --bpf filter needs tcpdump or dumpcap (neither is installed)")
    return via


def check_config(config: MonitorConfig) -> None:
    """What can be checked before the screen starts; SourceError with one line."""
    if config.source in ("file", "follow"):
        if not os.path.exists(config.target):
            raise SourceError(f"{config.target}: no such file")
        if os.path.isdir(config.target):
            raise SourceError(f"{config.target}: is a directory, not a capture file")
        return
    capture_tool(config.via, config.bpf)
    if config.netns is None:
        try:
            socket.if_nametoindex(config.target)
        except OSError:
            raise SourceError(f"{config.target}: no such interface") from None
    elif not os.path.exists(f"/run/netns/{config.netns}"):
        raise SourceError(f"{config.netns}: no such network namespace")


def open_source(config: MonitorConfig) -> PacketSource:
    """The source ``config`` names, started."""
    if config.source == "file":
        return FileSource(config.target)
    if config.source == "follow":
        try:
            return FollowSource(config.target)
        except CaptureError as exc:
            raise SourceError(str(exc)) from None
    tool = capture_tool(config.via, config.bpf)
    if tool == "af_packet":
        return AfPacketSource(config.target, netns=config.netns)
    return PipeSource(tool, config.target, bpf=config.bpf, netns=config.netns)
