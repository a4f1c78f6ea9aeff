"""Services a listener runs on each connection (``Listener.handler`` factories).

Handlers run inside the host's loop, so they only hand data over (``write``), never wait.
"""

from __future__ import annotations

import contextlib

from ..errors import TcpincError
from ..protocol.events import DataReceived, EndOfStream, Event
from .conn import TcpincSocket

__all__ = ["discard", "echo", "pattern"]


def echo(sock: TcpincSocket) -> None:
    """Send back what arrives; close when the peer's stream ends (RFC 862 over TCP)."""

    def on_event(sock: TcpincSocket, event: Event) -> None:
        try:
            if isinstance(event, DataReceived):
                sock.write(event.data)
            elif isinstance(event, EndOfStream):
                sock.close()
        except TcpincError:
            pass  # aborted meanwhile: the connection reports its reason

    sock.handler = on_event


def discard(sock: TcpincSocket) -> None:
    """Take everything and send nothing; close when the peer's stream ends (RFC 863)."""

    def on_event(sock: TcpincSocket, event: Event) -> None:
        if isinstance(event, EndOfStream):
            with contextlib.suppress(TcpincError):
                sock.close()

    sock.handler = on_event


def pattern(size: int) -> bytes:
    """``size`` bytes of a fixed, recognisable pattern (0, 1, ..., 250, 0, 1, ...): test data
    that a lost, duplicated or misplaced segment cannot leave looking right."""
    block = bytes(range(251))
    return (block * (size // len(block) + 1))[:size]
