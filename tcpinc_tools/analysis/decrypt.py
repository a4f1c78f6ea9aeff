"""Decrypting tcpcrypt frames with session secrets from a key log (RFC 8548 §3.3-§3.6).

The key log gives ss[0] by N_A (a fresh session) or ss[i] by resumption identifier (a
resumed one, also derived from an earlier ss by the log itself). From ss this module derives
the session keys with :func:`~tcpinc_tools.crypto.schedule.derive_keys` and tries them on the
frames of each direction.

What is not on the wire is found by trial, on the first frames only:

- the frame-offset reading (DIGEST.md §2.12, trap T12): ``stream`` counts from ISN+1 with the
  Init messages included (the project's literal reading of RFC 8548 §4.2.3, tried first in
  the rfc dialect), ``after_init`` from the first byte after Init1 (A→B) or Init2 (B→A), as
  tcpcryptd 0.5 does (LEGACY.md; tried first in the legacy dialect);
- for a resumed session, the AEAD (the original session's, not negotiated again) and, in
  the legacy dialect, which host was A originally (RFC 8548 §3.5: the keys stay with the
  ORIGINAL roles; an rfc identifier half says it, a legacy identifier does not).

Once a frame authenticates, the key and reading that opened it are kept for the direction.
A direction that opens none of its first :data:`MAX_TRIAL_FRAMES` frames gives up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from ..crypto.aead import FrameCipher
from ..crypto.schedule import Direction, SessionKeys, derive_keys, resume_id, session_nonce
from ..errors import DecodeError, DecryptionError, LocalProtocolError
from ..keylog import KeyLog, ResumeMatch
from ..records import picklable
from ..wire.constants import AeadId, Dialect, LegacyAeadId
from ..wire.eno import EnoSuboption
from ..wire.tcpcrypt import ResumeOffer, decode_resume_suboption

__all__ = [
    "MAX_TRIAL_FRAMES",
    "KeyCandidate",
    "Reading",
    "SessionSecrets",
    "StreamDecryptor",
    "fresh_secrets",
    "readings_for",
    "resumed_secrets",
]

# Frames a direction tries every candidate key and reading on before giving up: a few
# tampered first frames are survived, a wrong key costs at most this many trials.
MAX_TRIAL_FRAMES: Final = 16

_RFC_AEADS: Final = (
    AeadId.AEAD_AES_128_GCM,
    AeadId.AEAD_AES_256_GCM,
    AeadId.AEAD_CHACHA20_POLY1305,
)
_LEGACY_AEADS: Final = (LegacyAeadId.AES_128_GCM, LegacyAeadId.AES_256_GCM)


@dataclass(frozen=True, slots=True, init=False)
class KeyCandidate:
    """Keys that may seal one direction: the session keys at generation 0 and which traffic
    key ("ab" = k_ab, "ba" = k_ba) the direction uses."""

    keys: SessionKeys
    direction: Direction

    def __init__(self, keys: SessionKeys, direction: Direction) -> None:  # by hand: see records.py
        object.__setattr__(self, "keys", keys)
        object.__setattr__(self, "direction", direction)


@dataclass(frozen=True, slots=True, init=False)
class Reading:
    """How a direction counts frame offsets: ``base`` is subtracted from the stream offset."""

    name: str
    base: int

    def __init__(self, name: str, base: int) -> None:  # by hand: see records.py
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "base", base)


@dataclass(frozen=True, slots=True, init=False)
class SessionSecrets:
    """The candidate keys of one session, per stream (A→B, B→A by current roles)."""

    a_to_b: tuple[KeyCandidate, ...]
    b_to_a: tuple[KeyCandidate, ...]
    session_id: bytes
    origin: bytes
    generation: int
    half_mismatch: bool = False

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        a_to_b: tuple[KeyCandidate, ...],
        b_to_a: tuple[KeyCandidate, ...],
        session_id: bytes,
        origin: bytes,
        generation: int,
        half_mismatch: bool = False,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "a_to_b", a_to_b)
        object.__setattr__(self, "b_to_a", b_to_a)
        object.__setattr__(self, "session_id", session_id)
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "generation", generation)
        object.__setattr__(self, "half_mismatch", half_mismatch)


def fresh_secrets(
    keylog: KeyLog, n_a: bytes, *, tep_byte: int, ciphers: Sequence[int], dialect: Dialect
) -> SessionSecrets | None:
    """Keys of a fresh session whose Init1 carried ``n_a``: one candidate per AEAD id in
    ``ciphers`` (Init2's choice; Init1's list when Init2 was not seen). None when the key
    log has no ss[0] for ``n_a``."""
    ss = keylog.ss_for_init1(n_a)
    if ss is None:
        return None
    keys = [k for k in (_derive(ss, tep_byte, c, b"", dialect) for c in ciphers) if k is not None]
    if not keys:
        return None
    # RFC 8548 §3.3: in a fresh session A encrypts with k_ab, B with k_ba.
    return SessionSecrets(
        a_to_b=tuple(KeyCandidate(k, "ab") for k in keys),
        b_to_a=tuple(KeyCandidate(k, "ba") for k in keys),
        session_id=keys[0].session_id,
        origin=n_a,
        generation=0,
    )


def _derive(ss: bytes, tep_byte: int, aead: int, sn: bytes, dialect: Dialect) -> SessionKeys | None:
    try:
        return derive_keys(ss, tep_byte=tep_byte, aead=aead, sn=sn, dialect=dialect)
    except LocalProtocolError:
        return None  # an AEAD id the dialect does not have


def _offer(sub: EnoSuboption, dialect: Dialect) -> ResumeOffer | None:
    try:
        return decode_resume_suboption(sub.data, dialect=dialect)
    except DecodeError:
        return None


def resumed_secrets(
    keylog: KeyLog,
    *,
    dialect: Dialect,
    tep_byte: int,
    sub_of_a: EnoSuboption,
    sub_of_b: EnoSuboption,
) -> SessionSecrets | None:
    """Keys of a resumed session from the resumption suboptions of A and B (current roles).

    rfc (RFC 8548 §3.5): each host sent the half of resume[i] of its ORIGINAL role and a
    nonce; the key log says which half an identifier is, so which host was A, hence
    sn[i] = nonce_a ‖ nonce_b and which stream uses k_ab. legacy (LEGACY.md): A's SYN carries
    the 9-byte identifier, no nonce; the original roles are tried both ways.
    """
    if dialect == "legacy":
        offer = _offer(sub_of_a, dialect)
        if offer is None:
            return None
        match = keylog.ss_for_resume(offer.half, dialect="legacy")
        if match is None:
            return None
        return _candidates(
            match,
            tep_byte=tep_byte,
            sn=b"",
            aeads=_LEGACY_AEADS,
            dialect="legacy",
            a_was_a=None,
        )
    offer_a, offer_b = _offer(sub_of_a, dialect), _offer(sub_of_b, dialect)
    if offer_a is None or offer_b is None:
        return None
    match = keylog.ss_for_resume(offer_a.half, dialect="rfc")
    if match is not None:
        a_was_a = match.half == "a"
    else:
        match = keylog.ss_for_resume(offer_b.half, dialect="rfc")
        if match is None:
            return None
        a_was_a = match.half == "b"
    # RFC 8548 §3.5: sn[i] = nonce_a | nonce_b, by the roles of the original session.
    nonce_a, nonce_b = (offer_a.nonce, offer_b.nonce) if a_was_a else (offer_b.nonce, offer_a.nonce)
    secrets = _candidates(
        match,
        tep_byte=tep_byte,
        sn=session_nonce(nonce_a, nonce_b),
        aeads=_RFC_AEADS,
        dialect="rfc",
        a_was_a=a_was_a,
    )
    if secrets is None:
        return None
    rid = resume_id(match.ss)
    halves = (offer_a.half + offer_b.half) if a_was_a else (offer_b.half + offer_a.half)
    if halves != rid:
        return SessionSecrets(
            secrets.a_to_b,
            secrets.b_to_a,
            secrets.session_id,
            secrets.origin,
            secrets.generation,
            half_mismatch=True,
        )
    return secrets


def _candidates(
    match: ResumeMatch,
    *,
    tep_byte: int,
    sn: bytes,
    aeads: Sequence[int],
    dialect: Dialect,
    a_was_a: bool | None,
) -> SessionSecrets | None:
    keys = [
        k for k in (_derive(match.ss, tep_byte, a, sn, dialect) for a in aeads) if k is not None
    ]
    if not keys:
        return None
    # RFC 8548 §3.5: the host that was A when ss[0] was made encrypts with k_ab.
    mapping: tuple[tuple[Direction, Direction], ...]
    if a_was_a is None:
        mapping = (("ab", "ba"), ("ba", "ab"))
    else:
        mapping = (("ab", "ba"),) if a_was_a else (("ba", "ab"),)
    a_to_b = tuple(KeyCandidate(k, m[0]) for k in keys for m in mapping)
    b_to_a = tuple(KeyCandidate(k, m[1]) for k in keys for m in mapping)
    return SessionSecrets(a_to_b, b_to_a, keys[0].session_id, match.origin, match.generation)


class StreamDecryptor:
    """Opens the frames of one direction: trial until one frame authenticates, then the key
    and reading that worked. ``open`` never raises on frame content."""

    __slots__ = (
        "_candidates",
        "_chosen",
        "_cipher",
        "_current",
        "_readings",
        "_trials",
        "gave_up",
    )

    def __init__(self, candidates: Sequence[KeyCandidate], readings: Sequence[Reading]) -> None:
        self._candidates = tuple(candidates)
        seen: set[int] = set()
        unique = []
        for reading in readings:
            if reading.base not in seen:
                seen.add(reading.base)
                unique.append(reading)
        self._readings = tuple(unique)
        self._chosen: tuple[int, Reading] | None = None
        self._current: dict[int, SessionKeys] = {}
        self._cipher: dict[int, tuple[int, FrameCipher]] = {}
        self._trials = 0
        self.gave_up = not self._candidates

    @property
    def determined(self) -> bool:
        """A frame of this direction authenticated."""
        return self._chosen is not None

    @property
    def reading(self) -> Reading | None:
        return self._chosen[1] if self._chosen is not None else None

    @property
    def candidate(self) -> KeyCandidate | None:
        return self._candidates[self._chosen[0]] if self._chosen is not None else None

    def _keys_at(self, index: int, generation: int) -> SessionKeys:
        keys = self._current.get(index)
        if keys is None or keys.generation > generation:
            keys = self._candidates[index].keys
        while keys.generation < generation:
            # RFC 8548 §3.8: mk[j] = CPRF(mk[j-1], CONST_REKEY, K_LEN), new k_ab / k_ba.
            keys = keys.next_generation()
        self._current[index] = keys
        return keys

    def _try(self, index: int, generation: int, offset: int, frame: bytes) -> bytes | None:
        cached = self._cipher.get(index)
        if cached is not None and cached[0] == generation:
            cipher = cached[1]
        else:
            keys = self._keys_at(index, generation)
            cipher = keys.cipher(self._candidates[index].direction)
            self._cipher[index] = (generation, cipher)
        try:
            return cipher.open(offset, frame)
        except (DecryptionError, LocalProtocolError):
            return None

    def open(
        self, offset: int, generation: int, frame: bytes, *, lookahead: int = 0
    ) -> tuple[bytes, int] | None:
        """The plaintext of the frame at stream ``offset`` sealed at ``generation`` (or up to
        ``lookahead`` generations later, after a gap hid rekey bits) and the generation that
        opened it; None when it does not authenticate."""
        if self._chosen is not None:
            index, reading = self._chosen
            for gen in range(generation, generation + lookahead + 1):
                plaintext = self._try(index, gen, offset - reading.base, frame)
                if plaintext is not None:
                    return plaintext, gen
            return None
        if self.gave_up:
            return None
        self._trials += 1
        for index in range(len(self._candidates)):
            for reading in self._readings:
                if offset < reading.base:
                    continue
                for gen in range(generation, generation + lookahead + 1):
                    plaintext = self._try(index, gen, offset - reading.base, frame)
                    if plaintext is not None:
                        self._chosen = (index, reading)
                        # Only the chosen candidate is needed from now on.
                        self._current = {index: self._current[index]}
                        self._cipher = {index: self._cipher[index]}
                        return plaintext, gen
        if self._trials >= MAX_TRIAL_FRAMES:
            self.gave_up = True
            self._current.clear()
            self._cipher.clear()
        return None


def readings_for(dialect: Dialect, init_len: int, resumed: bool) -> tuple[Reading, ...]:
    """The offset readings to try, the dialect's usual one first (see the module doc)."""
    stream = Reading("stream", 0)
    after = Reading("after_init", init_len)
    if resumed or init_len == 0:
        return (stream,)
    return (stream, after) if dialect == "rfc" else (after, stream)


picklable(KeyCandidate, Reading, SessionSecrets)
