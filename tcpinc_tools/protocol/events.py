"""Events the protocol state machines report (h11 style: frozen, slotted, past tense).

:class:`Event` is the common base; the TCP events are here, and the TCP-ENO and tcpcrypt
layers define theirs beside them (subclasses of :class:`Event` in this module's family),
so one ``next_event()`` loop in the simulator or endpoint sees all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..wire.eno import EnoOutcome, Role

__all__ = [
    "Connected",
    "ConnectionAborted",
    "ConnectionClosed",
    "DataReceived",
    "EncryptionEnabled",
    "EndOfStream",
    "EnoEnabled",
    "EnoNegotiated",
    "Event",
    "FellBack",
    "KeysUpdated",
    "UrgentDataReceived",
]


@dataclass(frozen=True, slots=True)
class Event:
    """Base of every event a protocol state machine reports."""


@dataclass(frozen=True, slots=True)
class Connected(Event):
    """The three-way (or simultaneous-open four-way) handshake completed: ESTABLISHED."""


@dataclass(frozen=True, slots=True)
class DataReceived(Event):
    """In-order bytes of the peer's stream. Their window space returns as they are taken."""

    data: bytes


@dataclass(frozen=True, slots=True)
class UrgentDataReceived(Event):
    """The peer's urgent pointer moved forward (RFC 9293 §3.8.5, RFC 6093).

    ``offset`` is the index in the peer's byte stream (0 = the first data byte) of the byte
    just after the urgent data, so the urgent data ends at ``offset - 1``. The bytes
    themselves are delivered in line by :class:`DataReceived`, as RFC 6093 §4 advises.
    """

    offset: int


@dataclass(frozen=True, slots=True)
class EndOfStream(Event):
    """The peer's FIN arrived in sequence: it will send no more data."""


@dataclass(frozen=True, slots=True)
class ConnectionClosed(Event):
    """Both directions finished cleanly (LAST-ACK acknowledged or TIME-WAIT over)."""


@dataclass(frozen=True, slots=True)
class ConnectionAborted(Event):
    """The connection ended abnormally: a reset, too many retransmissions, a local abort."""

    reason: str


# --- tcpcrypt (RFC 8548) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncryptionEnabled(Event):
    """tcpcrypt keys are ready: Init2 sent (B) or received (A), or a session resumed.

    ``session_id`` is the 33-byte session ID of RFC 8548 §3.4 (its first byte the TEP byte
    as host B sent it), ``tep`` the negotiated TEP id (v bit cleared), ``aead`` the two-byte
    tcpcrypt AEAD id in use, ``resumed`` whether the session skipped Init1/Init2 (§3.5).
    """

    session_id: bytes
    tep: int
    aead: int
    resumed: bool


@dataclass(frozen=True, slots=True)
class KeysUpdated(Event):
    """A tcpcrypt key generation changed (RFC 8548 §3.8).

    ``direction`` is ``"local"`` (the generation we encrypt with: we sent a frame with the
    rekey bit) or ``"remote"`` (a received frame carried the rekey bit).
    """

    generation: int
    direction: str


# --- TCP-ENO (RFC 8547) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnoNegotiated(Event):
    """TCP-ENO chose a TEP (RFC 8547 §4.5): both SYN-form options are known and agree.

    ``outcome`` is what :func:`~tcpinc_tools.wire.eno.negotiate` made of them (negotiated
    TEP, the TEP byte with B's v bit, both suboptions, the transcript of §4.8); ``role`` is
    this host's role (§4.3). Encryption is not enabled yet: :class:`EnoEnabled` follows once
    both hosts have acknowledged ENO, or :class:`FellBack` if the handshake loses it.
    """

    outcome: EnoOutcome
    role: Role


@dataclass(frozen=True, slots=True)
class EnoEnabled(Event):
    """RFC 8547 §4.6: this host has both sent and received an ACK segment carrying ENO, so
    encryption is enabled: from now on the TEP owns the byte stream (tcpcrypt: A sends
    Init1, B waits for it). Same fields as the :class:`EnoNegotiated` before it.
    """

    outcome: EnoOutcome
    role: Role


@dataclass(frozen=True, slots=True)
class FellBack(Event):
    """TCP-ENO failed: encryption is disabled and the connection is plain TCP (RFC 8547 §4.6).

    ``reason`` is a finding id (``tcpeno.fallback.*``, or the TEP policy's own id);
    ``detail`` a human-readable note (the decode error of an ill-formed option). ``abort``
    is set in mandatory-encryption mode (``tep_mandatory``): the connection must not go on
    unencrypted, so the owner of the TCP connection aborts it.
    """

    reason: str
    abort: bool = False
    detail: str | None = None
