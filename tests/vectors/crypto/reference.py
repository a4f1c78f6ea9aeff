"""An independent reference for the tcpcrypt vectors, written from the specifications.

Nothing here imports ``tcpinc_tools``. It exists so that every expected value in the vector
files comes from a computation that does not share code with the code under test:

- HKDF (RFC 5869 §2.2, §2.3 = RFC 8548 §3.1 Fig. 1) by hand with ``hmac`` and ``hashlib``;
- X25519 / X448 by the RFC 7748 §5 Montgomery ladder, in plain integers;
- P-256 / P-521 ECSVDP-DH and point encoding (IEEE 1363 §E.2.3 / SEC 1 §2.3.3) by affine
  double-and-add over the FIPS 186-4 §D.1.2 curves, in plain integers;
- the frame AEAD with ``cryptography``'s AESGCM / ChaCha20Poly1305 called directly, the nonce
  built byte by byte (RFC 8548 §3.6, §4.2.3; LEGACY.md).

Slow and not constant-time: for tests only.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

# --- HKDF-SHA256 ------------------------------------------------------------------------


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    # RFC 5869 §2.2: PRK = HMAC-Hash(salt, IKM)
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    # RFC 5869 §2.3: T(i) = HMAC-Hash(PRK, T(i-1) | info | i), i a single octet.
    okm = b""
    previous = b""
    i = 0
    while len(okm) < length:
        i += 1
        previous = hmac.new(prk, previous + info + bytes([i]), hashlib.sha256).digest()
        okm += previous
    return okm[:length]


# --- RFC 7748 X25519 / X448 ---------------------------------------------------------------


@dataclass(frozen=True)
class Montgomery:
    bits: int
    p: int
    a24: int
    base_u: int
    size: int  # bytes

    def decode_u(self, u: bytes) -> int:
        # RFC 7748 §5: mask the unused top bits (X25519 only), then little-endian; values
        # >= p are accepted and reduced.
        data = bytearray(u)
        if self.bits % 8:
            data[-1] &= (1 << (self.bits % 8)) - 1
        return int.from_bytes(bytes(data), "little") % self.p

    def decode_scalar(self, k: bytes) -> int:
        # RFC 7748 §5: decodeScalar25519 / decodeScalar448.
        data = bytearray(k)
        if self.size == 32:
            data[0] &= 248
            data[31] &= 127
            data[31] |= 64
        else:
            data[0] &= 252
            data[55] |= 128
        return int.from_bytes(bytes(data), "little")

    def ladder(self, k: int, u: int) -> int:
        # RFC 7748 §5: the Montgomery ladder, written out as in the RFC pseudo-code.
        p = self.p
        x_1, x_2, z_2, x_3, z_3 = u, 1, 0, u, 1
        swap = 0
        for t in reversed(range(self.bits)):
            k_t = (k >> t) & 1
            swap ^= k_t
            if swap:
                x_2, x_3 = x_3, x_2
                z_2, z_3 = z_3, z_2
            swap = k_t
            a = (x_2 + z_2) % p
            aa = a * a % p
            b = (x_2 - z_2) % p
            bb = b * b % p
            e = (aa - bb) % p
            c = (x_3 + z_3) % p
            d = (x_3 - z_3) % p
            da = d * a % p
            cb = c * b % p
            x_3 = (da + cb) ** 2 % p
            z_3 = x_1 * (da - cb) ** 2 % p
            x_2 = aa * bb % p
            z_2 = e * (aa + self.a24 * e) % p
        if swap:
            x_2, x_3 = x_3, x_2
            z_2, z_3 = z_3, z_2
        return x_2 * pow(z_2, p - 2, p) % p

    def scalarmult(self, k: bytes, u: bytes) -> bytes:
        result = self.ladder(self.decode_scalar(k), self.decode_u(u))
        return result.to_bytes(self.size, "little")

    def public(self, k: bytes) -> bytes:
        return self.scalarmult(k, self.base_u.to_bytes(self.size, "little"))


X25519 = Montgomery(bits=255, p=2**255 - 19, a24=121665, base_u=9, size=32)
X448 = Montgomery(bits=448, p=2**448 - 2**224 - 1, a24=39081, base_u=5, size=56)


# --- NIST P-256 / P-521 -------------------------------------------------------------------


@dataclass(frozen=True)
class Weierstrass:
    """y^2 = x^3 - 3x + b over GF(p); FIPS 186-4 §D.1.2."""

    p: int
    b: int
    n: int
    gx: int
    gy: int

    @property
    def size(self) -> int:
        return (self.p.bit_length() + 7) // 8

    def add(self, q1: tuple[int, int] | None, q2: tuple[int, int] | None) -> tuple[int, int] | None:
        # Affine addition and doubling (SEC 1 §2.2.1); None is the point at infinity.
        if q1 is None:
            return q2
        if q2 is None:
            return q1
        p = self.p
        (x1, y1), (x2, y2) = q1, q2
        if x1 == x2 and (y1 + y2) % p == 0:
            return None
        if q1 == q2:
            lam = (3 * x1 * x1 - 3) * pow(2 * y1, -1, p) % p
        else:
            lam = (y2 - y1) * pow(x2 - x1, -1, p) % p
        x3 = (lam * lam - x1 - x2) % p
        return x3, (lam * (x1 - x3) - y1) % p

    def mul(self, k: int, q: tuple[int, int]) -> tuple[int, int] | None:
        result: tuple[int, int] | None = None
        addend: tuple[int, int] | None = q
        while k:
            if k & 1:
                result = self.add(result, addend)
            addend = self.add(addend, addend)
            k >>= 1
        return result

    def public_point(self, d: int) -> tuple[int, int]:
        point = self.mul(d, (self.gx, self.gy))
        assert point is not None
        return point

    def compressed(self, q: tuple[int, int]) -> bytes:
        # IEEE 1363 §E.2.3 / SEC 1 §2.3.3: 02 (y even) or 03 (y odd) ‖ X.
        return bytes([2 + (q[1] & 1)]) + q[0].to_bytes(self.size, "big")

    def uncompressed(self, q: tuple[int, int]) -> bytes:
        # IEEE 1363 §E.2.3 / SEC 1 §2.3.3: 04 ‖ X ‖ Y.
        return b"\x04" + q[0].to_bytes(self.size, "big") + q[1].to_bytes(self.size, "big")

    def decompress(self, data: bytes) -> tuple[int, int]:
        x = int.from_bytes(data[1:], "big")
        rhs = (x**3 - 3 * x + self.b) % self.p
        y = pow(rhs, (self.p + 1) // 4, self.p)
        assert y * y % self.p == rhs
        if y & 1 != data[0] & 1:
            y = self.p - y
        return x, y

    def ecsvdp_dh(self, d: int, peer: tuple[int, int]) -> bytes:
        # IEEE 1363 ECSVDP-DH: z = x-coordinate of d * Q, as FE2OSP (fixed length, big-endian).
        shared = self.mul(d, peer)
        assert shared is not None
        return shared[0].to_bytes(self.size, "big")


P256 = Weierstrass(
    p=0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF,
    b=0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B,
    n=0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    gx=0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    gy=0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
P521 = Weierstrass(
    p=2**521 - 1,
    b=int(
        "0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF1"
        "09E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00",
        16,
    ),
    n=int(
        "01FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFA"
        "51868783BF2F966B7FCC0148F709A5D03BB5C9B8899C47AEBB6FB71E91386409",
        16,
    ),
    gx=int(
        "00C6858E06B70404E9CD9E3ECB662395B4429C648139053FB521F828AF606B4D"
        "3DBAA14B5E77EFE75928FE1DC127A2FFA8DE3348B3C1856A429BF97E7E31C2E5BD66",
        16,
    ),
    gy=int(
        "011839296A789A3BC0045C8A5FB42C7D1BD998F54449579B446817AFBD17273E"
        "662C97EE72995EF42640C550B9013FAD0761353C7086A272C24088BE94769FD16650",
        16,
    ),
)


# --- frames -------------------------------------------------------------------------------

AEAD_KEY_LEN = {0x0001: 16, 0x0002: 32, 0x0010: 32}  # RFC 8548 §6 Table 3
AEAD_NONCE_LEN = 12  # RFC 8548 §6 Table 3, all three


def rfc_nonce(nr: bytes, offset: int) -> bytes:
    # RFC 8548 §4.2.3: frame_ID = (ae_nonce_len - 8) zero bytes ‖ offset (8 bytes, BE);
    # §3.6: N = frame_ID XOR NR, byte by byte.
    frame_id = bytes(len(nr) - 8) + offset.to_bytes(8, "big")
    return bytes(f ^ r for f, r in zip(frame_id, nr, strict=True))


def legacy_nonce(offset: int) -> bytes:
    # LEGACY.md: the offset as an 8-byte little-endian integer.
    return offset.to_bytes(8, "little")


def seal(aead: int, key: bytes, nonce: bytes, control: int, plaintext: bytes) -> bytes:
    # RFC 8548 §4.2: control ‖ clen ‖ C; §4.2.2: A = control ‖ clen; clen counts the tag.
    clen = len(plaintext) + 16
    header = bytes([control]) + clen.to_bytes(2, "big")
    cipher = ChaCha20Poly1305(key) if aead == 0x0010 else AESGCM(key)
    return header + cipher.encrypt(nonce, plaintext, header)
