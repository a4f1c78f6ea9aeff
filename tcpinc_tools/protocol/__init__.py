"""Sans-IO protocol state machines: TCP, and (above it, through its hook) TCP-ENO and tcpcrypt.

Nothing here reads a clock, opens a socket or starts a thread: time comes in as ``now``,
randomness as a ``random_bytes`` callable, segments as :class:`Segment` values.
"""

from __future__ import annotations

from .connection import DEFAULT_TCPINC_CONFIG, ConnectionMode, TcpincConfig, TcpincConnection
from .eno import EnoConfig, EnoEndpoint, EnoState, StaticTepPolicy, TepPolicy
from .events import (
    Connected,
    ConnectionAborted,
    ConnectionClosed,
    DataReceived,
    EncryptionEnabled,
    EndOfStream,
    EnoEnabled,
    EnoNegotiated,
    Event,
    FellBack,
    KeysUpdated,
    UrgentDataReceived,
)
from .resumption import ResumptionCache, TcpcryptPolicy
from .segment import (
    Segment,
    TcpFlags,
    decode_tcp_header,
    encode_tcp_header,
    tcp_checksum,
    verify_tcp_checksum,
)
from .tcp import (
    DEFAULT_TCP_CONFIG,
    TRANSITIONS,
    SegmentHook,
    TcpConfig,
    TcpConnection,
    TcpState,
    Trigger,
)
from .tcp_negotiate import PeerOptions
from .tcpcrypt import ResumeState, TcpcryptConfig, TcpcryptSession, TcpcryptState

__all__ = [
    "DEFAULT_TCPINC_CONFIG",
    "DEFAULT_TCP_CONFIG",
    "TRANSITIONS",
    "Connected",
    "ConnectionAborted",
    "ConnectionClosed",
    "ConnectionMode",
    "DataReceived",
    "EncryptionEnabled",
    "EndOfStream",
    "EnoConfig",
    "EnoEnabled",
    "EnoEndpoint",
    "EnoNegotiated",
    "EnoState",
    "Event",
    "FellBack",
    "KeysUpdated",
    "PeerOptions",
    "ResumeState",
    "ResumptionCache",
    "Segment",
    "SegmentHook",
    "StaticTepPolicy",
    "TcpConfig",
    "TcpConnection",
    "TcpFlags",
    "TcpState",
    "TcpcryptConfig",
    "TcpcryptPolicy",
    "TcpcryptSession",
    "TcpcryptState",
    "TcpincConfig",
    "TcpincConnection",
    "TepPolicy",
    "Trigger",
    "UrgentDataReceived",
    "decode_tcp_header",
    "encode_tcp_header",
    "tcp_checksum",
    "verify_tcp_checksum",
]
