"""Small things the sim tests share: segments, packets, a sink that keeps what it is given."""

from __future__ import annotations

from tcpinc_tools.protocol.segment import Segment, TcpFlags
from tcpinc_tools.sim.link import Packet

CLIENT = "192.0.2.1"
SERVER = "198.51.100.1"


def segment(
    flags: TcpFlags = TcpFlags.ACK,
    *,
    seq: int = 1000,
    ack: int = 5000,
    options: bytes = b"",
    payload: bytes = b"",
) -> Segment:
    return Segment(40000, 80, seq, ack, flags, 65535, options, payload)


def packet(flags: TcpFlags = TcpFlags.ACK, **kw: object) -> Packet:
    return Packet(CLIENT, SERVER, segment(flags, **kw))  # type: ignore[arg-type]


class ListSink:
    """A PacketSink keeping (ts, src, dst, tcp bytes)."""

    def __init__(self) -> None:
        self.records: list[tuple[float, str, str, bytes]] = []

    def write_tcp(self, ts: float, src_ip: str, dst_ip: str, tcp: bytes) -> None:
        self.records.append((ts, src_ip, dst_ip, tcp))
