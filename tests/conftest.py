"""Process-wide state every test starts from.

An asyncio event loop (textual, pytest-asyncio, distributed) that was not closed cleanly can
leave its SIGCHLD handler and its signal wakeup fd installed after its test. The fd number
is later reused by another test's pipe, and each child exit then writes a byte into that
pipe; a lab test waiting on its endpoint subprocesses was seen spinning forever that way.
Each test therefore starts with SIGCHLD at its default and no wakeup fd, as in a fresh
process.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _fresh_signal_state() -> Iterator[None]:
    if threading.current_thread() is threading.main_thread():
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    yield
