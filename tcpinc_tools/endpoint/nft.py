"""The nftables table that keeps the kernel's TCP from answering for the endpoint.

The endpoint speaks TCP for its address through a packet socket; the kernel sees the same
segments. Where the kernel owns that address (it is configured on the interface) it finds
no socket for the port and answers every segment with a RST, which would kill our
connections. :class:`RstGuard` adds a table of its own, ``inet tcpinc_<pid>`` (a suffix
``_<n>`` for a second guard in one process), that drops RSTs the kernel sends from the
endpoint's address on the endpoint's ports::

    table inet tcpinc_4242 {
        set ports { type inet_service; }
        chain output {
            type filter hook output priority filter; policy accept;
            ip saddr 10.201.0.2 tcp sport @ports tcp flags & rst == rst drop
        }
    }

Our own segments leave through the packet socket and never pass the ``output`` hook, so
the rule touches only the kernel's. The table goes when the guard is removed (the endpoint
does it on exit, Ctrl-C and SIGTERM included); tables left by a process that was killed
outright are removed by the next guard in that namespace (:func:`sweep_stale_tables`).
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import re
from types import TracebackType
from typing import Final

from .errors import EndpointError
from .linux import run

__all__ = ["TABLE_PREFIX", "RstGuard", "list_tables", "sweep_stale_tables"]

TABLE_PREFIX: Final = "tcpinc_"
_TABLE_RE: Final = re.compile(rf"^table inet ({TABLE_PREFIX}(\d+)(?:_\d+)?)$")
_counter = itertools.count()


def list_tables(netns: str | None = None) -> list[str]:
    """The names of the endpoint tables (``inet tcpinc_*``) in ``netns``."""
    out = run(["nft", "list", "tables"], netns=netns)
    return [m.group(1) for line in out.splitlines() if (m := _TABLE_RE.match(line.strip()))]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_tables(netns: str | None = None) -> list[str]:
    """Delete the tables of endpoint processes that no longer exist; their names."""
    out = run(["nft", "list", "tables"], netns=netns)
    removed = []
    for line in out.splitlines():
        m = _TABLE_RE.match(line.strip())
        if m and not _alive(int(m.group(2))):
            run(["nft", "delete", "table", "inet", m.group(1)], netns=netns)
            removed.append(m.group(1))
    return removed


class RstGuard:
    """The kernel's RSTs from ``addr`` on the guarded ports are dropped while installed."""

    def __init__(self, addr: str, *, netns: str | None = None) -> None:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            raise EndpointError(f"not an IP address: {addr!r}") from None
        self.addr = str(ip)
        self._family = "ip" if ip.version == 4 else "ip6"
        self.netns = netns
        n = next(_counter)
        self.table = f"{TABLE_PREFIX}{os.getpid()}" + (f"_{n}" if n else "")
        self.ports: set[int] = set()
        self.installed = False

    def install(self) -> None:
        if self.installed:
            return
        sweep_stale_tables(self.netns)
        ruleset = (
            f"table inet {self.table} {{\n"
            "  set ports { type inet_service; }\n"
            "  chain output {\n"
            "    type filter hook output priority filter; policy accept;\n"
            f"    {self._family} saddr {self.addr} tcp sport @ports "
            "tcp flags & rst == rst drop\n"
            "  }\n"
            "}\n"
        )
        run(["nft", "-f", "-"], netns=self.netns, stdin=ruleset)
        self.installed = True
        for port in sorted(self.ports):
            self._add_element(port)

    def add_port(self, port: int) -> None:
        if port in self.ports:
            return
        self.ports.add(port)
        if self.installed:
            self._add_element(port)

    def _add_element(self, port: int) -> None:
        run(
            ["nft", "add", "element", "inet", self.table, "ports", f"{{ {port} }}"],
            netns=self.netns,
        )

    def remove(self) -> None:
        """Delete the table (idempotent; a namespace that is already gone is fine)."""
        if not self.installed:
            return
        self.installed = False
        try:
            run(["nft", "delete", "table", "inet", self.table], netns=self.netns)
        except EndpointError:
            if self.table in _tables_or_empty(self.netns):
                raise

    def __enter__(self) -> RstGuard:
        self.install()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()


def _tables_or_empty(netns: str | None) -> list[str]:
    try:
        return list_tables(netns)
    except EndpointError:
        return []
