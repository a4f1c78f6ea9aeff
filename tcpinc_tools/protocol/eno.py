"""TCP-ENO for one connection (RFC 8547 §4.6), sans-IO: a :class:`SegmentHook` of TCP.

:class:`EnoEndpoint` puts the ENO option on the segments TCP sends and reads it on the
segments TCP accepts; it decides with :func:`tcpinc_tools.wire.eno.negotiate` (host "a" =
the active opener; in a simultaneous open both are active openers, so each passes its own
option as host "a" and the b bits decide the roles) and reports its progress as events:

    EnoNegotiated(outcome, role)  both SYN-form options known, a TEP chosen and accepted
    EnoEnabled(outcome, role)     §4.6: an ACK carrying ENO both sent and received;
                                  the TEP (tcpcrypt) now owns the byte stream
    FellBack(reason, abort)       encryption disabled; plain TCP from here on (it may
                                  follow EnoNegotiated: the ACK came without ENO)

The state machine, as data (``EnoState``):

    IDLE         our SYN built (active)          -> NEGOTIATING
    IDLE         SYN received (passive)          -> NEGOTIATED | FELL_BACK
    IDLE         empty TEP list, ENO off         -> OFF  (``enabled=False``: OFF at once)
    NEGOTIATING  peer's SYN or SYN-ACK received  -> NEGOTIATED | FELL_BACK
    NEGOTIATED   ACK with ENO sent and received  -> ENABLED
    NEGOTIATED   ENO missing or changed on a segment up to the first ACK -> FELL_BACK

What is sent (RFC 8547 §4.6): the SYN-form option on our SYN (built once, so identical on
every retransmission) and on our SYN-ACK (a simultaneous open repeats the SYN's option;
a passive opener answers with ``TepPolicy.synack_suboptions`` after an explicit global
suboption with b=1); then the non-SYN form ``45 02`` (legacy: ``fd 04 45 4e``) on every
segment until a non-SYN segment has been received, or none at all once ENO fell back.
RST segments carry no ENO option.

Checks on what is received: up to and including the first received ACK segment, every
segment must carry ENO (a SYN: exactly one option, well formed, and a later SYN-form
option from the peer identical to its first one).

Decisions where RFC 8547 leaves room:
- Fallback reasons (``FellBack.reason``): those of :func:`negotiate` (``no_eno``,
  ``ill_formed``, ``b_conflict``, ``aa_mandatory``, ``vacuous``, ``no_common_tep``), plus
  ``tcpeno.fallback.multiple_eno`` (§4.1), ``tcpeno.fallback.stripped`` (ENO missing on a
  segment after the peer's first SYN, up to the first ACK), ``tcpeno.fallback.syn_changed``
  (the peer's SYN-ACK of a simultaneous open differs from its SYN) and
  ``tcpeno.fallback.legacy_simultaneous_open`` (the legacy dialect has no b bit), and any
  reason ``TepPolicy.accept`` returns.
- A passive opener that falls back on the SYN answers with a vacuous option (b=1 alone)
  when the SYN's option was well formed but gave no valid TEP (vacuous, no common TEP,
  rejected by the policy) and with no ENO option otherwise (no ENO, several, ill formed, b
  conflict, mandatory application-aware mode: RFC 8547 §6 Figure 10). Either way the active
  opener cannot conclude that ENO succeeded.
- Mandatory application-aware mode also sends a=1 (RFC 8547 §8.4).
- An active opener whose policy offers no TEP (and that is not asked for a vacuous option)
  sends no ENO at all (draft-ietf-tcpinc-api-06 §2.1: "an empty list disables ENO").
- Mandatory encryption (``tep_mandatory``): the fallback is reported with
  ``FellBack(abort=True)`` and ``must_abort``; the owner of the :class:`TcpConnection` calls
  its ``abort()``. The endpoint holds no reference to TCP: aborting from inside
  ``on_segment`` would close TCP while it is still processing the segment.
- SYN data (§4.7): tcpcrypt defines none, this endpoint never asks for any, and our TCP
  never puts data on a SYN nor accepts data from one (it acknowledges only the ISN).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from ..errors import DecodeError, EncodeError, LocalProtocolError
from ..wire.constants import (
    DIALECTS,
    GLOBAL_A,
    GLOBAL_B,
    LEGACY_MINIMAL_ENO,
    MINIMAL_ENO,
    SUBOPTION_GLT,
    TEP_MIN,
    Dialect,
    TcpOptionKind,
)
from ..wire.eno import (
    FALLBACK_ILL_FORMED,
    FALLBACK_NO_COMMON_TEP,
    FALLBACK_NO_ENO,
    FALLBACK_VACUOUS,
    EnoOption,
    EnoOutcome,
    EnoSuboption,
    Role,
    decode_eno_option,
    negotiate,
)
from ..wire.tcp_options import TcpOption, is_eno_option, iter_tcp_options
from .events import EnoEnabled, EnoNegotiated, Event, FellBack
from .segment import Segment, TcpFlags

__all__ = [
    "FALLBACK_LEGACY_SIMULTANEOUS_OPEN",
    "FALLBACK_MULTIPLE_ENO",
    "FALLBACK_STRIPPED",
    "FALLBACK_SYN_CHANGED",
    "EnoConfig",
    "EnoEndpoint",
    "EnoState",
    "StaticTepPolicy",
    "TepPolicy",
]

# Fallback reasons beside those of wire.eno.negotiate().
FALLBACK_MULTIPLE_ENO = "tcpeno.fallback.multiple_eno"
FALLBACK_STRIPPED = "tcpeno.fallback.stripped"
FALLBACK_SYN_CHANGED = "tcpeno.fallback.syn_changed"
FALLBACK_LEGACY_SIMULTANEOUS_OPEN = "tcpeno.fallback.legacy_simultaneous_open"

# Reasons after which a passive opener still answers the SYN with a vacuous option: the
# SYN had one well-formed ENO option but there is no valid TEP (RFC 8547 §4.5, §4.6).
_VACUOUS_ANSWER = frozenset({FALLBACK_VACUOUS, FALLBACK_NO_COMMON_TEP})


class EnoState(Enum):
    OFF = "off"  # ENO not used on this connection (configuration)
    IDLE = "idle"  # nothing sent or received yet
    NEGOTIATING = "negotiating"  # our SYN-form option sent, the peer's not yet seen
    NEGOTIATED = "negotiated"  # a TEP chosen; waiting for the ACKs carrying ENO
    ENABLED = "enabled"  # encryption enabled (RFC 8547 §4.6)
    FELL_BACK = "fell back"  # encryption disabled: plain TCP


@dataclass(frozen=True, slots=True)
class EnoConfig:
    """Per-connection TCP-ENO settings (draft-ietf-tcpinc-api-06 §2.1 names in brackets).

    ``enabled`` [TCP_ENO_ENABLED]; ``b`` the role override for a simultaneous open (a
    passive opener always sends b=1) and ``a`` the application-aware bit [SELF_GOPT bits 0
    and 1]; ``aa_mandatory`` [TCP_ENO_AA_MANDATORY] (it sends a=1 too); ``tep_mandatory``
    [TCP_ENO_TEP_MANDATORY]: abort instead of falling back; ``vacuous``: send a SYN-form
    option without TEPs (ENO supported but off, RFC 8547 §4.6).
    """

    enabled: bool = True
    dialect: Dialect = "rfc"
    b: bool = False
    a: bool = False
    aa_mandatory: bool = False
    tep_mandatory: bool = False
    vacuous: bool = False

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise LocalProtocolError(f"unknown dialect {self.dialect!r}")
        if self.dialect == "legacy" and (self.b or self.a or self.aa_mandatory):
            # LEGACY.md: no global suboption; the active opener is A.
            raise LocalProtocolError("the legacy dialect has no global suboption (a, b)")
        if self.tep_mandatory and (self.vacuous or not self.enabled):
            raise LocalProtocolError("tep_mandatory with ENO disabled or vacuous always aborts")

    # RFC 8547 §4.2 Fig. 5 and §8.4.
    def global_suboption(self, *, passive: bool) -> int:
        """The global suboption byte we send (0 means: leave it implicit, active only)."""
        b = passive or self.b
        a = self.a or self.aa_mandatory
        return (GLOBAL_B if b else 0) | (GLOBAL_A if a else 0)


class TepPolicy(Protocol):
    """What the TEP layer (tcpcrypt) decides inside ENO negotiation."""

    def syn_suboptions(self) -> tuple[EnoSuboption, ...]:
        """Active opener: the TEP suboptions to offer in our SYN, in order (v=0 fresh TEPs,
        and at most one resumption suboption TEP|0x80 with data). Called ONCE per
        connection."""
        ...

    def synack_suboptions(self, peer: EnoOption) -> tuple[EnoSuboption, ...]:
        """Passive opener: our answer to the SYN's option (RFC 8548 §3.2). Empty tuple = no
        TEP in common → a vacuous answer (the b=1 global suboption alone)."""
        ...

    def accept(self, outcome: EnoOutcome, role: Role) -> str | None:
        """After negotiate() succeeded: TEP-level validity (RFC 8547 §4.5 rule 2). None to
        accept, or a finding id → ENO falls back with it."""
        ...


class StaticTepPolicy:
    """Offer fixed v=0 TEPs; as B answer with the last of ours that A offered (ignoring v)."""

    def __init__(self, teps: Iterable[int]) -> None:
        self._teps = tuple(teps)
        for tep in self._teps:
            # RFC 8547 §4.1 Table 1: TEP identifiers are 0x20-0x7f.
            if not TEP_MIN <= tep <= SUBOPTION_GLT:
                raise LocalProtocolError(f"TEP id 0x{tep:02x} outside 0x20..0x7f")

    @property
    def teps(self) -> tuple[int, ...]:
        return self._teps

    def syn_suboptions(self) -> tuple[EnoSuboption, ...]:
        return tuple(EnoSuboption(tep=tep) for tep in self._teps)

    # RFC 8547 §4.5: a passive opener SHOULD send one TEP, and a valid one.
    def synack_suboptions(self, peer: EnoOption) -> tuple[EnoSuboption, ...]:
        offered = set(peer.teps)
        for tep in reversed(self._teps):
            if tep in offered:
                return (EnoSuboption(tep=tep),)
        return ()

    def accept(self, outcome: EnoOutcome, role: Role) -> str | None:
        return None


def _option_kind(dialect: Dialect) -> int:
    return TcpOptionKind.ENO if dialect == "rfc" else TcpOptionKind.EXPERIMENTAL_1


class EnoEndpoint:
    """TCP-ENO for one connection: give it to :class:`TcpConnection` as ``hook``.

    Read ``next_event()`` after each call into the TCP connection. Peer misbehaviour is a
    fallback, never an exception; wrong use (a SYN-ACK asked for before any SYN, a policy
    whose suboptions do not encode) raises :class:`LocalProtocolError`. The accessors
    return None while the value is not known (or no longer meaningful after a fallback).
    """

    def __init__(self, config: EnoConfig, policy: TepPolicy) -> None:
        self._config = config
        self._policy = policy
        self._state = EnoState.IDLE if config.enabled else EnoState.OFF
        self._events: deque[Event] = deque()
        self._active: bool | None = None  # None until we send a SYN or take one
        self._own: EnoOption | None = None  # our SYN-form option (SYN or passive SYN-ACK)
        self._synack: bytes | None = None  # the option our SYN-ACK carries, if any
        self._peer: EnoOption | None = None  # the peer's first SYN-form option
        self._peer_syn_seen = False
        self._outcome: EnoOutcome | None = None
        self._role: Role | None = None
        self._reason: str | None = None
        self._detail: str | None = None
        self._sent_ack_eno = False
        self._rcvd_ack_eno = False
        self._first_ack_rcvd = False
        self._non_syn_rcvd = False

    # -- accessors (draft-ietf-tcpinc-api-06 §2.1) ----------------------------------------
    @property
    def config(self) -> EnoConfig:
        return self._config

    @property
    def state(self) -> EnoState:
        return self._state

    @property
    def enabled(self) -> bool:
        """Encryption is enabled (RFC 8547 §4.6): the TEP owns the byte stream."""
        return self._state is EnoState.ENABLED

    @property
    def negotiated(self) -> bool:
        """A TEP was negotiated and ENO has not fallen back (enabled, or about to be)."""
        return self._state in (EnoState.NEGOTIATED, EnoState.ENABLED)

    @property
    def fell_back(self) -> bool:
        return self._state is EnoState.FELL_BACK

    @property
    def reason(self) -> str | None:
        """The fallback reason (a finding id), None unless fell back."""
        return self._reason

    @property
    def detail(self) -> str | None:
        return self._detail

    @property
    def must_abort(self) -> bool:
        """Mandatory encryption and ENO fell back: the connection must be aborted."""
        return self._config.tep_mandatory and self.fell_back

    @property
    def outcome(self) -> EnoOutcome | None:
        """What negotiate() made of the two SYN-form options (also after a fallback)."""
        return self._outcome

    @property
    def role(self) -> Role | None:
        """Our role [TCP_ENO_ROLE], once the b bits decided it."""
        return self._role

    @property
    def transcript(self) -> bytes | None:
        """RFC 8547 §4.8 [TCP_ENO_TRANSCRIPT], while negotiated or enabled."""
        return self._outcome.transcript if self._outcome and self.negotiated else None

    @property
    def negotiated_tep(self) -> int | None:
        """The negotiated TEP id, v bit cleared, while negotiated or enabled."""
        return self._outcome.negotiated_tep if self._outcome and self.negotiated else None

    @property
    def negotiated_tep_byte(self) -> int | None:
        """[TCP_ENO_NEGTEP]: the negotiated TEP with the v bit as B sent it."""
        return self._outcome.negotiated_tep_byte if self._outcome and self.negotiated else None

    @property
    def self_global_suboption(self) -> int:
        """[TCP_ENO_SELF_GOPT]: the global suboption we send (implicit 0x00 included)."""
        if self._own is not None:
            return self._own.effective_global
        if self._config.dialect == "legacy":
            return 0
        return self._config.global_suboption(passive=self._active is False)

    @property
    def peer_global_suboption(self) -> int | None:
        """[TCP_ENO_PEER_GOPT]: the peer's global suboption, once its SYN arrived."""
        return self._peer.effective_global if self._peer is not None else None

    @property
    def teps(self) -> tuple[int, ...]:
        """[TCP_ENO_TEPS]: the TEP ids of our SYN-form option, in order."""
        return self._own.teps if self._own is not None else ()

    @property
    def syn_option(self) -> bytes | None:
        """Our SYN-form option as sent (SYN, or a passive opener's SYN-ACK)."""
        return self._own.raw if self._own is not None else None

    @property
    def peer_syn_option(self) -> bytes | None:
        """The peer's SYN-form option exactly as it arrived."""
        return self._peer.raw if self._peer is not None else None

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    # -- SegmentHook: outgoing ------------------------------------------------------------
    def options_for(self, flags: TcpFlags) -> bytes:
        """The ENO option for a new segment with these SYN/ACK/RST bits (RFC 8547 §4.6)."""
        if self._state is EnoState.OFF or flags & TcpFlags.RST:
            return b""
        if flags & TcpFlags.SYN:
            if flags & TcpFlags.ACK:
                return self._synack_option()
            return self._syn_option()
        # RFC 8547 §4.6: ENO goes on every segment until we receive a non-SYN segment; our
        # first ACK carries it even when such a segment arrived before we built that ACK,
        # since encryption is enabled only by having sent an ACK with ENO.
        if self.fell_back or self._own is None or (self._non_syn_rcvd and self._sent_ack_eno):
            return b""
        if flags & TcpFlags.ACK:
            self._sent_ack_eno = True
            self._maybe_enable()
        # RFC 8547 §4.1 Fig. 3: the non-SYN form, contents empty.
        return MINIMAL_ENO if self._config.dialect == "rfc" else LEGACY_MINIMAL_ENO

    def _syn_option(self) -> bytes:
        if self._active is False:
            raise LocalProtocolError("a passive opener sends no SYN-only segment")
        self._active = True
        if self._own is not None:
            return self._own.raw  # RFC 8547 §4.6: unchanged on retransmission
        cfg = self._config
        subs = () if cfg.vacuous else tuple(self._policy.syn_suboptions())
        if not subs and not cfg.vacuous:
            self._state = EnoState.OFF
            return b""
        self._own = self._build(cfg.global_suboption(passive=False), subs)
        self._state = EnoState.NEGOTIATING
        return self._own.raw

    def _synack_option(self) -> bytes:
        if not self._peer_syn_seen:
            raise LocalProtocolError("a SYN-ACK before any SYN was received")
        if self._synack is None:
            return b""
        if self.negotiated:
            self._sent_ack_eno = True
            self._maybe_enable()
        return self._synack

    def _build(self, global_suboption: int, subs: tuple[EnoSuboption, ...]) -> EnoOption:
        dialect = self._config.dialect
        try:
            return EnoOption.build(
                kind=_option_kind(dialect),
                global_suboption=(global_suboption or None) if dialect == "rfc" else None,
                suboptions=subs,
            )
        except EncodeError as exc:
            raise LocalProtocolError(f"the TEP policy's suboptions do not encode: {exc}") from exc

    # -- SegmentHook: incoming ------------------------------------------------------------
    def on_segment(self, seg: Segment, now: float) -> None:
        """A segment TCP accepted, before TCP acts on it."""
        if self._state is EnoState.OFF or seg.is_rst:
            return
        enos = [o for o in iter_tcp_options(seg.options) if is_eno_option(o)]
        if seg.is_syn and not self._peer_syn_seen:
            self._take_peer_syn(seg, enos)
        elif not self._first_ack_rcvd and self.negotiated:
            self._check_later(seg, enos)
        if not seg.is_syn:
            self._non_syn_rcvd = True
        if seg.is_ack and not self._first_ack_rcvd:
            self._first_ack_rcvd = True
            if self.negotiated:
                self._rcvd_ack_eno = True
                self._maybe_enable()

    def _of_dialect(self, opt: TcpOption) -> bool:
        return opt.kind == _option_kind(self._config.dialect)

    def _take_peer_syn(self, seg: Segment, enos: list[TcpOption]) -> None:
        self._peer_syn_seen = True
        simultaneous = self._active is True and not seg.is_ack
        if self._active is None:
            self._active = False
        peer = self._take_peer_option(enos)
        if peer is None:
            return
        if not self._active:
            self._answer(peer)
            return
        cfg = self._config
        if simultaneous and cfg.dialect == "legacy":
            self._fall_back(FALLBACK_LEGACY_SIMULTANEOUS_OPEN)
            return
        assert self._own is not None
        outcome = negotiate(
            self._own.raw, peer.raw, aa_mandatory_a=cfg.aa_mandatory, dialect=cfg.dialect
        )
        self._conclude(outcome, outcome.role_a)
        # RFC 8547 §4.6: the SYN-ACK of a simultaneous open repeats the SYN's option, or
        # (the second exception) carries none when the peer's SYN made ENO fall back.
        if simultaneous and self.negotiated:
            self._synack = self._own.raw

    def _take_peer_option(self, enos: list[TcpOption]) -> EnoOption | None:
        """The peer's SYN-form option, or None after a fallback."""
        # RFC 8547 §4.1: a SYN with more than one ENO option is treated as having none.
        if len(enos) > 1:
            self._fall_back(FALLBACK_MULTIPLE_ENO)
            return None
        if not enos or not self._of_dialect(enos[0]):
            self._fall_back(FALLBACK_NO_ENO)
            return None
        try:
            self._peer = decode_eno_option(enos[0].raw, syn=True)
        except DecodeError as exc:
            # RFC 8547 §4.4, §4.6 rule 1: ignore the option, disable encryption.
            self._fall_back(FALLBACK_ILL_FORMED, detail=f"{exc.expert_id}: {exc}")
            return None
        return self._peer

    def _answer(self, peer: EnoOption) -> None:
        """Passive opener: build the SYN-ACK's option and negotiate (we are host "b")."""
        cfg = self._config
        gopt = cfg.global_suboption(passive=True)
        subs = () if cfg.vacuous else tuple(self._policy.synack_suboptions(peer))
        own = self._build(gopt, subs)
        outcome = negotiate(peer.raw, own.raw, aa_mandatory_b=cfg.aa_mandatory, dialect=cfg.dialect)
        if outcome.reason == FALLBACK_VACUOUS and own.vacuous and not (cfg.vacuous or peer.vacuous):
            # Our answer is vacuous only because the policy found no TEP in common.
            outcome = replace(outcome, reason=FALLBACK_NO_COMMON_TEP)
        self._conclude(outcome, outcome.role_b)
        if self.negotiated:
            self._own = own
        elif outcome.ok or outcome.reason in _VACUOUS_ANSWER:
            # RFC 8547 §4.6: a vacuous answer (allowed: the SYN had ENO) with b=1, so that
            # the active opener falls back too (outcome.ok: the policy refused the TEP).
            self._own = self._build(gopt, ())
        self._synack = self._own.raw if self._own is not None else None

    def _conclude(self, outcome: EnoOutcome, role: Role | None) -> None:
        self._outcome = outcome
        self._role = role
        if not outcome.ok:
            assert outcome.reason is not None
            self._fall_back(outcome.reason, detail=outcome.detail)
            return
        assert role is not None
        refusal = self._policy.accept(outcome, role)
        if refusal is not None:
            self._fall_back(refusal)
            return
        self._state = EnoState.NEGOTIATED
        self._events.append(EnoNegotiated(outcome, role))

    # RFC 8547 §4.6 rule 1, and no change of the SYN-form option (retransmission,
    # simultaneous open's SYN-ACK).
    def _check_later(self, seg: Segment, enos: list[TcpOption]) -> None:
        assert self._peer is not None
        if seg.is_syn:
            if len(enos) == 1 and enos[0].raw == self._peer.raw:
                return
            self._fall_back(FALLBACK_SYN_CHANGED if enos else FALLBACK_STRIPPED)
        elif not any(self._of_dialect(o) and o.error is None for o in enos):
            self._fall_back(FALLBACK_STRIPPED)

    def _maybe_enable(self) -> None:
        # RFC 8547 §4.6: "Once a host has both sent and received an ACK segment containing
        # an ENO option, encryption MUST be enabled."
        if self._state is EnoState.NEGOTIATED and self._sent_ack_eno and self._rcvd_ack_eno:
            assert self._outcome is not None and self._role is not None
            self._state = EnoState.ENABLED
            self._events.append(EnoEnabled(self._outcome, self._role))

    def _fall_back(self, reason: str, *, detail: str | None = None) -> None:
        # RFC 8547 §4.6: disable encryption, send no more ENO options.
        self._state = EnoState.FELL_BACK
        self._reason = reason
        self._detail = detail
        self._events.append(FellBack(reason, abort=self._config.tep_mandatory, detail=detail))
