"""The live endpoint: TCP-ENO (RFC 8547) and tcpcrypt (RFC 8548) over raw sockets.

The only layer with sockets, the clock, threads and subprocesses (ip, nft, tc, tcpdump).
It drives the sans-IO stack of :mod:`tcpinc_tools.protocol` over an AF_PACKET socket
(:class:`PacketLink`), one :class:`Host` per address, and offers a socket-shaped API
(:func:`connect`, :func:`listen`, :class:`TcpincSocket`). :mod:`.lab` runs two of them in
network namespaces (``tcpinc lab``). See docs/endpoint.md and docs/lab.md.
"""

from __future__ import annotations

from .api import connect, listen
from .config import EndpointSettings, parse_aeads, parse_teps
from .conn import SEND_BUFFER_MAX, Outcome, TcpincSocket
from .errors import ConnectionFailed, EndpointError
from .host import DEFAULT_ENDPOINT_TCP, MAX_CONNECTIONS, MAX_HALF_OPEN, Host, Listener
from .impair import Impairment, parse_impairment
from .link import PacketLink
from .netns import NetnsPair
from .nft import RstGuard
from .report import parse_report, report_line

__all__ = [
    "DEFAULT_ENDPOINT_TCP",
    "MAX_CONNECTIONS",
    "MAX_HALF_OPEN",
    "SEND_BUFFER_MAX",
    "ConnectionFailed",
    "EndpointError",
    "EndpointSettings",
    "Host",
    "Impairment",
    "Listener",
    "NetnsPair",
    "Outcome",
    "PacketLink",
    "RstGuard",
    "TcpincSocket",
    "connect",
    "listen",
    "parse_aeads",
    "parse_impairment",
    "parse_report",
    "parse_teps",
    "report_line",
]
