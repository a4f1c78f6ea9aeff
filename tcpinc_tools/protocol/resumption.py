"""tcpcrypt session resumption (RFC 8548 §3.5): the secret cache and the ENO TEP policy.

:class:`ResumptionCache` holds, per peer (an identity string the caller chooses, e.g. the
peer's address), TEP and dialect, the lowest unused session secret ss[i] of a chain, with the
role this host played when ss[0] was made and that session's AEAD. Every secret leaves the
cache as it is used: proposing ss[i] (successfully or not) or accepting it moves the entry to
ss[i+1] at once, so no ss[i] can secure two connections, in either role.

:class:`TcpcryptPolicy` is the TEP layer inside TCP-ENO negotiation (the ``TepPolicy`` of
:mod:`.eno`): it offers the tcpcrypt TEPs, adds one resumption suboption when the cache
has a secret for the peer, answers a peer's offer as the passive opener, and after
negotiation decides between a fresh exchange and resumption (:attr:`resume_state`).

Suboptions (RFC 8548 §3.5 Figs. 2-3; LEGACY.md):

    rfc     TEP|0x80 ‖ our half of resume[i] (A: bytes 0-8, B: 9-17, by ORIGINAL role) ‖ nonce
    legacy  SYN: the fresh TEPs, then TEP|0x80 ‖ the 9-byte identifier; SYN-ACK: TEP|0x80 alone
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Final

from ..crypto.kex import RandomBytes
from ..crypto.schedule import legacy_resume_id, next_ss, resume_id
from ..errors import DecodeError, LocalProtocolError
from ..wire.constants import RESUME_HALF_LEN, AeadId, Dialect
from ..wire.eno import EnoOption, EnoOutcome, EnoSuboption, Role
from ..wire.tcpcrypt import ResumeOffer, decode_resume_suboption, encode_resume_suboption
from .tcpcrypt import DEFAULT_TCPCRYPT_CONFIG, ResumeState, TcpcryptConfig, TcpcryptSession

__all__ = [
    "RESUME_LOOKAHEAD",
    "CacheEntry",
    "ResumptionCache",
    "TcpcryptPolicy",
    "identifier_half",
]

# How many secrets past its cached ss[i] a passive opener tries when matching a peer's half.
# The proposer moves to ss[i+1] even when its offer is declined (RFC 8548 §3.5: the lowest i
# "not already been used (successfully or not)"), so after a few declined offers the two
# hosts' chains are a few steps apart; 4 covers that at 4 x 2 HMACs per resumption offer.
RESUME_LOOKAHEAD: Final = 4

RESUME_MISMATCH: Final = "tcpcrypt.resume.mismatch"
UNSUPPORTED_TEP: Final = "tcpcrypt.unsupported_tep"


def identifier_half(ss: bytes, role: Role, dialect: Dialect) -> bytes:
    """The identifier a host whose ORIGINAL role was ``role`` sends for ss[i]."""
    if dialect == "legacy":
        # LEGACY.md: both hosts use the same 9-byte identifier.
        return legacy_resume_id(ss)
    # RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME, 18); A sends {0..8}, B {9..17}.
    rid = resume_id(ss)
    return rid[:RESUME_HALF_LEN] if role is Role.A else rid[RESUME_HALF_LEN:]


def _wire_resume_id(ss: bytes, dialect: Dialect) -> bytes:
    """The resumption id as seen on the wire, for the key log: A's half ‖ B's half (rfc)."""
    return legacy_resume_id(ss) if dialect == "legacy" else resume_id(ss)


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached chain: ``ss`` is ss[``index``], the lowest unused secret."""

    tep: int
    dialect: Dialect
    original_role: Role
    aead: AeadId
    index: int
    ss: bytes = field(repr=False)

    def advanced(self) -> CacheEntry:
        # RFC 8548 §3.3: ss[i+1] = CPRF(ss[i], CONST_NEXTK, K_LEN).
        return replace(self, index=self.index + 1, ss=next_ss(self.ss))


_Key = tuple[str, int, str]


class ResumptionCache:
    """Cached session secrets of one host, in memory only (RFC 8548 §3.5: SHOULD NOT go to
    non-volatile storage)."""

    def __init__(self, *, lookahead: int = RESUME_LOOKAHEAD) -> None:
        if lookahead < 1:
            raise LocalProtocolError(f"lookahead {lookahead} must be at least 1")
        self._lookahead = lookahead
        self._entries: dict[_Key, CacheEntry] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"ResumptionCache({len(self._entries)} entries)"

    def store(
        self,
        peer: str,
        *,
        tep: int,
        dialect: Dialect,
        original_role: Role,
        aead: AeadId,
        ss: bytes,
        index: int,
    ) -> None:
        """Cache ss[``index``] for ``peer``, replacing any chain held for it and ``tep``."""
        self._entries[(peer, tep, dialect)] = CacheEntry(
            tep, dialect, original_role, aead, index, bytes(ss)
        )

    def entry(self, peer: str, tep: int, dialect: Dialect = "rfc") -> CacheEntry | None:
        """The cached chain for ``peer`` and ``tep`` (nothing is used up)."""
        return self._entries.get((peer, tep, dialect))

    def take_for_offer(self, peer: str, tep: int, dialect: Dialect = "rfc") -> CacheEntry | None:
        """The lowest unused secret, for a resumption offer; the cache keeps ss[i+1].

        RFC 8548 §3.5: the proposer uses the lowest i not used before, successfully or not,
        so the offered ss[i] is gone from the cache whatever the peer answers.
        """
        key = (peer, tep, dialect)
        current = self._entries.get(key)
        if current is not None:
            self._entries[key] = current.advanced()
        return current

    def take_matching(
        self, peer: str, tep: int, dialect: Dialect, peer_half: bytes
    ) -> CacheEntry | None:
        """The cached secret that the peer's identifier names, if any (passive opener).

        Secrets up to RESUME_LOOKAHEAD past the cached one are tried; on a match at ss[k]
        the cache keeps ss[k+1] and the secrets before it are erased. No match: None and
        the cache is unchanged.
        """
        key = (peer, tep, dialect)
        candidate = self._entries.get(key)
        for _ in range(self._lookahead):
            if candidate is None:
                return None
            # RFC 8548 §3.5: the peer sends the half of its ORIGINAL role, the other one.
            if identifier_half(candidate.ss, candidate.original_role.other, dialect) == peer_half:
                self._entries[key] = candidate.advanced()
                return candidate
            candidate = candidate.advanced()
        return None

    def forget(self, peer: str, tep: int | None = None, dialect: Dialect | None = None) -> None:
        """Erase the chains held for ``peer`` (only ``tep`` / ``dialect`` when given)."""
        for key in [k for k in self._entries if k[0] == peer]:
            if (tep is None or key[1] == tep) and (dialect is None or key[2] == dialect):
                del self._entries[key]

    def flush(self) -> None:
        """Erase every cached secret."""
        self._entries.clear()


@dataclass(frozen=True, slots=True)
class _Sent:
    """A resumption suboption we sent: the secret it names and our nonce."""

    entry: CacheEntry = field(repr=False)
    nonce: bytes


class TcpcryptPolicy:
    """The tcpcrypt TEPs inside TCP-ENO (``TepPolicy`` of :mod:`.eno`) with resumption.

    ``peer`` names the peer in ``cache``; without a cache nothing is resumed or cached.
    After ``accept`` returned None, :attr:`resume_state` is the resumption to use, or None
    for a fresh key exchange.
    """

    def __init__(
        self,
        config: TcpcryptConfig = DEFAULT_TCPCRYPT_CONFIG,
        *,
        dialect: Dialect = "rfc",
        cache: ResumptionCache | None = None,
        peer: str = "",
        random_bytes: RandomBytes = os.urandom,
    ) -> None:
        self.config = config
        self.dialect: Dialect = dialect
        self.cache = cache
        self.peer = peer
        self._random_bytes = random_bytes
        self._teps = config.teps_for(dialect)
        self._sent: _Sent | None = None
        self._negotiated: int | None = None
        self.resume_state: ResumeState | None = None

    @property
    def teps(self) -> tuple[int, ...]:
        """The TEPs offered, in increasing preference."""
        return self._teps

    def _nonce(self) -> bytes:
        if self.dialect == "legacy":
            return b""  # LEGACY.md: no resumption nonce
        n = self.config.resume_nonce_len
        nonce = bytes(self._random_bytes(n)) if n else b""
        if len(nonce) != n:
            raise LocalProtocolError(f"random_bytes({n}) returned {len(nonce)} bytes")
        return nonce

    # -- TepPolicy -----------------------------------------------------------------------
    def syn_suboptions(self) -> tuple[EnoSuboption, ...]:
        """Our SYN's TEPs: v=0 for each, and one resumption suboption when we can resume."""
        fresh = [EnoSuboption(tep) for tep in self._teps]
        if self.cache is None or not self.config.resume:
            return tuple(fresh)
        for tep in reversed(self._teps):  # the most preferred TEP with a cached secret
            entry = self.cache.take_for_offer(self.peer, tep, self.dialect)
            if entry is not None:
                break
        else:
            return tuple(fresh)
        nonce = self._nonce()
        self._sent = _Sent(entry, nonce)
        half = identifier_half(entry.ss, entry.original_role, self.dialect)
        data = encode_resume_suboption(half, nonce, dialect=self.dialect)
        offer = EnoSuboption(entry.tep, v=True, data=data)
        if self.dialect == "rfc":
            # RFC 8547 §4.5 rule 3: tcpcrypt defines no repeated TEP, so the resumption
            # suboption replaces that TEP's v=0 one (it offers a fresh exchange as well).
            fresh = [s for s in fresh if s.tep != entry.tep]
        # Last: it needs no length byte there (RFC 8547 §4.4), as in LEGACY.md's SYN.
        return (*fresh, offer)

    def synack_suboptions(self, peer: EnoOption) -> tuple[EnoSuboption, ...]:
        """The passive opener's answer: resume when the peer's half names a cached secret,
        else the most preferred of our TEPs the peer offered (v=0), else nothing."""
        if self.cache is not None and self.config.accept_resumption:
            for sub in peer.suboptions:
                answer = self._try_resume(sub)
                if answer is not None:
                    return (answer,)
        offered = set(peer.teps)
        for tep in reversed(self._teps):
            if tep in offered:
                return (EnoSuboption(tep),)
        return ()

    def _try_resume(self, sub: EnoSuboption) -> EnoSuboption | None:
        assert self.cache is not None
        if not sub.v or sub.tep not in self._teps:
            return None
        offer = _decode_offer(sub, self.dialect)
        if offer is None:
            # RFC 8548 §3.5: fewer than 9 bytes is a fresh-exchange offer.
            return None
        entry = self.cache.take_matching(self.peer, sub.tep, self.dialect, offer.half)
        if entry is None:
            return None
        nonce = self._nonce()
        self._sent = _Sent(entry, nonce)
        if self.dialect == "legacy":
            return EnoSuboption(sub.tep, v=True)  # LEGACY.md: TEP|0x80 alone
        half = identifier_half(entry.ss, entry.original_role, self.dialect)
        return EnoSuboption(sub.tep, v=True, data=encode_resume_suboption(half, nonce))

    def accept(self, outcome: EnoOutcome, role: Role) -> str | None:
        """Fresh exchange or resumption, once ENO chose a TEP (RFC 8547 §4.5 rule 2)."""
        self.resume_state = None
        tep = outcome.negotiated_tep
        if tep is None or tep not in self._teps:
            return UNSUPPORTED_TEP
        self._negotiated = tep
        # Whatever happens, the secret we offered or accepted is not kept here.
        sent, self._sent = self._sent, None
        mine, theirs = (
            (outcome.suboption_a, outcome.suboption_b)
            if outcome.role_a is role
            else (outcome.suboption_b, outcome.suboption_a)
        )
        sub_of_b = mine if role is Role.B else theirs
        if sub_of_b is None or not _is_resumption(sub_of_b, self.dialect, from_b=True):
            # RFC 8548 §3.2: B sent the TEP with v=0: fresh key exchange.
            return None
        if sent is None or sent.entry.tep != tep or mine is None or theirs is None:
            # RFC 8548 §3.5: a resumption suboption naming nothing we sent is ignored,
            # which leaves no TEP: ENO fails.
            return RESUME_MISMATCH
        entry = sent.entry
        peer_nonce = b""
        if self.dialect == "rfc" or role is Role.B:
            offer = _decode_offer(theirs, self.dialect)
            expected = identifier_half(entry.ss, entry.original_role.other, self.dialect)
            if offer is None or offer.half != expected:
                return RESUME_MISMATCH
            peer_nonce = offer.nonce
        # RFC 8548 §3.5: sn[i] = nonce_a | nonce_b, by ORIGINAL role.
        nonce_a, nonce_b = (
            (sent.nonce, peer_nonce) if entry.original_role is Role.A else (peer_nonce, sent.nonce)
        )
        self.resume_state = ResumeState(
            entry.ss,
            entry.original_role,
            entry.aead,
            nonce_a,
            nonce_b,
            _wire_resume_id(entry.ss, self.dialect),
        )
        if self.cache is not None and not self.config.cache_secrets:
            # RFC 8548 §3.5 policy 2: no secret of this connection stays cached.
            self.cache.forget(self.peer, tep, self.dialect)
        return None

    # -- after negotiation ---------------------------------------------------------------
    def remember(self, session: TcpcryptSession) -> None:
        """Cache ss[1] of a fresh session whose keys are ready (RFC 8548 §3.5)."""
        secret = session.take_next_secret()
        aead = session.aead
        if secret is None or aead is None or self.cache is None or not self.config.cache_secrets:
            return
        self.cache.store(
            self.peer,
            tep=session.tep,
            dialect=self.dialect,
            original_role=session.original_role,
            aead=aead,
            ss=secret,
            index=1,
        )

    def flush(self) -> None:
        """TCP_CRYPT_CACHE_FLUSH (api-06 §3). Before negotiation: use no cached secret
        (fresh key exchange). After: erase the chain the connection used or created, and
        cache nothing more from it (RFC 8548 §3.5)."""
        if self._negotiated is None:
            self.config = replace(self.config, resume=False, accept_resumption=False)
            return
        self.config = replace(self.config, cache_secrets=False)
        if self.cache is not None:
            self.cache.forget(self.peer, self._negotiated, self.dialect)


def _decode_offer(sub: EnoSuboption, dialect: Dialect) -> ResumeOffer | None:
    try:
        return decode_resume_suboption(sub.data, dialect=dialect)
    except DecodeError:
        return None


def _is_resumption(sub: EnoSuboption, dialect: Dialect, *, from_b: bool) -> bool:
    """Whether a suboption asks for resumption (RFC 8548 §3.5: v=1 with at least 9 data
    bytes; LEGACY.md: B's answer is TEP|0x80 with no data)."""
    if not sub.v:
        return False
    if dialect == "legacy" and from_b:
        return True
    return len(sub.data) >= RESUME_HALF_LEN
