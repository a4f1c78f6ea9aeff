"""The endpoint's errors: set-up problems (interface, privileges, nftables) and failed
connections, both in the project's one error family."""

from __future__ import annotations

from ..errors import TcpincError

__all__ = ["ConnectionFailed", "EndpointError"]


class EndpointError(TcpincError):
    """The endpoint cannot run: a missing interface or tool, no privileges, a bad address,
    a command (ip, nft, tc, tcpdump) that failed."""


class ConnectionFailed(TcpincError):
    """A connection ended abnormally; ``reason`` is the abort reason (a finding id such as
    ``tcpcrypt.tag_failure``, or TCP's words such as "connection reset") or "timed out"."""

    def __init__(self, reason: str, *, peer: str = "") -> None:
        super().__init__(f"{peer + ': ' if peer else ''}{reason}")
        self.reason = reason
        self.peer = peer
