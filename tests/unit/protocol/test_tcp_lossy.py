"""Over a bad link (loss, duplication, reordering) both byte streams still arrive intact."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.protocol import ConnectionClosed, TcpConfig, TcpState
from tests.support import property_settings

from .link import Link, make_pair


def exchange_over_lossy_link(seed: int, size_a: int, size_b: int) -> Link:
    rng = random.Random(seed)
    # Random ISNs, some of them close below 2**32 so the streams wrap.
    iss_a = rng.choice([rng.getrandbits(32), 2**32 - rng.randrange(1, 20_000)])
    iss_b = rng.choice([rng.getrandbits(32), 2**32 - rng.randrange(1, 20_000)])
    # TIME-WAIT must outlast the peer's backed-off FIN retransmissions, or the closed side
    # resets a late FIN (which is what TCP should do); 240 s is RFC 9293's 2*MSL.
    config = TcpConfig(window=rng.choice([8192, 65535]), time_wait=240.0)
    a, b = make_pair(iss_a=iss_a, iss_b=iss_b, config_a=config, config_b=config, seed=seed)
    link = Link(a, b, seed=seed, loss=0.10, duplicate=0.05, reorder=0.2)
    to_b, to_a = rng.randbytes(size_a), rng.randbytes(size_b)
    b.listen()
    a.connect(link.now)
    link.run(lambda: a.state is not TcpState.SYN_SENT, max_time=600)
    assert a.state is TcpState.ESTABLISHED, f"handshake failed: {a.state}"
    a.send(to_b)
    b.send(to_a)
    a.close()
    b.close()
    link.run(max_time=3600)
    assert link.received("b") == to_b
    assert link.received("a") == to_a
    assert a.state is b.state is TcpState.CLOSED
    assert link.events["a"][-1] == link.events["b"][-1] == ConnectionClosed()
    return link


@property_settings
@given(seed=st.integers(0, 2**32 - 1))
def test_lossy_link_delivers_both_streams(seed: int) -> None:
    exchange_over_lossy_link(seed, 50_000, 30_000)


def test_lossy_link_large_transfer() -> None:
    link = exchange_over_lossy_link(2024, 400_000, 150_000)
    assert any(t.fate == "dropped" for t in link.trace)
    assert any(t.copies == 2 for t in link.trace)
