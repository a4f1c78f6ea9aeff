"""The peer-input contract of the tcpcrypt layer: whatever bytes or ENO options the peer
sends, a session or policy gives a value or an event (at worst ConnectionAborted with a
tcpcrypt reason), never an exception, and never plaintext it cannot authenticate."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import DecodeError
from tcpinc_tools.protocol.events import ConnectionAborted, DataReceived, EndOfStream, Event
from tcpinc_tools.protocol.resumption import ResumptionCache, TcpcryptPolicy
from tcpinc_tools.protocol.tcpcrypt import ResumeState, TcpcryptConfig, TcpcryptSession
from tcpinc_tools.wire.constants import AeadId
from tcpinc_tools.wire.eno import Role, decode_eno_option
from tests.support import fuzz_settings

from .tcpcrypt_helpers import drain

# Raw bytes, and bytes shaped like the structures the parser looks for (so that the fuzzer
# gets past the first length or magic check): frames with a consistent clen, Init1 / Init2
# headers with a plausible message_len.
framed = st.tuples(st.integers(0, 255), st.binary(max_size=80)).map(
    lambda t: bytes((t[0],)) + len(t[1]).to_bytes(2, "big") + t[1]
)
init_like = st.tuples(
    st.sampled_from([b"\x15\x10\x1a\x0e", b"\x09\x71\x05\xe0"]), st.binary(max_size=140)
).map(lambda t: t[0] + (8 + len(t[1])).to_bytes(4, "big") + t[1])
chunks = st.lists(st.one_of(st.binary(max_size=200), framed, init_like), max_size=6)


def check(events: list[Event]) -> None:
    aborts = [e for e in events if isinstance(e, ConnectionAborted)]
    assert len(aborts) <= 1
    if aborts:
        assert aborts[0].reason.startswith("tcpcrypt.") and events[-1] == aborts[0]
    # Random bytes never authenticate (a 2^-128 chance aside): no data, no EOF.
    assert not any(isinstance(e, DataReceived | EndOfStream) for e in events)


@fuzz_settings
@given(chunks, st.sampled_from([0x21, 0x22, 0x23, 0x24]), st.booleans())
def test_key_exchange_takes_any_bytes(data: list[bytes], tep: int, as_a: bool) -> None:
    session = TcpcryptSession(
        role=Role.A if as_a else Role.B,
        dialect="rfc",
        tep=tep,
        tep_byte=tep,
        transcript=b"",
        random_bytes=random.Random(0).randbytes,
    )
    for chunk in data:
        session.receive_data(chunk)
    session.receive_fin()
    check(drain(session))


@fuzz_settings
@given(chunks, st.sampled_from(["rfc", "legacy"]))
def test_frames_take_any_bytes(data: list[bytes], dialect: str) -> None:
    state = ResumeState(bytes(32), Role.A, AeadId.AEAD_AES_128_GCM, b"", b"", bytes(18))
    session = TcpcryptSession(
        role=Role.B,
        dialect=dialect,  # type: ignore[arg-type]
        tep=0x21,
        tep_byte=0xA1,
        transcript=b"",
        resumption=state,
    )
    for chunk in data:
        session.receive_data(chunk)
    check(drain(session)[1:])  # after EncryptionEnabled


@fuzz_settings
@given(st.binary(min_size=2, max_size=40), st.sampled_from(["rfc", "legacy"]))
def test_policy_answers_any_syn_option(raw: bytes, dialect: str) -> None:
    kind = 69 if dialect == "rfc" else 253
    head = bytes((kind, len(raw) + 2)) if dialect == "rfc" else bytes((kind, len(raw) + 4))
    head += b"" if dialect == "rfc" else b"\x45\x4e"
    try:
        option = decode_eno_option(head + raw, syn=True)
    except DecodeError:
        return
    cache = ResumptionCache()
    cache.store(
        "p",
        tep=0x21,
        dialect=option.dialect,
        original_role=Role.A,
        aead=AeadId.AEAD_AES_128_GCM,
        ss=bytes(32),
        index=1,
    )
    policy = TcpcryptPolicy(
        TcpcryptConfig(teps=(0x21, 0x22)),
        dialect=option.dialect,
        cache=cache,
        peer="p",
        random_bytes=random.Random(0).randbytes,
    )
    answer = policy.synack_suboptions(option)
    assert len(answer) <= 1
    assert all(s.tep in (0x21, 0x22) for s in answer)
