"""tcpcrypt (RFC 8548) at the stream level: key exchange, frames, FIN, rekeying. Sans-IO.

A :class:`TcpcryptSession` is made by the connection once TCP-ENO has negotiated a tcpcrypt
TEP (0x21-0x24). It never sees segments: it takes the peer's in-order stream bytes
(``receive_data``) and the peer's FIN (``receive_fin``), and hands back the bytes of our
stream (``take_outgoing``: chunks with the push flag for ``TcpConnection.send``).

The rules it keeps, as data:

    fresh, role A   Init1 at once (PSH on its last byte); Init2 in -> keys, data may flow
    fresh, role B   Init1 in -> Init2 out (PSH) -> keys, data may flow
    resumed         keys at once from ss[i] and sn[i]; no Init messages (RFC 8548 §3.5)
    before keys     application data and close() are queued, never sent in the clear
    send / close    frames of < 2^16 bytes; FINp on the last frame only (§3.6, §3.7)
    rekey bit in    remote += 1; if remote > local: local = remote and answer at once with
                    a rekey frame (empty if need be) unless our FIN went out (§3.8)
    peer FIN        EOF only after a FINp frame; otherwise abort (§3.7)
    any violation   ConnectionAborted(reason), no further data in or out

Encryption directions follow the ORIGINAL roles (trap T11): the host that was A when ss[0]
was made encrypts with k_ab in every session resumed from it, whatever its role now.
"""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from ..crypto.kex import RandomBytes
from ..crypto.schedule import Direction, SessionKeys, derive_keys, next_ss, session_nonce
from ..errors import LocalProtocolError
from ..keylog import KeyLogWriter
from ..wire.constants import (
    LEGACY_PUBKEY_FORMAT,
    PUBKEY_FORMAT,
    RESUME_NONCE_MAX,
    SUBOPTION_GLT,
    AeadId,
    Dialect,
    TepId,
)
from ..wire.eno import Role
from .events import (
    ConnectionAborted,
    DataReceived,
    EncryptionEnabled,
    EndOfStream,
    Event,
    KeysUpdated,
    UrgentDataReceived,
)
from .tcpcrypt_frames import DATA_AFTER_FINP, MAX_CHUNK, FrameReader, FrameWriter
from .tcpcrypt_kex import InitiatorKex, ResponderKex, TcpcryptAbort, aead_to_wire

__all__ = [
    "DEFAULT_TCPCRYPT_CONFIG",
    "FIN_WITHOUT_FINP",
    "ResumeState",
    "TcpcryptConfig",
    "TcpcryptSession",
    "TcpcryptState",
]

FIN_WITHOUT_FINP: Final = "tcpcrypt.fin_without_finp"

_TCPCRYPT_TEPS: Final = frozenset(PUBKEY_FORMAT)
_AEADS: Final = frozenset(AeadId)


@dataclass(frozen=True, slots=True)
class TcpcryptConfig:
    """Per-connection tcpcrypt settings (RFC 8548 §3.3, §3.5; api-06 §3).

    ``teps``: the tcpcrypt TEPs to offer, in increasing preference (B answers with the last
    one the peer offered; api-06 TCP_ENO_TEPS). ``aconf``: the AEADs A lists in Init1
    (TCP_CRYPT_ACONF, order irrelevant). ``bconf``: B's choice among A's, in increasing
    preference (TCP_CRYPT_BCONF). ``resume``: propose resumption from the cache as the
    active opener (False = "don't use cached keys", TCP_CRYPT_CACHE_FLUSH before connect).
    ``accept_resumption``: False ignores the peer's resumption requests (fresh exchange).
    ``cache_secrets``: False caches no session secret from this connection.
    ``resume_nonce_len``: 0-8 bytes of resumption nonce (RFC 8548 §3.5: default 8).
    ``chunk``: the most application bytes per frame.
    """

    teps: tuple[int, ...] = (
        TepId.TCPCRYPT_ECDHE_P256,
        TepId.TCPCRYPT_ECDHE_P521,
        TepId.TCPCRYPT_ECDHE_Curve448,
        TepId.TCPCRYPT_ECDHE_Curve25519,
    )
    aconf: tuple[AeadId, ...] = (
        AeadId.AEAD_AES_128_GCM,
        AeadId.AEAD_AES_256_GCM,
        AeadId.AEAD_CHACHA20_POLY1305,
    )
    bconf: tuple[AeadId, ...] = (
        AeadId.AEAD_AES_128_GCM,
        AeadId.AEAD_CHACHA20_POLY1305,
        AeadId.AEAD_AES_256_GCM,
    )
    resume: bool = True
    accept_resumption: bool = True
    cache_secrets: bool = True
    resume_nonce_len: int = RESUME_NONCE_MAX
    chunk: int = MAX_CHUNK

    def __post_init__(self) -> None:
        for tep in self.teps:
            if tep not in _TCPCRYPT_TEPS:
                raise LocalProtocolError(f"TEP {tep:#04x} is not a tcpcrypt TEP (0x21-0x24)")
        if len(set(self.teps)) != len(self.teps):
            raise LocalProtocolError(f"TEP list {self.teps} repeats a TEP")
        for name, aeads in (("aconf", self.aconf), ("bconf", self.bconf)):
            if not aeads:
                raise LocalProtocolError(f"{name} is empty")
            unknown = [a for a in aeads if a not in _AEADS]
            if unknown:
                raise LocalProtocolError(f"{name}: {unknown} are not tcpcrypt AEAD ids")
        if not 0 <= self.resume_nonce_len <= RESUME_NONCE_MAX:
            raise LocalProtocolError(f"resume_nonce_len {self.resume_nonce_len} outside 0..8")
        if not 1 <= self.chunk <= MAX_CHUNK:
            raise LocalProtocolError(f"chunk {self.chunk} outside 1..{MAX_CHUNK}")

    def teps_for(self, dialect: Dialect) -> tuple[int, ...]:
        """The TEPs of ``teps`` that ``dialect`` has (legacy: P-256 and P-521 only)."""
        table = PUBKEY_FORMAT if dialect == "rfc" else LEGACY_PUBKEY_FORMAT
        return tuple(t for t in self.teps if t in table)


DEFAULT_TCPCRYPT_CONFIG: Final = TcpcryptConfig()


@dataclass(frozen=True, slots=True)
class ResumeState:
    """What a resumed session starts from (RFC 8548 §3.5), as the resumption policy found it.

    ``ss`` is ss[i]; ``original_role`` our role in the session that created ss[0];
    ``aead`` the AEAD of that session; ``nonce_a`` / ``nonce_b`` the resumption nonces by
    ORIGINAL role; ``resume_id`` the identifier as on the wire, for the key log (rfc: A's
    half ‖ B's half, 18 bytes; legacy: the 9-byte identifier).
    """

    ss: bytes = field(repr=False)
    original_role: Role
    aead: AeadId
    nonce_a: bytes
    nonce_b: bytes
    resume_id: bytes


class TcpcryptState(Enum):
    KEY_EXCHANGE = "key-exchange"
    OPEN = "open"
    ABORTED = "aborted"


class TcpcryptSession:
    """One tcpcrypt session over one TCP connection's two byte streams."""

    def __init__(
        self,
        *,
        role: Role,
        dialect: Dialect,
        tep: int,
        tep_byte: int,
        transcript: bytes,
        config: TcpcryptConfig = DEFAULT_TCPCRYPT_CONFIG,
        random_bytes: RandomBytes = os.urandom,
        resumption: ResumeState | None = None,
        keylog: KeyLogWriter | None = None,
    ) -> None:
        glt = tep & SUBOPTION_GLT
        table = PUBKEY_FORMAT if dialect == "rfc" else LEGACY_PUBKEY_FORMAT
        if glt not in table:
            raise LocalProtocolError(f"TEP {tep:#04x} is not a tcpcrypt TEP of {dialect}")
        if tep_byte & SUBOPTION_GLT != glt:
            raise LocalProtocolError(f"TEP byte {tep_byte:#04x} does not carry TEP {glt:#04x}")
        self._role = role
        self._dialect: Dialect = dialect
        self._tep = glt
        self._tep_byte = tep_byte
        self._config = config
        self._keylog = keylog
        self._resumed = resumption is not None
        self._original_role = resumption.original_role if resumption is not None else role
        self._events: deque[Event] = deque()
        self._out: list[tuple[bytes, bool]] = []
        self._rx = bytearray()
        self._pending: list[tuple[bytes, int | None]] = []
        self._app_queued = 0
        self._close_requested = False
        self._fin_sent = False
        self._abort_reason: str | None = None
        self._writer: FrameWriter | None = None
        self._reader: FrameReader | None = None
        self._session_id: bytes | None = None
        self._aead: AeadId | None = None
        self._next_secret: bytes | None = None
        self._kex: InitiatorKex | ResponderKex | None = None
        if resumption is not None:
            self._resume(resumption)
        elif role is Role.A:
            kex = InitiatorKex(
                tep=glt,
                tep_byte=tep_byte,
                dialect=dialect,
                transcript=transcript,
                ciphers=config.aconf,
                random_bytes=random_bytes,
            )
            self._kex = kex
            # RFC 8548 §3.3: Init1 opens A's stream; PSH on the segment with its last byte.
            self._out.append((kex.init1, True))
        else:
            self._kex = ResponderKex(
                tep=glt,
                tep_byte=tep_byte,
                dialect=dialect,
                transcript=transcript,
                ciphers=config.bconf,
                random_bytes=random_bytes,
            )

    # -- read-only view ------------------------------------------------------------------
    @property
    def state(self) -> TcpcryptState:
        if self._abort_reason is not None:
            return TcpcryptState.ABORTED
        return TcpcryptState.KEY_EXCHANGE if self._writer is None else TcpcryptState.OPEN

    @property
    def role(self) -> Role:
        return self._role

    @property
    def original_role(self) -> Role:
        """Our role in the session that created ss[0]; it fixes which key we encrypt with."""
        return self._original_role

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    @property
    def tep(self) -> int:
        return self._tep

    @property
    def tep_byte(self) -> int:
        return self._tep_byte

    @property
    def resumed(self) -> bool:
        return self._resumed

    @property
    def keys_ready(self) -> bool:
        return self._writer is not None

    @property
    def session_id(self) -> bytes | None:
        """The 33-byte session ID (RFC 8548 §3.4) once the keys are ready, else None."""
        return self._session_id

    @property
    def aead(self) -> AeadId | None:
        return self._aead

    @property
    def local_generation(self) -> int:
        return self._writer.generation if self._writer is not None else 0

    @property
    def remote_generation(self) -> int:
        return self._reader.generation if self._reader is not None else 0

    @property
    def fin_sent(self) -> bool:
        """The FINp frame is among the bytes handed out: TCP may send its FIN after them."""
        return self._fin_sent

    @property
    def fin_received(self) -> bool:
        return self._reader is not None and self._reader.fin

    @property
    def abort_reason(self) -> str | None:
        return self._abort_reason

    def take_next_secret(self) -> bytes | None:
        """ss[1] of a fresh session, once, for the resumption cache (RFC 8548 §3.5: cache
        ss[i+1], erase ss[i]); None before the keys or when already taken."""
        secret, self._next_secret = self._next_secret, None
        return secret

    # -- sans-IO surface -----------------------------------------------------------------
    def take_outgoing(self) -> list[tuple[bytes, bool]]:
        """Bytes for our stream, each with the push flag for TcpConnection.send."""
        out, self._out = self._out, []
        return out

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def receive_data(self, data: bytes) -> None:
        """In-order bytes of the peer's stream (TCP's DataReceived)."""
        if self._abort_reason is not None:
            return
        self._rx += data
        try:
            if self._kex is not None:
                self._key_exchange()
            reader = self._reader
            while reader is not None and self._abort_reason is None:
                frame = reader.next_frame(self._rx)
                if frame is None:
                    break
                if frame.rekey:
                    self._events.append(KeysUpdated(reader.generation, "remote"))
                    self._answer_rekey(reader.generation)
                if frame.data:
                    self._events.append(DataReceived(frame.data))
                if frame.urgent_end is not None:
                    self._events.append(UrgentDataReceived(frame.urgent_end))
                if frame.fin:
                    # RFC 8548 §3.7: end-of-file when, and only when, FINp arrives.
                    self._events.append(EndOfStream())
        except TcpcryptAbort as exc:
            self._abort(exc.reason)

    def receive_fin(self) -> None:
        """The peer's TCP FIN arrived in sequence (TCP's EndOfStream)."""
        if self._abort_reason is not None:
            return
        if self._reader is None or not self._reader.fin:
            # RFC 8548 §3.7: a FIN with no FINp frame in the stream aborts (not EOF).
            self._abort(FIN_WITHOUT_FINP)
        elif self._rx:
            self._abort(DATA_AFTER_FINP)

    # -- application calls ---------------------------------------------------------------
    def send(self, data: bytes, *, urgent: bool = False) -> None:
        """Queue application data; it leaves in frames once the keys are ready. With
        ``urgent`` all of ``data`` is urgent (URGp, RFC 8548 §3.7; rfc dialect only)."""
        self._check_usable("send")
        if self._close_requested:
            raise LocalProtocolError("send() after close()")
        if urgent and self._dialect == "legacy":
            raise LocalProtocolError("the legacy dialect has no urgent field (LEGACY.md)")
        if not data:
            return
        self._app_queued += len(data)
        self._pending.append((bytes(data), self._app_queued if urgent else None))
        self._flush()

    def close(self) -> None:
        """No more data: the last frame carries FINp (an empty one if need be)."""
        self._check_usable("close")
        if self._close_requested:
            raise LocalProtocolError("close() called twice")
        self._close_requested = True
        self._flush()

    def rekey(self) -> None:
        """Initiate rekeying (RFC 8548 §3.8): the next frame we send is the first of the
        next local generation. A no-op while such a frame is still to be sent."""
        writer = self._check_open("rekey")
        writer.rekey_pending = True

    def keepalive(self) -> bool:
        """Probe the peer (RFC 8548 §3.9): initiate rekeying and send a frame at once, empty
        if need be; the peer must answer with a rekey frame. Returns False, sending
        nothing, while an earlier rekey is unanswered (§3.8: no second concurrent empty
        rekey)."""
        writer = self._check_open("keepalive")
        reader = self._reader
        assert reader is not None
        if writer.rekey_pending or writer.generation > reader.generation:
            return False
        writer.rekey_pending = True
        self._flush(force=True)
        return True

    # -- internals -----------------------------------------------------------------------
    def _check_usable(self, call: str) -> None:
        if self._abort_reason is not None:
            raise LocalProtocolError(f"{call}() on an aborted session ({self._abort_reason})")

    def _check_open(self, call: str) -> FrameWriter:
        self._check_usable(call)
        if self._writer is None:
            raise LocalProtocolError(f"{call}() before the tcpcrypt keys are ready")
        if self._fin_sent or self._close_requested:
            raise LocalProtocolError(f"{call}() after close()")
        return self._writer

    def _direction(self, *, sending: bool) -> Direction:
        # RFC 8548 §3.3: A encrypts with k_ab, B with k_ba; by ORIGINAL role (§3.5).
        ours: Direction = "ab" if self._original_role is Role.A else "ba"
        theirs: Direction = "ba" if ours == "ab" else "ab"
        return ours if sending else theirs

    def _key_exchange(self) -> None:
        kex = self._kex
        assert kex is not None
        fresh = kex.receive(self._rx)
        if fresh is None:
            return
        self._kex = None
        if isinstance(kex, ResponderKex):
            del self._rx[: fresh.init1_len]
            assert kex.init2 is not None
            # RFC 8548 §3.3: Init2 opens B's stream, PSH on its last byte.
            self._out.append((kex.init2, True))
            ours, theirs = fresh.init2_len, fresh.init1_len
        else:
            del self._rx[: fresh.init2_len]
            ours, theirs = fresh.init1_len, fresh.init2_len
        if self._keylog is not None:
            self._keylog.write_init1(fresh.n_a, fresh.ss0)
        self._next_secret = next_ss(fresh.ss0)
        if self._dialect == "legacy":
            # LEGACY.md: offsets count from the first byte after Init1 / Init2.
            ours = theirs = 0
        self._enable(fresh.keys, fresh.aead, tx_offset=ours, rx_offset=theirs)

    def _resume(self, state: ResumeState) -> None:
        wire = aead_to_wire(state.aead, self._dialect)
        if wire is None:
            raise LocalProtocolError(f"{state.aead.name} is not in the {self._dialect} dialect")
        # RFC 8548 §3.5: sn[i] = nonce_a | nonce_b (original roles); LEGACY.md: no nonce.
        sn = session_nonce(state.nonce_a, state.nonce_b) if self._dialect == "rfc" else b""
        keys = derive_keys(
            state.ss, tep_byte=self._tep_byte, aead=wire, sn=sn, dialect=self._dialect
        )
        if self._keylog is not None:
            self._keylog.write_resume(state.resume_id, state.ss)
        # RFC 8548 §3.5 and LEGACY.md: frames start at the first data byte.
        self._enable(keys, state.aead, tx_offset=0, rx_offset=0)

    def _enable(self, keys: SessionKeys, aead: AeadId, *, tx_offset: int, rx_offset: int) -> None:
        self._writer = FrameWriter(
            keys, self._direction(sending=True), tx_offset, chunk=self._config.chunk
        )
        self._reader = FrameReader(keys, self._direction(sending=False), rx_offset)
        self._session_id = keys.session_id
        self._aead = aead
        self._events.append(EncryptionEnabled(keys.session_id, self._tep, aead, self._resumed))
        self._flush()

    def _answer_rekey(self, remote: int) -> None:
        writer = self._writer
        assert writer is not None
        if remote <= writer.generation:
            return
        if self._fin_sent:
            # RFC 8548 §3.8: match the generation; no frame can follow our FIN.
            writer.catch_up(remote)
            return
        # RFC 8548 §3.8: local = remote, and a rekey frame at once (empty if need be).
        writer.rekey_pending = True
        self._flush(force=True)

    def _flush(self, *, force: bool = False) -> None:
        writer = self._writer
        if writer is None or self._fin_sent or self._abort_reason is not None:
            return
        pending, self._pending = self._pending, []
        if not pending and (force or self._close_requested):
            pending = [(b"", None)]
        for index, (data, urgent_end) in enumerate(pending):
            fin = self._close_requested and index == len(pending) - 1
            frames, rekeyed = writer.seal(data, fin=fin, urgent_end=urgent_end)
            self._out.append((b"".join(frames), True))
            if rekeyed:
                self._events.append(KeysUpdated(writer.generation, "local"))
            if fin:
                self._fin_sent = True

    def _abort(self, reason: str) -> None:
        self._abort_reason = reason
        self._kex = None
        self._writer = None
        self._reader = None
        self._pending.clear()
        self._out.clear()
        self._rx.clear()
        self._next_secret = None
        self._events.append(ConnectionAborted(reason))
