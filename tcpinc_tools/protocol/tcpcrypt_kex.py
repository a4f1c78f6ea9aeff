"""tcpcrypt's fresh key exchange, Init1 and Init2, as stream-level steps (RFC 8548 §3.3, §4.1).

:class:`InitiatorKex` is host A: it builds Init1 at once and takes Init2 from the start of
B's stream. :class:`ResponderKex` is host B: it takes Init1 and answers with Init2. Both parse
from the reassembled byte stream (a message may span segments, RFC 8548 §3.3) and report a
peer's mistake as :class:`TcpcryptAbort` with a distinct reason id; the session turns that
into an abort of the connection. Randomness (N_A / N_B and the ephemeral key pair) is drawn
from ``random_bytes`` when the object is built, so a seeded generator gives repeatable runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final

from ..crypto.kex import KeyPair, RandomBytes, generate_keypair, shared_secret
from ..crypto.schedule import SessionKeys, compute_ss0, derive_keys
from ..errors import DecodeError, KeyExchangeError, LocalProtocolError, RemoteProtocolError
from ..wire.constants import (
    INIT1_MAGIC,
    INIT2_MAGIC,
    INIT_HEADER_LEN,
    LEGACY_AEAD_TO_RFC,
    N_A_LEN,
    N_B_LEN,
    AeadId,
    Dialect,
    LegacyAeadId,
)
from ..wire.tcpcrypt import Init1, Init2, decode_init1, decode_init2, encode_init1, encode_init2

__all__ = [
    "INIT_MESSAGE_MAX",
    "FreshKeys",
    "InitiatorKex",
    "ResponderKex",
    "TcpcryptAbort",
    "aead_from_wire",
    "aead_to_wire",
]

# The longest Init1 / Init2 we buffer. The largest real message (P-521 Init1 with every
# AEAD) is about 120 bytes; RFC 8548 §4.1 lets a sender append ignored bytes, and 64 KiB
# is ample for that while stopping a peer from making us hold gigabytes for a message_len
# it never fills.
INIT_MESSAGE_MAX: Final = 0x10000

# Abort reasons (the ids of the shared finding vocabulary).
CIPHER_NOT_OFFERED = "tcpcrypt.cipher_not_offered"
NO_COMMON_CIPHER = "tcpcrypt.no_common_cipher"
INVALID_PUBLIC_KEY = "tcpcrypt.invalid_public_key"
INIT_TOO_LONG = "tcpcrypt.init.too_long"


class TcpcryptAbort(RemoteProtocolError):
    """The peer broke tcpcrypt: the connection must abort with ``reason`` (never raised to
    the application; the session reports ConnectionAborted(reason))."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(message or reason)
        self.reason = reason


# RFC 8548 §4.1 uses two-byte AEAD ids; LEGACY.md (tcpcrypt-02) one-byte ones for the two
# AES-GCM algorithms. The configuration speaks AeadId; these map to and from the wire.
def aead_to_wire(aead: AeadId, dialect: Dialect) -> int | None:
    """The sym_cipher value of ``aead`` in ``dialect``; None when the dialect lacks it."""
    if dialect == "rfc":
        return int(aead)
    for legacy, rfc in LEGACY_AEAD_TO_RFC.items():
        if rfc == aead:
            return int(legacy)
    return None


def aead_from_wire(value: int, dialect: Dialect) -> AeadId | None:
    """The AeadId a received sym_cipher value names; None for an unknown one."""
    try:
        if dialect == "rfc":
            return AeadId(value)
        return LEGACY_AEAD_TO_RFC[LegacyAeadId(value)]
    except (ValueError, KeyError):
        return None


def _wire_list(aeads: Sequence[AeadId], dialect: Dialect) -> tuple[int, ...]:
    wire = tuple(w for w in (aead_to_wire(a, dialect) for a in aeads) if w is not None)
    if not wire:
        raise LocalProtocolError(f"no AEAD of {list(aeads)} exists in the {dialect} dialect")
    return wire


def _draw(random_bytes: RandomBytes, n: int) -> bytes:
    out = bytes(random_bytes(n))
    if len(out) != n:
        raise LocalProtocolError(f"random_bytes({n}) returned {len(out)} bytes")
    return out


# RFC 8548 §4.1: magic (4) ‖ message_len (4) ‖ ...; the message may arrive in pieces.
def _complete_message(buf: bytearray, magic: int, name: str) -> bytes | None:
    """The whole Init message at the start of ``buf`` once it is all there, else None.

    A wrong magic is reported as soon as its 4 bytes are in, a message_len past
    INIT_MESSAGE_MAX as soon as the header is.
    """
    if len(buf) >= 4 and int.from_bytes(buf[:4], "big") != magic:
        raise TcpcryptAbort(f"tcpcrypt.{name}.bad_magic", f"{name} magic {buf[:4].hex()}")
    if len(buf) < INIT_HEADER_LEN:
        return None
    message_len = int.from_bytes(buf[4:INIT_HEADER_LEN], "big")
    if message_len > INIT_MESSAGE_MAX:
        raise TcpcryptAbort(INIT_TOO_LONG, f"{name} message_len {message_len}")
    if message_len > INIT_HEADER_LEN and len(buf) < message_len:
        return None
    # A message_len below the header is left to the decoder, which names that error.
    return bytes(buf[: max(message_len, INIT_HEADER_LEN)])


def _es(keypair: KeyPair, peer_public: bytes) -> bytes:
    try:
        # RFC 8548 §3.3 and §5: validate the peer's key; an X25519 / X448 all-zero ES aborts.
        return shared_secret(keypair, peer_public)
    except KeyExchangeError as exc:
        raise TcpcryptAbort(INVALID_PUBLIC_KEY, str(exc)) from None


@dataclass(frozen=True, slots=True)
class FreshKeys:
    """The outcome of a fresh key exchange. ``ss0`` is for the key log and the resumption
    cache only; the session drops it once those have it."""

    keys: SessionKeys
    aead: AeadId
    n_a: bytes
    ss0: bytes = field(repr=False)
    init1_len: int
    init2_len: int


def _derive(
    ss0: bytes,
    *,
    tep_byte: int,
    aead: AeadId,
    dialect: Dialect,
    n_a: bytes,
    init1_len: int,
    init2_len: int,
) -> FreshKeys:
    # RFC 8548 §3.3 (mk[0] from ss[0] with sn[0] empty), §3.4 (session ID); LEGACY.md.
    wire = aead_to_wire(aead, dialect)
    assert wire is not None  # chosen from the dialect's own list
    keys = derive_keys(ss0, tep_byte=tep_byte, aead=wire, dialect=dialect)
    return FreshKeys(keys, aead, n_a, ss0, init1_len, init2_len)


class _Half:
    """What both halves of the exchange hold: the negotiated TEP, the ENO transcript, this
    host's AEAD list (api-06 §3: TCP_CRYPT_ACONF in the order A offers it, TCP_CRYPT_BCONF
    in B's increasing order of preference), its nonce (drawn first) and its ephemeral key
    pair (used once, then dropped)."""

    NONCE_LEN: ClassVar[int]

    def __init__(
        self,
        *,
        tep: int,
        tep_byte: int,
        dialect: Dialect,
        transcript: bytes,
        ciphers: Sequence[AeadId],
        random_bytes: RandomBytes,
    ) -> None:
        self._tep = tep
        self._tep_byte = tep_byte
        self._dialect: Dialect = dialect
        self._transcript = transcript
        self._ciphers = _wire_list(ciphers, dialect)
        self._nonce = _draw(random_bytes, self.NONCE_LEN)
        self._keypair: KeyPair | None = generate_keypair(tep, random_bytes, dialect=dialect)
        self._public = self._keypair.public
        self._start()

    def _start(self) -> None:
        """What the half does once its key pair is drawn (A: build Init1)."""

    def _take_keypair(self) -> KeyPair:
        keypair, self._keypair = self._keypair, None  # the ephemeral key is used once
        assert keypair is not None
        return keypair


class InitiatorKex(_Half):
    """Host A's half of the exchange: Init1 out (built at once, ``init1``), Init2 in."""

    NONCE_LEN = N_A_LEN

    def _start(self) -> None:
        # RFC 8548 §4.1: senders leave the ignored part empty.
        self.init1 = encode_init1(
            self._ciphers, self._nonce, self._public, self._tep, dialect=self._dialect
        )

    def receive(self, buf: bytearray) -> FreshKeys | None:
        """Take Init2 from the start of B's stream; None while it is incomplete.

        The caller drops ``init2_len`` bytes from ``buf`` afterwards.
        """
        raw = _complete_message(buf, INIT2_MAGIC, "init2")
        if raw is None:
            return None
        try:
            msg: Init2 = decode_init2(raw, self._tep, dialect=self._dialect)
        except DecodeError as exc:
            raise TcpcryptAbort(exc.expert_id, str(exc)) from None
        # RFC 8548 §3.3: A aborts if sym_cipher was not in the sym_cipher_list it sent.
        aead = aead_from_wire(msg.cipher, self._dialect)
        if msg.cipher not in self._ciphers or aead is None:
            raise TcpcryptAbort(CIPHER_NOT_OFFERED, f"Init2 chose {msg.cipher:#x}")
        es = _es(self._take_keypair(), msg.pubkey)
        # RFC 8548 §3.3: PRK = Extract(N_A, eno_transcript | Init1 | Init2 | ES) = ss[0].
        ss0 = compute_ss0(self._nonce, self._transcript, self.init1, msg.raw, es)
        return _derive(
            ss0,
            tep_byte=self._tep_byte,
            aead=aead,
            dialect=self._dialect,
            n_a=self._nonce,
            init1_len=len(self.init1),
            init2_len=msg.message_len,
        )


class ResponderKex(_Half):
    """Host B's half of the exchange: Init1 in, Init2 out (``init2``, once Init1 is in)."""

    NONCE_LEN = N_B_LEN

    def _start(self) -> None:
        self.init2: bytes | None = None

    def receive(self, buf: bytearray) -> FreshKeys | None:
        """Take Init1 from the start of A's stream and build Init2 (``self.init2``);
        None while Init1 is incomplete. The caller drops ``init1_len`` bytes from ``buf``."""
        raw = _complete_message(buf, INIT1_MAGIC, "init1")
        if raw is None:
            return None
        try:
            msg: Init1 = decode_init1(raw, self._tep, dialect=self._dialect)
        except DecodeError as exc:
            raise TcpcryptAbort(exc.expert_id, str(exc)) from None
        # RFC 8548 §3.3: B selects sym_cipher from A's list; its most preferred one.
        chosen = next((c for c in reversed(self._ciphers) if c in msg.ciphers), None)
        aead = None if chosen is None else aead_from_wire(chosen, self._dialect)
        if chosen is None or aead is None:
            raise TcpcryptAbort(NO_COMMON_CIPHER, f"Init1 offered {list(msg.ciphers)}")
        keypair = self._take_keypair()
        es = _es(keypair, msg.pubkey)
        self.init2 = encode_init2(
            chosen, self._nonce, keypair.public, self._tep, dialect=self._dialect
        )
        # RFC 8548 §3.3: the same PRK on both sides, over the exact transmitted bytes.
        ss0 = compute_ss0(msg.n_a, self._transcript, msg.raw, self.init2, es)
        return _derive(
            ss0,
            tep_byte=self._tep_byte,
            aead=aead,
            dialect=self._dialect,
            n_a=msg.n_a,
            init1_len=msg.message_len,
            init2_len=len(self.init2),
        )
