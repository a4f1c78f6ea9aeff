"""ResumptionCache and TcpcryptPolicy on their own (RFC 8548 §3.5), with the ENO options
built and negotiated by the wire layer, and every identifier recomputed by hand."""

from __future__ import annotations

import random

import pytest

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.protocol.resumption import (
    RESUME_LOOKAHEAD,
    ResumptionCache,
    TcpcryptPolicy,
    identifier_half,
)
from tcpinc_tools.protocol.tcpcrypt import TcpcryptConfig, TcpcryptSession
from tcpinc_tools.wire.constants import AeadId, Dialect
from tcpinc_tools.wire.eno import EnoOption, EnoOutcome, EnoSuboption, Role, negotiate

from .tcpcrypt_helpers import ByHand, expand, pump

AES128 = AeadId.AEAD_AES_128_GCM
SS = bytes(range(100, 132))
PEER_OF_A, PEER_OF_B = "host-b", "host-a"


def chain(n: int) -> list[bytes]:
    out = [SS]
    for _ in range(n):
        out.append(ByHand(out[-1]).next())
    return out


def option(subs: tuple[EnoSuboption, ...], *, b: bool, dialect: Dialect = "rfc") -> EnoOption:
    if dialect == "legacy":
        return EnoOption.build(kind=253, suboptions=subs)
    return EnoOption.build(global_suboption=0x01 if b else None, suboptions=subs)


def caches(tep: int = 0x23, dialect: Dialect = "rfc") -> tuple[ResumptionCache, ResumptionCache]:
    """Host A's and host B's caches after a session that left ss[1] = SS (A was A)."""
    cache_a, cache_b = ResumptionCache(), ResumptionCache()
    for cache, peer, role in ((cache_a, PEER_OF_A, Role.A), (cache_b, PEER_OF_B, Role.B)):
        cache.store(peer, tep=tep, dialect=dialect, original_role=role, aead=AES128, ss=SS, index=1)
    return cache_a, cache_b


def policies(
    cache_a: ResumptionCache | None,
    cache_b: ResumptionCache | None,
    *,
    config_a: TcpcryptConfig | None = None,
    config_b: TcpcryptConfig | None = None,
    dialect: Dialect = "rfc",
) -> tuple[TcpcryptPolicy, TcpcryptPolicy]:
    cfg = TcpcryptConfig(teps=(0x21, 0x23))
    pa = TcpcryptPolicy(
        config_a or cfg,
        dialect=dialect,
        cache=cache_a,
        peer=PEER_OF_A,
        random_bytes=random.Random(1).randbytes,
    )
    pb = TcpcryptPolicy(
        config_b or cfg,
        dialect=dialect,
        cache=cache_b,
        peer=PEER_OF_B,
        random_bytes=random.Random(2).randbytes,
    )
    return pa, pb


def handshake(
    pa: TcpcryptPolicy,
    pb: TcpcryptPolicy,
    dialect: Dialect = "rfc",
    subs: tuple[EnoSuboption, ...] | None = None,
) -> tuple[EnoOutcome, str | None, str | None]:
    """A's SYN (``subs``: what pa.syn_suboptions() returned, called once), B's answer,
    negotiation, then each side's accept()."""
    opt_a = option(pa.syn_suboptions() if subs is None else subs, b=False, dialect=dialect)
    opt_b = option(pb.synack_suboptions(opt_a), b=True, dialect=dialect)
    outcome = negotiate(opt_a.raw, opt_b.raw, dialect=dialect)
    assert outcome.ok
    return outcome, pb.accept(outcome, Role.B), pa.accept(outcome, Role.A)


# -- the identifier --------------------------------------------------------------------------


def test_identifier_halves_by_hand() -> None:
    rid = expand(SS, b"\x06", 18)  # RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME, 18)
    assert identifier_half(SS, Role.A, "rfc") == rid[:9]
    assert identifier_half(SS, Role.B, "rfc") == rid[9:]
    # LEGACY.md: the 9 bytes after the TEP byte of the session ID of ss[i], for both.
    legacy = expand(SS, b"\x02", 32)[:9]
    assert identifier_half(SS, Role.A, "legacy") == identifier_half(SS, Role.B, "legacy") == legacy


# -- the cache -------------------------------------------------------------------------------


def test_take_for_offer_uses_the_lowest_unused_secret() -> None:
    cache = ResumptionCache()
    assert cache.take_for_offer("p", 0x23) is None
    cache.store("p", tep=0x23, dialect="rfc", original_role=Role.A, aead=AES128, ss=SS, index=1)
    ss = chain(3)
    for i in range(3):
        entry = cache.take_for_offer("p", 0x23)
        assert entry is not None and entry.ss == ss[i] and entry.index == i + 1
        nxt = cache.entry("p", 0x23)
        assert nxt is not None and nxt.ss == ss[i + 1]  # ss[i] is gone from the cache
    assert cache.entry("p", 0x23, "legacy") is None and len(cache) == 1
    assert "entries" in repr(cache) and SS.hex() not in repr(cache.entry("p", 0x23))


@pytest.mark.parametrize("steps", range(RESUME_LOOKAHEAD))
def test_take_matching_within_the_lookahead(steps: int) -> None:
    _, cache_b = caches()
    ss = chain(steps + 1)
    half_of_a = identifier_half(ss[steps], Role.A, "rfc")
    entry = cache_b.take_matching(PEER_OF_B, 0x23, "rfc", half_of_a)
    assert entry is not None and entry.ss == ss[steps] and entry.index == 1 + steps
    left = cache_b.entry(PEER_OF_B, 0x23)
    assert left is not None and left.ss == ss[steps + 1] and left.index == steps + 2


def test_take_matching_misses() -> None:
    _, cache_b = caches()
    ss = chain(RESUME_LOOKAHEAD)
    # Too far down the chain, our own half, another TEP, another peer, an empty cache.
    assert (
        cache_b.take_matching(PEER_OF_B, 0x23, "rfc", identifier_half(ss[-1], Role.A, "rfc"))
        is None
    )
    assert cache_b.take_matching(PEER_OF_B, 0x23, "rfc", identifier_half(SS, Role.B, "rfc")) is None
    assert cache_b.take_matching(PEER_OF_B, 0x21, "rfc", identifier_half(SS, Role.A, "rfc")) is None
    assert cache_b.take_matching("other", 0x23, "rfc", identifier_half(SS, Role.A, "rfc")) is None
    entry = cache_b.entry(PEER_OF_B, 0x23)
    assert entry is not None and entry.ss == SS  # unchanged
    with pytest.raises(LocalProtocolError):
        ResumptionCache(lookahead=0)


def test_forget_and_flush() -> None:
    cache = ResumptionCache()
    chains: list[tuple[str, int, Dialect]] = [
        ("p", 0x21, "rfc"),
        ("p", 0x23, "rfc"),
        ("p", 0x21, "legacy"),
        ("q", 0x21, "rfc"),
    ]
    for peer, tep, dialect in chains:
        cache.store(
            peer, tep=tep, dialect=dialect, original_role=Role.A, aead=AES128, ss=SS, index=1
        )
    cache.forget("p", 0x21, "rfc")
    assert cache.entry("p", 0x21) is None and cache.entry("p", 0x21, "legacy") is not None
    cache.forget("p", dialect="legacy")
    assert cache.entry("p", 0x21, "legacy") is None and cache.entry("p", 0x23) is not None
    cache.forget("p")
    assert len(cache) == 1
    cache.flush()
    assert len(cache) == 0


# -- the policy ------------------------------------------------------------------------------


def test_fresh_offer_without_cache() -> None:
    pa, pb = policies(None, None)
    assert pa.syn_suboptions() == (EnoSuboption(0x21), EnoSuboption(0x23))
    outcome, refusal_b, refusal_a = handshake(pa, pb)
    assert outcome.negotiated_tep_byte == 0x23  # B's last (most preferred) common TEP
    assert refusal_a is refusal_b is None and pa.resume_state is pb.resume_state is None


def test_resumption_agreed() -> None:
    cache_a, cache_b = caches()
    pa, pb = policies(cache_a, cache_b)
    subs = pa.syn_suboptions()
    # RFC: the resumption suboption replaces that TEP's v=0 one and goes last.
    assert [s.byte for s in subs] == [0x21, 0xA3]
    rid = expand(SS, b"\x06", 18)
    assert subs[-1].data[:9] == rid[:9] and len(subs[-1].data) == 17
    outcome, refusal_b, refusal_a = handshake(pa, pb, subs=subs)
    assert refusal_a is refusal_b is None and outcome.negotiated_tep_byte == 0xA3
    sa, sb = pa.resume_state, pb.resume_state
    assert sa is not None and sb is not None
    assert sa.ss == sb.ss == SS and sa.resume_id == sb.resume_id == rid
    assert (sa.original_role, sb.original_role) == (Role.A, Role.B)
    assert sa.nonce_a == sb.nonce_a == subs[-1].data[9:]
    assert sa.nonce_b == sb.nonce_b == outcome.suboption_b.data[9:]  # type: ignore[union-attr]
    assert sa.aead == AES128
    # Both sides moved on to ss[2].
    for cache, peer in ((cache_a, PEER_OF_A), (cache_b, PEER_OF_B)):
        assert cache.entry(peer, 0x23).ss == chain(1)[1]  # type: ignore[union-attr]


def test_zero_length_nonce() -> None:
    cfg = TcpcryptConfig(teps=(0x23,), resume_nonce_len=0)
    pa, pb = policies(*caches(), config_a=cfg, config_b=cfg)
    _, refusal_b, refusal_a = handshake(pa, pb)
    assert refusal_a is refusal_b is None
    assert pa.resume_state is not None and pa.resume_state.nonce_a == b""


@pytest.mark.parametrize(
    "config_b",
    [TcpcryptConfig(teps=(0x21, 0x23), accept_resumption=False), None],
)
def test_declined_gives_fresh_exchange(config_b: TcpcryptConfig | None) -> None:
    cache_a, cache_b = caches()
    if config_b is None:
        cache_b.flush()
    pa, pb = policies(cache_a, cache_b, config_b=config_b)
    outcome, refusal_b, refusal_a = handshake(pa, pb)
    assert outcome.negotiated_tep_byte == 0x23  # v=0: fresh
    assert refusal_a is refusal_b is None and pa.resume_state is None
    assert cache_a.entry(PEER_OF_A, 0x23).index == 2  # type: ignore[union-attr]


def test_short_or_overlong_resumption_data_is_not_resumption() -> None:
    _, cache_b = caches()
    pb = policies(None, cache_b)[1]
    half = identifier_half(SS, Role.A, "rfc")
    # RFC 8548 §3.5: fewer than 9 data bytes = a fresh offer of that TEP.
    short = option((EnoSuboption(0x23, v=True, data=half[:8]),), b=False)
    assert pb.synack_suboptions(short) == (EnoSuboption(0x23),)
    too_long = option((EnoSuboption(0x23, v=True, data=half + bytes(9)),), b=False)
    assert pb.synack_suboptions(too_long) == (EnoSuboption(0x23),)
    other_tep = option((EnoSuboption(0x22, v=True, data=half),), b=False)
    assert pb.synack_suboptions(other_tep) == ()
    assert cache_b.entry(PEER_OF_B, 0x23).ss == SS  # type: ignore[union-attr]


def test_mismatching_half_is_refused_by_the_active_opener() -> None:
    cache_a, _ = caches()
    pa, _ = policies(cache_a, None)
    opt_a = option(pa.syn_suboptions(), b=False)
    wrong = bytes(9) + bytes(8)
    opt_b = option((EnoSuboption(0x23, v=True, data=wrong),), b=True)
    outcome = negotiate(opt_a.raw, opt_b.raw)
    assert pa.accept(outcome, Role.A) == "tcpcrypt.resume.mismatch"
    assert pa.resume_state is None


def test_resumption_answer_without_offer_is_refused() -> None:
    pa, _ = policies(None, None)
    opt_a = option(pa.syn_suboptions(), b=False)
    opt_b = option((EnoSuboption(0x23, v=True, data=bytes(17)),), b=True)
    assert pa.accept(negotiate(opt_a.raw, opt_b.raw), Role.A) == "tcpcrypt.resume.mismatch"


def test_unsupported_tep_is_refused() -> None:
    pa, _ = policies(None, None)
    opt_a = option((EnoSuboption(0x20), EnoSuboption(0x23)), b=False)
    opt_b = option((EnoSuboption(0x20),), b=True)
    assert pa.accept(negotiate(opt_a.raw, opt_b.raw), Role.A) == "tcpcrypt.unsupported_tep"


def test_legacy_suboptions_and_agreement() -> None:
    cache_a, cache_b = caches(0x21, "legacy")
    cfg = TcpcryptConfig(teps=(0x21, 0x22))
    pa, pb = policies(cache_a, cache_b, config_a=cfg, config_b=cfg, dialect="legacy")
    subs = pa.syn_suboptions()
    ident = expand(SS, b"\x02", 32)[:9]
    # LEGACY.md: the fresh TEPs, then TEP|0x80 ‖ 9-byte identifier; the answer a1 alone.
    assert subs == (
        EnoSuboption(0x21),
        EnoSuboption(0x22),
        EnoSuboption(0x21, v=True, data=ident),
    )
    outcome, refusal_b, refusal_a = handshake(pa, pb, "legacy", subs)
    assert outcome.option_b is not None and outcome.option_b.raw == bytes.fromhex("fd05454ea1")
    assert refusal_a is refusal_b is None
    assert pa.resume_state is not None and pa.resume_state.resume_id == ident
    assert pa.resume_state.nonce_a == pa.resume_state.nonce_b == b""


def test_legacy_b_answer_without_offer_is_refused() -> None:
    cfg = TcpcryptConfig(teps=(0x21,))
    pa, _ = policies(None, None, config_a=cfg, dialect="legacy")
    opt_a = option(pa.syn_suboptions(), b=False, dialect="legacy")
    opt_b = option((EnoSuboption(0x21, v=True),), b=True, dialect="legacy")
    outcome = negotiate(opt_a.raw, opt_b.raw, dialect="legacy")
    assert pa.accept(outcome, Role.A) == "tcpcrypt.resume.mismatch"


def test_remember_and_flush() -> None:
    cache = ResumptionCache()
    policy = TcpcryptPolicy(TcpcryptConfig(teps=(0x23,)), cache=cache, peer="p")
    a = TcpcryptSession(role=Role.A, dialect="rfc", tep=0x23, tep_byte=0x23, transcript=b"t")
    b = TcpcryptSession(role=Role.B, dialect="rfc", tep=0x23, tep_byte=0x23, transcript=b"t")
    policy.remember(a)  # no keys yet: nothing
    assert len(cache) == 0
    pump(a, b)
    policy.remember(a)
    entry = cache.entry("p", 0x23)
    assert entry is not None and entry.index == 1 and entry.original_role is Role.A
    policy.remember(a)  # the secret was handed out once
    assert cache.entry("p", 0x23) == entry
    # Before negotiation, flush means: use no cached secret (and ignore requests).
    policy.flush()
    assert policy.syn_suboptions() == (EnoSuboption(0x23),)
    assert policy.config.resume is False and policy.config.accept_resumption is False
    opt = option((EnoSuboption(0x23),), b=False)
    policy.accept(negotiate(opt.raw, option((EnoSuboption(0x23),), b=True).raw), Role.A)
    # After it: erase the chain and cache nothing more.
    policy.flush()
    assert cache.entry("p", 0x23) is None and policy.config.cache_secrets is False


def test_bad_random_source_is_misuse() -> None:
    cache_a, _ = caches()
    policy = TcpcryptPolicy(
        TcpcryptConfig(teps=(0x23,)), cache=cache_a, peer=PEER_OF_A, random_bytes=lambda n: b""
    )
    with pytest.raises(LocalProtocolError):
        policy.syn_suboptions()
