"""What a monitor run watches and how: :class:`MonitorConfig`, built by ``tcpinc monitor``
from its command line and by the tests the same way."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "BATCH_INTERVAL",
    "KEY_GRACE",
    "MonitorConfig",
    "SourceKind",
    "Via",
]

SourceKind = Literal["file", "follow", "live"]
Via = Literal["auto", "tcpdump", "dumpcap", "af_packet"]

# Seconds between two updates the ingest worker posts: the screen refreshes ten times a
# second, whatever the packet rate.
BATCH_INTERVAL: Final = 0.1
# Seconds a packet of a live source (or a followed file) waits before it is analyzed when a
# key log is watched: the endpoint that writes a session's secret may write it a moment
# after its Init2 went past the capture point, and a session decrypts only if its secret is
# known when both Init messages have been seen.
KEY_GRACE: Final = 0.3


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """One monitor run.

    ``source`` is ``file`` (``target`` a capture, read once), ``follow`` (a capture still
    being written: read as it grows) or ``live`` (``target`` an interface, captured with
    ``via``: tcpdump or dumpcap through a pipe, or an AF_PACKET socket; ``auto`` takes the
    first of these that is installed). ``bpf`` is a capture filter for tcpdump / dumpcap;
    ``netns`` a network namespace to capture in. ``keylog`` is re-read as it grows.
    ``export_dir`` is where the export key writes its JSON files.
    """

    source: SourceKind
    target: str
    keylog: str | None = None
    bpf: str | None = None
    via: Via = "auto"
    netns: str | None = None
    export_dir: str = "."
    interval: float = BATCH_INTERVAL
    key_grace: float | None = None  # None: KEY_GRACE for live and followed sources, else 0

    @property
    def grace(self) -> float:
        """Seconds packets wait for their secrets (see :data:`KEY_GRACE`)."""
        if self.key_grace is not None:
            return self.key_grace
        if self.keylog is None or self.source == "file":
            return 0.0
        return KEY_GRACE

    @property
    def label(self) -> str:
        """How the header names the source."""
        if self.source == "live":
            where = f" in {self.netns}" if self.netns else ""
            bpf = f" [{self.bpf}]" if self.bpf else ""
            return f"{self.target}{where}{bpf}"
        name = os.path.basename(self.target) or self.target
        return f"{name} (following)" if self.source == "follow" else name
