"""TCP + TCP-ENO + tcpcrypt behind one sans-IO surface: the application's connection object.

:class:`TcpincConnection` owns a :class:`TcpConnection` whose segment hook is an
:class:`EnoEndpoint`, whose TEP policy is a :class:`TcpcryptPolicy`; once ENO enables
encryption it starts a :class:`TcpcryptSession` over TCP's byte streams. Events of all
three layers come out of one ``next_event()`` queue, in the order they happened.

How the application's byte stream is carried, as data (``mode``):

    pending    ENO has not decided yet   send()/close() are queued; nothing goes out
    plain      ENO off or fell back      TCP carries the bytes as they are (RFC 8547 §4.6)
    encrypted  ENO enabled encryption    tcpcrypt frames only; queued data waits for the
                                         keys and is never sent in the clear (RFC 8548 §3.2)
    aborted    any abort                 nothing more in or out

Aborts: a tcpcrypt violation (``ConnectionAborted("tcpcrypt.…")``) or a fallback in
mandatory-encryption mode (``FellBack(abort=True)`` then ``ConnectionAborted("tcpeno.…")``)
abort TCP (RST, RFC 8548 §3.3: the TCP Abort call) and report their own reason; TCP's
"aborted locally" for that RST is not reported a second time.

The API follows draft-ietf-tcpinc-api-06 (names in brackets in the docstrings). Values made
from the session ID raise :class:`NoSessionError` when there is none; the other read-only
values are None until known.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from ..crypto.kex import RandomBytes
from ..errors import LocalProtocolError, NoSessionError
from ..keylog import KeyLogWriter
from ..wire.constants import AeadId, Dialect
from ..wire.eno import Role
from .eno import EnoConfig, EnoEndpoint, EnoState
from .events import (
    ConnectionAborted,
    DataReceived,
    EndOfStream,
    EnoEnabled,
    Event,
    FellBack,
    UrgentDataReceived,
)
from .resumption import ResumptionCache, TcpcryptPolicy
from .segment import Segment
from .tcp import DEFAULT_TCP_CONFIG, TcpConfig, TcpConnection, TcpState
from .tcpcrypt import DEFAULT_TCPCRYPT_CONFIG, TcpcryptConfig, TcpcryptSession

__all__ = ["DEFAULT_TCPINC_CONFIG", "ConnectionMode", "TcpincConfig", "TcpincConnection"]

# The reason of an abort() by the application (the same words TcpConnection uses).
LOCAL_ABORT: Final = "aborted locally"


@dataclass(frozen=True, slots=True)
class TcpincConfig:
    """The settings of the three layers; the dialect is ``eno.dialect``."""

    tcp: TcpConfig = DEFAULT_TCP_CONFIG
    eno: EnoConfig = field(default_factory=EnoConfig)
    tcpcrypt: TcpcryptConfig = DEFAULT_TCPCRYPT_CONFIG

    @property
    def dialect(self) -> Dialect:
        return self.eno.dialect


DEFAULT_TCPINC_CONFIG: Final = TcpincConfig()


class ConnectionMode(Enum):
    PENDING = "pending"
    PLAIN = "plain"
    ENCRYPTED = "encrypted"
    ABORTED = "aborted"


class TcpincConnection:
    """One TCP connection that negotiates TCP-ENO and, when it can, encrypts with tcpcrypt.

    ``peer`` names the peer in the resumption ``cache`` (e.g. its address); ``keylog``
    receives the session secrets (ARCHITECTURE.md "Key log format"). All randomness (ISN,
    timestamps offset, nonces, ephemeral keys) comes from ``random_bytes``.
    """

    def __init__(
        self,
        *,
        local_port: int,
        remote_port: int | None = None,
        config: TcpincConfig = DEFAULT_TCPINC_CONFIG,
        random_bytes: RandomBytes = os.urandom,
        keylog: KeyLogWriter | None = None,
        cache: ResumptionCache | None = None,
        peer: str = "",
    ) -> None:
        self._config = config
        self._random_bytes = random_bytes
        self._keylog = keylog
        self._policy = TcpcryptPolicy(
            config.tcpcrypt,
            dialect=config.dialect,
            cache=cache,
            peer=peer,
            random_bytes=random_bytes,
        )
        self._eno = EnoEndpoint(config.eno, self._policy)
        self._tcp = TcpConnection(
            local_port=local_port,
            remote_port=remote_port,
            random_bytes=random_bytes,
            config=config.tcp,
            hook=self._eno,
        )
        self._mode = ConnectionMode.PENDING
        self._session: TcpcryptSession | None = None
        self._events: deque[Event] = deque()
        self._queued: list[tuple[bytes, bool]] = []  # application data before ENO decided
        # Peer bytes that TCP delivered before ENO enabled encryption: possible only when
        # data arrives between the SYN-ACK and our ACK (which enables ENO, RFC 8547 §4.6);
        # they are the TEP's and go to the session.
        self._rx_early = bytearray()
        self._rx_fin_early = False
        self._close_requested = False
        self._tcp_closed = False
        self._ended = False

    # -- read-only view ------------------------------------------------------------------
    @property
    def config(self) -> TcpincConfig:
        return self._config

    @property
    def tcp(self) -> TcpConnection:
        """The TCP connection underneath (for inspection; do not drive it directly)."""
        return self._tcp

    @property
    def eno(self) -> EnoEndpoint:
        return self._eno

    @property
    def session(self) -> TcpcryptSession | None:
        return self._session

    @property
    def mode(self) -> ConnectionMode:
        return self._mode

    @property
    def state(self) -> TcpState:
        return self._tcp.state

    @property
    def encrypted(self) -> bool:
        """Encryption is enabled [TCP_ENO_ENABLED after the handshake]."""
        return self._mode is ConnectionMode.ENCRYPTED

    @property
    def fallback_reason(self) -> str | None:
        return self._eno.reason

    # -- draft-ietf-tcpinc-api-06 --------------------------------------------------------
    @property
    def session_id(self) -> bytes:
        """[TCP_ENO_SESSID] The session ID (RFC 8548 §3.4); NoSessionError when there is
        none (ENO not negotiated yet, fell back, or the keys are not ready yet)."""
        session = self._session
        if (
            session is None
            or session.session_id is None
            or self._mode is not (ConnectionMode.ENCRYPTED)
        ):
            state = self._eno.state.value
            raise NoSessionError(f"no session ID: TCP-ENO is {state}, no tcpcrypt keys")
        return session.session_id

    @property
    def negotiated_tep(self) -> int | None:
        """[TCP_ENO_NEGTEP] The negotiated TEP with the v bit as B sent it (0xa1-0xa4 for a
        resumed session), or None."""
        return self._eno.negotiated_tep_byte

    @property
    def role(self) -> Role | None:
        """[TCP_ENO_ROLE] A or B (RFC 8547 §4.3), once the global suboptions decided it."""
        return self._eno.role if not self._eno.fell_back else None

    def _role_byte(self) -> int:
        # Only asked for with a session ID, which implies ENO negotiated a role.
        assert self._eno.role is not None
        return 0 if self._eno.role is Role.A else 1

    @property
    def self_name(self) -> bytes:
        """[TCP_ENO_SELF_NAME] role byte (0 = A, 1 = B) ‖ session ID."""
        session_id = self.session_id
        return bytes((self._role_byte(),)) + session_id

    @property
    def peer_name(self) -> bytes:
        """[TCP_ENO_PEER_NAME] the peer's SELF_NAME: the role byte negated ‖ session ID."""
        session_id = self.session_id
        return bytes((1 - self._role_byte(),)) + session_id

    @property
    def transcript(self) -> bytes | None:
        """[TCP_ENO_TRANSCRIPT] RFC 8547 §4.8, while negotiated or enabled."""
        return self._eno.transcript

    @property
    def self_global_suboption(self) -> int:
        """[TCP_ENO_SELF_GOPT]"""
        return self._eno.self_global_suboption

    @property
    def peer_global_suboption(self) -> int | None:
        """[TCP_ENO_PEER_GOPT] once the peer's SYN arrived."""
        return self._eno.peer_global_suboption

    @property
    def teps(self) -> tuple[int, ...]:
        """[TCP_ENO_TEPS] the TEPs we offer, in increasing preference."""
        return self._policy.teps

    @property
    def aa_mandatory(self) -> bool:
        """[TCP_ENO_AA_MANDATORY]"""
        return self._config.eno.aa_mandatory

    @property
    def tep_mandatory(self) -> bool:
        """[TCP_ENO_TEP_MANDATORY]"""
        return self._config.eno.tep_mandatory

    @property
    def aconf(self) -> tuple[AeadId, ...]:
        """[TCP_CRYPT_ACONF] the AEADs listed in Init1 when we are A."""
        return self._config.tcpcrypt.aconf

    @property
    def bconf(self) -> tuple[AeadId, ...]:
        """[TCP_CRYPT_BCONF] our choice among A's AEADs, increasing preference."""
        return self._config.tcpcrypt.bconf

    @property
    def aead(self) -> AeadId | None:
        """[TCP_CRYPT_CONF] the AEAD in use, once the keys are ready."""
        return self._session.aead if self._session is not None else None

    @property
    def resumed(self) -> bool:
        """The session was resumed from a cached secret (RFC 8548 §3.5)."""
        return self._session is not None and self._session.resumed

    def flush_cache(self) -> None:
        """[TCP_CRYPT_CACHE_FLUSH] Before connecting: use no cached secret. After: erase
        the cache state this connection used or created (RFC 8548 §3.5)."""
        self._policy.flush()

    # -- application calls ---------------------------------------------------------------
    def connect(self, now: float) -> None:
        """Active open: a SYN with our ENO option (RFC 8547 §4.6)."""
        self._tcp.connect(now)
        self._process()

    def listen(self) -> None:
        """Passive open: wait for a SYN."""
        self._tcp.listen()
        self._process()

    def send(self, data: bytes, *, urgent: bool = False) -> None:
        """Application data: encrypted once ENO enabled tcpcrypt, plain after a fallback,
        queued until one of them is known."""
        self._check_open("send")
        if self._mode is ConnectionMode.PLAIN:
            if urgent:
                self._tcp.send_urgent(data)
            else:
                self._tcp.send(data)
        elif self._mode is ConnectionMode.ENCRYPTED:
            assert self._session is not None
            self._session.send(data, urgent=urgent)
        else:
            if urgent and self._config.dialect == "legacy":
                raise LocalProtocolError("the legacy dialect has no urgent field (LEGACY.md)")
            self._queued.append((bytes(data), urgent))
        self._process()

    def close(self) -> None:
        """No more data from us: FINp on the last frame (encrypted), or TCP's FIN."""
        self._check_open("close")
        self._close_requested = True
        if self._mode is ConnectionMode.PLAIN:
            self._tcp_close()
        elif self._mode is ConnectionMode.ENCRYPTED:
            assert self._session is not None
            self._session.close()
        self._process()

    def abort(self) -> None:
        """Drop the connection, RST the peer (RFC 9293 §3.10.5)."""
        if self._mode is not ConnectionMode.ABORTED and not self._ended:
            self._abort_with(LOCAL_ABORT)
        self._process()

    def rekey(self) -> None:
        """Initiate tcpcrypt rekeying (RFC 8548 §3.8); the next frame carries it."""
        self._encrypted_session("rekey").rekey()
        self._process()

    def keepalive(self) -> bool:
        """A tcpcrypt keep-alive (RFC 8548 §3.9): rekey and send a frame now. False when an
        earlier one is still unanswered."""
        sent = self._encrypted_session("keepalive").keepalive()
        self._process()
        return sent

    def _check_open(self, call: str) -> None:
        if self._mode is ConnectionMode.ABORTED or self._ended:
            raise LocalProtocolError(f"{call}() on a connection that has ended")
        if self._close_requested:
            raise LocalProtocolError(f"{call}() after close()")

    def _encrypted_session(self, call: str) -> TcpcryptSession:
        if self._mode is not ConnectionMode.ENCRYPTED or self._session is None:
            raise LocalProtocolError(f"{call}() needs an encrypted connection ({self._mode.value})")
        return self._session

    # -- sans-IO surface -----------------------------------------------------------------
    def receive_segment(self, seg: Segment, now: float) -> None:
        self._tcp.receive_segment(seg, now)
        self._process()

    def segments_to_send(self, now: float) -> list[Segment]:
        out: list[Segment] = []
        while True:
            batch = self._tcp.segments_to_send(now)
            out += batch
            # Building segments may enable ENO (our ACK carried it): the TEP then starts.
            if not self._process() and not batch:
                return out

    def get_timer(self) -> float | None:
        return self._tcp.get_timer()

    def handle_timer(self, now: float) -> None:
        self._tcp.handle_timer(now)
        self._process()

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -- internals -----------------------------------------------------------------------
    def _process(self) -> bool:
        """Move events and bytes between the layers until nothing changes; True if bytes
        (or the close) were handed to TCP, so that it may have new segments to send."""
        handed = False
        progress = True
        while progress:
            progress = False
            if self._mode is ConnectionMode.PENDING and self._eno.state is EnoState.OFF:
                self._go_plain()
            # ENO's events first: those of a segment come before TCP acts on it.
            while (event := self._eno.next_event()) is not None:
                progress = True
                self._on_eno_event(event)
            while (event := self._tcp.next_event()) is not None:
                progress = True
                self._on_tcp_event(event)
            if self._session is not None:
                handed = self._drive_session() or handed
        return handed

    def _on_eno_event(self, event: Event) -> None:
        if self._mode is ConnectionMode.ABORTED:
            return
        self._events.append(event)
        if isinstance(event, FellBack):
            if event.abort:
                # api-06 TCP_ENO_TEP_MANDATORY: abort instead of going on unencrypted.
                self._abort_with(event.reason)
            else:
                self._go_plain()
        elif isinstance(event, EnoEnabled):
            self._go_encrypted(event)

    def _on_tcp_event(self, event: Event) -> None:
        if self._mode is ConnectionMode.ABORTED:
            return  # our own abort's "aborted locally", or late events
        if isinstance(event, DataReceived):
            if self._mode is ConnectionMode.ENCRYPTED:
                assert self._session is not None
                self._session.receive_data(event.data)
            elif self._mode is ConnectionMode.PENDING:
                self._rx_early += event.data
            else:
                self._events.append(event)
        elif isinstance(event, EndOfStream):
            if self._mode is ConnectionMode.ENCRYPTED:
                assert self._session is not None
                self._session.receive_fin()
            elif self._mode is ConnectionMode.PENDING:
                self._rx_fin_early = True
            else:
                self._events.append(event)
        elif isinstance(event, UrgentDataReceived):
            # The TCP urgent pointer is not authenticated; tcpcrypt carries its own (URGp).
            if self._mode is ConnectionMode.PLAIN:
                self._events.append(event)
        else:
            if isinstance(event, ConnectionAborted):
                self._mode = ConnectionMode.ABORTED
                self._session = None
            self._ended = self._ended or self._tcp.state is TcpState.CLOSED
            self._events.append(event)

    def _go_plain(self) -> None:
        # RFC 8547 §4.6: after a fallback the connection is plain TCP.
        # No peer bytes can be waiting: ENO falls back at the latest on the first ACK it
        # receives, before TCP hands over that segment's data.
        self._mode = ConnectionMode.PLAIN
        self._flush_queue()

    def _go_encrypted(self, event: EnoEnabled) -> None:
        outcome = event.outcome
        assert outcome.negotiated_tep is not None
        assert outcome.negotiated_tep_byte is not None and outcome.transcript is not None
        self._mode = ConnectionMode.ENCRYPTED
        self._session = TcpcryptSession(
            role=event.role,
            dialect=self._config.dialect,
            tep=outcome.negotiated_tep,
            tep_byte=outcome.negotiated_tep_byte,
            transcript=outcome.transcript,
            config=self._policy.config,
            random_bytes=self._random_bytes,
            resumption=self._policy.resume_state,
            keylog=self._keylog,
        )
        self._flush_queue()
        if self._rx_early:
            self._session.receive_data(bytes(self._rx_early))
            self._rx_early.clear()
        if self._rx_fin_early:
            self._session.receive_fin()

    def _flush_queue(self) -> None:
        queued, self._queued = self._queued, []
        for data, urgent in queued:
            if self._session is not None:
                self._session.send(data, urgent=urgent)
            elif urgent:
                self._tcp.send_urgent(data)
            else:
                self._tcp.send(data)
        if self._close_requested:
            if self._session is not None:
                self._session.close()
            else:
                self._tcp_close()

    def _drive_session(self) -> bool:
        """Forward the session's events and hand its bytes to TCP; True if any were."""
        session = self._session
        assert session is not None
        while (event := session.next_event()) is not None:
            if isinstance(event, ConnectionAborted):
                self._abort_with(event.reason)
                return False
            self._events.append(event)
        if session.keys_ready:
            self._policy.remember(session)
        handed = False
        for data, push in session.take_outgoing():
            handed = True
            self._tcp.send(data, push=push)
        if session.fin_sent:
            handed = self._tcp_close() or handed
        return handed

    def _tcp_close(self) -> bool:
        if self._tcp_closed:
            return False
        self._tcp_closed = True
        self._tcp.close()
        return True

    def _abort_with(self, reason: str) -> None:
        # RFC 8548 §3.3: "abort" is TCP's ABORT: destroy the connection and send a RST.
        self._mode = ConnectionMode.ABORTED
        self._session = None
        self._tcp.abort()
        while self._tcp.next_event() is not None:
            pass  # TCP's "aborted locally": the reason below says why
        self._events.append(ConnectionAborted(reason))
