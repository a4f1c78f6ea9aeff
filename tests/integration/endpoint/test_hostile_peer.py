"""A hostile peer against `tcpinc endpoint listen`: each kind of misbehaviour makes the
endpoint abort that connection with its own reason, the endpoint keeps serving the next
client, and it never sends plaintext once encryption was enabled.

The hostile peer is our own Host (in namespace a, driven in this process) with a
tx_filter that sabotages one segment: the SYN's ENO option, Init1's magic or public key,
a frame's tag; or it sends a TCP FIN with no FINp frame before it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest

from tcpinc_tools.endpoint import EndpointSettings, Host, TcpincSocket
from tcpinc_tools.endpoint.lab import Proc
from tcpinc_tools.endpoint.netns import NetnsPair
from tcpinc_tools.protocol.segment import Segment
from tcpinc_tools.wire.constants import INIT1_MAGIC, TepId

from .conftest import NEEDS_ROOT
from .support import Saboteur, endpoint, replace_eno, set_payload

pytestmark = NEEDS_ROOT

PORT = 7
MARKER = b"SECRET-MARKER-"
X25519, P256 = TepId.TCPCRYPT_ECDHE_Curve25519, TepId.TCPCRYPT_ECDHE_P256
# RFC 8548 §4.1: Init1 = magic (4) | message_len (4) | nciphers (1) | 2 x 3 AEAD ids (our
# default offers three) | N_A (32) | Pub_A; P-256 keys carry a 2-byte pubkey_len first.
PUB_X25519 = 4 + 4 + 1 + 2 * 3 + 32
PUB_P256 = PUB_X25519 + 2


@pytest.fixture(scope="module")
def lab() -> Iterator[tuple[NetnsPair, Proc]]:
    """One listener (mandatory encryption, echo) for the whole module, in namespace b."""
    with NetnsPair() as pair:
        server = endpoint(pair, "b", "listen", "--port", str(PORT), "--require-encryption")
        try:
            server.wait_line("listening on")
            yield pair, server
        finally:
            server.stop()
        assert server.popen.returncode == 143  # SIGTERM, after its clean-up


class Hostile:
    """The scripted peer: a host in namespace a whose segments a Saboteur may change."""

    def __init__(self, pair: NetnsPair, tep: int) -> None:
        config = EndpointSettings(teps=(tep,)).config()
        self.pair = pair
        self.host = Host.open(pair.veth_a, pair.addr_a, netns=pair.a, config=config)
        self.saboteur = Saboteur()
        self.host.tx_filter = self.saboteur
        self.received: list[Segment] = []
        self.host.rx_tap = lambda _src, seg: self.received.append(seg)

    def open(self) -> TcpincSocket:
        return self.host.open_connection((self.pair.addr_b, PORT))

    def from_server(self, sock: TcpincSocket) -> list[Segment]:
        return [s for s in self.received if s.dst_port == sock.local[1]]

    def close(self) -> None:
        self.host.close()


def _server_report(server: Proc, sock: TcpincSocket, since: int) -> dict[str, str]:
    """The server's report line for this connection. Only lines printed since the socket
    was opened count: an ephemeral port can repeat one of an earlier case's connection."""
    peer = f"{sock.local[0]}:{sock.local[1]}"
    line = server.wait_line(f"peer={peer} ", timeout=10, since=since)
    fields = dict(part.split("=", 1) for part in line.split())
    return fields


def _is_init1(seg: Segment) -> bool:
    return seg.payload[:4] == INIT1_MAGIC.to_bytes(4, "big")


def _finish(host: Host, sock: TcpincSocket) -> None:
    assert host.run_until(lambda: sock.finished, 10), sock


def _still_serving(pair: NetnsPair, server: Proc) -> None:
    """A well-behaved client right after: encrypted, echo intact."""
    since = len(server.lines)
    with Host.open(pair.veth_a, pair.addr_a, netns=pair.a) as host:
        sock = host.connect((pair.addr_b, PORT))
        assert sock.encrypted
        sock.send(b"well-behaved")
        sock.close()
        assert sock.recv_until_eof(timeout=10) == b"well-behaved"
        _finish(host, sock)
    assert _server_report(server, sock, since)["outcome"] == "encrypted"
    assert server.popen.poll() is None


def _no_plaintext(segments: list[Segment]) -> None:
    for seg in segments:
        assert MARKER not in seg.payload, seg.describe()


def _run_case(
    lab: tuple[NetnsPair, Proc],
    tep: int,
    prepare: Callable[[Hostile, TcpincSocket], None],
    reason: str,
) -> None:
    pair, server = lab
    hostile = Hostile(pair, tep)
    since = len(server.lines)
    try:
        sock = hostile.open()
        prepare(hostile, sock)
        _finish(hostile.host, sock)
        report = _server_report(server, sock, since)
        assert report["outcome"] == "aborted"
        assert report["reason"] == reason
        # RFC 8548 §3.3: "abort" is TCP's ABORT: the endpoint sent a RST.
        segments = hostile.from_server(sock)
        assert segments and segments[-1].is_rst
        assert sock.abort_reason == "connection reset by peer"
        _no_plaintext(segments)
    finally:
        hostile.close()
    _still_serving(pair, server)


def test_ill_formed_eno_option(lab: tuple[NetnsPair, Proc]) -> None:
    # RFC 8547 §4.4: a length byte (0x81: two data bytes) followed by a non-TEP byte makes
    # the option ill-formed: ENO falls back, which mandatory encryption turns into an abort.
    pair, server = lab
    hostile = Hostile(pair, X25519)
    hostile.saboteur.arm(
        lambda seg: seg.is_syn,
        lambda seg: replace(seg, options=replace_eno(seg.options, bytes.fromhex("450381"))),
    )
    since = len(server.lines)
    try:
        sock = hostile.open()
        _finish(hostile.host, sock)
        report = _server_report(server, sock, since)
        assert report["outcome"] == "aborted"
        assert report["reason"] == "tcpeno.fallback.ill_formed"
        segments = hostile.from_server(sock)
        assert [s.is_rst for s in segments] == [True]
    finally:
        hostile.close()
    _still_serving(pair, server)


def test_bad_init1_magic(lab: tuple[NetnsPair, Proc]) -> None:
    def prepare(hostile: Hostile, sock: TcpincSocket) -> None:
        hostile.saboteur.arm(_is_init1, lambda seg: set_payload(seg, 0, b"\x15\x10\x1a\x0f"))

    _run_case(lab, X25519, prepare, "tcpcrypt.init1.bad_magic")


def test_invalid_p256_public_key(lab: tuple[NetnsPair, Proc]) -> None:
    # An x-coordinate of 2^256 - 1 is above the P-256 prime: no point has it.
    def prepare(hostile: Hostile, sock: TcpincSocket) -> None:
        bad_x = b"\xff" * 32
        hostile.saboteur.arm(_is_init1, lambda seg: set_payload(seg, PUB_P256 + 1, bad_x))

    _run_case(lab, P256, prepare, "tcpcrypt.invalid_public_key")


def test_all_zero_x25519_key(lab: tuple[NetnsPair, Proc]) -> None:
    # RFC 8548 §5: X25519 with the all-zero point gives an all-zero ES, which must abort.
    def prepare(hostile: Hostile, sock: TcpincSocket) -> None:
        hostile.saboteur.arm(_is_init1, lambda seg: set_payload(seg, PUB_X25519, bytes(32)))

    _run_case(lab, X25519, prepare, "tcpcrypt.invalid_public_key")


def _encrypted_echo(hostile: Hostile, sock: TcpincSocket) -> None:
    """Wait for the keys, exchange one marker frame each way (it must come back)."""
    assert hostile.host.run_until(lambda: sock.encrypted, 10)
    sock.write(MARKER + b"1")
    assert sock.recv(timeout=10) == MARKER + b"1"


def test_bad_frame_tag(lab: tuple[NetnsPair, Proc]) -> None:
    def prepare(hostile: Hostile, sock: TcpincSocket) -> None:
        _encrypted_echo(hostile, sock)

        def flip_last(seg: Segment) -> Segment:
            return set_payload(seg, len(seg.payload) - 1, bytes([seg.payload[-1] ^ 0x01]))

        hostile.saboteur.arm(lambda seg: bool(seg.payload), flip_last)
        sock.write(MARKER + b"2")

    _run_case(lab, X25519, prepare, "tcpcrypt.tag_failure")


def test_fin_without_finp(lab: tuple[NetnsPair, Proc]) -> None:
    def prepare(hostile: Hostile, sock: TcpincSocket) -> None:
        _encrypted_echo(hostile, sock)
        # Behind tcpcrypt's back: TCP's FIN with no FINp frame (RFC 8548 §3.7).
        sock.conn.tcp.close()
        hostile.host.touch(sock)

    _run_case(lab, X25519, prepare, "tcpcrypt.fin_without_finp")


def test_fallback_without_mandatory_encryption(pair: NetnsPair) -> None:
    """Without --require-encryption the ill-formed option is a fallback, not an abort."""
    server = endpoint(pair, "b", "listen", "--port", str(PORT), "--count", "1")
    try:
        server.wait_line("listening on")
        hostile = Hostile(pair, X25519)
        hostile.saboteur.arm(
            lambda seg: seg.is_syn,
            lambda seg: replace(seg, options=replace_eno(seg.options, bytes.fromhex("450381"))),
        )
        since = len(server.lines)
        try:
            sock = hostile.host.connect((pair.addr_b, PORT))
            assert sock.outcome == "fallback"
            assert sock.reason == "tcpeno.fallback.no_eno"  # B answered without ENO
            sock.send(b"plain after fallback")
            sock.close()
            assert sock.recv_until_eof(timeout=10) == b"plain after fallback"
        finally:
            hostile.close()
        report = _server_report(server, sock, since)
        assert report["outcome"] == "fallback"
        assert report["reason"] == "tcpeno.fallback.ill_formed"
        assert server.wait(10) == 0
    finally:
        server.stop()
