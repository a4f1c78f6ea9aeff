"""Session resumption end to end (RFC 8548 §3.5): each connection is a new pair sharing the
two hosts' caches; every secret, identifier half and key is recomputed here by hand."""

from __future__ import annotations

from dataclasses import replace

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tcpinc_tools.protocol.connection import TcpincConfig
from tcpinc_tools.protocol.events import EncryptionEnabled, FellBack
from tcpinc_tools.protocol.resumption import ResumptionCache
from tcpinc_tools.protocol.segment import Segment
from tcpinc_tools.protocol.tcpcrypt import TcpcryptConfig
from tcpinc_tools.wire.constants import AeadId
from tcpinc_tools.wire.eno import EnoOption, Role, decode_eno_option
from tcpinc_tools.wire.tcp_options import is_eno_option, iter_tcp_options

from .tcpcrypt_helpers import ByHand, MemoryKeyLog, expand, rfc_nonce
from .tcpinc_pair import CLIENT, SERVER, Pair, config, make_pair, once, sent_stream

AES128 = AeadId.AEAD_AES_128_GCM
TEP = 0x23


def cfg(*, accept_resumption: bool = True, cache_secrets: bool = True) -> TcpincConfig:
    return config(
        tcpcrypt=TcpcryptConfig(
            teps=(TEP,),
            aconf=(AES128,),
            accept_resumption=accept_resumption,
            cache_secrets=cache_secrets,
        )
    )


class Hosts:
    """The client host and the server host: their caches and key logs, across connections."""

    def __init__(self, dialect: str = "rfc") -> None:
        self.dialect = dialect
        self.cache_c, self.cache_s = ResumptionCache(), ResumptionCache()
        self.log_c, self.log_s = MemoryKeyLog(), MemoryKeyLog()
        self.count = 0

    def connect(
        self,
        *,
        swap: bool = False,
        config_a: TcpincConfig | None = None,
        config_b: TcpincConfig | None = None,
        **kw: object,
    ) -> Pair:
        """A new connection: from the client host to the server host (or the reverse)."""
        self.count += 1
        base = cfg() if self.dialect == "rfc" else config(dialect="legacy")
        caches = (self.cache_s, self.cache_c) if swap else (self.cache_c, self.cache_s)
        logs = (self.log_s, self.log_c) if swap else (self.log_c, self.log_s)
        pair = make_pair(
            config_a=config_a or base,
            config_b=config_b or base,
            cache_a=caches[0],
            cache_b=caches[1],
            keylog_a=logs[0].writer,
            keylog_b=logs[1].writer,
            swap_hosts=swap,
            seed=100 * self.count,
            **kw,  # type: ignore[arg-type]
        )
        return pair

    def talk(self, pair: Pair) -> None:
        pair.a.send(b"request %d" % self.count)
        pair.b.send(b"response %d" % self.count)
        pair.run_until_received("b", b"request %d" % self.count)
        pair.run_until_received("a", b"response %d" % self.count)
        pair.close_both()


def syn_eno(pair: Pair, side: str) -> EnoOption:
    """The SYN-form ENO option ``side`` sent, as it went on the wire."""
    for t in pair.link.trace:
        if t.sender == side and t.segment.is_syn:
            (opt,) = [o for o in iter_tcp_options(t.segment.options) if is_eno_option(o)]
            return decode_eno_option(opt.raw, syn=True)
    raise AssertionError("no SYN")


def resume_data(pair: Pair, side: str) -> bytes:
    (sub,) = [s for s in syn_eno(pair, side).suboptions if s.v]
    return sub.data


def test_resumption_i_1_2_3() -> None:
    hosts = Hosts()
    first = hosts.connect().open()
    assert not first.a.resumed
    hosts.talk(first)
    ((label, n_a, ss0),) = hosts.log_c.lines
    assert label == "TCPCRYPT_SS_INIT1" and hosts.log_s.lines == hosts.log_c.lines
    chain = [ss0]
    for _ in range(5):
        chain.append(ByHand(chain[-1]).next())  # ss[i] = CPRF(ss[i-1], CONST_NEXTK)
    entry = hosts.cache_c.entry(SERVER, TEP)
    assert entry is not None and (entry.index, entry.ss, entry.original_role) == (
        1,
        chain[1],
        Role.A,
    )
    for i in (1, 2, 3):
        pair = hosts.connect().open()
        a, b = pair.a, pair.b
        assert a.resumed and b.resumed and a.encrypted
        rid = ByHand(chain[i]).resume()
        data_a, data_b = resume_data(pair, "a"), resume_data(pair, "b")
        # RFC 8548 §3.5 Figs. 2-3: A's half ‖ 8-byte nonce_a; B's half ‖ nonce_b.
        assert data_a[:9] == rid[:9] and data_b[:9] == rid[9:]
        assert len(data_a) == len(data_b) == 17
        sn = data_a[9:] + data_b[9:]
        hand = ByHand(chain[i], sn=sn)
        # RFC 8548 §3.4: the first byte has v=1 (T10).
        assert a.session_id == b.session_id == hand.session_id(0x80 | TEP)
        assert a.negotiated_tep == 0xA3
        # Resumed frames start at offset 0 (no Init messages), A encrypting with k_ab.
        a.send(b"resumed data")
        pair.run_until_received("b", b"resumed data")
        up = sent_stream(pair.link, "a")
        k_ab = hand.k_ab()
        assert AESGCM(k_ab[:16]).decrypt(rfc_nonce(k_ab, 16, 0), up[3:], up[:3]) == (
            b"\x00resumed data"
        )
        hosts.talk(pair)
        # ss[i] is gone from both caches; ss[i+1] waits for the next connection.
        for cache, peer in ((hosts.cache_c, SERVER), (hosts.cache_s, CLIENT)):
            entry = cache.entry(peer, TEP)
            assert entry is not None and entry.index == i + 1 and entry.ss == chain[i + 1]
    expected = [("TCPCRYPT_SS_INIT1", n_a, ss0)] + [
        ("TCPCRYPT_SS_RESUME", ByHand(chain[i]).resume(), chain[i]) for i in (1, 2, 3)
    ]
    assert hosts.log_c.lines == expected and hosts.log_s.lines == expected


def test_roles_swapped_original_b_connects() -> None:
    hosts = Hosts()
    hosts.talk(hosts.connect().open())
    ((_, _, ss0),) = hosts.log_c.lines
    ss1 = ByHand(ss0).next()
    pair = hosts.connect(swap=True).open()
    a, b = pair.a, pair.b  # a: the server host (original B), now the active opener: role A
    assert a.resumed and b.resumed and a.role is Role.A and b.role is Role.B
    assert a.session is not None and a.session.original_role is Role.B
    rid = ByHand(ss1).resume()
    # Each host sends the half of its ORIGINAL role (T11): a sends B's half.
    data_a, data_b = resume_data(pair, "a"), resume_data(pair, "b")
    assert data_a[:9] == rid[9:] and data_b[:9] == rid[:9]
    sn = data_b[9:] + data_a[9:]  # nonce_a (original A = b here) ‖ nonce_b
    hand = ByHand(ss1, sn=sn)
    assert a.session_id == hand.session_id(0xA3)
    a.send(b"from the original B")
    pair.run_until_received("b", b"from the original B")
    up = sent_stream(pair.link, "a")
    k_ba = hand.k_ba()  # the original B encrypts with k_ba, whatever its role now
    assert AESGCM(k_ba[:16]).decrypt(rfc_nonce(k_ba, 16, 0), up[3:], up[:3]) == (
        b"\x00from the original B"
    )
    hosts.talk(pair)
    assert hosts.log_c.lines[-1] == ("TCPCRYPT_SS_RESUME", rid, ss1)


def test_declined_after_cache_flush_on_b() -> None:
    hosts = Hosts()
    hosts.talk(hosts.connect().open())
    hosts.cache_s.flush()
    assert len(hosts.cache_s) == 0
    pair = hosts.connect().open()
    assert not pair.a.resumed and not pair.b.resumed and pair.a.encrypted
    # A offered resumption; B answered the TEP with v=0: a fresh exchange (session ID 0x23).
    ss1 = ByHand(hosts.log_c.lines[0][2]).next()
    assert resume_data(pair, "a")[:9] == ByHand(ss1).resume()[:9]
    assert [s.byte for s in syn_eno(pair, "b").suboptions] == [TEP]
    assert pair.a.session_id[0] == TEP
    hosts.talk(pair)
    assert [line[0] for line in hosts.log_c.lines] == ["TCPCRYPT_SS_INIT1"] * 2
    new_ss1 = ByHand(hosts.log_c.lines[1][2]).next()
    for cache, peer in ((hosts.cache_c, SERVER), (hosts.cache_s, CLIENT)):
        entry = cache.entry(peer, TEP)
        assert entry is not None and entry.index == 1 and entry.ss == new_ss1


def test_ignored_request_gives_a_fresh_exchange() -> None:
    hosts = Hosts()
    hosts.talk(hosts.connect().open())
    pair = hosts.connect(config_b=cfg(accept_resumption=False)).open()
    assert len(resume_data(pair, "a")) == 17  # A offered ss[1] ...
    assert not pair.a.resumed and pair.a.encrypted  # ... B ignored it: fresh key exchange
    hosts.talk(pair)
    assert [line[0] for line in hosts.log_s.lines] == ["TCPCRYPT_SS_INIT1"] * 2


def test_lost_offer_then_lookahead() -> None:
    """An offer that never reached B (its SYN lost for good) used ss[1] up on A (RFC 8548
    §3.5: the lowest i not used, "successfully or not"); B still holds ss[1] and finds the
    ss[2] of A's next offer one step further down the chain."""
    hosts = Hosts()
    hosts.talk(hosts.connect().open())
    ss0 = hosts.log_c.lines[0][2]
    ss2 = ByHand(ByHand(ss0).next()).next()

    def drop_syn(seg: Segment) -> None:
        return None

    lost = hosts.connect(tamper_a=drop_syn)
    lost.b.listen()
    lost.a.connect(lost.link.now)
    lost.link.run(max_time=2)
    lost.a.abort()
    assert hosts.cache_c.entry(SERVER, TEP).index == 2  # type: ignore[union-attr]
    assert hosts.cache_s.entry(CLIENT, TEP).index == 1  # type: ignore[union-attr]
    pair = hosts.connect().open()
    assert pair.a.resumed and pair.b.resumed
    assert hosts.log_s.lines[-1] == ("TCPCRYPT_SS_RESUME", ByHand(ss2).resume(), ss2)
    assert hosts.cache_s.entry(CLIENT, TEP).index == 3  # type: ignore[union-attr]
    hosts.talk(pair)


def test_no_caching_and_api_flush() -> None:
    hosts = Hosts()
    pair = hosts.connect(config_a=cfg(cache_secrets=False)).open()
    hosts.talk(pair)
    assert hosts.cache_c.entry(SERVER, TEP) is None and len(hosts.cache_s) == 1
    # flush_cache() before connecting: no offer, although a secret would be there.
    hosts.talk(hosts.connect().open())
    pair = hosts.connect()
    pair.a.flush_cache()
    pair.open()
    assert not pair.a.resumed and not any(s.v for s in syn_eno(pair, "a").suboptions)
    hosts.talk(pair)
    # flush_cache() on an established connection erases the chain it created.
    pair = hosts.connect().open()
    assert pair.a.resumed
    pair.a.flush_cache()
    pair.b.flush_cache()
    assert hosts.cache_c.entry(SERVER, TEP) is None and hosts.cache_s.entry(CLIENT, TEP) is None
    hosts.talk(pair)


def test_resumed_connection_without_caching_leaves_nothing() -> None:
    hosts = Hosts()
    hosts.talk(hosts.connect().open())
    pair = hosts.connect(config_a=cfg(cache_secrets=False)).open()
    assert pair.a.resumed
    assert hosts.cache_c.entry(SERVER, TEP) is None
    hosts.talk(pair)


def test_mismatching_half_falls_back() -> None:
    hosts = Hosts()
    hosts.talk(hosts.connect().open())
    ss1 = ByHand(hosts.log_c.lines[0][2]).next()
    b_half = ByHand(ss1).resume()[9:]

    def corrupt(seg: Segment) -> Segment:
        at = seg.options.index(b_half)
        bad = bytearray(seg.options)
        bad[at] ^= 0xFF
        return replace(seg, options=bytes(bad))

    pair = hosts.connect(tamper_b=once(corrupt, lambda s: s.is_syn and b_half in s.options))
    pair.open()
    fell_a = [e for e in pair.events("a") if isinstance(e, FellBack)]
    assert fell_a == [FellBack("tcpcrypt.resume.mismatch")]
    assert [e.reason for e in pair.events("b") if isinstance(e, FellBack)] == [
        "tcpeno.fallback.stripped"
    ]
    assert not pair.a.encrypted and not pair.b.encrypted
    assert not pair.link.has("a", EncryptionEnabled)
    pair.a.send(b"plain now")
    pair.run_until_received("b", b"plain now")
    assert b"plain now" in sent_stream(pair.link, "a")
    pair.close_both()
    # The key logs hold only the first session's secret: nothing was resumed.
    assert [line[0] for line in hosts.log_c.lines] == ["TCPCRYPT_SS_INIT1"]


def test_simultaneous_open_resumes() -> None:
    hosts = Hosts()
    hosts.talk(hosts.connect().open())
    ss1 = ByHand(hosts.log_c.lines[0][2]).next()
    b_cfg = config(b=True, tcpcrypt=TcpcryptConfig(teps=(TEP,), aconf=(AES128,)))
    pair = hosts.connect(config_b=b_cfg, simultaneous=True)
    pair.open(simultaneous=True)
    assert pair.a.resumed and pair.b.resumed
    assert hosts.log_c.lines[-1] == ("TCPCRYPT_SS_RESUME", ByHand(ss1).resume(), ss1)
    hosts.talk(pair)


def test_legacy_fresh_and_resumed() -> None:
    hosts = Hosts("legacy")
    first = hosts.connect().open()
    assert first.a.encrypted and first.a.negotiated_tep == 0x22
    assert syn_eno(first, "a").raw == bytes.fromhex("fd0645 4e2122".replace(" ", ""))
    hosts.talk(first)
    ((label, _, ss0),) = hosts.log_c.lines
    assert label == "TCPCRYPT_SS_INIT1"
    assert first.a.session_id == b"\x22" + expand(ss0, b"\x02", 32)
    ss1 = ByHand(ss0).next()
    ident = expand(ss1, b"\x02", 32)[:9]  # LEGACY.md: 9 bytes of the session ID of ss[1]
    pair = hosts.connect().open()
    # LEGACY.md: SYN: the fresh TEPs, then a2 ‖ identifier; SYN-ACK: a2 alone.
    assert syn_eno(pair, "a").raw == bytes.fromhex("fd10454e2122a2") + ident
    assert syn_eno(pair, "b").raw == bytes.fromhex("fd05454ea2")
    assert pair.a.resumed and pair.b.resumed
    assert pair.a.session_id == pair.b.session_id == b"\xa2" + expand(ss1, b"\x02", 32)
    pair.a.send(b"legacy resumed")
    pair.run_until_received("b", b"legacy resumed")
    up = sent_stream(pair.link, "a")
    k_ab = expand(expand(ss1, b"\x03", 32), b"\x04", 32)
    # B chose AES-256-GCM in the first session; LEGACY.md nonce: offset 0, 8 bytes LE.
    assert AESGCM(k_ab).decrypt(bytes(8), up[3:], up[:3]) == b"\x00legacy resumed"
    hosts.talk(pair)
    assert hosts.log_c.lines[-1] == ("TCPCRYPT_SS_RESUME", ident, ss1)
    assert hosts.log_s.lines == hosts.log_c.lines
