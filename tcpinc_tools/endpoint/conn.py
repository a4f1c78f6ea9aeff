"""One live connection, shaped like a socket: :class:`TcpincSocket`.

It wraps the sans-IO :class:`~tcpinc_tools.protocol.TcpincConnection` that its
:class:`~.host.Host` drives, keeps what the connection's events said (negotiation,
encryption, fallback, abort, key generations, bytes), buffers received data, and offers:

    send(data) / sendall(data)   hand data over, then wait while too much is unacknowledged
    write(data)                  hand data over, no waiting (for callbacks inside the loop)
    recv(bufsize)                wait for data; b"" at the authenticated end of the stream;
                                 ConnectionFailed(reason) after an abort (never mistaken
                                 for the end of the stream: RFC 8547 §5, RFC 8548 §3.7)
    close() / abort() / rekey() / keepalive()

with the draft-ietf-tcpinc-api-06 accessors of the core (``session_id``, ``role``,
``self_name``, ``peer_name``, ``negotiated_tep``, ``transcript``, ...). Blocking calls run
the host's loop, so every other connection of the host keeps being served meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from ..errors import LocalProtocolError
from ..protocol.connection import ConnectionMode, TcpincConnection
from ..protocol.events import (
    Connected,
    ConnectionAborted,
    ConnectionClosed,
    DataReceived,
    EncryptionEnabled,
    EndOfStream,
    EnoNegotiated,
    Event,
    FellBack,
    KeysUpdated,
)
from ..protocol.tcp import TcpState
from ..wire.constants import aead_name, tep_name
from ..wire.eno import Role
from .errors import ConnectionFailed

if TYPE_CHECKING:
    from .host import Host

__all__ = ["SEND_BUFFER_MAX", "EventHandler", "Outcome", "TcpincSocket"]

# How many bytes send() leaves unacknowledged before it waits: several windows' worth of a
# veth, small enough that a slow peer cannot make us hold much.
SEND_BUFFER_MAX: Final = 1 << 20
# The reason a connection gets when its handshake does not finish in time.
TIMED_OUT: Final = "timed out"
# How long close() of a socket that owns its host lets the closing handshake run.
OWNED_CLOSE_TIMEOUT: Final = 10.0

EventHandler = Callable[["TcpincSocket", Event], None]
_FINISHED: Final = frozenset({TcpState.CLOSED, TcpState.TIME_WAIT})


class Outcome:
    """The words of a connection's outcome in reports."""

    ENCRYPTED = "encrypted"  # tcpcrypt keys in use (fresh key exchange)
    RESUMED = "resumed"  # tcpcrypt keys in use (resumed session, RFC 8548 §3.5)
    FALLBACK = "fallback"  # TCP-ENO fell back: plain TCP (reason = the finding id)
    PLAIN = "plain"  # ENO off by configuration
    ABORTED = "aborted"  # ended abnormally (reason = why)
    OPEN = "open"  # still negotiating


class TcpincSocket:
    """One connection of a :class:`~.host.Host`."""

    def __init__(
        self,
        host: Host,
        conn: TcpincConnection,
        *,
        local: tuple[str, int],
        peer: tuple[str, int],
        active: bool,
        rekey_bytes: int | None = None,
    ) -> None:
        self.host = host
        self.conn = conn
        self.local = local
        self.peer = peer
        self.active = active
        self.rekey_bytes = rekey_bytes
        self.handler: EventHandler | None = None
        self.started = host.now()
        self.connected_at: float | None = None
        self.ready_at: float | None = None
        self.ended_at: float | None = None
        self.negotiated: EnoNegotiated | None = None
        self.encryption: EncryptionEnabled | None = None
        self.fallback: FellBack | None = None
        self.abort_reason: str | None = None
        self.connected = False
        self.eof = False
        self.closed_cleanly = False
        self.generation = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.reported = False
        # The socket came from the module-level connect(): closing it closes its host.
        self.owns_host = False
        self._rx = bytearray()
        self._since_rekey = 0
        self._close_called = False

    def __repr__(self) -> str:
        return f"<TcpincSocket {self.peer_text} {self.outcome} {self.conn.state.value}>"

    # -- what happened -------------------------------------------------------------------
    @property
    def peer_text(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]}"

    @property
    def state(self) -> TcpState:
        return self.conn.state

    @property
    def finished(self) -> bool:
        """Closed, aborted, or in TIME-WAIT (the application is done with it)."""
        return self.conn.state in _FINISHED or self.abort_reason is not None

    @property
    def ready(self) -> bool:
        """The application may go ahead: keys in use, plain TCP after a fallback, or over."""
        if self.finished or self.encryption is not None:
            return True
        return self.connected and self.conn.mode is ConnectionMode.PLAIN

    @property
    def outcome(self) -> str:
        if self.abort_reason is not None:
            return Outcome.ABORTED
        if self.encryption is not None:
            return Outcome.RESUMED if self.encryption.resumed else Outcome.ENCRYPTED
        if self.fallback is not None:
            return Outcome.FALLBACK
        if self.connected and self.conn.mode is ConnectionMode.PLAIN:
            return Outcome.PLAIN
        return Outcome.OPEN

    @property
    def reason(self) -> str | None:
        """Why it aborted, else why ENO fell back, else None."""
        if self.abort_reason is not None:
            return self.abort_reason
        return self.fallback.reason if self.fallback is not None else None

    @property
    def encrypted(self) -> bool:
        return self.encryption is not None

    @property
    def tep_name(self) -> str | None:
        return tep_name(self.encryption.tep) if self.encryption is not None else None

    @property
    def aead_name(self) -> str | None:
        return aead_name(self.encryption.aead) if self.encryption is not None else None

    # -- draft-ietf-tcpinc-api-06 accessors (from the core) -------------------------------
    @property
    def session_id(self) -> bytes:
        """[TCP_ENO_SESSID] Raises NoSessionError when there is none (RFC 8547 §5.1)."""
        if self.encryption is not None:
            return self.encryption.session_id
        return self.conn.session_id

    @property
    def role(self) -> Role | None:
        """[TCP_ENO_ROLE]"""
        return self.conn.role

    @property
    def self_name(self) -> bytes:
        """[TCP_ENO_SELF_NAME] role byte ‖ session ID."""
        return self.conn.self_name

    @property
    def peer_name(self) -> bytes:
        """[TCP_ENO_PEER_NAME]"""
        return self.conn.peer_name

    @property
    def negotiated_tep(self) -> int | None:
        """[TCP_ENO_NEGTEP] with the v bit as B sent it."""
        return self.conn.negotiated_tep

    @property
    def transcript(self) -> bytes | None:
        """[TCP_ENO_TRANSCRIPT]"""
        return self.conn.transcript

    @property
    def peer_global_suboption(self) -> int | None:
        """[TCP_ENO_PEER_GOPT]"""
        return self.conn.peer_global_suboption

    @property
    def resumed(self) -> bool:
        return self.conn.resumed

    # -- application calls ---------------------------------------------------------------
    def write(self, data: bytes) -> None:
        """Hand ``data`` to the connection without waiting (rekeying every ``rekey_bytes``)."""
        self._check_usable()
        view = memoryview(bytes(data))
        while view:
            piece = view
            if self.rekey_bytes and self.conn.mode is ConnectionMode.ENCRYPTED:
                if self._since_rekey >= self.rekey_bytes:
                    self.conn.rekey()
                    self._since_rekey = 0
                piece = view[: self.rekey_bytes - self._since_rekey]
            self.conn.send(bytes(piece))
            self._since_rekey += len(piece)
            self.bytes_sent += len(piece)
            view = view[len(piece) :]
        self.host.touch(self)

    def send(self, data: bytes, *, timeout: float | None = None) -> int:
        """Send all of ``data``; waits while more than SEND_BUFFER_MAX bytes are in flight."""
        data = bytes(data)
        for start in range(0, len(data), SEND_BUFFER_MAX // 4):
            self.write(data[start : start + SEND_BUFFER_MAX // 4])
            self.host.run_until(
                lambda: self.unacknowledged <= SEND_BUFFER_MAX or self.finished, timeout
            )
            self._check_usable()
        return len(data)

    sendall = send

    @property
    def unacknowledged(self) -> int:
        """Application bytes handed over that the peer has not acknowledged yet (roughly:
        tcpcrypt's own bytes count as acknowledged application bytes)."""
        return max(0, self.bytes_sent - self.conn.tcp.bytes_acked)

    def recv(self, bufsize: int = 65536, *, timeout: float | None = None) -> bytes:
        """Up to ``bufsize`` bytes; b"" at the end of the stream. ConnectionFailed if the
        connection aborted, TimeoutError if ``timeout`` passed first."""
        if not self._rx and not self.eof:
            done = self.host.run_until(
                lambda: bool(self._rx) or self.eof or self.abort_reason is not None, timeout
            )
            if not done:
                raise TimeoutError(f"{self.peer_text}: nothing received in {timeout} s")
        if self._rx:
            chunk = bytes(self._rx[:bufsize])
            del self._rx[:bufsize]
            return chunk
        if self.abort_reason is not None:
            raise ConnectionFailed(self.abort_reason, peer=self.peer_text)
        return b""

    def recv_until_eof(self, *, timeout: float | None = None) -> bytes:
        """Everything until the end of the stream."""
        out = bytearray()
        while chunk := self.recv(timeout=timeout):
            out += chunk
        return bytes(out)

    def take_received(self) -> bytes:
        """What has been received and not read yet, without waiting."""
        data = bytes(self._rx)
        self._rx.clear()
        return data

    def close(self, *, wait: bool = False, timeout: float | None = None) -> None:
        """No more data from us (FINp on the last frame, or TCP's FIN). With ``wait``, run
        the loop until the connection has finished. A socket from the module-level
        ``connect()`` waits (10 s at most) and then closes its host."""
        if not self._close_called and self.abort_reason is None and not self.finished:
            self._close_called = True
            self.conn.close()
            self.host.touch(self)
        if self.owns_host:
            self.host.run_until(lambda: self.finished, OWNED_CLOSE_TIMEOUT)
            self.host.close()
        elif wait:
            self.host.run_until(lambda: self.finished, timeout)

    def __enter__(self) -> TcpincSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owns_host and self.host.closed:
            return
        self.close()

    def abort(self) -> None:
        """Drop the connection and RST the peer."""
        self.conn.abort()
        self.host.touch(self)

    def rekey(self) -> None:
        """Start a new key generation (RFC 8548 §3.8): the next frame carries the rekey bit."""
        self.conn.rekey()
        self._since_rekey = 0
        self.host.touch(self)

    def keepalive(self) -> bool:
        """A tcpcrypt keep-alive (RFC 8548 §3.9): rekey and send a frame now, which the
        peer must answer. False while an earlier one is unanswered."""
        sent = self.conn.keepalive()
        self.host.touch(self)
        return sent

    def wait_ready(self, timeout: float | None = None) -> None:
        """Run the loop until the connection is ready (or raise ConnectionFailed)."""
        if not self.host.run_until(lambda: self.ready, timeout):
            self.abort_reason = self.abort_reason or TIMED_OUT
            self.conn.abort()
            self.host.touch(self)
            self.host.flush()
        if self.abort_reason is not None:
            raise ConnectionFailed(self.abort_reason, peer=self.peer_text)

    def _check_usable(self) -> None:
        if self.abort_reason is not None:
            raise ConnectionFailed(self.abort_reason, peer=self.peer_text)
        if self._close_called:
            raise LocalProtocolError("send after close()")

    # -- from the host -------------------------------------------------------------------
    def on_event(self, event: Event, now: float) -> None:
        if isinstance(event, Connected):
            self.connected = True
            self.connected_at = now
        elif isinstance(event, EnoNegotiated):
            self.negotiated = event
        elif isinstance(event, FellBack):
            self.fallback = event
        elif isinstance(event, EncryptionEnabled):
            self.encryption = event
        elif isinstance(event, KeysUpdated):
            self.generation = max(self.generation, event.generation)
        elif isinstance(event, DataReceived):
            self.bytes_received += len(event.data)
            if self.handler is None:
                self._rx += event.data
        elif isinstance(event, EndOfStream):
            self.eof = True
        elif isinstance(event, ConnectionAborted):
            self.abort_reason = self.abort_reason or event.reason
        elif isinstance(event, ConnectionClosed):
            self.closed_cleanly = True
        if self.ready_at is None and self.ready:
            self.ready_at = now
        if self.ended_at is None and self.finished:
            self.ended_at = now
        if self.handler is not None:
            self.handler(self, event)
