"""Helpers for the tcpcrypt tests: the RFC 8548 key schedule by hand, a recording random
source, and a pump that moves stream bytes between two sessions.

The schedule here is written from the RFC text with hmac/hashlib only (RFC 5869 HKDF with
SHA-256, RFC 8548 §3.1 CPRF, §3.3-§3.5 formulas), independently of tcpinc_tools.crypto.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from tcpinc_tools.keylog import KeyLogWriter
from tcpinc_tools.protocol.events import Event
from tcpinc_tools.protocol.tcpcrypt import TcpcryptSession


def extract(salt: bytes, ikm: bytes) -> bytes:
    """RFC 5869 §2.2: PRK = HMAC-SHA256(salt, IKM)."""
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def expand(prk: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.3 / RFC 8548 §3.1: T(n) = HMAC(PRK, T(n-1) | info | n)."""
    okm, t, n = b"", b"", 1
    while len(okm) < length:
        t = hmac.new(prk, t + info + bytes([n]), hashlib.sha256).digest()
        okm += t
        n += 1
    return okm[:length]


@dataclass
class ByHand:
    """ss[i] and everything RFC 8548 §3.3-§3.5 derives from it, computed by hand."""

    ss: bytes
    key_len: int = 16  # ae_key_len
    nonce_len: int = 12  # ae_nonce_len
    sn: bytes = b""

    def mk(self, j: int = 0) -> bytes:
        mk = expand(self.ss, b"\x03" + self.sn, 32)  # mk[0] = CPRF(ss, CONST_REKEY | sn)
        for _ in range(j):
            mk = expand(mk, b"\x03", 32)  # mk[j] = CPRF(mk[j-1], CONST_REKEY)
        return mk

    def k_ab(self, j: int = 0) -> bytes:
        return expand(self.mk(j), b"\x04", self.key_len + self.nonce_len)

    def k_ba(self, j: int = 0) -> bytes:
        return expand(self.mk(j), b"\x05", self.key_len + self.nonce_len)

    def session_id(self, tep_byte: int) -> bytes:
        return bytes([tep_byte]) + expand(self.ss, b"\x02" + self.sn, 32)

    def resume(self) -> bytes:
        return expand(self.ss, b"\x06", 18)

    def next(self) -> bytes:
        return expand(self.ss, b"\x01", 32)


def rfc_nonce(traffic_key: bytes, key_len: int, offset: int) -> bytes:
    """RFC 8548 §3.6, §4.2.3: N = (zero-padded 8-byte BE offset) XOR NR."""
    nr = traffic_key[key_len:]
    frame_id = bytes(len(nr) - 8) + offset.to_bytes(8, "big")
    return bytes(x ^ y for x, y in zip(frame_id, nr, strict=True))


@dataclass
class RecordingRandom:
    """A seeded random_bytes that remembers every draw (to recompute keys by hand)."""

    seed: int
    draws: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def __call__(self, n: int) -> bytes:
        out = self._rng.randbytes(n)
        self.draws.append(out)
        return out


def drain(session: TcpcryptSession) -> list[Event]:
    events: list[Event] = []
    while (event := session.next_event()) is not None:
        events.append(event)
    return events


Tamper = Callable[[bytes], bytes]


def pump(
    a: TcpcryptSession,
    b: TcpcryptSession,
    *,
    a_to_b: Tamper | None = None,
    b_to_a: Tamper | None = None,
    wires: dict[str, bytearray] | None = None,
) -> None:
    """Move stream bytes both ways until both are quiet; ``wires`` collects each stream."""
    moved = True
    while moved:
        moved = False
        for name, src, dst, tamper in (("ab", a, b, a_to_b), ("ba", b, a, b_to_a)):
            for chunk, _push in src.take_outgoing():
                moved = True
                data = chunk if tamper is None else tamper(chunk)
                if wires is not None:
                    wires.setdefault(name, bytearray()).extend(data)
                dst.receive_data(data)


class MemoryKeyLog:
    """A KeyLogWriter over a StringIO, with the lines read back."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()
        self.writer = KeyLogWriter(self.buffer)

    @property
    def lines(self) -> list[tuple[str, bytes, bytes]]:
        out = []
        for line in self.buffer.getvalue().splitlines():
            label, key, secret = line.split()
            out.append((label, bytes.fromhex(key), bytes.fromhex(secret)))
        return out
