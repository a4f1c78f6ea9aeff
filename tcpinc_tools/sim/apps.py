"""The applications on the ends of simulated connections: a small HTTP/1.1 client and server.

Every scenario carries recognisable data (an HTTP request and its response), so that a
decrypted capture shows HTTP. An :class:`App` drives one end through a :class:`Socket`
(what a :class:`~tcpinc_tools.protocol.connection.TcpincConnection` offers, or plain TCP
through :class:`PlainSocket`) and hears the end's events. The driver calls:

    on_start(now)          right after connect() / listen()
    on_event(event, now)   for each event of the end, in order
    on_timer(now)          at ``timer`` (None: no timer), which the app sets itself

``done`` tells the driver the application has nothing more to do.
"""

from __future__ import annotations

from typing import Final, Protocol

from ..errors import LocalProtocolError
from ..protocol.events import (
    ConnectionAborted,
    ConnectionClosed,
    DataReceived,
    EncryptionEnabled,
    EndOfStream,
    Event,
    FellBack,
)
from ..protocol.tcp import TcpConnection

__all__ = [
    "App",
    "HttpClient",
    "HttpServer",
    "PlainSocket",
    "Socket",
    "http_request",
    "http_response",
    "request_complete",
]

USER_AGENT: Final = "tcpinc-gen"
_HEADER_END: Final = b"\r\n\r\n"


class Socket(Protocol):
    """The application calls on one end (TcpincConnection has exactly these)."""

    def send(self, data: bytes, *, urgent: bool = False) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...

    def rekey(self) -> None: ...


class PlainSocket:
    """:class:`Socket` calls on a bare :class:`TcpConnection` (scripted peers, no TEP)."""

    def __init__(self, tcp: TcpConnection) -> None:
        self.tcp = tcp

    def send(self, data: bytes, *, urgent: bool = False) -> None:
        if urgent:
            self.tcp.send_urgent(data)
        else:
            self.tcp.send(data)

    def close(self) -> None:
        self.tcp.close()

    def abort(self) -> None:
        self.tcp.abort()

    def rekey(self) -> None:
        raise LocalProtocolError("plain TCP has no keys to update")


# RFC 9112 §3 (request line) and §2.1 (CRLF line ends, an empty line before the body).
def http_request(
    path: str, host: str, *, method: str = "GET", body: bytes = b"", extra: str = ""
) -> bytes:
    """An HTTP/1.1 request (RFC 9112 §3) that asks the server to close afterwards."""
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {USER_AGENT}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\n"
    head += f"{extra}Connection: close\r\n\r\n"
    return head.encode("ascii") + body


# RFC 9112 §4 (status line); RFC 9110 §8.6 Content-Length, §7.6.1 Connection: close.
def http_response(
    body: bytes, *, content_type: str = "text/plain", status: str = "200 OK"
) -> bytes:
    """An HTTP/1.1 response (RFC 9112 §4) with a Content-Length and Connection: close."""
    head = (
        f"HTTP/1.1 {status}\r\nServer: {USER_AGENT}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


# RFC 9112 §6.3: with no Transfer-Encoding, Content-Length gives the body length (0 if absent).
def request_complete(data: bytes) -> bool:
    """Whether ``data`` holds a whole request: the header block and its Content-Length."""
    end = data.find(_HEADER_END)
    if end < 0:
        return False
    length = 0
    for line in data[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    return len(data) >= end + len(_HEADER_END) + length


class App:
    """Base application: keeps what arrived and how the connection ended."""

    def __init__(self) -> None:
        self._sock: Socket | None = None
        self.received = bytearray()
        self.timer: float | None = None
        self.eof = False
        self.closed = False  # we called close() (or abort())
        self.encrypted = False
        self.fallback: str | None = None
        self.ended: str | None = None  # "closed", or the abort reason

    # -- driver side ---------------------------------------------------------------------
    def bind(self, sock: Socket) -> None:
        self._sock = sock

    @property
    def sock(self) -> Socket:
        if self._sock is None:
            raise LocalProtocolError("the application is not bound to a connection")
        return self._sock

    @property
    def done(self) -> bool:
        return self.ended is not None

    def on_start(self, now: float) -> None:
        """Right after connect() or listen()."""

    def on_event(self, event: Event, now: float) -> None:
        if isinstance(event, DataReceived):
            self.received += event.data
            self.on_data(now)
        elif isinstance(event, EndOfStream):
            self.eof = True
            self.on_eof(now)
        elif isinstance(event, EncryptionEnabled):
            self.encrypted = True
            self.on_encrypted(now)
        elif isinstance(event, FellBack):
            self.fallback = event.reason
        elif isinstance(event, ConnectionClosed):
            self.ended = "closed"
        elif isinstance(event, ConnectionAborted):
            self.ended = event.reason

    def on_timer(self, now: float) -> None:
        self.timer = None

    # -- application side ----------------------------------------------------------------
    def on_data(self, now: float) -> None:
        """New bytes in ``received``."""

    def on_eof(self, now: float) -> None:
        """The peer will send no more: close our side too (a clean close)."""
        self.close()

    def on_encrypted(self, now: float) -> None:
        """tcpcrypt keys are ready."""

    def close(self) -> None:
        if not self.closed and self.ended is None:
            self.closed = True
            self.sock.close()

    def abort(self) -> None:
        if self.ended is None:
            self.closed = True
            self.sock.abort()


class HttpClient(App):
    """Sends ``request`` at once (the connection queues it until ENO decides), reads the
    response and closes after the server's end of stream."""

    def __init__(self, request: bytes) -> None:
        super().__init__()
        self.request = request

    def on_start(self, now: float) -> None:
        self.sock.send(self.request)


class HttpServer(App):
    """Answers one complete request with ``response`` and closes (Connection: close)."""

    def __init__(self, response: bytes) -> None:
        super().__init__()
        self.response = response
        self.responded = False

    def on_data(self, now: float) -> None:
        if not self.responded and request_complete(bytes(self.received)):
            self.responded = True
            self.respond(now)

    def respond(self, now: float) -> None:
        self.sock.send(self.response)
        self.close()
