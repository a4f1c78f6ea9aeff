"""The TCP state machine as data (RFC 9293 §3.3.2, Figure 5).

``TRANSITIONS[state][trigger]`` is the next state; every state change of
:class:`~tcpinc_tools.protocol.tcp.TcpConnection` goes through it, except the ones the
table cannot express (any state to CLOSED on a valid RST, abort() or giving up). The rules
around the table are written at the top of :mod:`tcpinc_tools.protocol.tcp`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Final

__all__ = ["RECEIVING", "SENDING", "SYNCHRONIZED", "TRANSITIONS", "TcpState", "Trigger"]


class TcpState(Enum):
    CLOSED = "CLOSED"
    LISTEN = "LISTEN"
    SYN_SENT = "SYN-SENT"
    SYN_RECEIVED = "SYN-RECEIVED"
    ESTABLISHED = "ESTABLISHED"
    FIN_WAIT_1 = "FIN-WAIT-1"
    FIN_WAIT_2 = "FIN-WAIT-2"
    CLOSE_WAIT = "CLOSE-WAIT"
    CLOSING = "CLOSING"
    LAST_ACK = "LAST-ACK"
    TIME_WAIT = "TIME-WAIT"


class Trigger(Enum):
    ACTIVE_OPEN = "connect()"
    PASSIVE_OPEN = "listen()"
    CLOSE = "close()"
    RCV_SYN = "SYN received"
    RCV_SYN_ACK = "SYN-ACK received"
    RCV_ACK_OF_SYN = "ACK of our SYN received"
    RCV_FIN = "FIN received"
    RCV_ACK_OF_FIN = "ACK of our FIN received"
    TIMEOUT_2MSL = "2*MSL timer expired"


_S = TcpState
_T = Trigger
TRANSITIONS: Final[Mapping[TcpState, Mapping[Trigger, TcpState]]] = {
    _S.CLOSED: {_T.ACTIVE_OPEN: _S.SYN_SENT, _T.PASSIVE_OPEN: _S.LISTEN},
    _S.LISTEN: {_T.RCV_SYN: _S.SYN_RECEIVED, _T.CLOSE: _S.CLOSED},
    _S.SYN_SENT: {_T.RCV_SYN_ACK: _S.ESTABLISHED, _T.RCV_SYN: _S.SYN_RECEIVED, _T.CLOSE: _S.CLOSED},
    _S.SYN_RECEIVED: {_T.RCV_ACK_OF_SYN: _S.ESTABLISHED},
    _S.ESTABLISHED: {_T.CLOSE: _S.FIN_WAIT_1, _T.RCV_FIN: _S.CLOSE_WAIT},
    _S.FIN_WAIT_1: {_T.RCV_ACK_OF_FIN: _S.FIN_WAIT_2, _T.RCV_FIN: _S.CLOSING},
    _S.FIN_WAIT_2: {_T.RCV_FIN: _S.TIME_WAIT},
    _S.CLOSE_WAIT: {_T.CLOSE: _S.LAST_ACK},
    _S.CLOSING: {_T.RCV_ACK_OF_FIN: _S.TIME_WAIT},
    _S.LAST_ACK: {_T.RCV_ACK_OF_FIN: _S.CLOSED},
    _S.TIME_WAIT: {_T.TIMEOUT_2MSL: _S.CLOSED},
}

# RFC 9293 §3.3.2: the states after the handshake (both ISNs known and acknowledged).
SYNCHRONIZED: Final = frozenset(
    {
        _S.ESTABLISHED,
        _S.FIN_WAIT_1,
        _S.FIN_WAIT_2,
        _S.CLOSE_WAIT,
        _S.CLOSING,
        _S.LAST_ACK,
        _S.TIME_WAIT,
    }
)
# States in which the peer's data is still taken (RFC 9293 §3.10.7.4, seventh step).
RECEIVING: Final = frozenset({_S.ESTABLISHED, _S.FIN_WAIT_1, _S.FIN_WAIT_2})
# States in which our queued data and FIN may still go out.
# (CLOSING too: the peer's FIN can overtake our queued data and FIN.)
SENDING: Final = frozenset({_S.ESTABLISHED, _S.CLOSE_WAIT, _S.FIN_WAIT_1, _S.CLOSING, _S.LAST_ACK})
