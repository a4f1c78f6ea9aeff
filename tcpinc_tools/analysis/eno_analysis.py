"""TCP-ENO in one connection's handshake, as a passive observer sees it (RFC 8547 §4).

:class:`EnoTracker` is given the segments of one connection while its handshake window is
open, in capture order, and says at the end what ENO negotiated or why it fell back.

What it looks at, per side (0: the client, the first SYN's sender; 1: the server):

- every SYN-form segment (SYN, SYN-ACK, retransmissions): the option area walked and
  accounted (:func:`~tcpinc_tools.wire.tcp_options.syn_option_report`), the ENO option
  decoded, its suboptions checked; a retransmission compared with the first;
- every non-SYN segment the side sends before it has received a non-SYN segment (RFC 8547
  §4.6: ENO must be on each of them), approximated by capture order: a side's window closes
  when the first non-SYN segment of the other side is seen.

Outcome, in this order (the first that applies is the fallback reason):

1. ``tcpeno.fallback.multiple_eno``: a SYN with more than one ENO option (§4.1);
2. ``tcpeno.fallback.legacy_simultaneous_open``: the legacy dialect has no b bit;
3. the reason of :func:`~tcpinc_tools.wire.eno.negotiate` (host "a" = the client);
4. ``tcpcrypt.resume.mismatch``: B resumed but A offered no resumption for that TEP;
5. ``tcpeno.fallback.syn_changed``: a SYN-form option changed on a retransmission (§4.6);
6. ``tcpeno.fallback.stripped``: ENO missing on a segment up to and including the
   sender's first ACK (``tcpeno.fallback.aa_mandatory`` when that sender had set a=1 and the
   peer a=0: a mandatory application-aware host falling back, §4.2).

Status: ``fallback`` with a reason; ``encrypted`` once each side sent an ACK segment with ENO
(§4.6; the SYN-ACK is the passive opener's); ``incomplete`` otherwise (a SYN-form segment
or the client's first ACK not captured).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from ..errors import DecodeError
from ..records import picklable
from ..wire.constants import (
    GLOBAL_A,
    GLOBAL_RESERVED,
    RESUME_HALF_LEN,
    TCP_OPTION_SPACE,
    Dialect,
    TcpFlag,
    TcpOptionKind,
    TepId,
    tep_name,
)
from ..wire.eno import EnoOption, EnoOutcome, EnoSuboption, Role, decode_eno_option, negotiate
from ..wire.tcp_options import (
    SynOptionReport,
    TcpOption,
    is_eno_option,
    iter_tcp_options,
    syn_option_report,
)
from ..wire.tcpcrypt import decode_resume_suboption
from .model import EnoResult, FindingSink, Status
from .option_space import space_note_text

__all__ = ["TCPCRYPT_TEPS", "EnoTracker", "Negotiated"]

_SYN: Final = int(TcpFlag.SYN)
_ACK: Final = int(TcpFlag.ACK)
_RST: Final = int(TcpFlag.RST)

# RFC 8548 §7 Table 4: the tcpcrypt TEPs (LEGACY.md: tcpcryptd 0.5 has the NIST ones only).
TCPCRYPT_TEPS: Final[dict[Dialect, frozenset[int]]] = {
    "rfc": frozenset(
        {
            TepId.TCPCRYPT_ECDHE_P256,
            TepId.TCPCRYPT_ECDHE_P521,
            TepId.TCPCRYPT_ECDHE_Curve25519,
            TepId.TCPCRYPT_ECDHE_Curve448,
        }
    ),
    "legacy": frozenset({TepId.TCPCRYPT_ECDHE_P256, TepId.TCPCRYPT_ECDHE_P521}),
}

# The smallest ENO option a side could have sent (RFC 8547 §4.1-§4.2): SYN `45 03 tep`;
# SYN-ACK `45 04 01 tep` (the b=1 global suboption is required); legacy `fd 05 45 4e tep`.
_MIN_ENO: Final[dict[tuple[Dialect, bool], int]] = {
    ("rfc", False): 3,
    ("rfc", True): 4,
    ("legacy", False): 5,
    ("legacy", True): 5,
}

# Consecutive NOPs that alignment never needs (stacks use at most two): an overwritten option.
_NOP_RUN: Final = 3


@dataclass(frozen=True, slots=True)
class Negotiated:
    """A successful negotiation, as the tcpcrypt analysis needs it."""

    outcome: EnoOutcome
    dialect: Dialect
    a_is_client: bool
    sub_of_a: EnoSuboption  # the negotiated TEP's suboption in A's option (by role)
    sub_of_b: EnoSuboption
    resumed: bool


class _Side:
    """What one side sent in the handshake."""

    __slots__ = (
        "ack_with_eno",
        "changed_at",
        "dropped_at",
        "eno_kind",
        "first_ack_done",
        "global_a",
        "multiple",
        "space_left",
        "stripped_at",
        "syn_count",
        "syn_decoded",
        "syn_only",
        "syn_options",
        "syn_packet",
        "syn_raw",
        "window_open",
    )

    def __init__(self) -> None:
        self.syn_count = 0
        self.syn_options: bytes | None = None  # option bytes of the first SYN-form segment
        self.syn_raw: bytes | None = None  # its (first) ENO option
        self.syn_decoded: EnoOption | None = None  # syn_raw decoded (once it has been)
        self.syn_packet: int | None = None
        self.syn_only = False  # a SYN without ACK was sent (an active opener)
        self.multiple = False
        self.eno_kind: int | None = None  # kind of any ENO option seen from this side
        self.space_left = TCP_OPTION_SPACE
        self.global_a = False
        self.changed_at: int | None = None
        self.dropped_at: int | None = None
        self.stripped_at: int | None = None
        self.first_ack_done = False
        self.ack_with_eno = False
        self.window_open = True


class EnoTracker:
    """ENO checks on one connection's handshake segments (see the module doc)."""

    __slots__ = ("_enabled", "_flags_noted", "_negotiated", "_outcome_cache", "_sides", "sink")

    def __init__(self, sink: FindingSink) -> None:
        self.sink = sink
        self._sides = (_Side(), _Side())
        self._negotiated: Negotiated | bool | None = False  # False: not decided yet
        self._flags_noted: set[str] | None = None  # created when first needed
        self._outcome_cache: tuple[tuple[bytes | None, bytes | None, str], EnoOutcome] | None = None
        self._enabled = False  # enabled() once true stays true (cached)

    @property
    def active(self) -> bool:
        """Segments still matter: some side's handshake window is open."""
        return self._sides[0].window_open or self._sides[1].window_open

    # -- input -------------------------------------------------------------------------

    def on_segment(
        self, side: int, number: int, flags: int, options: bytes, payload_len: int
    ) -> None:
        """One segment of ``side`` (0 client, 1 server), in capture order."""
        if flags & _RST:
            return  # RST segments carry no ENO option (RFC 8547 §4.6 is about the others)
        me, peer = self._sides[side], self._sides[1 - side]
        if flags & _SYN:
            self._syn(me, number=number, flags=flags, options=options, payload_len=payload_len)
        elif me.window_open:
            self._non_syn(me, side, number, flags, options)
        if not flags & _SYN:
            # RFC 8547 §4.6: the peer stops sending ENO once it receives a non-SYN segment.
            peer.window_open = False

    def _syn(
        self,
        me: _Side,
        *,
        number: int,
        flags: int,
        options: bytes,
        payload_len: int,
    ) -> None:
        if not flags & _ACK:
            me.syn_only = True
        first = me.syn_count == 0
        me.syn_count += 1
        if not first and options == me.syn_options:
            # An identical retransmission (or a simultaneous open's SYN-ACK repeating the SYN).
            if flags & _ACK and not me.first_ack_done:
                me.first_ack_done = True
                me.ack_with_eno = me.syn_raw is not None
            return
        report = syn_option_report(options)
        for anomaly in report.anomalies:
            self.sink.add(anomaly.expert_id, anomaly.message, packet=number)
        enos = report.eno_options
        raw = enos[0].raw if enos and enos[0].error is None else None
        kind = "SYN-ACK" if flags & _ACK else "SYN"
        if first:
            me.syn_options = options
            me.syn_raw = raw
            me.syn_packet = number
            me.multiple = len(enos) > 1
            me.space_left = report.space_left
        # RFC 8547 §4.6: SYN-form options must not change between retransmissions (nor
        # between the SYN and SYN-ACK of a simultaneous open); an active opener MAY drop ENO
        # altogether.
        elif me.syn_raw is not None and not enos:
            me.dropped_at = me.dropped_at or number
            self.sink.add(
                "tcpeno.syn_retransmit_without_eno",
                f"{kind} at packet {number} has no ENO option, the first one (packet "
                f"{me.syn_packet}) had; {report.space_left} of 40 option bytes free",
                packet=number,
            )
        elif raw != me.syn_raw or (len(enos) > 1) != me.multiple:
            me.changed_at = me.changed_at or number
            old = me.syn_raw.hex() if me.syn_raw is not None else "none"
            new = raw.hex() if raw is not None else "none"
            self.sink.add("tcpeno.syn_changed", f"{kind} carries {new}, first {old}", packet=number)
        if flags & _ACK and not me.first_ack_done:
            # The SYN-ACK is the passive opener's first ACK segment (RFC 8547 §4.6).
            me.first_ack_done = True
            me.ack_with_eno = raw is not None
        if not enos:
            if first:
                self._nop_run(report.options, kind, number)
            return
        me.eno_kind = enos[0].kind
        if first:
            self._space_note(report, kind, number)
        if raw is not None and (first or raw != me.syn_raw):
            self._inspect(raw, number, me)
        if payload_len:
            # RFC 8547 §4.7: tcpcrypt defines no SYN data; the receiver must discard it.
            self.sink.add(
                "tcpeno.syn_data", f"{kind} carries {payload_len} bytes of data", packet=number
            )

    def _non_syn(self, me: _Side, side: int, number: int, flags: int, options: bytes) -> None:
        walked = list(iter_tcp_options(options))
        for opt in walked:
            if opt.error is not None:
                # RFC 9293 §3.1: an option area that cannot be walked to its end.
                self.sink.add(opt.error, f"kind {opt.kind} at offset {opt.offset}", packet=number)
        good = [o for o in walked if o.error is None and is_eno_option(o)]
        if good:
            me.eno_kind = good[0].kind
            self._check_contents(good[0].raw, number)
        elif self._ok_so_far():
            if not me.first_ack_done:
                # RFC 8547 §4.6 rule 1: the receiver falls back.
                me.stripped_at = me.stripped_at or number
            else:
                self.sink.add(
                    "tcpeno.missing_in_handshake",
                    f"{('client', 'server')[side]} segment at packet {number} before it "
                    "received a non-SYN segment",
                    packet=number,
                )
        if flags & _ACK and not me.first_ack_done:
            me.first_ack_done = True
            me.ack_with_eno = bool(good)

    # -- per-option checks --------------------------------------------------------------

    def _space_note(self, report: SynOptionReport, kind: str, number: int) -> None:
        self.sink.add("tcpeno.option_space", space_note_text(report, kind), packet=number)

    def _nop_run(self, options: tuple[TcpOption, ...], kind: str, number: int) -> None:
        """A run of NOPs longer than alignment needs, in a SYN without ENO: what a middlebox
        that strips an option by overwriting it leaves (RFC 8547 §6, Figure 11)."""
        run = longest = 0
        for opt in options:
            run = run + 1 if opt.kind == TcpOptionKind.NOP else 0
            longest = max(longest, run)
        if longest >= _NOP_RUN:
            self.sink.add(
                "tcpeno.option_overwritten",
                f"{kind} has {longest} NOP options in a row and no ENO option",
                packet=number,
            )

    def late_syn(self, side: int, number: int, options: bytes) -> None:
        """A SYN from an active opener after the handshake is over: if it repeats the
        resumption offer of the first SYN, the identifier is used again (RFC 8548 §3.5)."""
        first = self.resume_offer(side)
        if first is None:
            return
        for opt in iter_tcp_options(options):
            if not is_eno_option(opt) or opt.error is not None:
                continue
            try:
                again = decode_eno_option(opt.raw, syn=True)
            except DecodeError:
                return
            sub, packet = first
            if any(s.v and s.tep == sub.tep and s.data == sub.data for s in again.suboptions):
                self._once(
                    "tcpcrypt.resume.replay",
                    f"the SYN at packet {number} repeats the resumption offer of packet "
                    f"{packet} after that connection was established",
                    number,
                )
            return

    def _inspect(self, raw: bytes, number: int, me: _Side) -> None:
        try:
            opt = decode_eno_option(raw, syn=True)
        except DecodeError as exc:
            self.sink.add(exc.expert_id, str(exc), packet=number)
            return
        if raw == me.syn_raw:
            me.syn_decoded = opt
        if opt.kind == TcpOptionKind.EXPERIMENTAL_1:
            self._once("tcpeno.legacy_kind", f"option {raw.hex()}", number)
        gopt = opt.global_suboption
        # LEGACY.md: tcpcryptd 0.5 has no global suboption (it may send a 0x04 byte).
        if gopt is not None and opt.dialect == "rfc":
            me.global_a = bool(gopt & GLOBAL_A)
            if gopt & GLOBAL_RESERVED:
                self.sink.add(
                    "tcpeno.global.reserved_bits",
                    f"global suboption 0x{gopt:02x} (z bits 0x{gopt & GLOBAL_RESERVED:02x})",
                    packet=number,
                )
        if opt.ignored_globals and opt.dialect == "rfc":
            self.sink.add(
                "tcpeno.global.ignored", f"bytes {opt.ignored_globals.hex()}", packet=number
            )
        dialect = opt.dialect
        for sub in opt.suboptions:
            if sub.tep == TepId.TCP_USE_TLS_DRAFT:
                self._once("tcpeno.tls_draft_tep", f"suboption 0x{sub.byte:02x}", number)
            if sub.v and sub.tep in TCPCRYPT_TEPS[dialect]:
                try:
                    decode_resume_suboption(sub.data, dialect=dialect)
                except DecodeError as exc:
                    self.sink.add(exc.expert_id, str(exc), packet=number)

    def _check_contents(self, raw: bytes, number: int) -> None:
        try:
            opt = decode_eno_option(raw, syn=False)
        except DecodeError as exc:
            self._once(exc.expert_id, str(exc), number)
            return
        if opt.contents:
            # RFC 8547 §4.1: tcpcrypt gives non-SYN contents no meaning; N must be 0.
            self._once("tcpeno.nonsyn_contents", f"contents {opt.contents.hex()}", number)

    def _once(self, finding_id: str, detail: str, number: int) -> None:
        noted = self._flags_noted
        if noted is None:
            noted = self._flags_noted = set()
        if finding_id not in noted:
            noted.add(finding_id)
            self.sink.add(finding_id, detail, packet=number)

    # -- outcome ---------------------------------------------------------------------------

    def _dialect(self) -> Dialect:
        for side in self._sides:
            kind = side.syn_raw[0] if side.syn_raw else side.eno_kind
            if kind is not None:
                return "legacy" if kind == TcpOptionKind.EXPERIMENTAL_1 else "rfc"
        return "rfc"

    def _simultaneous(self) -> bool:
        return self._sides[0].syn_only and self._sides[1].syn_only

    def _outcome(self) -> EnoOutcome | None:
        c, s = self._sides
        if c.syn_count == 0 or s.syn_count == 0 or c.multiple or s.multiple:
            return None
        dialect = self._dialect()
        if dialect == "legacy" and self._simultaneous():
            return None
        key = (c.syn_raw, s.syn_raw, dialect)
        cached = self._outcome_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        outcome = negotiate(c.syn_raw, s.syn_raw, dialect=dialect)
        self._outcome_cache = (key, outcome)
        return outcome

    def _ok_so_far(self) -> bool:
        return self.negotiated() is not None

    def negotiated(self) -> Negotiated | None:
        """The SYN-level negotiation once both SYN-form options are known and it succeeded
        (later segments may still make it fall back); None otherwise."""
        if self._negotiated is not False:
            return self._negotiated if isinstance(self._negotiated, Negotiated) else None
        c, s = self._sides
        if c.syn_count == 0 or s.syn_count == 0:
            return None  # not decided yet
        outcome = self._outcome()
        result: Negotiated | None = None
        if outcome is not None and outcome.ok:
            assert outcome.suboption_a is not None and outcome.suboption_b is not None
            a_is_client = outcome.role_a is Role.A
            sub_of_a, sub_of_b = (
                (outcome.suboption_a, outcome.suboption_b)
                if a_is_client
                else (outcome.suboption_b, outcome.suboption_a)
            )
            result = Negotiated(
                outcome,
                outcome.dialect,
                a_is_client,
                sub_of_a,
                sub_of_b,
                _resumed(sub_of_a, sub_of_b, outcome.dialect),
            )
        self._negotiated = result
        return result

    def enabled(self) -> bool:
        """RFC 8547 §4.6: both sides sent an ACK segment carrying ENO, and nothing made ENO
        fall back on the way: encryption is enabled, the TEP owns the byte streams. Once
        true it stays true (what comes after enabling does not undo it)."""
        if self._enabled:
            return True
        c, s = self._sides
        if not (c.ack_with_eno and s.ack_with_eno) or self.negotiated() is None:
            return False
        if c.changed_at or c.stripped_at or s.changed_at or s.stripped_at:
            return False
        self._enabled = True
        return True

    def plain(self) -> bool:
        """Both SYN-form segments were seen and neither carried an ENO option."""
        return all(
            x.syn_count > 0 and x.syn_raw is None and not x.multiple and x.eno_kind is None
            for x in self._sides
        )

    def resume_offer(self, side: int) -> tuple[EnoSuboption, int] | None:
        """The first tcpcrypt resumption suboption (v=1, at least the 9-byte identifier) in
        ``side``'s SYN-form option, with the packet that carried it."""
        me = self._sides[side]
        if me.syn_raw is None or me.syn_packet is None:
            return None
        opt = me.syn_decoded
        if opt is None:
            try:
                opt = decode_eno_option(me.syn_raw, syn=True)
            except DecodeError:
                return None
        for sub in opt.suboptions:
            if sub.v and len(sub.data) >= RESUME_HALF_LEN and sub.tep in TCPCRYPT_TEPS[opt.dialect]:
                return sub, me.syn_packet
        return None

    @property
    def syn_only(self) -> tuple[bool, bool]:
        """Whether each side sent a SYN without ACK (an active opener)."""
        return self._sides[0].syn_only, self._sides[1].syn_only

    def _reason(self, outcome: EnoOutcome | None) -> tuple[str, str | None, int | None] | None:
        """(fallback reason, detail, packet), or None when ENO did not fall back."""
        c, s = self._sides
        for side in (c, s):
            if side.multiple:
                return "tcpeno.fallback.multiple_eno", None, side.syn_packet
        if c.syn_count and s.syn_count and self._dialect() == "legacy" and self._simultaneous():
            return "tcpeno.fallback.legacy_simultaneous_open", None, s.syn_packet
        if outcome is None:
            return None
        if not outcome.ok:
            assert outcome.reason is not None
            return outcome.reason, outcome.detail, s.syn_packet
        nego = self.negotiated()
        if nego is not None and _resume_mismatch(nego):
            detail = "B answered with a resumption suboption; A offered no resumption"
            return "tcpcrypt.resume.mismatch", detail, s.syn_packet
        for side in (c, s):
            if side.changed_at:
                return "tcpeno.fallback.syn_changed", None, side.changed_at
        stripped = [(x.stripped_at, i) for i, x in enumerate(self._sides) if x.stripped_at]
        if stripped:
            packet, who = min(stripped)
            me, peer = self._sides[who], self._sides[1 - who]
            name = ("client", "server")[who]
            if me.global_a and not peer.global_a:
                detail = (
                    f"the {name} sent a=1, its peer a=0, and the {name} dropped ENO at packet"
                    f" {packet} (mandatory application-aware mode, inferred)"
                )
                return "tcpeno.fallback.aa_mandatory", detail, packet
            return "tcpeno.fallback.stripped", f"no ENO on the {name}'s packet {packet}", packet
        return None

    def result(self, client: tuple[str, int], server: tuple[str, int]) -> EnoResult | None:
        """The JSON ``eno`` object; None when no segment of the connection carried ENO.
        Call once, at the end: it adds the fallback finding and the option-space warnings."""
        c, s = self._sides
        if all(x.syn_raw is None and x.eno_kind is None for x in self._sides):
            return None
        outcome = self._outcome()
        fallback = self._reason(outcome)
        dialect = self._dialect()
        self._space_warnings(dialect)
        status: Status
        if fallback is not None:
            self.sink.add(fallback[0], fallback[1], packet=fallback[2])
            status = "fallback"
        elif outcome is not None and c.first_ack_done and c.ack_with_eno and s.ack_with_eno:
            status = "encrypted"
        else:
            status = "incomplete"
        roles_known = outcome is not None and outcome.role_a is not None
        a_is_client = not roles_known or (outcome is not None and outcome.role_a is Role.A)
        first, second = (c, s) if a_is_client else (s, c)
        hosts = (client, server) if a_is_client else (server, client)
        opt_a, opt_b = _options_by_role(outcome, a_is_client)
        tep = None
        if fallback is None and outcome is not None and outcome.ok:
            tep = outcome.negotiated_tep
        return EnoResult(
            dialect=dialect,
            status=status,
            reason=fallback[0] if fallback is not None else None,
            host_a=hosts[0],
            host_b=hosts[1],
            syn_a=first.syn_raw,
            syn_b=second.syn_raw,
            transcript=outcome.transcript if outcome is not None else None,
            global_a=opt_a.effective_global if opt_a is not None else None,
            global_b=opt_b.effective_global if opt_b is not None else None,
            negotiated_tep=tep,
            negotiated_tep_byte=outcome.negotiated_tep_byte if outcome and tep else None,
            tep_name=tep_name(tep) if tep is not None else None,
            a_is_client=a_is_client,
            simultaneous_open=self._simultaneous(),
        )

    def _space_warnings(self, dialect: Dialect) -> None:
        for me, peer in ((self._sides[0], self._sides[1]), (self._sides[1], self._sides[0])):
            if me.syn_count == 0 or me.syn_raw is not None or me.multiple:
                continue
            if peer.syn_raw is None:
                continue
            synack = not me.syn_only
            need = _MIN_ENO[(dialect, synack)]
            if me.space_left < need:
                self.sink.add(
                    "tcpeno.option_space_exhausted",
                    f"{'SYN-ACK' if synack else 'SYN'} without ENO has {me.space_left} of 40 "
                    f"option bytes free; the smallest ENO option it could send takes {need}",
                    packet=me.syn_packet,
                )


def _options_by_role(
    outcome: EnoOutcome | None, a_is_client: bool
) -> tuple[EnoOption | None, EnoOption | None]:
    if outcome is None:
        return None, None
    if a_is_client:
        return outcome.option_a, outcome.option_b
    return outcome.option_b, outcome.option_a


def _resumed(sub_of_a: EnoSuboption, sub_of_b: EnoSuboption, dialect: Dialect) -> bool:
    """RFC 8548 §3.2, §3.5: B sent the TEP with v=1 (with an identifier half: rfc; alone:
    legacy) and A offered resumption too."""
    if not sub_of_b.v:
        return False
    if dialect == "legacy":
        return len(sub_of_a.data) >= RESUME_HALF_LEN
    return len(sub_of_b.data) >= RESUME_HALF_LEN and len(sub_of_a.data) >= RESUME_HALF_LEN


def _resume_mismatch(nego: Negotiated) -> bool:
    """B answered with a resumption suboption though A offered none for that TEP (RFC 8548
    §3.5: A must ignore it, which leaves no TEP)."""
    if nego.outcome.negotiated_tep not in TCPCRYPT_TEPS[nego.dialect]:
        return False
    sub_b = nego.sub_of_b
    b_resumes = sub_b.v and (nego.dialect == "legacy" or len(sub_b.data) >= RESUME_HALF_LEN)
    return b_resumes and len(nego.sub_of_a.data) < RESUME_HALF_LEN


picklable(Negotiated)
