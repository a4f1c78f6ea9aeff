"""Traffic made by the protocol stack (protocol/: TCP + ENO + tcpcrypt over the in-memory link
of the protocol tests), captured and analyzed: what the analyzer reports must match what the
two endpoints themselves negotiated, derived and exchanged."""

from __future__ import annotations

import io

import pytest

from tcpinc_tools.analysis import analyze_capture
from tcpinc_tools.analysis.model import AnalysisResult
from tcpinc_tools.capture.writer import CaptureWriter
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.protocol.connection import TcpincConfig
from tcpinc_tools.protocol.resumption import ResumptionCache
from tcpinc_tools.protocol.segment import encode_tcp_header
from tcpinc_tools.protocol.tcpcrypt import TcpcryptConfig
from tcpinc_tools.wire.constants import AeadId
from tests.unit.protocol.tcpcrypt_helpers import MemoryKeyLog
from tests.unit.protocol.tcpinc_pair import Pair, config, make_pair

CLIENT_IP, SERVER_IP = "192.0.2.10", "192.0.2.20"


def capture(pairs: list[tuple[Pair, bool]]) -> bytes:
    """Every transmission of the pairs' links as a pcap (``True``: ``a`` runs on the server
    host), one connection after the other."""
    out = io.BytesIO()
    t0 = 1_700_000_000.0
    with CaptureWriter(out) as writer:
        for index, (pair, swapped) in enumerate(pairs):
            host_a, host_b = (SERVER_IP, CLIENT_IP) if swapped else (CLIENT_IP, SERVER_IP)
            for t in pair.link.trace:
                if t.fate != "sent":
                    continue
                src, dst = (host_a, host_b) if t.sender == "a" else (host_b, host_a)
                tcp = encode_tcp_header(
                    t.segment,
                    bytes(map(int, src.split("."))),
                    bytes(map(int, dst.split("."))),
                )
                for _ in range(t.copies):
                    writer.write_tcp(t0 + 100 * index + t.time, src, dst, tcp)
    return out.getvalue()


def cfg(dialect: str, tep: int, aead: AeadId) -> TcpincConfig:
    return config(
        dialect=dialect, tcpcrypt=TcpcryptConfig(teps=(tep,), aconf=(aead,), bconf=(aead,))
    )


def converse(pair: Pair, request: bytes, response: bytes, *, rekey: bool = False) -> None:
    pair.open()
    pair.a.send(request)
    pair.run_until_received("b", request)
    if rekey:
        pair.a.rekey()
    pair.b.send(response)
    pair.run_until_received("a", response)
    pair.close_both()


def analyzed(pairs: list[tuple[Pair, bool]], log: MemoryKeyLog) -> AnalysisResult:
    text = log.buffer.getvalue()
    return analyze_capture(io.BytesIO(capture(pairs)), keylog=KeyLog.parse(text), payload=True)


@pytest.mark.parametrize(
    ("dialect", "tep", "aead"),
    [
        ("rfc", 0x23, AeadId.AEAD_AES_128_GCM),
        ("rfc", 0x21, AeadId.AEAD_CHACHA20_POLY1305),
        ("rfc", 0x24, AeadId.AEAD_AES_256_GCM),
        ("legacy", 0x21, AeadId.AEAD_AES_128_GCM),
    ],
)
def test_fresh_sessions_and_resumptions_from_the_stack(
    dialect: str, tep: int, aead: AeadId
) -> None:
    log = MemoryKeyLog()
    cache_c, cache_s = ResumptionCache(), ResumptionCache()
    pairs: list[tuple[Pair, bool]] = []
    expected = []
    for i, swap in enumerate((False, False, True)):
        caches = (cache_s, cache_c) if swap else (cache_c, cache_s)
        pair = make_pair(
            config_a=cfg(dialect, tep, aead),
            config_b=cfg(dialect, tep, aead),
            cache_a=caches[0],
            cache_b=caches[1],
            keylog_a=log.writer,
            swap_hosts=swap,
            seed=10 * i + 1,
        )
        request, response = b"request %d" % i, b"response %d" % i
        converse(pair, request, response, rekey=i == 1)
        assert pair.a.resumed is (i > 0)
        pairs.append((pair, swap))
        expected.append((pair.a.session_id, request, response, pair.a.resumed))
    result = analyzed(pairs, log)
    assert len(result.flows) == 3
    for flow, (session_id, request, response, resumed) in zip(result.flows, expected, strict=True):
        eno, tc = flow.eno, flow.tcpcrypt
        assert eno is not None and eno.status == "encrypted" and eno.dialect == dialect
        assert tc is not None and tc.resumed is resumed and tc.decrypted
        assert tc.session_id == session_id
        assert tc.aead == aead.name
        assert tc.plaintext_a_to_b == request and tc.plaintext_b_to_a == response
        assert tc.fin_authenticated is True and tc.decrypt_failures == 0
        bad = [
            f
            for f in flow.findings
            if f.severity.value in ("warn", "error") and f.id != "tcpeno.legacy_kind"
        ]
        assert not bad, bad
    assert result.flows[1].tcpcrypt is not None and result.flows[1].tcpcrypt.rekeys == 1
    # The stack's own reading of the frame offsets (DIGEST.md §2.12; LEGACY.md).
    readings = {flow.tcpcrypt.offset_reading for flow in result.flows if flow.tcpcrypt}
    assert readings == ({"stream"} if dialect == "rfc" else {"after_init", "stream"})


def test_lossy_link_traffic_decrypts() -> None:
    log = MemoryKeyLog()
    aead = AeadId.AEAD_AES_128_GCM
    pair = make_pair(
        config_a=cfg("rfc", 0x23, aead),
        config_b=cfg("rfc", 0x23, aead),
        keylog_a=log.writer,
        seed=5,
        loss=0.1,
        duplicate=0.1,
        reorder=0.2,
    )
    request = bytes(range(256)) * 40
    converse(pair, request, b"done")
    flow = analyzed([(pair, False)], log).flows[0]
    tc = flow.tcpcrypt
    assert tc is not None and tc.plaintext_a_to_b == request and tc.plaintext_b_to_a == b"done"
    assert tc.session_id == pair.a.session_id and tc.fin_authenticated is True
