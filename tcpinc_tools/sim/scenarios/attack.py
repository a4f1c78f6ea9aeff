"""The ``attack-*`` family: faults and attacks on tcpcrypt connections, and what the honest
stacks do about them. The bytes no honest stack sends come from link stages
(:mod:`..middlebox`); the stacks are the same as everywhere else. Captures are at the
client's interface, after the attacker's stage on the way in.

    attack-bad-tag                 a byte of the response's first frame flipped: the client's
                                   AEAD check fails and it aborts (RFC 8548 §3.6)
    attack-truncation              the segment with the last frame (FINp) loses its payload but
                                   keeps its FIN: FIN without FINp, an abort (§3.7)
    attack-rst-injection           a forged RST mid-response: TCP headers are unprotected (§8)
    attack-resume-replay           the SYN of a resumed session replayed 5 s later: the server
                                   refuses the used resumption id (§3.5)
    attack-plaintext-after-enable  the server's frames replaced by a cleartext HTTP response
                                   after encryption was enabled (RFC 8547 §4.6)
    attack-tracking                a clone of the client (a VM snapshot) re-offers the same
                                   resumption id from another address
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ...protocol.resumption import ResumptionCache
from ...protocol.segment import Segment, TcpFlags
from ...wire.constants import TepId
from ..apps import HttpServer, Socket, http_response
from ..driver import EndFactory, EndInfo, Endpoint, Simulation
from ..link import Delay, Packet, Side
from ..middlebox import (
    InjectAfter,
    Replay,
    RewriteSegment,
    TamperPayload,
    all_of,
    has_fin,
    has_payload,
    offers_resumption,
)
from .common import DELAY, fetch, page, serve, tcpinc_end, two_hosts
from .registry import ScenarioContext, register

__all__: list[str] = []

# How long the two-part server pauses between the halves of its response.
PAUSE: Final = 0.05
# When the replayed SYN is sent again, after the original (the first connection is long
# over by then, TIME-WAIT included).
REPLAY_AFTER: Final = 5.0


class _TwoPartServer(HttpServer):
    """Sends the first half of the response, and PAUSE seconds later the rest and closes:
    the last frame (FINp) travels in a segment of its own."""

    def respond(self, now: float) -> None:
        half = len(self.response) // 2
        self.sock.send(self.response[:half])
        self.timer = now + PAUSE

    def on_timer(self, now: float) -> None:
        super().on_timer(now)
        if self.ended is None and not self.closed:
            self.sock.send(self.response[len(self.response) // 2 :])
            self.close()


def _long_body(name: str) -> bytes:
    return page(name, *(f"line {i} of a response sent in two parts" for i in range(12)))


@register("attack-bad-tag", "attack")
def bad_tag(ctx: ScenarioContext) -> Simulation:
    """a byte of the response's first frame is flipped: its tag fails, the client aborts"""
    # The server's second segment with data (the first carries Init2) holds the response
    # frame; byte 5 is inside its ciphertext.
    tamper = TamperPayload(has_payload, index=5, skip=1)
    pair = two_hosts(ctx, down=[tamper])
    serve(pair.server, tcpinc_end(), page("attack-bad-tag", "this frame was tampered with"))
    fetch(pair, "/attack-bad-tag", tcpinc_end(keylog=True))
    return pair.sim


def _drop_payload(seg: Segment) -> Segment:
    return replace(seg, payload=b"")


@register("attack-truncation", "attack")
def truncation(ctx: ScenarioContext) -> Simulation:
    """the last frame (with FINp) is cut out of the FIN segment: TCP FIN without FINp"""
    cut = RewriteSegment(all_of(has_fin, has_payload), _drop_payload)
    pair = two_hosts(ctx, down=[cut])
    serve(pair.server, tcpinc_end(), _long_body("attack-truncation"), app=_TwoPartServer)
    fetch(pair, "/attack-truncation", tcpinc_end(keylog=True))
    return pair.sim


def _forged_rst(packet: Packet) -> Packet:
    # RFC 9293 §3.10.7.4 / RFC 5961 §3.2: a RST whose sequence number is exactly the next
    # one expected (RCV.NXT) is taken at once; an on-path observer knows it.
    seg = packet.segment
    seq = (seg.seq + len(seg.payload)) % (1 << 32)
    rst = Segment(seg.src_port, seg.dst_port, seq, 0, TcpFlags.RST, 0, b"", b"")
    return Packet(packet.src, packet.dst, rst)


@register("attack-rst-injection", "attack")
def rst_injection(ctx: ScenarioContext) -> Simulation:
    """a forged RST after the first half of the response: reset, not end of stream (§8)"""
    inject = InjectAfter(has_payload, _forged_rst, delay=0.001, skip=1)
    pair = two_hosts(ctx, down=[inject])
    serve(pair.server, tcpinc_end(), _long_body("attack-rst-injection"), app=_TwoPartServer)
    fetch(pair, "/attack-rst-injection", tcpinc_end(keylog=True))
    return pair.sim


@register("attack-resume-replay", "attack")
def resume_replay(ctx: ScenarioContext) -> Simulation:
    """a resumed session's SYN is replayed byte for byte 5 s later; the server refuses it"""
    # The attacker sits on the client's network, before the capture point. The server's
    # cache has moved on to ss[2], so the replayed half names no secret it holds (RFC 8548
    # §3.5): it answers with a fresh TEP (v = 0), and the client's closed port sends a RST.
    tap = ctx.tap
    up = [Replay(offers_resumption, after=REPLAY_AFTER), tap, Delay(DELAY)]
    pair = two_hosts(ctx, paths=(up, [Delay(DELAY), tap]))
    serve(
        pair.server,
        tcpinc_end(cache=ResumptionCache()),
        page("attack-resume-replay", "a fresh session, then a resumed one"),
    )
    client = tcpinc_end(cache=ResumptionCache(), keylog=True)
    first = fetch(pair, "/attack-resume-replay/fresh", client)
    fetch(pair, "/attack-resume-replay/resumed", client, after=first)
    return pair.sim


def cleartext_response(size: int) -> bytes:
    """An HTTP response of exactly ``size`` bytes (cut short if ``size`` is below the
    smallest one)."""
    note = b"a cleartext response where tcpcrypt frames belong\n"
    for length in range(size, -1, -1):
        response = http_response((note * (length // len(note) + 1))[:length])
        if len(response) == size:
            return response
    return http_response(note)[:size]


def _to_cleartext(seg: Segment) -> Segment:
    return replace(seg, payload=cleartext_response(len(seg.payload)))


@register("attack-plaintext-after-enable", "attack")
def plaintext_after_enable(ctx: ScenarioContext) -> Simulation:
    """after encryption is enabled, cleartext HTTP arrives where frames belong: an abort"""
    # The server's second segment with data (its first is Init2) carries the response
    # frames; the same number of bytes of cleartext replaces them (RFC 8547 §4.6: never
    # handed to the application).
    swap = RewriteSegment(has_payload, _to_cleartext, skip=1)
    pair = two_hosts(ctx, down=[swap])
    serve(pair.server, tcpinc_end(), page("attack-plaintext-after-enable", "never delivered"))
    fetch(pair, "/attack-plaintext-after-enable", tcpinc_end(keylog=True))
    return pair.sim


def _snapshot_into(clone: ResumptionCache, cache: ResumptionCache, base: EndFactory) -> EndFactory:
    """``base``, but first copy what ``cache`` holds for the peer into ``clone``: a
    snapshot of the host, taken just as this connection starts."""

    def make(info: EndInfo) -> tuple[Endpoint, Socket]:
        entry = cache.entry(info.remote_ip, TepId.TCPCRYPT_ECDHE_Curve25519)
        if entry is not None:
            clone.store(
                info.remote_ip,
                tep=entry.tep,
                dialect=entry.dialect,
                original_role=entry.original_role,
                aead=entry.aead,
                ss=entry.ss,
                index=entry.index,
            )
        return base(info)

    return make


@register("attack-tracking", "attack")
def tracking(ctx: ScenarioContext) -> Simulation:
    """a cloned client re-offers a used resumption id from another address: linkable"""
    # RFC 8548 §3.5: "the lowest value of i that has not already been used". A copy of the
    # client (a VM snapshot restored elsewhere) breaks that: its SYN from a second address
    # carries the identifier half the client already sent, which links the two addresses
    # for anyone watching. The server keys its cache by address and has nothing for the
    # clone's: it answers with a fresh TEP (v = 0) and the clone does a full exchange.
    pair = two_hosts(ctx)
    clone_host = pair.sim.host(ctx.address("other"), Side.CLIENT)
    serve(
        pair.server,
        tcpinc_end(cache=ResumptionCache()),
        page("attack-tracking", "the same resumption id from two addresses"),
    )
    cache, clone = ResumptionCache(), ResumptionCache()
    first = fetch(pair, "/attack-tracking/fresh", tcpinc_end(cache=cache, keylog=True))
    second = fetch(
        pair,
        "/attack-tracking/resumed",
        _snapshot_into(clone, cache, tcpinc_end(cache=cache, keylog=True)),
        after=first,
    )
    fetch(
        pair,
        "/attack-tracking/clone",
        tcpinc_end(cache=clone, keylog=True),
        client=clone_host,
        after=second,
    )
    return pair.sim
