"""The socket-shaped API (connect, listen/accept, send, recv, close) and the
draft-ietf-tcpinc-api-06 accessors, both ends checked against each other."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from tcpinc_tools.endpoint import ConnectionFailed, EndpointSettings, connect, listen
from tcpinc_tools.endpoint.lab import Proc
from tcpinc_tools.endpoint.linux import netns_command
from tcpinc_tools.endpoint.netns import NetnsPair
from tcpinc_tools.errors import NoSessionError
from tcpinc_tools.wire.constants import TepId
from tcpinc_tools.wire.eno import Role

from .conftest import NEEDS_ROOT

pytestmark = NEEDS_ROOT


def test_connect_accept_and_the_accessors(pair: NetnsPair) -> None:
    seen: dict[str, Any] = {}
    listener = listen(7, iface=pair.veth_b, addr=pair.addr_b, netns=pair.b)

    def serve() -> None:
        with listener:
            conn = listener.accept(timeout=10)
            seen.update(
                session_id=conn.session_id,
                role=conn.role,
                self_name=conn.self_name,
                peer_name=conn.peer_name,
                tep=conn.negotiated_tep,
                transcript=conn.transcript,
            )
            data = conn.recv(100, timeout=10)
            conn.send(data.upper())
            conn.close(wait=True, timeout=10)

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        config = EndpointSettings(teps=(TepId.TCPCRYPT_ECDHE_P256,)).config()
        with connect(
            (pair.addr_b, 7), iface=pair.veth_a, addr=pair.addr_a, netns=pair.a, config=config
        ) as sock:
            assert sock.role is Role.A
            assert sock.negotiated_tep == TepId.TCPCRYPT_ECDHE_P256
            assert len(sock.session_id) == 33 and sock.session_id[0] == 0x21
            # api-06: SELF_NAME = role byte | session ID; PEER_NAME negates the role byte.
            assert sock.self_name == b"\x00" + sock.session_id
            assert sock.peer_name == b"\x01" + sock.session_id
            transcript = sock.transcript
            sock.sendall(b"shout this")
            assert sock.recv(100, timeout=10) == b"SHOUT THIS"
            assert sock.recv(100, timeout=10) == b""  # the authenticated end (FINp)
    finally:
        thread.join(20)
    assert seen["role"] is Role.B
    assert seen["session_id"] == sock.session_id
    assert seen["self_name"] == sock.peer_name and seen["peer_name"] == sock.self_name
    assert seen["tep"] == TepId.TCPCRYPT_ECDHE_P256
    # RFC 8547 §4.8: A's SYN option, then B's.
    assert seen["transcript"] == transcript
    assert transcript is not None and transcript.startswith(bytes.fromhex("450321"))
    assert transcript.endswith(bytes.fromhex("45040121"))


def test_no_session_id_after_a_fallback(kernel_b_pair: NetnsPair) -> None:
    """RFC 8547 §5.1: the session ID accessor is an error when there is none."""
    pair = kernel_b_pair
    server = subprocess_echo(pair)
    try:
        with connect((pair.addr_b, 7), iface=pair.veth_a, addr=pair.addr_a, netns=pair.a) as sock:
            assert sock.outcome == "fallback"
            with pytest.raises(NoSessionError):
                _ = sock.session_id
            assert sock.role is None and sock.transcript is None
            sock.sendall(b"plain")
            sock.close()
            assert sock.recv(100, timeout=10) == b"plain"
    finally:
        server.stop()


def test_mandatory_encryption_refuses_a_plain_peer(kernel_b_pair: NetnsPair) -> None:
    pair = kernel_b_pair
    server = subprocess_echo(pair)
    try:
        config = EndpointSettings(require_encryption=True).config()
        with pytest.raises(ConnectionFailed) as info:
            connect(
                (pair.addr_b, 7),
                iface=pair.veth_a,
                addr=pair.addr_a,
                netns=pair.a,
                config=config,
            )
        assert info.value.reason == "tcpeno.fallback.no_eno"
    finally:
        server.stop()


def subprocess_echo(pair: NetnsPair) -> Proc:
    """A kernel echo server on side b (the kernel owns its address there)."""
    argv = [sys.executable, "-m", "tcpinc_tools.endpoint.kernel_peer", "serve"]
    argv += ["--addr", pair.addr_b, "--port", "7"]
    proc = Proc("kernel-echo", netns_command(pair.b, argv))
    proc.wait_line("listening on")
    return proc
