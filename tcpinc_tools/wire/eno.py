"""TCP-ENO: the option (RFC 8547 §4.1-§4.4, and the legacy kind-253 form of LEGACY.md) and
the negotiation (§4.3-§4.8).

:func:`decode_eno_option` / :func:`encode_eno_option` convert one option, SYN-form or not
(they live in :mod:`.eno_codec`; import them from here). :func:`negotiate` applies RFC 8547
§4.3-§4.8 to the two SYN-form options of a connection and says which TEP was negotiated, or
why the connection falls back to plain TCP.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..errors import DecodeError, LocalProtocolError
from ..records import picklable
from .buffer import BytesLike
from .constants import DIALECTS, LEGACY_MINIMAL_ENO, Dialect, tep_name
from .eno_codec import (
    BAD_LENGTH,
    LENGTH_OVERRUN,
    LENGTH_THEN_NON_TEP,
    MEMO_SIZE,
    NOT_ENO,
    NOT_ENO_EXID,
    TRUNCATED,
    EnoOption,
    EnoSuboption,
    decode_eno_option,
    encode_eno_option,
)

__all__ = [
    "BAD_LENGTH",
    "FALLBACK_AA_MANDATORY",
    "FALLBACK_B_CONFLICT",
    "FALLBACK_ILL_FORMED",
    "FALLBACK_NO_COMMON_TEP",
    "FALLBACK_NO_ENO",
    "FALLBACK_VACUOUS",
    "LENGTH_OVERRUN",
    "LENGTH_THEN_NON_TEP",
    "MEMO_SIZE",
    "NOT_ENO",
    "NOT_ENO_EXID",
    "TRUNCATED",
    "EnoOption",
    "EnoOutcome",
    "EnoSuboption",
    "Role",
    "decode_eno_option",
    "encode_eno_option",
    "negotiate",
]

# Fallback reasons of negotiate(), in the order the checks run.
FALLBACK_NO_ENO = "tcpeno.fallback.no_eno"
FALLBACK_ILL_FORMED = "tcpeno.fallback.ill_formed"
FALLBACK_B_CONFLICT = "tcpeno.fallback.b_conflict"
FALLBACK_AA_MANDATORY = "tcpeno.fallback.aa_mandatory"
FALLBACK_VACUOUS = "tcpeno.fallback.vacuous"
FALLBACK_NO_COMMON_TEP = "tcpeno.fallback.no_common_tep"


class Role(Enum):
    """RFC 8547 §4.3: the abstract roles; A sent b=0, B sent b=1."""

    A = "A"
    B = "B"

    @property
    def other(self) -> Role:
        return Role.B if self is Role.A else Role.A


# negotiate()'s outcomes by their arguments (MEMO_SIZE entries, then it starts again).
_negotiated: dict[tuple[bytes | None, bytes | None, bool, bool, str], EnoOutcome] = {}


@dataclass(frozen=True, slots=True, init=False)
class EnoOutcome:
    """What RFC 8547 §4.3-§4.8 make of two SYN-form options.

    Host "a" is the active opener (``syn_a``), host "b" the other one. ``role_a`` /
    ``role_b`` are known once both options decode and the b bits differ (rfc) - in the
    legacy dialect host "a" is always A. ``transcript`` is set whenever the roles are.
    ``detail`` is a human-readable note (the decode error of an ill-formed option).
    """

    ok: bool
    dialect: Dialect
    reason: str | None = None
    role_a: Role | None = None
    role_b: Role | None = None
    negotiated_tep: int | None = None
    negotiated_tep_byte: int | None = None
    transcript: bytes | None = None
    global_a: int | None = None
    global_b: int | None = None
    suboption_a: EnoSuboption | None = None
    suboption_b: EnoSuboption | None = None
    option_a: EnoOption | None = None
    option_b: EnoOption | None = None
    detail: str | None = None

    def __init__(  # noqa: PLR0917 - the fields, in order, as a dataclass takes them
        self,
        ok: bool,
        dialect: Dialect,
        reason: str | None = None,
        role_a: Role | None = None,
        role_b: Role | None = None,
        negotiated_tep: int | None = None,
        negotiated_tep_byte: int | None = None,
        transcript: bytes | None = None,
        global_a: int | None = None,
        global_b: int | None = None,
        suboption_a: EnoSuboption | None = None,
        suboption_b: EnoSuboption | None = None,
        option_a: EnoOption | None = None,
        option_b: EnoOption | None = None,
        detail: str | None = None,
    ) -> None:  # by hand: see records.py
        object.__setattr__(self, "ok", ok)
        object.__setattr__(self, "dialect", dialect)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "role_a", role_a)
        object.__setattr__(self, "role_b", role_b)
        object.__setattr__(self, "negotiated_tep", negotiated_tep)
        object.__setattr__(self, "negotiated_tep_byte", negotiated_tep_byte)
        object.__setattr__(self, "transcript", transcript)
        object.__setattr__(self, "global_a", global_a)
        object.__setattr__(self, "global_b", global_b)
        object.__setattr__(self, "suboption_a", suboption_a)
        object.__setattr__(self, "suboption_b", suboption_b)
        object.__setattr__(self, "option_a", option_a)
        object.__setattr__(self, "option_b", option_b)
        object.__setattr__(self, "detail", detail)

    @property
    def tep_name(self) -> str | None:
        return None if self.negotiated_tep is None else tep_name(self.negotiated_tep)


def _decode_for(raw: bytes, dialect: Dialect) -> EnoOption | None:
    """Decode a SYN-form option; None when the bytes are no ENO option of ``dialect``."""
    try:
        opt = decode_eno_option(raw, syn=True)
    except DecodeError as exc:
        if exc.expert_id in (NOT_ENO, NOT_ENO_EXID):
            return None
        raise
    return opt if opt.dialect == dialect else None


def _repetition_ok(opt: EnoOption, tep: int, dialect: Dialect) -> bool:
    # RFC 8547 §4.5 rule 3: tcpcrypt (RFC 8548) defines no repetition. LEGACY.md: a legacy
    # SYN may carry a TEP once with v=0 and once with v=1 (the resumption suboption).
    same = [s for s in opt.suboptions if s.tep == tep]
    if dialect == "rfc":
        return len(same) == 1
    return sum(1 for s in same if s.v) <= 1 and sum(1 for s in same if not s.v) <= 1


def _pick(opt: EnoOption, tep: int, v: bool) -> EnoSuboption:
    """The suboption for ``tep`` in ``opt``: the last with the given v bit, else the last."""
    same = [s for s in opt.suboptions if s.tep == tep]
    matching = [s for s in same if s.v == v]
    return (matching or same)[-1]


# RFC 8547 §4.3 (roles), §4.5 (negotiated TEP), §4.6 (fallback), §4.8 (transcript).
def negotiate(
    syn_a: BytesLike | None,
    syn_b: BytesLike | None,
    *,
    aa_mandatory_a: bool = False,
    aa_mandatory_b: bool = False,
    dialect: Dialect = "rfc",
) -> EnoOutcome:
    """Negotiate from the SYN-form ENO options of the active opener and of the other host.

    The checks run in this order, and the first that fails is the ``reason``:

    1. ``tcpeno.fallback.no_eno``: a SYN had no ENO option (None, or bytes that are no ENO
       option of ``dialect``: another kind, another ExID).
    2. ``tcpeno.fallback.ill_formed``: an option does not decode (RFC 8547 §4.4, §4.6).
    3. ``tcpeno.fallback.b_conflict`` (rfc only): both b=0 or both b=1 (§4.3).
    4. ``tcpeno.fallback.aa_mandatory``: a host in mandatory application-aware mode and
       the peer sent a=0 (§4.2, §4.6).
    5. ``tcpeno.fallback.vacuous``: either option has no TEP (§4.6).
    6. ``tcpeno.fallback.no_common_tep``: no valid TEP (§4.5).

    Any byte strings give an outcome; only an unknown ``dialect`` raises. Outcomes
    (immutable) are kept by their arguments, up to :data:`MEMO_SIZE`: the pairs of options
    in a capture repeat.
    """
    if dialect not in DIALECTS:
        raise LocalProtocolError(f"unknown dialect {dialect!r}")
    a = None if syn_a is None else bytes(syn_a)
    b = None if syn_b is None else bytes(syn_b)
    key = (a, b, aa_mandatory_a, aa_mandatory_b, dialect)
    outcome = _negotiated.get(key)
    if outcome is None:
        outcome = _negotiate(a, b, aa_mandatory_a, aa_mandatory_b, dialect)
        if len(_negotiated) >= MEMO_SIZE:
            _negotiated.clear()
        _negotiated[key] = outcome
    return outcome


def _negotiate(
    syn_a: bytes | None,
    syn_b: bytes | None,
    aa_mandatory_a: bool,
    aa_mandatory_b: bool,
    dialect: Dialect,
) -> EnoOutcome:
    if syn_a is None or syn_b is None:
        return EnoOutcome(ok=False, dialect=dialect, reason=FALLBACK_NO_ENO)
    decoded: list[EnoOption | None] = [None, None]
    absent = False
    detail: str | None = None
    for host, raw in enumerate((syn_a, syn_b)):
        try:
            decoded[host] = _decode_for(raw, dialect)
        except DecodeError as exc:
            detail = detail or f"host {'ab'[host]}: {exc.expert_id}: {exc}"
        else:
            absent = absent or decoded[host] is None
    opt_a, opt_b = decoded
    if absent:
        return EnoOutcome(
            ok=False, dialect=dialect, reason=FALLBACK_NO_ENO, option_a=opt_a, option_b=opt_b
        )
    if detail is not None or opt_a is None or opt_b is None:
        return EnoOutcome(
            ok=False,
            dialect=dialect,
            reason=FALLBACK_ILL_FORMED,
            option_a=opt_a,
            option_b=opt_b,
            detail=detail,
        )
    if dialect == "rfc":
        # RFC 8547 §4.3: the host that sent b=0 is A; the same b on both sides fails.
        if opt_a.b == opt_b.b:
            return _failed(dialect, FALLBACK_B_CONFLICT, opt_a, opt_b)
        role_a = Role.B if opt_a.b else Role.A
    else:
        # LEGACY.md: the SYN-ACK has no b bit; the active opener is A.
        role_a = Role.A
    opt_of_A, opt_of_B = (opt_a, opt_b) if role_a is Role.A else (opt_b, opt_a)
    # RFC 8547 §4.8: A's option then B's, exactly as sent. LEGACY.md: each followed by
    # the minimal option fd 04 45 4e.
    sep = LEGACY_MINIMAL_ENO if dialect == "legacy" else b""
    transcript = opt_of_A.raw + sep + opt_of_B.raw + sep
    # RFC 8547 §4.2: mandatory application-aware mode needs the peer's a=1.
    if (aa_mandatory_a and not opt_b.a) or (aa_mandatory_b and not opt_a.a):
        return _failed(
            dialect, FALLBACK_AA_MANDATORY, opt_a, opt_b, role_a=role_a, transcript=transcript
        )
    # RFC 8547 §4.6: a vacuous option on either side means no valid TEP.
    if opt_a.vacuous or opt_b.vacuous:
        return _failed(
            dialect, FALLBACK_VACUOUS, opt_a, opt_b, role_a=role_a, transcript=transcript
        )
    # RFC 8547 §4.5: the last valid TEP id in B's option; selection ignores v.
    for sub_of_B in reversed(opt_of_B.suboptions):
        tep = sub_of_B.tep
        if (
            tep in opt_of_A.teps
            and _repetition_ok(opt_of_A, tep, dialect)
            and _repetition_ok(opt_of_B, tep, dialect)
        ):
            break
    else:
        return _failed(
            dialect, FALLBACK_NO_COMMON_TEP, opt_a, opt_b, role_a=role_a, transcript=transcript
        )
    sub_of_A = _pick(opt_of_A, tep, sub_of_B.v)
    sub_a, sub_b = (sub_of_A, sub_of_B) if role_a is Role.A else (sub_of_B, sub_of_A)
    return EnoOutcome(
        ok=True,
        dialect=dialect,
        role_a=role_a,
        role_b=role_a.other,
        negotiated_tep=tep,
        negotiated_tep_byte=sub_of_B.byte,
        transcript=transcript,
        global_a=opt_a.effective_global,
        global_b=opt_b.effective_global,
        suboption_a=sub_a,
        suboption_b=sub_b,
        option_a=opt_a,
        option_b=opt_b,
    )


def _failed(
    dialect: Dialect,
    reason: str,
    opt_a: EnoOption,
    opt_b: EnoOption,
    *,
    role_a: Role | None = None,
    transcript: bytes | None = None,
) -> EnoOutcome:
    """The outcome of a negotiation that failed after both options decoded."""
    return EnoOutcome(
        ok=False,
        dialect=dialect,
        reason=reason,
        role_a=role_a,
        role_b=role_a.other if role_a is not None else None,
        transcript=transcript,
        global_a=opt_a.effective_global,
        global_b=opt_b.effective_global,
        option_a=opt_a,
        option_b=opt_b,
    )


picklable(EnoOutcome)
