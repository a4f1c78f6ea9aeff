"""Two network namespaces joined by a veth pair: the lab's private wire.

:class:`NetnsPair` creates ``tcpinc-<pid>-<n>-a`` and ``tcpinc-<pid>-<n>-b`` with one veth
end in each (created straight into the namespaces, so nothing appears in the caller's
namespace even for a moment), loopback and the veth up. Addresses live only inside the
namespaces. By default the kernel gets no address on the veth: the endpoints own
10.201.0.1 (side a) and 10.201.0.2 (side b) at layer 2 themselves. ``kernel_a`` /
``kernel_b`` configure the address on that side's veth instead, for a plain Linux socket.

Teardown deletes both namespaces (their veth ends and nftables tables go with them); it
is idempotent, runs from ``__exit__`` whatever happened, and defers SIGINT/SIGTERM while
it runs so that a second Ctrl-C cannot interrupt it half-way.
"""

from __future__ import annotations

import itertools
import os
import subprocess
from types import TracebackType
from typing import Final

from .errors import EndpointError
from .linux import disable_tx_checksum, netns_exists, require_tools, run
from .signals import deferred_signals

__all__ = [
    "ADDR_A",
    "ADDR_B",
    "NETNS_PREFIX",
    "NetnsPair",
    "leftover_namespaces",
]

NETNS_PREFIX: Final = "tcpinc-"
# Documentation-style private addresses used only inside our namespaces.
ADDR_A: Final = "10.201.0.1"
ADDR_B: Final = "10.201.0.2"
PREFIX_LEN: Final = 24
_counter = itertools.count()


def leftover_namespaces() -> list[str]:
    """Namespaces named like ours that exist now (for tests and `tcpinc lab --cleanup`)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    names = [line.split()[0] for line in out.stdout.splitlines() if line.strip()]
    return [n for n in names if n.startswith(NETNS_PREFIX)]


class NetnsPair:
    """Namespaces ``a`` and ``b``, veth ``veth_a`` in a and ``veth_b`` in b."""

    def __init__(
        self,
        *,
        kernel_a: bool = False,
        kernel_b: bool = False,
        tag: str | None = None,
    ) -> None:
        n = next(_counter)
        tag = tag or f"{os.getpid()}-{n}"
        self.a = f"{NETNS_PREFIX}{tag}-a"
        self.b = f"{NETNS_PREFIX}{tag}-b"
        # Interface names: at most 15 characters (IFNAMSIZ - 1).
        self.veth_a = f"tci{n}a"[:15]
        self.veth_b = f"tci{n}b"[:15]
        self.addr_a = ADDR_A
        self.addr_b = ADDR_B
        self.kernel_a = kernel_a
        self.kernel_b = kernel_b
        self.created: list[str] = []

    def create(self) -> NetnsPair:
        require_tools("ip")
        if os.geteuid() != 0:
            raise EndpointError("network namespaces need root")
        try:
            for ns in (self.a, self.b):
                if netns_exists(ns):
                    raise EndpointError(f"network namespace {ns} exists already")
                run(["ip", "netns", "add", ns])
                self.created.append(ns)
            add = ["ip", "link", "add", "name", self.veth_a, "netns", self.a, "type", "veth"]
            run([*add, "peer", "name", self.veth_b, "netns", self.b])
            for ns, veth, addr, kernel in (
                (self.a, self.veth_a, self.addr_a, self.kernel_a),
                (self.b, self.veth_b, self.addr_b, self.kernel_b),
            ):
                run(["ip", "-n", ns, "link", "set", "lo", "up"])
                run(["ip", "-n", ns, "link", "set", veth, "up"])
                if kernel:
                    run(["ip", "-n", ns, "addr", "add", f"{addr}/{PREFIX_LEN}", "dev", veth])
                # Kernel-sent segments with complete checksums (captures show no bogus
                # "incorrect checksum"), and no TSO super-frames towards our endpoint.
                disable_tx_checksum(veth, ns)
        except BaseException:
            self.delete()
            raise
        return self

    def side(self, which: str) -> tuple[str, str, str]:
        """(namespace, veth, address) of side ``"a"`` or ``"b"``."""
        if which == "a":
            return self.a, self.veth_a, self.addr_a
        return self.b, self.veth_b, self.addr_b

    def delete(self) -> None:
        """Delete the namespaces (and everything in them). Idempotent."""
        with deferred_signals():
            errors = []
            for ns in reversed(self.created):
                if netns_exists(ns):
                    try:
                        run(["ip", "netns", "del", ns])
                    except EndpointError as exc:
                        errors.append(str(exc))
            self.created.clear()
        if errors:
            raise EndpointError("; ".join(errors))

    def __enter__(self) -> NetnsPair:
        return self.create()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.delete()
