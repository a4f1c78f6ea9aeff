"""TCP-ENO endpoint (RFC 8547 §4.1-§4.8, the examples of §6; LEGACY.md) over two real TCPs.

Every handshake runs two :class:`TcpConnection` objects, each with an :class:`EnoEndpoint`
as its hook, over the fake link of ``tests/unit/protocol/link.py``. :class:`EnoStack` adapts
the pair to the link's endpoint surface: it collects the ENO events, calls ``tcp.abort()``
when a fallback must abort (``tep_mandatory``), and can rewrite arriving segments (a
middlebox that strips or mangles options on one path). The option bytes expected on the
wire are spelled out in hex from RFC 8547 §4.1-§4.2 (kind 69, length, global suboption
``000zzzab``, TEP ids) and LEGACY.md (kind 253, length, ExID 45 4e).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol import (
    Connected,
    ConnectionAborted,
    Event,
    Segment,
    TcpConfig,
    TcpConnection,
    TcpFlags,
    TcpState,
)
from tcpinc_tools.protocol.eno import (
    EnoConfig,
    EnoEndpoint,
    EnoState,
    StaticTepPolicy,
)
from tcpinc_tools.protocol.events import EnoEnabled, EnoNegotiated, FellBack
from tcpinc_tools.wire.eno import EnoOption, EnoOutcome, EnoSuboption, Role
from tcpinc_tools.wire.tcp_options import encode_tcp_options, iter_tcp_options
from tests.support import property_settings
from tests.unit.protocol.link import PORT_A, PORT_B, SIDES, Link, Side, make_pair

H = bytes.fromhex

# The TEPs of the RFC 8547 §6 examples.
X, Y, Z = 0x21, 0x23, 0x24

# ENO options spelled out: kind 69 (0x45), length, contents.
NON_SYN = H("4502")  # RFC 8547 §4.1 Fig. 3, N = 0
LEGACY_NON_SYN = H("fd04454e")  # LEGACY.md: kind 253, length 4, ExID 0x454E

Rewrite = Callable[[Segment], Segment]


# -- the test harness -------------------------------------------------------------------------


@dataclass
class EnoStack:
    """A TCP connection with its ENO hook, as one end of the link."""

    tcp: TcpConnection
    eno: EnoEndpoint | None
    rewrite: Rewrite | None = None
    eno_events: list[Event] = field(default_factory=list)

    def _drain(self) -> None:
        if self.eno is None:
            return
        while (event := self.eno.next_event()) is not None:
            self.eno_events.append(event)
            if isinstance(event, FellBack) and event.abort:
                self.tcp.abort()

    def receive_segment(self, seg: Segment, now: float) -> None:
        if self.rewrite is not None:
            seg = self.rewrite(seg)
        self.tcp.receive_segment(seg, now)
        self._drain()

    def segments_to_send(self, now: float) -> list[Segment]:
        out = self.tcp.segments_to_send(now)
        self._drain()
        return out

    def get_timer(self) -> float | None:
        return self.tcp.get_timer()

    def handle_timer(self, now: float) -> None:
        self.tcp.handle_timer(now)
        self._drain()

    def next_event(self) -> Event | None:
        return self.tcp.next_event()

    @property
    def fallbacks(self) -> list[FellBack]:
        return [e for e in self.eno_events if isinstance(e, FellBack)]


@dataclass
class Run:
    link: Link
    a: EnoStack
    b: EnoStack

    @property
    def eno_a(self) -> EnoEndpoint:
        assert self.a.eno is not None
        return self.a.eno

    @property
    def eno_b(self) -> EnoEndpoint:
        assert self.b.eno is not None
        return self.b.eno

    def sent(self, side: Side) -> list[Segment]:
        return self.link.sent_by(side)


def endpoint(teps: tuple[int, ...] = (X, Y), **config: object) -> EnoEndpoint:
    return EnoEndpoint(EnoConfig(**config), StaticTepPolicy(teps))  # type: ignore[arg-type]


class RecordingPolicy(StaticTepPolicy):
    def __init__(self, teps: tuple[int, ...], refuse: str | None = None) -> None:
        super().__init__(teps)
        self.calls: list[str] = []
        self.refuse = refuse

    def syn_suboptions(self) -> tuple[EnoSuboption, ...]:
        self.calls.append("syn")
        return super().syn_suboptions()

    def synack_suboptions(self, peer: EnoOption) -> tuple[EnoSuboption, ...]:
        self.calls.append("synack")
        return super().synack_suboptions(peer)

    def accept(self, outcome: EnoOutcome, role: Role) -> str | None:
        self.calls.append(f"accept {role.value}")
        return self.refuse


def handshake(
    eno_a: EnoEndpoint | None,
    eno_b: EnoEndpoint | None,
    *,
    to_a: Rewrite | None = None,
    to_b: Rewrite | None = None,
    drop: Callable[[Side, Segment], bool] | None = None,
    then: Callable[[Run], None] | None = None,
) -> Run:
    """A connects to a listening B; run until nothing is left to happen."""
    tcp_a, tcp_b = make_pair(hook_a=eno_a, hook_b=eno_b)
    a, b = EnoStack(tcp_a, eno_a, to_a), EnoStack(tcp_b, eno_b, to_b)
    link = Link(a, b, drop=drop)
    run = Run(link, a, b)
    tcp_b.listen()
    tcp_a.connect(link.now)
    link.run(lambda: link.has("a", Connected) and link.has("b", Connected), max_time=60)
    if then is not None:
        then(run)
    link.run(max_time=60)
    return run


def simultaneous(eno_a: EnoEndpoint, eno_b: EnoEndpoint, *, to_a: Rewrite | None = None) -> Run:
    """Both ends connect at the same time (RFC 9293 §3.5 Figure 7)."""
    cfg = TcpConfig()
    tcp_a = TcpConnection(local_port=PORT_A, remote_port=PORT_B, iss=1000, config=cfg, hook=eno_a)
    tcp_b = TcpConnection(local_port=PORT_B, remote_port=PORT_A, iss=5000, config=cfg, hook=eno_b)
    a, b = EnoStack(tcp_a, eno_a, to_a), EnoStack(tcp_b, eno_b)
    link = Link(a, b)
    tcp_a.connect(link.now)
    tcp_b.connect(link.now)
    link.run(max_time=60)
    return Run(link, a, b)


def eno_options(seg: Segment) -> list[bytes]:
    """The ENO options of a segment: kind 69, or kind 253 with ExID 45 4e."""
    return [
        o.raw
        for o in iter_tcp_options(seg.options)
        if o.kind == 69 or (o.kind == 253 and o.data[:2] == H("454e"))
    ]


def eno_of(seg: Segment) -> bytes | None:
    found = eno_options(seg)
    assert len(found) <= 1, seg.describe()
    return found[0] if found else None


def with_eno(seg: Segment, *options: bytes) -> Segment:
    """``seg`` with its ENO options replaced by ``options`` (none: stripped)."""
    kept = [
        o.raw
        for o in iter_tcp_options(seg.options)
        if o.kind != 0 and o.raw not in eno_options(seg)
    ]
    return replace(seg, options=encode_tcp_options([*kept, *options]))


def strip_syn(seg: Segment) -> Segment:
    return with_eno(seg) if seg.is_syn else seg


def kinds(events: list[Event]) -> list[type[Event]]:
    return [type(e) for e in events]


def only_syns(run: Run, side: Side) -> list[Segment]:
    return [s for s in run.sent(side) if s.is_syn]


def state_of(eno: EnoEndpoint) -> EnoState:
    """The state, read through a call (so that a type checker does not narrow it)."""
    return eno.state


# -- RFC 8547 §6 Figure 9: success ------------------------------------------------------------


def test_figure_9_success() -> None:
    run = handshake(endpoint((X, Y)), endpoint((Y,)))
    syn, syn_ack, ack = run.sent("a")[0], run.sent("b")[0], run.sent("a")[1]
    # (1) A -> B: SYN ENO<X,Y>, implicit global suboption 0x00.
    assert syn.flags == TcpFlags.SYN and eno_of(syn) == H("45042123")
    # (2) B -> A: SYN-ACK ENO<b=1,Y>.
    assert syn_ack.flags == TcpFlags.SYN | TcpFlags.ACK and eno_of(syn_ack) == H("45040123")
    # (3) A -> B: ACK ENO<>.
    assert ack.flags == TcpFlags.ACK and eno_of(ack) == NON_SYN
    transcript = H("4504212345040123")
    for eno, role, peer_gopt, self_gopt, teps in (
        (run.eno_a, Role.A, 0x01, 0x00, (X, Y)),
        (run.eno_b, Role.B, 0x00, 0x01, (Y,)),
    ):
        assert eno.state is EnoState.ENABLED
        assert eno.enabled and eno.negotiated and not eno.fell_back and not eno.must_abort
        assert eno.reason is None and eno.detail is None
        assert eno.role is role
        assert eno.transcript == transcript
        assert (eno.negotiated_tep, eno.negotiated_tep_byte) == (Y, Y)
        assert (eno.peer_global_suboption, eno.self_global_suboption) == (peer_gopt, self_gopt)
        assert eno.teps == teps
        assert eno.outcome is not None and eno.outcome.ok
    assert run.eno_a.syn_option == run.eno_b.peer_syn_option == H("45042123")
    assert run.eno_b.syn_option == run.eno_a.peer_syn_option == H("45040123")
    # EnoNegotiated comes first, EnoEnabled once the ENO-bearing ACKs crossed (§4.6).
    for stack, role in ((run.a, Role.A), (run.b, Role.B)):
        assert kinds(stack.eno_events) == [EnoNegotiated, EnoEnabled]
        negotiated, enabled = stack.eno_events
        assert isinstance(negotiated, EnoNegotiated) and isinstance(enabled, EnoEnabled)
        assert negotiated.role is enabled.role is role
        assert negotiated.outcome.transcript == enabled.outcome.transcript == transcript


def test_b_is_negotiated_before_the_ack_and_enabled_by_it() -> None:
    eno_a, eno_b = endpoint((X, Y)), endpoint((Y,))
    tcp_a, tcp_b = make_pair(hook_a=eno_a, hook_b=eno_b)
    tcp_b.listen()
    tcp_a.connect(0.0)
    (syn,) = tcp_a.segments_to_send(0.0)
    assert state_of(eno_a) is EnoState.NEGOTIATING and eno_a.role is None
    tcp_b.receive_segment(syn, 0.0)
    assert eno_b.state is EnoState.NEGOTIATED
    assert isinstance(eno_b.next_event(), EnoNegotiated)
    (syn_ack,) = tcp_b.segments_to_send(0.0)
    assert not eno_b.enabled  # sent an ACK (the SYN-ACK) with ENO, received none yet
    tcp_a.receive_segment(syn_ack, 0.0)
    assert state_of(eno_a) is EnoState.NEGOTIATED  # received the SYN-ACK, ACK not sent yet
    (ack,) = tcp_a.segments_to_send(0.0)
    assert eno_a.enabled
    tcp_b.receive_segment(ack, 0.0)
    assert eno_b.enabled
    assert isinstance(eno_b.next_event(), EnoEnabled)
    assert eno_b.next_event() is None


# -- RFC 8547 §6 Figure 10: failures ----------------------------------------------------------


def assert_plain_after_syn(run: Run, side: Side) -> None:
    assert all(eno_of(s) is None for s in run.sent(side) if not s.is_syn)


def test_figure_10_b_without_eno() -> None:
    run = handshake(endpoint((X, Y)), None)
    assert eno_of(run.sent("b")[0]) is None
    assert run.eno_a.state is EnoState.FELL_BACK
    assert run.eno_a.reason == "tcpeno.fallback.no_eno"
    assert [(f.reason, f.abort) for f in run.a.fallbacks] == [("tcpeno.fallback.no_eno", False)]
    assert_plain_after_syn(run, "a")
    assert run.eno_a.transcript is None and run.eno_a.negotiated_tep is None
    assert run.eno_a.negotiated_tep_byte is None and run.eno_a.role is None


def test_figure_10_b_supports_neither_tep() -> None:
    run = handshake(endpoint((X, Y)), endpoint((Z,)))
    # B answers with a vacuous option: ENO supported, no TEP in common, b=1.
    assert eno_of(run.sent("b")[0]) == H("450301")
    assert run.eno_b.reason == "tcpeno.fallback.no_common_tep"
    assert run.eno_a.reason == "tcpeno.fallback.vacuous"
    assert run.eno_b.syn_option == H("450301")
    assert run.eno_a.role is Role.A and run.eno_b.role is Role.B  # the b bits still differ
    assert_plain_after_syn(run, "a")
    assert_plain_after_syn(run, "b")


def test_figure_10_b_in_mandatory_application_aware_mode() -> None:
    run = handshake(endpoint((X, Y)), endpoint((Y,), aa_mandatory=True))
    assert eno_of(run.sent("b")[0]) is None  # B disables ENO and sends none
    assert run.eno_b.reason == "tcpeno.fallback.aa_mandatory"
    assert run.eno_a.reason == "tcpeno.fallback.no_eno"
    assert run.eno_b.syn_option is None and run.eno_b.teps == ()
    assert run.eno_b.self_global_suboption == 0x03  # b=1, and a=1 (RFC 8547 §8.4)


def test_mandatory_application_aware_mode_with_a_set() -> None:
    run = handshake(endpoint((X, Y), a=True), endpoint((Y,), aa_mandatory=True))
    assert eno_of(run.sent("a")[0]) == H("4505022123")
    assert eno_of(run.sent("b")[0]) == H("45040323")
    assert run.eno_a.enabled and run.eno_b.enabled
    assert run.eno_a.peer_global_suboption == 0x03
    assert run.eno_b.peer_global_suboption == 0x02


def test_active_opener_in_mandatory_application_aware_mode() -> None:
    run = handshake(endpoint((X, Y), aa_mandatory=True), endpoint((Y,)))
    assert eno_of(run.sent("a")[0]) == H("4505022123")  # a=1 sent
    assert run.eno_a.reason == "tcpeno.fallback.aa_mandatory"  # B sent a=0
    assert run.eno_b.reason == "tcpeno.fallback.stripped"  # A's ACK came without ENO
    assert_plain_after_syn(run, "a")


def test_figure_10_network_strips_a_option() -> None:
    run = handshake(endpoint((X, Y)), endpoint((Y,)), to_b=strip_syn)
    assert eno_of(run.sent("a")[0]) == H("45042123")
    assert eno_of(run.sent("b")[0]) is None  # B saw no ENO: it must not send a vacuous one
    assert run.eno_b.reason == run.eno_a.reason == "tcpeno.fallback.no_eno"
    assert [e.reason for e in run.b.fallbacks] == ["tcpeno.fallback.no_eno"]


# -- RFC 8547 §6 Figure 11: asymmetric stripping ----------------------------------------------


def test_figure_11_reverse_path_strips_b_option() -> None:
    run = handshake(endpoint((X, Y)), endpoint((X,)), to_a=strip_syn)
    assert eno_of(run.sent("b")[0]) == H("45040121")  # B -> A: SYN-ACK ENO<b=1,X>
    ack = run.sent("a")[1]
    assert not ack.is_syn and eno_of(ack) is None  # (3) A -> B: ACK, no ENO
    assert run.eno_a.reason == "tcpeno.fallback.no_eno"
    # B had negotiated X; the ACK without ENO tells it ENO failed.
    assert kinds(run.b.eno_events) == [EnoNegotiated, FellBack]
    assert run.eno_b.reason == "tcpeno.fallback.stripped"
    assert not run.eno_a.enabled and not run.eno_b.enabled
    assert run.eno_b.transcript is None  # no longer negotiated
    assert run.eno_b.outcome is not None and run.eno_b.outcome.ok  # what the SYNs said


@pytest.mark.parametrize(
    "ack_eno",
    [
        pytest.param((), id="none"),
        pytest.param((H("fd04454e"),), id="legacy-kind-only"),
        pytest.param((H("4508"),), id="runs-past-the-option-area"),
    ],
)
def test_ack_without_a_usable_eno_option(ack_eno: tuple[bytes, ...]) -> None:
    def mangle_ack(seg: Segment) -> Segment:
        return seg if seg.is_syn else with_eno(seg, *ack_eno)

    run = handshake(endpoint((X, Y)), endpoint((Y,)), to_b=mangle_ack)
    assert run.eno_a.enabled
    assert run.eno_b.reason == "tcpeno.fallback.stripped"


def test_ack_with_several_non_syn_eno_options_counts_as_one() -> None:
    # RFC 8547 §4.1: in a non-SYN segment several ENO options count as one.
    def double(seg: Segment) -> Segment:
        return seg if seg.is_syn else with_eno(seg, NON_SYN, H("4503aa"))

    run = handshake(endpoint((X, Y)), endpoint((Y,)), to_b=double)
    assert run.eno_a.enabled and run.eno_b.enabled


# -- RFC 8547 §6 Figure 12: simultaneous open -------------------------------------------------


def test_figure_12_simultaneous_open() -> None:
    run = simultaneous(endpoint((Y, X)), endpoint((X, Y, Z), b=True))
    syns_a, syns_b = only_syns(run, "a"), only_syns(run, "b")
    assert [s.flags for s in syns_a] == [TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK]
    assert [s.flags for s in syns_b] == [TcpFlags.SYN, TcpFlags.SYN | TcpFlags.ACK]
    # (1)/(3) A: SYN and SYN-ACK ENO<Y,X>; (2)/(4) B: SYN and SYN-ACK ENO<b=1,X,Y,Z>.
    assert [eno_of(s) for s in syns_a] == [H("45042321")] * 2
    assert [eno_of(s) for s in syns_b] == [H("4506 01 212324")] * 2
    transcript = H("45042321") + H("450601212324")
    assert run.eno_a.role is Role.A and run.eno_b.role is Role.B
    for eno in (run.eno_a, run.eno_b):
        assert eno.enabled
        assert eno.negotiated_tep == Y  # the last valid TEP in B's option
        assert eno.transcript == transcript
    assert kinds(run.a.eno_events) == kinds(run.b.eno_events) == [EnoNegotiated, EnoEnabled]


def test_simultaneous_open_roles_follow_the_b_bit_not_the_port() -> None:
    run = simultaneous(endpoint((Y,), b=True), endpoint((Y, X)))
    assert run.eno_a.role is Role.B and run.eno_b.role is Role.A
    assert run.eno_a.transcript == run.eno_b.transcript == H("45042321") + H("45040123")


@pytest.mark.parametrize("b", [False, True])
def test_simultaneous_open_b_conflict(b: bool) -> None:
    # RFC 8547 §4.3: both b=0 or both b=1 fails; the SYN-ACKs then carry no ENO (§4.6).
    run = simultaneous(endpoint((X,), b=b), endpoint((X,), b=b))
    for side in SIDES:
        eno = run.eno_a if side == "a" else run.eno_b
        assert eno.reason == "tcpeno.fallback.b_conflict"
        syn, syn_ack = only_syns(run, side)
        assert eno_of(syn) is not None and eno_of(syn_ack) is None
        assert_plain_after_syn(run, side)


def test_middlebox_echoing_the_syn_option_makes_roles_fail() -> None:
    # RFC 8547 §8.1: a load balancer that echoes A's SYN-form option back in the SYN-ACK.
    def echo(seg: Segment) -> Segment:
        return with_eno(seg, H("45042123")) if seg.is_syn else seg

    run = handshake(endpoint((X, Y)), endpoint((Y,)), to_a=echo)
    assert run.eno_a.reason == "tcpeno.fallback.b_conflict"
    assert run.eno_b.reason == "tcpeno.fallback.stripped"


def test_active_opener_with_b_set_reaching_a_passive_opener() -> None:
    run = handshake(endpoint((X,), b=True), endpoint((X,)))
    assert eno_of(run.sent("a")[0]) == H("45040121")
    assert run.eno_b.reason == "tcpeno.fallback.b_conflict"
    assert eno_of(run.sent("b")[0]) is None
    assert run.eno_a.reason == "tcpeno.fallback.no_eno"


def test_simultaneous_open_syn_ack_option_changed() -> None:
    # RFC 8547 §4.6: the SYN-form option must not change between SYN and SYN-ACK.
    def change_syn_ack(seg: Segment) -> Segment:
        return with_eno(seg, H("45040121")) if seg.is_syn and seg.is_ack else seg

    run = simultaneous(endpoint((X,)), endpoint((X, Y), b=True), to_a=change_syn_ack)
    assert kinds(run.a.eno_events) == [EnoNegotiated, FellBack]
    assert run.eno_a.reason == "tcpeno.fallback.syn_changed"


def test_simultaneous_open_syn_ack_without_eno() -> None:
    run = simultaneous(endpoint((X,)), endpoint((X, Y), b=True), to_a=strip_syn_ack)
    assert run.eno_a.reason == "tcpeno.fallback.stripped"


def strip_syn_ack(seg: Segment) -> Segment:
    return with_eno(seg) if seg.is_syn and seg.is_ack else seg


# -- RFC 8547 §4.6: ENO on every segment until a non-SYN segment is received ------------------


def test_eno_on_every_segment_until_a_non_syn_segment_is_received() -> None:
    eno_a, eno_b = endpoint((X, Y)), endpoint((Y,))
    tcp_a, tcp_b = make_pair(hook_a=eno_a, hook_b=eno_b)
    a, b = EnoStack(tcp_a, eno_a), EnoStack(tcp_b, eno_b)
    link = Link(a, b)
    tcp_b.listen()
    tcp_a.connect(link.now)
    tcp_a.send(b"hello")  # queued in SYN-SENT: goes out right after the handshake
    link.run(lambda: link.has("b", Connected), max_time=60)
    tcp_b.send(b"world")
    link.run(lambda: link.received("a") == b"world", max_time=60)
    tcp_a.send(b"more")
    link.run(max_time=60)
    assert link.received("b") == b"hellomore"
    # When did each side first receive a non-SYN segment? (arrival = send time + delay)
    first_non_syn = {
        side: min(
            t.time + link.delay for t in link.trace if t.sender != side and not t.segment.is_syn
        )
        for side in SIDES
    }
    checked: dict[Side, list[int]] = {"a": [0, 0], "b": [0, 0]}
    for t in link.trace:
        expect = t.time < first_non_syn[t.sender]
        assert (eno_of(t.segment) is not None) is expect, t.segment.describe()
        checked[t.sender][expect] += 1
    # Both sides sent segments in both periods (A: SYN, ACK/data; then "more" without).
    assert all(n > 0 for counts in checked.values() for n in counts)
    data_a = [s for s in link.sent_by("a") if s.payload]
    assert [(s.payload, eno_of(s)) for s in data_a] == [(b"hello", NON_SYN), (b"more", None)]
    assert all(not s.payload for s in link.sent_by("a") if s.is_syn)  # RFC 8547 §4.7
    assert eno_a.enabled and eno_b.enabled


# -- RFC 8547 §4.6: identical SYN-form option on retransmission -------------------------------


def drop_first(kind: Callable[[Segment], bool], sender: Side) -> Callable[[Side, Segment], bool]:
    dropped: list[Segment] = []

    def drop(side: Side, seg: Segment) -> bool:
        if side == sender and kind(seg) and not dropped:
            dropped.append(seg)
            return True
        return False

    return drop


def test_retransmitted_syn_repeats_the_option() -> None:
    policy = RecordingPolicy((X, Y))
    run = handshake(
        EnoEndpoint(EnoConfig(), policy), endpoint((Y,)), drop=drop_first(lambda s: s.is_syn, "a")
    )
    first, again = only_syns(run, "a")
    assert first.options == again.options and eno_of(again) == H("45042123")
    assert [t.fate for t in run.link.trace[:2]] == ["dropped", "sent"]
    assert run.eno_a.enabled and run.eno_b.enabled
    assert policy.calls == ["syn", "accept A"]  # the SYN's suboptions are asked for once


def test_retransmitted_syn_ack_repeats_the_option() -> None:
    run = handshake(endpoint((X, Y)), endpoint((Y,)), drop=drop_first(lambda s: s.is_syn, "b"))
    syn_acks = only_syns(run, "b")
    assert len(syn_acks) >= 2 and all(s.options == syn_acks[0].options for s in syn_acks)
    assert eno_of(syn_acks[1]) == H("45040123")
    assert run.eno_a.enabled and run.eno_b.enabled


# -- vacuous options (RFC 8547 §4.6) ----------------------------------------------------------


def test_vacuous_active_opener() -> None:
    policy = RecordingPolicy((X,))
    run = handshake(EnoEndpoint(EnoConfig(vacuous=True), policy), endpoint((X,)))
    assert eno_of(run.sent("a")[0]) == H("4502")
    assert eno_of(run.sent("b")[0]) == H("450301")
    assert run.eno_a.reason == run.eno_b.reason == "tcpeno.fallback.vacuous"
    assert policy.calls == []  # a vacuous option asks the policy nothing
    assert run.eno_a.teps == ()


def test_vacuous_active_opener_with_a_global_suboption() -> None:
    run = handshake(endpoint((X,), vacuous=True, a=True), endpoint((X,)))
    assert eno_of(run.sent("a")[0]) == H("450302")
    assert run.eno_b.reason == "tcpeno.fallback.vacuous"


def test_vacuous_passive_opener() -> None:
    policy = RecordingPolicy((X,))
    run = handshake(endpoint((X, Y)), EnoEndpoint(EnoConfig(vacuous=True), policy))
    assert eno_of(run.sent("b")[0]) == H("450301")  # still b=1 (RFC 8547 §4.6)
    assert run.eno_a.reason == run.eno_b.reason == "tcpeno.fallback.vacuous"
    assert policy.calls == []
    assert_plain_after_syn(run, "a")


def test_vacuous_passive_opener_does_not_volunteer_one() -> None:
    run = handshake(None, endpoint((X,), vacuous=True))
    assert eno_of(run.sent("b")[0]) is None
    assert run.eno_b.reason == "tcpeno.fallback.no_eno"


# -- malformed SYN options (RFC 8547 §4.1, §4.4) ----------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param(H("45032101"), id="two-kind-69"),
        pytest.param(H("fd05454e21010101"), id="kind-69-and-kind-253"),
    ],
)
def test_multiple_eno_in_a_syn_count_as_none(extra: bytes) -> None:
    def add_option(seg: Segment) -> Segment:
        # Put the extra option (NOP-padded) in front of TCP's own options.
        return replace(seg, options=extra + seg.options) if seg.is_syn else seg

    run = handshake(endpoint((X, Y)), endpoint((X,)), to_b=add_option)
    assert run.eno_b.reason == "tcpeno.fallback.multiple_eno"
    assert eno_of(run.sent("b")[0]) is None
    assert run.eno_a.reason == "tcpeno.fallback.no_eno"
    assert run.eno_b.peer_syn_option is None


@pytest.mark.parametrize(
    ("option", "expert"),
    [
        # Length byte 0x81 announces 2 data bytes, only 1 follows (RFC 8547 §4.4 rule 1).
        (H("450581a1aa"), "tcpeno.ill_formed.length_overrun"),
        # Length byte followed by a v=0 TEP (§4.4 rule 2).
        (H("45058021aa"), "tcpeno.ill_formed.length_then_non_tep"),
        # The option's own length runs past the option area.
        (H("4520"), "tcpeno.truncated"),
    ],
)
def test_ill_formed_syn_option_falls_back(option: bytes, expert: str) -> None:
    def mangle(seg: Segment) -> Segment:
        return with_eno(seg, option) if seg.is_syn else seg

    run = handshake(endpoint((X, Y)), endpoint((X,)), to_b=mangle)
    assert run.eno_b.reason == "tcpeno.fallback.ill_formed"
    assert run.eno_b.detail is not None and run.eno_b.detail.startswith(expert)
    (fallback,) = run.b.fallbacks
    assert fallback.detail == run.eno_b.detail
    assert eno_of(run.sent("b")[0]) is None
    assert run.eno_a.reason == "tcpeno.fallback.no_eno"


def test_ill_formed_syn_ack_option() -> None:
    def mangle(seg: Segment) -> Segment:
        return with_eno(seg, H("450581a1aa")) if seg.is_syn else seg

    run = handshake(endpoint((X, Y)), endpoint((X,)), to_a=mangle)
    assert run.eno_a.reason == "tcpeno.fallback.ill_formed"
    assert run.eno_b.reason == "tcpeno.fallback.stripped"


def test_syn_with_only_the_other_dialect() -> None:
    def legacy(seg: Segment) -> Segment:
        return with_eno(seg, H("fd05454e21")) if seg.is_syn else seg

    run = handshake(endpoint((X, Y)), endpoint((X,)), to_b=legacy)
    assert run.eno_b.reason == "tcpeno.fallback.no_eno"


# -- mandatory encryption (draft-ietf-tcpinc-api-06 TCP_ENO_TEP_MANDATORY) ---------------------


def test_tep_mandatory_active_opener_aborts_instead_of_falling_back() -> None:
    run = handshake(endpoint((X, Y), tep_mandatory=True), None)
    assert [(f.reason, f.abort) for f in run.a.fallbacks] == [("tcpeno.fallback.no_eno", True)]
    assert run.eno_a.must_abort
    assert run.a.tcp.state is TcpState.CLOSED and run.b.tcp.state is TcpState.CLOSED
    assert run.link.has("a", ConnectionAborted) and run.link.has("b", ConnectionAborted)
    assert any(s.is_rst for s in run.sent("a"))
    assert not any(s.payload for s in run.sent("a"))


def test_tep_mandatory_passive_opener_aborts() -> None:
    run = handshake(None, endpoint((X,), tep_mandatory=True))
    assert run.eno_b.must_abort and run.eno_b.reason == "tcpeno.fallback.no_eno"
    assert run.b.tcp.state is TcpState.CLOSED
    assert run.link.has("b", ConnectionAborted)
    rst = [s for s in run.sent("b") if s.is_rst]
    assert rst and all(eno_of(s) is None for s in rst)


def test_tep_mandatory_when_negotiation_succeeds() -> None:
    run = handshake(endpoint((X,), tep_mandatory=True), endpoint((X,), tep_mandatory=True))
    assert run.eno_a.enabled and run.eno_b.enabled
    assert not run.eno_a.must_abort and not run.eno_b.must_abort


# -- the transcript, exactly as the options crossed the link (RFC 8547 §4.8) -------------------


def test_transcript_is_the_options_as_they_crossed_the_link() -> None:
    run = handshake(endpoint((X, Y, Z), a=True), endpoint((Y, Z)))
    syn_a, syn_b = eno_of(run.sent("a")[0]), eno_of(run.sent("b")[0])
    assert syn_a == H("4506 02 212324") and syn_b == H("4504 01 24")
    assert syn_a is not None and syn_b is not None
    assert run.eno_a.transcript == run.eno_b.transcript == syn_a + syn_b


def test_transcript_with_suboption_data() -> None:
    class DataPolicy(StaticTepPolicy):
        def syn_suboptions(self) -> tuple[EnoSuboption, ...]:
            return (EnoSuboption(tep=X, v=True, data=H("0102030405")), EnoSuboption(tep=Y))

    run = handshake(EnoEndpoint(EnoConfig(), DataPolicy((X, Y))), endpoint((X,)))
    # A length byte 0x84 (5 data bytes) before TEP X with v=1 (RFC 8547 §4.4).
    assert eno_of(run.sent("a")[0]) == H("450a 84 a1 0102030405 23")
    assert run.eno_a.transcript == H("450a84a1010203040523") + H("45040121")
    assert run.eno_a.negotiated_tep_byte == X  # B's answer had v=0


# -- the TEP policy's veto (RFC 8547 §4.5 rule 2) ---------------------------------------------


def test_policy_refusal_at_the_active_opener() -> None:
    policy = RecordingPolicy((X, Y), refuse="tcpcrypt.resume.mismatch")
    run = handshake(EnoEndpoint(EnoConfig(), policy), endpoint((Y,)))
    assert policy.calls == ["syn", "accept A"]
    assert [f.reason for f in run.a.fallbacks] == ["tcpcrypt.resume.mismatch"]
    assert run.eno_a.reason == "tcpcrypt.resume.mismatch"
    assert_plain_after_syn(run, "a")
    assert run.eno_b.reason == "tcpeno.fallback.stripped"


def test_policy_refusal_at_the_passive_opener() -> None:
    policy = RecordingPolicy((Y,), refuse="tcpcrypt.policy.refused")
    run = handshake(endpoint((X, Y)), EnoEndpoint(EnoConfig(), policy))
    assert policy.calls == ["synack", "accept B"]
    assert run.eno_b.reason == "tcpcrypt.policy.refused"
    # B must not send the TEP it refused: a vacuous answer makes A fall back too.
    assert eno_of(run.sent("b")[0]) == H("450301")
    assert run.eno_a.reason == "tcpeno.fallback.vacuous"


# -- the legacy dialect (LEGACY.md) -----------------------------------------------------------


def test_legacy_handshake_end_to_end() -> None:
    run = handshake(endpoint((X, 0x22), dialect="legacy"), endpoint((0x22,), dialect="legacy"))
    syn, syn_ack, ack = run.sent("a")[0], run.sent("b")[0], run.sent("a")[1]
    assert eno_of(syn) == H("fd06454e2122")
    assert eno_of(syn_ack) == H("fd05454e22")  # no global suboption
    assert eno_of(ack) == LEGACY_NON_SYN
    transcript = H("fd06454e2122") + LEGACY_NON_SYN + H("fd05454e22") + LEGACY_NON_SYN
    assert run.eno_a.role is Role.A and run.eno_b.role is Role.B
    for eno in (run.eno_a, run.eno_b):
        assert eno.enabled
        assert eno.transcript == transcript
        assert eno.negotiated_tep == 0x22
        assert eno.self_global_suboption == 0 and eno.peer_global_suboption == 0


def test_legacy_no_common_tep_answers_with_the_minimal_option() -> None:
    run = handshake(endpoint((X,), dialect="legacy"), endpoint((0x22,), dialect="legacy"))
    assert eno_of(run.sent("b")[0]) == LEGACY_NON_SYN  # a vacuous legacy SYN-form option
    assert run.eno_b.reason == "tcpeno.fallback.no_common_tep"
    assert run.eno_a.reason == "tcpeno.fallback.vacuous"


def test_legacy_peer_against_rfc_endpoint() -> None:
    run = handshake(endpoint((X,), dialect="legacy"), endpoint((X,)))
    assert run.eno_b.reason == "tcpeno.fallback.no_eno"
    assert run.eno_a.reason == "tcpeno.fallback.no_eno"


def test_legacy_simultaneous_open_falls_back() -> None:
    run = simultaneous(endpoint((X,), dialect="legacy"), endpoint((X,), dialect="legacy"))
    for eno in (run.eno_a, run.eno_b):
        assert eno.reason == "tcpeno.fallback.legacy_simultaneous_open"


# -- configuration, misuse, and the hook used directly ----------------------------------------


@pytest.mark.parametrize(
    "config",
    [
        {"dialect": "quic"},
        {"dialect": "legacy", "b": True},
        {"dialect": "legacy", "a": True},
        {"dialect": "legacy", "aa_mandatory": True},
        {"tep_mandatory": True, "vacuous": True},
        {"tep_mandatory": True, "enabled": False},
    ],
)
def test_bad_configurations(config: dict[str, object]) -> None:
    with pytest.raises(LocalProtocolError):
        EnoConfig(**config)  # type: ignore[arg-type]


@pytest.mark.parametrize("tep", [0x1F, 0x80, 0xA1])
def test_static_policy_rejects_non_tep_ids(tep: int) -> None:
    with pytest.raises(LocalProtocolError):
        StaticTepPolicy((X, tep))


def test_static_policy_answers_with_its_last_common_tep() -> None:
    policy = StaticTepPolicy((X, Y, Z))
    assert policy.teps == (X, Y, Z)
    # The last of ours that the peer offered (Z, with v=1 there), answered with v=0.
    peer = EnoOption.build(suboptions=[EnoSuboption(tep=X), EnoSuboption(tep=Z, v=True)])
    assert policy.synack_suboptions(peer) == (EnoSuboption(tep=Z),)
    assert policy.synack_suboptions(EnoOption.build(suboptions=[EnoSuboption(tep=0x30)])) == ()


def test_disabled_endpoint_is_inert() -> None:
    run = handshake(endpoint((X,), enabled=False), endpoint((X,)))
    assert all(eno_of(s) is None for s in run.sent("a"))
    assert run.eno_a.state is EnoState.OFF and run.eno_a.next_event() is None
    assert run.eno_b.reason == "tcpeno.fallback.no_eno"
    assert run.a.eno_events == []


def test_empty_tep_list_disables_eno() -> None:
    run = handshake(endpoint(()), endpoint((X,)))
    assert all(eno_of(s) is None for s in run.sent("a"))
    assert run.eno_a.state is EnoState.OFF and not run.eno_a.fell_back
    assert run.a.eno_events == []


def test_accessors_before_anything_happened() -> None:
    eno = endpoint((X,), a=True, b=True)
    assert eno.state is EnoState.IDLE and eno.config == EnoConfig(a=True, b=True)
    assert eno.outcome is None and eno.role is None and eno.transcript is None
    assert eno.syn_option is None and eno.peer_syn_option is None
    assert eno.peer_global_suboption is None and eno.teps == ()
    assert eno.self_global_suboption == 0x03
    assert endpoint((X,), dialect="legacy").self_global_suboption == 0
    assert eno.next_event() is None


def test_misuse_raises_local_protocol_error() -> None:
    eno = endpoint((X,))
    with pytest.raises(LocalProtocolError, match="before any SYN"):
        eno.options_for(TcpFlags.SYN | TcpFlags.ACK)
    # A passive opener sends no SYN-only segment.
    syn = Segment(PORT_A, PORT_B, 1, 0, TcpFlags.SYN, 65535, H("45032100"), b"")
    eno.on_segment(syn, 0.0)
    assert eno.options_for(TcpFlags.SYN | TcpFlags.ACK) == H("45040121")
    with pytest.raises(LocalProtocolError, match="passive opener"):
        eno.options_for(TcpFlags.SYN)


def test_policy_whose_suboptions_do_not_encode() -> None:
    class BadPolicy(StaticTepPolicy):
        def syn_suboptions(self) -> tuple[EnoSuboption, ...]:
            return (EnoSuboption(tep=0x10),)

    eno = EnoEndpoint(EnoConfig(), BadPolicy((X,)))
    with pytest.raises(LocalProtocolError, match="do not encode"):
        eno.options_for(TcpFlags.SYN)


def test_hook_used_directly() -> None:
    eno = endpoint((X, Y))
    assert eno.options_for(TcpFlags.RST | TcpFlags.ACK) == b""  # never on a RST
    syn = eno.options_for(TcpFlags.SYN)
    assert syn == H("45042123") and eno.options_for(TcpFlags.SYN) == syn
    # A RST from the peer is ignored by ENO.
    eno.on_segment(Segment(PORT_B, PORT_A, 0, 1, TcpFlags.RST | TcpFlags.ACK, 0, b"", b""), 0)
    assert state_of(eno) is EnoState.NEGOTIATING
    syn_ack = Segment(PORT_B, PORT_A, 9, 1, TcpFlags.SYN | TcpFlags.ACK, 100, H("45040123"), b"")
    eno.on_segment(syn_ack, 0.0)
    assert state_of(eno) is EnoState.NEGOTIATED and eno.negotiated_tep == Y
    assert eno.options_for(TcpFlags.ACK) == NON_SYN and eno.enabled
    assert eno.options_for(TcpFlags(0)) == NON_SYN  # every segment until a non-SYN one
    data = Segment(PORT_B, PORT_A, 10, 1, TcpFlags.ACK, 100, b"", b"x")
    eno.on_segment(data, 0.0)
    assert eno.options_for(TcpFlags.ACK) == b""
    assert kinds(list(iter(eno.next_event, None))) == [EnoNegotiated, EnoEnabled]


# -- random SYN options on the link never raise (RFC 8547 §4.6: negotiate or fall back) -------

# Random bytes, or plausible contents: a global suboption and a few TEP ids.
ENO_CONTENTS = st.one_of(
    st.binary(max_size=14),
    st.builds(
        lambda g, teps: g + bytes(teps),
        st.sampled_from([b"", b"\x00", b"\x01", b"\x02", b"\x03", b"\x1c"]),
        st.lists(st.sampled_from([X, Y, Z, 0x22, 0x30, 0xA1]), max_size=6),
    ),
)
OPTION_AREA = st.binary(max_size=40).map(lambda b: b + bytes(-len(b) % 4))


@property_settings
@given(contents=ENO_CONTENTS, to_b=st.booleans(), aa=st.booleans())
def test_random_syn_eno_option_negotiates_or_falls_back(
    contents: bytes, to_b: bool, aa: bool
) -> None:
    injected = bytes((69, len(contents) + 2)) + contents

    def inject(seg: Segment) -> Segment:
        return with_eno(seg, injected) if seg.is_syn else seg

    run = handshake(
        endpoint((X, Y, Z)),
        endpoint((Z, X), aa_mandatory=aa),
        to_b=inject if to_b else None,
        to_a=None if to_b else inject,
    )
    check_settled(run, injected, "a" if to_b else "b")


@property_settings
@given(area=OPTION_AREA, to_b=st.booleans())
def test_random_syn_option_area_never_raises(area: bytes, to_b: bool) -> None:
    def inject(seg: Segment) -> Segment:
        return replace(seg, options=area) if seg.is_syn else seg

    run = handshake(
        endpoint((X, Y)),
        endpoint((Y,)),
        to_b=inject if to_b else None,
        to_a=None if to_b else inject,
    )
    for eno in (run.eno_a, run.eno_b):
        assert eno.state in (EnoState.ENABLED, EnoState.FELL_BACK)
        assert eno.reason is None or eno.reason.startswith("tcpeno.fallback.")


def check_settled(run: Run, injected: bytes, victim_sender: Side) -> None:
    """Both ends negotiated or fell back; when both enabled encryption, their transcripts
    agree exactly when the injected option is the one that was sent (RFC 8547 §4.8)."""
    for stack in (run.a, run.b):
        eno = stack.eno
        assert eno is not None
        event(f"{eno.state.value} {eno.reason or ''}")
        assert eno.state in (EnoState.ENABLED, EnoState.FELL_BACK)
        assert eno.fell_back == (eno.reason is not None)
        assert len(stack.fallbacks) == int(eno.fell_back)
    if run.eno_a.enabled and run.eno_b.enabled:
        original = eno_of(run.sent(victim_sender)[0])
        same = run.eno_a.transcript == run.eno_b.transcript
        assert same == (original == injected)


def test_first_ack_carries_eno_even_after_an_early_non_syn_segment() -> None:
    """A non-SYN segment that arrives before A built its ACK must not cost the ACK its ENO.

    Otherwise A never has "sent an ACK segment containing ENO" (RFC 8547 §4.6) and would
    stay negotiated but never enabled. Drive the hook directly, as a driver that takes two
    segments before sending would.
    """
    a = endpoint((X, Y))
    syn_option = a.options_for(TcpFlags.SYN)
    assert syn_option == H("45042123")
    synack = Segment(
        PORT_B,
        PORT_A,
        1000,
        1,
        TcpFlags.SYN | TcpFlags.ACK,
        65535,
        encode_tcp_options([H("45040123")]),
        b"",
    )
    a.on_segment(synack, 0.0)
    assert a.negotiated and not a.enabled
    early = Segment(
        PORT_B,
        PORT_A,
        1001,
        1,
        TcpFlags.ACK,
        65535,
        encode_tcp_options([NON_SYN]),
        b"",
    )
    a.on_segment(early, 0.0)
    assert a.options_for(TcpFlags.ACK) == NON_SYN
    assert a.enabled
    # After that first ACK, and with a non-SYN segment received, ENO stops.
    assert a.options_for(TcpFlags.ACK) == b""
