"""The expiring flow table: closed flows end after LINGER seconds of quiet, others stay;
the observer sees every update."""

from __future__ import annotations

from tcpinc_tools.capture.expiry import LINGER, ExpiringFlowTable
from tcpinc_tools.capture.flows import FlowUpdate
from tcpinc_tools.capture.packet import TcpPacket

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
C = ("10.0.0.1", 40000)
S = ("10.0.0.2", 443)


def packet(
    number: int,
    ts: float,
    src: tuple[str, int],
    dst: tuple[str, int],
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
) -> TcpPacket:
    return TcpPacket(
        number=number,
        ts=ts,
        ip_version=4,
        src=src[0],
        dst=dst[0],
        sport=src[1],
        dport=dst[1],
        seq=seq,
        ack=ack,
        flags=flags,
        window=1000,
        urgent_pointer=0,
        options=b"",
        payload=payload,
        truncated=False,
        tcp_offset=34,
        frame=b"",
    )


def closed_connection(c: tuple[str, int], t0: float, first: int) -> list[TcpPacket]:
    """SYN, SYN-ACK, ACK, 5 bytes, FIN each way, last ACK: 7 packets, ISNs 100 / 900."""
    return [
        packet(first, t0, c, S, 100, 0, SYN),
        packet(first + 1, t0 + 0.1, S, c, 900, 101, SYN | ACK),
        packet(first + 2, t0 + 0.2, c, S, 101, 901, ACK | PSH, b"hello"),
        packet(first + 3, t0 + 0.3, c, S, 106, 901, FIN | ACK),
        packet(first + 4, t0 + 0.4, S, c, 901, 107, FIN | ACK),
        packet(first + 5, t0 + 0.5, c, S, 107, 902, ACK),
    ]


def test_closed_flow_ends_after_the_linger_only() -> None:
    table = ExpiringFlowTable()
    for pkt in closed_connection(C, 1000.0, 1):
        table.add(pkt)
    assert table.expire(1000.5 + LINGER - 0.01) == []
    assert len(table) == 1
    ended = table.expire(1000.5 + LINGER)
    assert [(u.flow.id, u.direction.value, u.final) for u in ended] == [
        (1, "client_to_server", True),
        (1, "server_to_client", True),
    ]
    assert len(table) == 0 and table.expired == 1
    assert table.expire(5000.0) == []


def test_open_flow_is_never_expired() -> None:
    table = ExpiringFlowTable(linger=1.0)
    for pkt in closed_connection(C, 0.0, 1)[:3]:  # no FIN: still open
        table.add(pkt)
    assert table.expire(10_000.0) == []
    assert len(table) == 1


def test_reset_counts_as_closed() -> None:
    table = ExpiringFlowTable(linger=2.0)
    table.add(packet(1, 0.0, C, S, 100, 0, SYN))
    table.add(packet(2, 0.1, S, C, 0, 101, RST | ACK))
    assert [u.flow.id for u in table.expire(2.1)] == [1, 1]


def test_expire_stops_at_recent_flows_but_ends_every_old_closed_one() -> None:
    table = ExpiringFlowTable(linger=5.0)
    for pkt in closed_connection(("10.0.0.1", 1), 0.0, 1):
        table.add(pkt)
    for pkt in closed_connection(("10.0.0.1", 2), 1.0, 10)[:3]:  # open
        table.add(pkt)
    for pkt in closed_connection(("10.0.0.1", 3), 2.0, 20):
        table.add(pkt)
    for pkt in closed_connection(("10.0.0.1", 4), 9.0, 30):  # recent
        table.add(pkt)
    ended = {u.flow.id for u in table.expire(9.6)}
    assert ended == {1, 3}
    assert sorted(f.id for f in table.flows) == [2, 4]


def test_a_packet_after_expiry_starts_a_new_flow() -> None:
    table = ExpiringFlowTable(linger=1.0)
    for pkt in closed_connection(C, 0.0, 1):
        table.add(pkt)
    table.expire(2.0)
    late = table.add(packet(99, 2.5, C, S, 107, 902, ACK))
    assert late.new_flow and late.flow.id == 2


def test_observer_sees_each_update_and_each_final_one() -> None:
    seen: list[tuple[int, bool, int | None]] = []

    def observe(update: FlowUpdate, pkt: TcpPacket | None) -> None:
        seen.append((update.flow.id, update.final, pkt.number if pkt is not None else None))

    table = ExpiringFlowTable(linger=1.0, observer=observe)
    for pkt in closed_connection(C, 0.0, 1):
        table.add(pkt)
    assert seen == [(1, False, n) for n in range(1, 7)]
    table.expire(5.0)
    table.add(packet(50, 6.0, ("10.0.0.9", 9), S, 1, 0, SYN))
    table.flush()
    assert seen[6:] == [
        (1, True, None),
        (1, True, None),
        (2, False, 50),
        (2, True, None),
        (2, True, None),
    ]
