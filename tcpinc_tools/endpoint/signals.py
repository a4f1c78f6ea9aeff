"""Signals and clean-up: SIGTERM / SIGHUP become SystemExit (so ``finally`` blocks run, as
they do for Ctrl-C's KeyboardInterrupt), and tear-down code can hold signals off."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Final

__all__ = ["deferred_signals", "terminate_on_signals"]

_DEFERRED: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_TERMINATING: Final = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def deferred_signals() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP wait until the block is over (then they are delivered),
    so that a second Ctrl-C cannot interrupt a tear-down half-way."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def terminate_on_signals() -> Iterator[None]:
    """Inside the block, SIGTERM and SIGHUP raise SystemExit(128 + signal number)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a caller's own loop, then
        return
    previous = {sig: signal.signal(sig, _raise_exit) for sig in _TERMINATING}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
