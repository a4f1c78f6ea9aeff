"""LiveAnalyzer: snapshots of connections in progress that change nothing in the analysis,
and what a detail view needs beyond the result (handshake, Init messages, rekeys, the
start of the decrypted conversation)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from tcpinc_tools.analysis.live import HANDSHAKE_LIMIT, FlowSnapshot, LiveAnalyzer
from tcpinc_tools.analysis.streaming import analyze_streaming
from tcpinc_tools.capture.expiry import LINGER
from tcpinc_tools.capture.reader import read_packets
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.wire.constants import TcpFlag
from tests.unit.analysis.builder import fresh_rfc

CAPTURES = Path(__file__).resolve().parents[3] / "captures"


def paths(name: str) -> tuple[Path, KeyLog]:
    path = CAPTURES / f"{name}.pcap"
    return path, KeyLog.load(path.with_suffix(".keys"))


def live(
    name: str, *, every: int = 1, **kw: object
) -> tuple[list[list[FlowSnapshot]], list[FlowSnapshot]]:
    """Snapshots taken every ``every`` packets, and the final ones."""
    path, keylog = paths(name)
    analyzer = LiveAnalyzer(keylog, **kw)  # type: ignore[arg-type]
    taken = []
    for count, pkt in enumerate(read_packets(path), start=1):
        analyzer.feed(pkt)
        if count % every == 0:
            taken.append(analyzer.snapshots())
    final, _ = analyzer.close()
    taken.append(final)
    return taken, final


def latest(taken: list[list[FlowSnapshot]]) -> dict[int, FlowSnapshot]:
    out: dict[int, FlowSnapshot] = {}
    for batch in taken:
        for snap in batch:
            out[snap.id] = snap
    return out


@pytest.mark.parametrize(
    "name", ["resume", "many-16", "rekey", "lossy", "attack-bad-tag", "fallback-stripped-synack"]
)
def test_snapshots_after_every_packet_change_nothing(name: str) -> None:
    path, keylog = paths(name)
    expected = analyze_streaming(path, keylog=keylog).flows
    taken, _ = live(name)
    final = latest(taken)
    assert [final[f.id].result for f in expected] == expected
    assert not any(s.active for s in final.values())


def test_status_grows_from_incomplete_to_encrypted() -> None:
    taken, _ = live("resume")
    first = [batch[0] for batch in taken if batch and batch[0].id == 1]
    statuses = [s.result.eno.status if s.result.eno else None for s in first]
    # SYN alone: incomplete; SYN-ACK and the client's ACK with ENO: encrypted (RFC 8547 §4.6).
    assert statuses[:3] == ["incomplete", "incomplete", "encrypted"]
    assert all(s.active for s in first[:-1]) and not first[-1].active
    decrypted = [bool(s.result.tcpcrypt and s.result.tcpcrypt.decrypted) for s in first]
    assert decrypted.index(True) > 2  # once a frame went by after the Init messages


def test_only_changed_connections_are_given() -> None:
    path, keylog = paths("many-16")
    analyzer = LiveAnalyzer(keylog)
    for pkt in read_packets(path):
        analyzer.feed(pkt)
        ids = [s.id for s in analyzer.snapshots()]
        assert len(ids) <= 1  # one packet touches one connection
    assert analyzer.snapshots() == []


def test_detail_of_the_fresh_session() -> None:
    _, final = live("resume")
    snap = next(s for s in final if s.id == 1)
    kinds = [(p.direction, p.flags & (TcpFlag.SYN | TcpFlag.ACK)) for p in snap.handshake]
    assert kinds == [
        ("client_to_server", TcpFlag.SYN),
        ("server_to_client", TcpFlag.SYN | TcpFlag.ACK),
        ("client_to_server", TcpFlag.ACK),
        ("server_to_client", TcpFlag.ACK),
    ]
    # The key log names this session by the N_A of its Init1.
    lines = (CAPTURES / "resume.keys").read_text().splitlines()
    n_a = next(line.split()[1] for line in lines if line.startswith("TCPCRYPT_SS_INIT1"))
    assert snap.init1 is not None and snap.init1.n_a.hex() == n_a
    assert snap.init2 is not None and len(snap.init2.n_b) == 32
    text = b"".join(p.data for p in snap.conversation if p.direction == "client_to_server")
    assert text.startswith(b"GET /resume/0-fresh HTTP/1.1\r\n")
    answer = b"".join(p.data for p in snap.conversation if p.direction == "server_to_client")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
    assert snap.conversation_cut == (0, 0)
    assert len(snap.handshake) <= HANDSHAKE_LIMIT


def test_resumed_sessions_have_no_init_messages() -> None:
    _, final = live("resume")
    for snap in final:
        if snap.id != 1:
            assert snap.init1 is None and snap.init2 is None
            assert snap.result.tcpcrypt is not None and snap.result.tcpcrypt.resumed


def test_rekeys_are_listed() -> None:
    _, final = live("rekey")
    snap = final[0]
    assert snap.result.tcpcrypt is not None and snap.result.tcpcrypt.rekeys == 2
    assert sorted((r.direction, r.generation) for r in snap.rekeys) == [
        ("client_to_server", 1),
        ("client_to_server", 2),
        ("server_to_client", 1),
        ("server_to_client", 2),
    ]


def test_conversation_limit_counts_the_rest() -> None:
    path, keylog = paths("resume")
    whole = analyze_streaming(path, keylog=keylog, payload=True).flows[0].tcpcrypt
    assert whole is not None and whole.plaintext_a_to_b and whole.plaintext_b_to_a
    _, final = live("resume", conversation_limit=10)
    snap = next(s for s in final if s.id == 1)
    sent = b"".join(p.data for p in snap.conversation if p.direction == "client_to_server")
    got = b"".join(p.data for p in snap.conversation if p.direction == "server_to_client")
    assert sent == whole.plaintext_a_to_b[:10] and got == whole.plaintext_b_to_a[:10]
    assert snap.conversation_cut == (
        len(whole.plaintext_a_to_b) - 10,
        len(whole.plaintext_b_to_a) - 10,
    )


def test_no_conversation_without_the_key_log() -> None:
    path, _ = paths("resume")
    analyzer = LiveAnalyzer(None)
    for pkt in read_packets(path):
        analyzer.feed(pkt)
    final, result = analyzer.close()
    assert all(s.conversation == () for s in final)
    assert result.flows and not result.findings


def test_a_connection_that_ended_keeps_its_init_messages() -> None:
    cap, _, sess = fresh_rfc()
    cap.t += LINGER + 10
    fresh_rfc(cap=cap, conn_kw={"client": ("10.0.0.1", 40001)}, seed=2)
    analyzer = LiveAnalyzer(KeyLog.parse(sess.keylog()))
    ended = []
    for pkt in read_packets(io.BytesIO(cap.pcap())):
        analyzer.feed(pkt)
        ended += [s for s in analyzer.snapshots() if not s.active]
    assert [s.id for s in ended] == [1]  # expired while the second was read
    assert ended[0].init1 is not None and ended[0].init2 is not None
