"""The flow table: who is client, directions, port reuse, resets, eviction, final updates."""

from __future__ import annotations

import io

from tcpinc_tools.capture.flows import Direction, FlowLimits, FlowTable, FlowUpdate
from tcpinc_tools.capture.packet import TcpPacket
from tcpinc_tools.capture.reader import read_packets
from tcpinc_tools.capture.stream import (
    ANOMALY_GAP,
    ANOMALY_ISN_CHANGED,
    ANOMALY_LIMIT,
    ANOMALY_NO_SYN,
    ANOMALY_PORT_REUSE,
)
from tcpinc_tools.capture.writer import CaptureWriter
from tests.unit.capture import handmade as hm

SYN, ACK, FIN, RST, PSH = 0x02, 0x10, 0x01, 0x04, 0x08
C = ("10.0.0.1", 40000)
S = ("10.0.0.2", 443)
C_ISN, S_ISN = 100, 5000
C2S, S2C = Direction.CLIENT_TO_SERVER, Direction.SERVER_TO_CLIENT


class Wire:
    """Builds TcpPackets with increasing frame numbers and times."""

    def __init__(self) -> None:
        self.number = 0

    def __call__(
        self,
        src: tuple[str, int],
        dst: tuple[str, int],
        seq: int,
        ack: int = 0,
        flags: int = ACK,
        payload: bytes = b"",
        options: bytes = b"",
    ) -> TcpPacket:
        self.number += 1
        return TcpPacket(
            number=self.number,
            ts=1700000000 + self.number / 10,
            ip_version=6 if ":" in src[0] else 4,
            src=src[0],
            dst=dst[0],
            sport=src[1],
            dport=dst[1],
            seq=seq % 2**32,
            ack=ack % 2**32,
            flags=flags,
            window=1000,
            urgent_pointer=0,
            options=options,
            payload=payload,
            truncated=False,
            tcp_offset=34,
            frame=b"",
        )


def handshake(
    table: FlowTable, wire: Wire, c: tuple[str, int] = C, s: tuple[str, int] = S
) -> list[FlowUpdate]:
    return [
        table.add(wire(c, s, C_ISN, 0, SYN, options=b"\x45\x02")),
        table.add(wire(s, c, S_ISN, C_ISN + 1, SYN | ACK, options=b"\x45\x03\x21")),
        table.add(wire(c, s, C_ISN + 1, S_ISN + 1, ACK, options=b"\x45\x02")),
    ]


def test_handshake_and_data_in_both_directions() -> None:
    table, wire = FlowTable(), Wire()
    ups = handshake(table, wire)
    assert ups[0].new_flow and not ups[1].new_flow
    assert [u.direction for u in ups] == [C2S, S2C, C2S]
    flow = ups[0].flow
    assert (flow.id, flow.client, flow.server) == (1, C, S)
    up = table.add(wire(C, S, C_ISN + 1, S_ISN + 1, ACK | PSH, b"Init1..."))
    assert (up.direction, up.chunks, up.packet_number) == (C2S, ((0, b"Init1..."),), 4)
    up = table.add(wire(S, C, S_ISN + 1, C_ISN + 9, ACK | PSH, b"Init2"))
    assert (up.direction, up.chunks) == (S2C, ((0, b"Init2"),))
    assert flow.packets == 5
    assert flow.first_ts == 1700000000.1 and flow.last_ts == 1700000000.5
    assert flow.anomalies == []
    assert [s.packet_number for s in flow.c2s.handshake] == [1, 3, 4]
    assert [s.packet_number for s in flow.s2c.handshake] == [2, 5]
    assert flow.s2c.handshake[0].options == b"\x45\x03\x21"
    assert (flow.s2c.handshake[0].seq, flow.s2c.handshake[0].ack) == (S_ISN, C_ISN + 1)
    assert table.flows == [flow] and len(table) == 1
    assert "10.0.0.1:40000 -> 10.0.0.2:443" in repr(flow)


def test_flow_ids_follow_first_packets_and_keys_are_unordered() -> None:
    table, wire = FlowTable(), Wire()
    other = ("10.0.0.3", 1234)
    a = table.add(wire(C, S, 1, flags=SYN)).flow
    b = table.add(wire(other, S, 7, flags=SYN)).flow
    assert table.add(wire(S, C, 9, 2, SYN | ACK)).flow is a
    assert (a.id, b.id) == (1, 2)


def test_client_without_syn_is_the_first_sender() -> None:
    table, wire = FlowTable(), Wire()
    flow = table.add(wire(S, C, 7777, 1, ACK, b"mid-stream")).flow
    assert (flow.client, flow.server) == (S, C)
    assert [a.id for a in flow.anomalies] == [ANOMALY_NO_SYN]


def test_client_is_the_receiver_of_a_first_syn_ack() -> None:
    table, wire = FlowTable(), Wire()
    flow = table.add(wire(S, C, S_ISN, C_ISN + 1, SYN | ACK)).flow
    assert (flow.client, flow.server) == (C, S)
    assert flow.s2c.isn == S_ISN


def test_syn_retransmission_with_the_same_isn_is_the_same_flow() -> None:
    table, wire = FlowTable(), Wire()
    first = table.add(wire(C, S, C_ISN, 0, SYN, options=b"\x45\x02\x21")).flow
    again = table.add(wire(C, S, C_ISN, 0, SYN, options=b"")).flow  # fallback retry
    assert again is first and first.anomalies == []
    assert [s.options for s in first.c2s.handshake] == [b"\x45\x02\x21", b""]


def test_port_reuse_after_a_closed_flow() -> None:
    table, wire = FlowTable(), Wire()
    handshake(table, wire)
    table.add(wire(C, S, C_ISN + 1, S_ISN + 1, ACK | FIN))
    table.add(wire(S, C, S_ISN + 1, C_ISN + 2, ACK | FIN))
    old = table.add(wire(C, S, C_ISN + 2, S_ISN + 2, ACK)).flow
    assert old.closed
    up = table.add(wire(C, S, 900000, 0, SYN))
    assert up.new_flow and up.flow.id == 2 and up.flow is not old
    assert [a.id for a in up.flow.anomalies] == [ANOMALY_PORT_REUSE]
    assert "flow 1 (closed)" in up.flow.anomalies[0].message
    assert [(u.flow, u.direction, u.final) for u in up.ended] == [
        (old, C2S, True),
        (old, S2C, True),
    ]
    assert table.flows == [up.flow]


def test_port_reuse_by_a_new_syn_on_an_open_flow() -> None:
    table, wire = FlowTable(), Wire()
    handshake(table, wire)
    up = table.add(wire(C, S, 777, 0, SYN))
    assert up.new_flow and "never closed" in up.flow.anomalies[0].message


def test_syn_after_mid_stream_data_is_a_new_connection() -> None:
    table, wire = FlowTable(), Wire()
    table.add(wire(C, S, 5, 1, ACK, b"x"))
    up = table.add(wire(C, S, 77, 0, SYN))
    assert up.new_flow and up.flow.id == 2


def test_syn_ack_with_a_different_isn_is_ignored() -> None:
    table, wire = FlowTable(), Wire()
    ups = handshake(table, wire)
    up = table.add(wire(S, C, S_ISN + 12345, C_ISN + 1, SYN | ACK))
    flow = ups[0].flow
    assert up.flow is flow and up.chunks == () and not up.new_flow
    assert [a.id for a in flow.anomalies] == [ANOMALY_ISN_CHANGED]
    assert flow.anomalies[0].direction is S2C
    assert flow.s2c.isn == S_ISN and flow.packets == 4


def test_syn_ack_after_data_in_its_direction_is_ignored() -> None:
    table, wire = FlowTable(), Wire()
    table.add(wire(C, S, C_ISN, 0, SYN))
    table.add(wire(S, C, 4000, C_ISN + 1, ACK, b"early"))
    up = table.add(wire(S, C, 3999, C_ISN + 1, SYN | ACK))
    assert [a.id for a in up.flow.anomalies] == [ANOMALY_NO_SYN, ANOMALY_ISN_CHANGED]
    assert "after data" in up.flow.anomalies[1].message


def test_rst_closes_and_the_next_syn_starts_over() -> None:
    table, wire = FlowTable(), Wire()
    ups = handshake(table, wire)
    table.add(wire(S, C, S_ISN + 1, 0, RST))
    flow = ups[0].flow
    assert flow.closed and flow.s2c.rst is not None and flow.s2c.rst.packet_number == 4
    # The server itself opens the next connection: it becomes that flow's client.
    up = table.add(wire(S, C, 1, 0, SYN))
    assert up.new_flow and up.flow.client == S


def test_refused_connection_then_the_other_side_opens() -> None:
    table, wire = FlowTable(), Wire()
    flow = table.add(wire(C, S, C_ISN, 0, SYN)).flow
    table.add(wire(S, C, 0, C_ISN + 1, RST | ACK))
    assert flow.closed and flow.anomalies == []  # a refusal is not "data without a SYN"
    assert flow.s2c.base_seq is None and flow.s2c.rst is not None
    assert flow.s2c.rst.offset == 0
    up = table.add(wire(S, C, 3, 0, SYN))
    assert up.new_flow and up.flow.client == S
    assert [a.id for a in up.flow.anomalies] == [ANOMALY_PORT_REUSE]


def test_simultaneous_open_keeps_one_flow() -> None:
    table, wire = FlowTable(), Wire()
    a = table.add(wire(C, S, C_ISN, 0, SYN)).flow
    b = table.add(wire(S, C, S_ISN, 0, SYN)).flow
    assert a is b and a.s2c.isn == S_ISN


def test_ack_lets_the_other_direction_give_up_a_gap() -> None:
    table, wire = FlowTable(), Wire()
    handshake(table, wire)
    table.add(wire(C, S, C_ISN + 1, S_ISN + 1, ACK, b"aaaa"))
    table.add(wire(C, S, C_ISN + 9, S_ISN + 1, ACK, b"cccc"))  # bytes 4-8 lost
    table.add(wire(S, C, S_ISN + 1, C_ISN + 13, ACK))  # the server got them all
    up = table.add(wire(C, S, C_ISN + 13, S_ISN + 1, ACK, b"dd"))
    assert b"".join(d for _, d in up.chunks) == b"ccccdd" and up.chunks[0][0] == 8
    gap = up.flow.anomalies[-1]
    assert (gap.id, gap.byte_range, gap.direction) == (ANOMALY_GAP, (4, 8), C2S)


def test_flush_returns_final_updates_by_flow_id() -> None:
    table, wire = FlowTable(), Wire()
    handshake(table, wire)
    other = ("10.0.0.9", 5555)
    handshake(table, wire, c=other)
    table.add(wire(C, S, C_ISN + 5, S_ISN + 1, ACK, b"late"))  # a gap before it
    updates = table.flush()
    assert [(u.flow.id, u.direction, u.final) for u in updates] == [
        (1, C2S, True),
        (1, S2C, True),
        (2, C2S, True),
        (2, S2C, True),
    ]
    assert updates[0].chunks == ((4, b"late"),)
    assert updates[0].packet_number == 7
    assert len(table) == 0 and table.budget.used == 0


def test_eviction_of_the_least_recently_active_flow() -> None:
    table, wire = FlowTable(limits=FlowLimits(max_flows=2)), Wire()
    peers = [(f"10.0.1.{i}", 1000 + i) for i in range(3)]
    first = table.add(wire(peers[0], S, 1, flags=SYN)).flow
    second = table.add(wire(peers[1], S, 1, flags=SYN)).flow
    table.add(wire(peers[0], S, 2, 0, ACK, b"pending"))  # first is now the most recent
    table.add(wire(peers[0], S, 20, 0, ACK, b"later"))  # out of order: buffered
    up = table.add(wire(peers[2], S, 1, flags=SYN))
    assert up.new_flow and len(table) == 2 and table.evicted == 1
    assert {u.flow for u in up.ended} == {second}
    assert [a.id for a in second.anomalies] == [ANOMALY_LIMIT]
    assert "flow table full" in second.anomalies[0].message
    assert set(table.flows) == {first, up.flow}
    up = table.add(wire(peers[1], S, 9, 0, ACK, b"again"))  # the evicted peer comes back
    assert up.new_flow and up.flow.id == 4
    ended = [u for u in up.ended if u.flow is first]
    assert ended[0].chunks == ((18, b"later"),)  # flushed: its gap given up


def test_anomalies_are_capped_per_flow() -> None:
    table, wire = FlowTable(limits=FlowLimits(max_anomalies=3)), Wire()
    handshake(table, wire)
    table.add(wire(C, S, C_ISN + 1, S_ISN + 1, ACK, b"abcdefgh"))
    for _ in range(6):
        table.add(wire(C, S, C_ISN + 1, S_ISN + 1, ACK, b"XXXXXXXX"))
    flow = table.flows[0]
    assert len(flow.anomalies) == 3 and flow.anomalies_suppressed == 3


def test_ipv6_flow_from_a_written_capture() -> None:
    a6, b6 = ("2001:db8::1", 50000), ("2001:db8::2", 80)
    out = io.BytesIO()
    with CaptureWriter(out) as w:
        w.write_tcp(
            1.0, a6[0], b6[0], hm.tcp_segment(a6[0], b6[0], a6[1], b6[1], 2**32 - 2, 0, SYN)
        )
        w.write_tcp(
            2.0, b6[0], a6[0], hm.tcp_segment(b6[0], a6[0], b6[1], a6[1], 9, 2**32 - 1, SYN | ACK)
        )
        w.write_tcp(
            3.0,
            a6[0],
            b6[0],
            hm.tcp_segment(a6[0], b6[0], a6[1], b6[1], 2**32 - 1, 10, ACK, b"wrap"),
        )
        w.write_tcp(
            4.0, a6[0], b6[0], hm.tcp_segment(a6[0], b6[0], a6[1], b6[1], 3, 10, ACK, b"ped")
        )
    table = FlowTable()
    chunks: list[tuple[int, bytes]] = []
    for pkt in read_packets(io.BytesIO(out.getvalue())):
        chunks += table.add(pkt).chunks
    assert chunks == [(0, b"wrap"), (4, b"ped")]
    (flow,) = table.flows
    assert (flow.client, flow.server) == (a6, b6)
