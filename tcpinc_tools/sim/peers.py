"""Scripted peers: TCP ends whose ENO option is fixed in advance, for scenarios our own stack
cannot play.

Our :class:`~tcpinc_tools.protocol.eno.EnoEndpoint` only offers tcpcrypt TEPs and answers a
SYN it shares no TEP with by a vacuous option. Two hosts of the scenarios do otherwise, as
RFC 8547 lets them:

- a draft-era TCP-use-TLS client offers TEP 0x30 (draft-ietf-tcpinc-tcpeno-06 §10), which
  no stack here implements;
- a passive opener that answers every SYN with the same precomputed option (its own TEP
  list, RFC 8547 §4.5: "implementation considerations can prevent host B from offering
  only one TEP"), so that its SYN-ACK names a TEP the SYN did not offer.

Both are a :class:`~tcpinc_tools.protocol.tcp.TcpConnection` whose segment hook,
:class:`FixedSynOption`, puts the given SYN-form option on the SYN or SYN-ACK and no ENO
option on anything else: right for a host whose negotiation fails (RFC 8547 §4.6: it sends
no further ENO option), which is the only way the scenarios use it. The data then flows as
plain TCP through :class:`~.apps.PlainSocket`.
"""

from __future__ import annotations

from ..protocol.segment import Segment, TcpFlags
from ..protocol.tcp import TcpConnection
from ..wire.eno import decode_eno_option
from .apps import PlainSocket, Socket
from .driver import EndFactory, EndInfo, Endpoint

__all__ = ["FixedSynOption", "scripted_end"]


class FixedSynOption:
    """A segment hook with one fixed SYN-form option (checked to decode) and nothing else;
    it keeps the peer's SYN options in ``peer_syn_options``."""

    def __init__(self, option: bytes) -> None:
        decode_eno_option(option, syn=True)  # RFC 8547 §4.1: a well-formed SYN-form option
        self.option = bytes(option)
        self.peer_syn_options: bytes | None = None

    def options_for(self, flags: TcpFlags) -> bytes:
        return self.option if flags & TcpFlags.SYN else b""

    def on_segment(self, seg: Segment, now: float) -> None:
        if seg.is_syn and self.peer_syn_options is None:
            self.peer_syn_options = seg.options


def scripted_end(option: bytes) -> EndFactory:
    """An end factory: plain TCP whose SYN or SYN-ACK carries ``option``."""

    def make(info: EndInfo) -> tuple[Endpoint, Socket]:
        tcp = TcpConnection(
            local_port=info.local_port,
            remote_port=info.remote_port,
            random_bytes=info.random_bytes,
            hook=FixedSynOption(option),
        )
        return tcp, PlainSocket(tcp)

    return make
