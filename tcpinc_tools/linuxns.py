"""Linux numbers and network namespaces, shared by the two packet-socket users: the
endpoint (``endpoint/``) and the monitor's AF_PACKET source (``tui/``).

``setns(2)`` with CLONE_NEWNET changes the namespace of the calling *thread* only, and a
socket belongs for its whole life to the namespace it was created in. So :func:`in_netns`
runs a function in a short-lived thread that first enters the namespace; sockets it creates
(and ioctls it makes on them) live there, while the rest of the process stays where it was.
Python 3.11 has no ``os.setns``, hence ctypes.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from typing import Final, TypeVar

from .errors import TcpincError

__all__ = [
    "CLONE_NEWNET",
    "ETH_P_ALL",
    "NETNS_RUN_DIR",
    "PACKET_OUTGOING",
    "NetnsError",
    "in_netns",
    "netns_exists",
]

T = TypeVar("T")

# <linux/sched.h>: the namespace type of setns(2).
CLONE_NEWNET: Final = 0x40000000
# <linux/if_ether.h>: every protocol, for an AF_PACKET socket.
ETH_P_ALL: Final = 0x0003
# <linux/if_packet.h>: sll_pkttype of a frame the host itself sent.
PACKET_OUTGOING: Final = 4
# Where `ip netns add` binds the namespaces it creates.
NETNS_RUN_DIR: Final = "/run/netns"


class NetnsError(TcpincError):
    """A network namespace that cannot be entered (missing, no permission)."""


def netns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_RUN_DIR, name))


def _setns(name: str, error: Callable[[str], Exception]) -> None:
    path = os.path.join(NETNS_RUN_DIR, name)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise error(f"network namespace {name!r}: {exc.strerror}") from None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise error(f"cannot enter network namespace {name!r}: {os.strerror(err)}")
    finally:
        os.close(fd)


def in_netns(
    name: str | None, fn: Callable[[], T], *, error: Callable[[str], Exception] = NetnsError
) -> T:
    """``fn()`` run inside network namespace ``name`` (None: right here, in this thread).
    A namespace that cannot be entered raises ``error(message)``; what ``fn`` raises is
    raised here."""
    if name is None:
        return fn()
    values: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            _setns(name, error)
            values.append(fn())
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    thread = threading.Thread(target=target, name=f"netns:{name}", daemon=True)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return values[0]
