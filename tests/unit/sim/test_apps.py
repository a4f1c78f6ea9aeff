"""The HTTP applications and the scripted peer's fixed ENO option."""

from __future__ import annotations

import pytest

from tcpinc_tools.errors import DecodeError, LocalProtocolError
from tcpinc_tools.protocol.events import ConnectionAborted, DataReceived, EndOfStream, FellBack
from tcpinc_tools.protocol.segment import TcpFlags
from tcpinc_tools.protocol.tcp import TcpConnection
from tcpinc_tools.sim.apps import (
    App,
    HttpServer,
    PlainSocket,
    http_request,
    http_response,
    request_complete,
)
from tcpinc_tools.sim.peers import FixedSynOption

from .helpers import segment


def test_http_request_and_response_texts() -> None:
    assert http_request("/a", "server.example") == (
        b"GET /a HTTP/1.1\r\nHost: server.example\r\nUser-Agent: tcpinc-gen\r\n"
        b"Connection: close\r\n\r\n"
    )
    post = http_request("/up", "h", method="POST", body=b"12345")
    assert post.startswith(b"POST /up HTTP/1.1\r\n") and b"Content-Length: 5\r\n" in post
    assert post.endswith(b"\r\n\r\n12345")
    assert http_response(b"hi") == (
        b"HTTP/1.1 200 OK\r\nServer: tcpinc-gen\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\nhi"
    )


def test_request_complete_counts_the_body() -> None:
    post = http_request("/up", "h", method="POST", body=b"12345")
    assert request_complete(post) and not request_complete(post[:-1])
    assert not request_complete(b"GET / HTTP/1.1\r\nHost: h\r\n")
    assert request_complete(b"GET / HTTP/1.1\r\n\r\n")


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes, bool]] = []

    def send(self, data: bytes, *, urgent: bool = False) -> None:
        self.calls.append(("send", data, urgent))

    def close(self) -> None:
        self.calls.append(("close", b"", False))

    def abort(self) -> None:
        self.calls.append(("abort", b"", False))

    def rekey(self) -> None:
        self.calls.append(("rekey", b"", False))


def test_server_answers_once_then_closes_once() -> None:
    sock = Recorder()
    server = HttpServer(b"RESPONSE")
    server.bind(sock)
    server.on_event(DataReceived(b"GET / HTTP/1.1\r\n"), 0.0)
    assert sock.calls == []
    server.on_event(DataReceived(b"\r\n"), 0.0)
    server.on_event(DataReceived(b"more"), 0.0)
    server.on_event(EndOfStream(), 0.0)  # the client's close: we closed already
    assert sock.calls == [("send", b"RESPONSE", False), ("close", b"", False)]
    server.on_event(FellBack("tcpeno.fallback.no_eno"), 0.0)
    server.on_event(ConnectionAborted("connection reset by peer"), 0.0)
    assert server.fallback == "tcpeno.fallback.no_eno" and server.done
    server.abort()  # after the end: nothing more
    assert len(sock.calls) == 2


def test_unbound_app_and_plain_rekey() -> None:
    with pytest.raises(LocalProtocolError):
        _ = App().sock
    tcp = TcpConnection(local_port=1, remote_port=2, random_bytes=bytes)
    with pytest.raises(LocalProtocolError):
        PlainSocket(tcp).rekey()


def test_fixed_syn_option() -> None:
    hook = FixedSynOption(bytes.fromhex("45040121"))
    assert hook.options_for(TcpFlags.SYN | TcpFlags.ACK) == bytes.fromhex("45040121")
    assert hook.options_for(TcpFlags.SYN) == bytes.fromhex("45040121")
    assert hook.options_for(TcpFlags.ACK) == b""
    hook.on_segment(segment(TcpFlags.SYN, options=b"\x45\x03\x23\x00"), 0.0)
    hook.on_segment(segment(TcpFlags.SYN, options=b"\x01\x01\x01\x01"), 0.0)
    assert hook.peer_syn_options == b"\x45\x03\x23\x00"
    with pytest.raises(DecodeError):
        FixedSynOption(bytes.fromhex("4505018023"))  # RFC 8547 §4.4: ill-formed
