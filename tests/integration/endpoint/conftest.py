"""Fixtures of the live endpoint suite: namespaces per test, and a session-wide check that
nothing of ours is left behind (namespaces, nftables tables)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tcpinc_tools.endpoint.netns import NETNS_PREFIX, NetnsPair

TOOLS = ("ip", "nft", "tcpdump")
_missing = [t for t in TOOLS if shutil.which(t) is None]
if os.geteuid() != 0:
    SKIP_REASON: str | None = "needs root (network namespaces, packet sockets, nftables)"
elif _missing:
    SKIP_REASON = f"needs {', '.join(_missing)} on PATH"
else:
    SKIP_REASON = None

# Every test module of this directory starts with: pytestmark = NEEDS_ROOT
NEEDS_ROOT = [
    pytest.mark.root,
    pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or ""),
]


def _our_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    return [w.split()[0] for w in out.stdout.splitlines() if w.startswith(NETNS_PREFIX)]


def _our_tables() -> list[str]:
    out = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=False)
    return [line for line in out.stdout.splitlines() if " tcpinc_" in line]


@pytest.fixture(scope="session", autouse=True)
def nothing_left_behind() -> Iterator[None]:
    """After the whole session: no namespace this test process made (they are all named
    tcpinc-<pid>-...) and no tcpinc_* nftables table in this namespace."""
    if SKIP_REASON is not None:
        yield
        return
    yield
    mine = f"{NETNS_PREFIX}{os.getpid()}-"
    left_ns = [n for n in _our_namespaces() if n.startswith(mine)]
    assert not left_ns, f"namespaces left behind: {left_ns}"
    assert not _our_tables(), f"nftables tables left behind: {_our_tables()}"


@pytest.fixture
def pair() -> Iterator[NetnsPair]:
    """Two namespaces joined by a veth pair; the endpoints own the addresses."""
    with NetnsPair() as created:
        yield created


@pytest.fixture
def kernel_b_pair() -> Iterator[NetnsPair]:
    """As ``pair``, with the kernel owning side b's address (a plain Linux socket there)."""
    with NetnsPair(kernel_b=True) as created:
        yield created
