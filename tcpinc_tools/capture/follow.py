"""Reading a capture file that is still being written (``tcpdump -w FILE``, ``tail -f``).

:func:`open_growing` gives a binary file object whose reads wait for the file to grow
instead of returning end-of-file, until ``stopped()`` says to give up. Hand it to
:class:`~.reader.CaptureReader`: the reader then yields each packet as soon as its whole
record is in the file, and ends (or raises :class:`~tcpinc_tools.errors.CaptureError` for
a record cut short) only once ``stopped()`` is true.

>>> stop = threading.Event()                                             # doctest: +SKIP
>>> for pkt in CaptureReader(open_growing("live.pcap", stop.is_set)):     # doctest: +SKIP
...     show(pkt)
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from typing import BinaryIO, Final

from ..errors import CaptureError

__all__ = ["POLL_INTERVAL", "GrowingFile", "open_growing"]

# Seconds between two looks at a file that has no new bytes: tcpdump -U writes each packet
# as it comes, and a monitor refreshes its screen ten times a second.
POLL_INTERVAL: Final = 0.05


class GrowingFile(io.RawIOBase):
    """A raw binary file whose reads wait for more bytes (see the module doc).

    ``stopped`` is polled every ``poll`` seconds while the file has nothing new; once it
    returns True, a read at the end of the file returns 0 bytes (end of file).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        stopped: Callable[[], bool],
        *,
        poll: float = POLL_INTERVAL,
    ) -> None:
        super().__init__()
        self.path = os.fspath(path)
        self.stopped = stopped
        self.poll = poll
        try:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 (closed in close())
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot open: {exc.strerror or exc}") from None

    @property
    def name(self) -> str:
        return self.path

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        while True:
            count = self._file.readinto(buffer)
            if count:
                return count
            if self.stopped():
                return 0
            time.sleep(self.poll)

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


def open_growing(
    path: str | os.PathLike[str],
    stopped: Callable[[], bool],
    *,
    poll: float = POLL_INTERVAL,
) -> BinaryIO:
    """A buffered :class:`GrowingFile` for :class:`~.reader.CaptureReader` (which closes
    nothing it did not open: close it when done)."""
    return io.BufferedReader(GrowingFile(path, stopped, poll=poll))
