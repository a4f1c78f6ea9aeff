"""crypto/kex.py: key pairs, public-key validation and ES (RFC 8548 §5, RFC 7748, IEEE 1363)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.crypto import (
    KeyPair,
    check_shared_secret,
    generate_keypair,
    keypair_from_private_bytes,
    shared_secret,
    validate_public_key,
)
from tcpinc_tools.errors import KeyExchangeError, LocalProtocolError
from tcpinc_tools.wire.constants import Dialect, TepId
from tests.support import fuzz_settings
from tests.vectors.crypto import reference as ref

h = bytes.fromhex
P256 = TepId.TCPCRYPT_ECDHE_P256
P521 = TepId.TCPCRYPT_ECDHE_P521
X25519 = TepId.TCPCRYPT_ECDHE_Curve25519
X448 = TepId.TCPCRYPT_ECDHE_Curve448
NIST = {P256: ref.P256, P521: ref.P521}

# (tep, dialect) -> (public key length, ES length). RFC 8548 §5; NIST lengths DERIVED (T14).
SCHEMES: dict[tuple[TepId, Dialect], tuple[int, int]] = {
    (P256, "rfc"): (33, 32),
    (P521, "rfc"): (67, 66),
    (X25519, "rfc"): (32, 32),
    (X448, "rfc"): (56, 56),
    (P256, "legacy"): (65, 32),
    (P521, "legacy"): (133, 66),
}


def counter_random(seed: bytes) -> Callable[[int], bytes]:
    """A deterministic random_bytes: SHA-256 in counter mode over ``seed``."""
    state = {"counter": 0}

    def random_bytes(n: int) -> bytes:
        out = b""
        while len(out) < n:
            out += hashlib.sha256(seed + state["counter"].to_bytes(4, "big")).digest()
            state["counter"] += 1
        return out[:n]

    return random_bytes


# --- published vectors -------------------------------------------------------------------


def test_rfc7748_x25519_diffie_hellman() -> None:
    # RFC 7748 §6.1.
    alice = keypair_from_private_bytes(
        X25519, h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    )
    bob = keypair_from_private_bytes(
        X25519, h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    )
    assert alice.public == h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    assert bob.public == h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    k = h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    assert shared_secret(alice, bob.public) == k
    assert shared_secret(bob, alice.public) == k


def test_rfc7748_x25519_scalar_mult() -> None:
    # RFC 7748 §5.2, first X25519 test vector (input u with the high bit set is masked).
    kp = keypair_from_private_bytes(
        X25519, h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4")
    )
    u = h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c")
    expected = h("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552")
    assert shared_secret(kp, u) == expected


def test_rfc7748_x448_diffie_hellman() -> None:
    # RFC 7748 §6.2.
    alice = keypair_from_private_bytes(
        X448,
        h(
            "9a8f4925d1519f5775cf46b04b5800d4ee9ee8bae8bc5565d498c28dd9c9baf5"
            "74a9419744897391006382a6f127ab1d9ac2d8c0a598726b"
        ),
    )
    bob = keypair_from_private_bytes(
        X448,
        h(
            "1c306a7ac2a0e2e0990b294470cba339e6453772b075811d8fad0d1d6927c120"
            "bb5ee8972b0d3e21374c9c921b09d1b0366f10b65173992d"
        ),
    )
    assert alice.public == h(
        "9b08f7cc31b7e3e67d22d5aea121074a273bd2b83de09c63faa73d2c22c5d9bb"
        "c836647241d953d40c5b12da88120d53177f80e532c41fa0"
    )
    assert bob.public == h(
        "3eb7a829b0cd20f5bcfc0b599b6feccf6da4627107bdb0d4f345b43027d8b972"
        "fc3e34fb4232a13ca706dcb57aec3dae07bdc1c67bf33609"
    )
    k = h(
        "07fff4181ac6cc95ec1c16a94a0f74d12da232ce40a77552281d282bb60c0b56"
        "fd2464c335543936521c24403085d59a449a5037514a879d"
    )
    assert shared_secret(alice, bob.public) == k
    assert shared_secret(bob, alice.public) == k


def test_rfc7748_x448_scalar_mult() -> None:
    # RFC 7748 §5.2, first X448 test vector.
    kp = keypair_from_private_bytes(
        X448,
        h(
            "3d262fddf9ec8e88495266fea19a34d28882acef045104d0d1aae121700a779c"
            "984c24f8cdd78fbff44943eba368f54b29259a4f1c600ad3"
        ),
    )
    u = h(
        "06fce640fa3487bfda5f6cf2d5263f8aad88334cbd07437f020f08f9814dc031"
        "ddbdc38c19c6da2583fa5429db94ada18aa7a7fb4ef8a086"
    )
    assert shared_secret(kp, u) == h(
        "ce3e4ff95a60dc6697da1db1d85e6afbdf79b50a2412d7546d5f239fe14fbaad"
        "eb445fc66a01b0779d98223961111e21766282f73dd96b6f"
    )


def test_p256_scalar_one_is_the_base_point() -> None:
    # FIPS 186-4 §D.1.2.3: G; its y ends in ...f5 (odd), so the compressed form starts 03.
    kp = keypair_from_private_bytes(P256, (1).to_bytes(32, "big"))
    assert kp.public == h("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
    legacy = keypair_from_private_bytes(P256, (1).to_bytes(32, "big"), dialect="legacy")
    assert legacy.public == h(
        "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"
        "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5"
    )


@pytest.mark.parametrize("tep", [P256, P521])
def test_nist_public_keys_and_es_match_the_reference(tep: TepId) -> None:
    curve = NIST[tep]
    d_a, d_b = 0x1234567 * 0xDEADBEEF, curve.n - 2
    a = keypair_from_private_bytes(tep, d_a.to_bytes(curve.size, "big"))
    b = keypair_from_private_bytes(tep, d_b.to_bytes(curve.size, "big"))
    q_a, q_b = curve.public_point(d_a), curve.public_point(d_b)
    assert a.public == curve.compressed(q_a)
    assert b.public == curve.compressed(q_b)
    assert shared_secret(a, b.public) == curve.ecsvdp_dh(d_a, q_b)


# --- key pairs ---------------------------------------------------------------------------


@pytest.mark.parametrize(("tep", "dialect"), list(SCHEMES))
def test_round_trip_and_lengths(tep: TepId, dialect: Dialect) -> None:
    pub_len, es_len = SCHEMES[(tep, dialect)]
    a = generate_keypair(tep, counter_random(b"A"), dialect=dialect)
    b = generate_keypair(tep, counter_random(b"B"), dialect=dialect)
    assert a.tep == tep
    assert a.dialect == dialect
    assert len(a.public) == len(b.public) == pub_len
    if tep in NIST:
        assert a.public[0] in ((0x04,) if dialect == "legacy" else (0x02, 0x03))
    es = shared_secret(a, b.public)
    assert len(es) == es_len
    assert es == shared_secret(b, a.public)
    validate_public_key(tep, a.public, dialect=dialect)


@pytest.mark.parametrize(("tep", "dialect"), list(SCHEMES))
def test_generation_is_deterministic(tep: TepId, dialect: Dialect) -> None:
    one = generate_keypair(tep, counter_random(b"seed"), dialect=dialect)
    two = generate_keypair(tep, counter_random(b"seed"), dialect=dialect)
    other = generate_keypair(tep, counter_random(b"other"), dialect=dialect)
    assert one == two
    assert one.public == two.public
    assert other.public != one.public


@pytest.mark.parametrize(("tep", "size"), [(X25519, 32), (X448, 56)])
def test_montgomery_generation_uses_the_random_bytes_as_the_key(tep: TepId, size: int) -> None:
    calls: list[int] = []
    secret = bytes(range(1, size + 1))

    def random_bytes(n: int) -> bytes:
        calls.append(n)
        return secret[:n]

    kp = generate_keypair(tep, random_bytes)
    assert calls == [size]
    assert kp == keypair_from_private_bytes(tep, secret)
    model = ref.X25519 if tep == X25519 else ref.X448
    assert kp.public == model.public(secret)


@pytest.mark.parametrize("tep", [P256, P521])
@pytest.mark.parametrize("fill", [0x00, 0x5A, 0xFF])
def test_nist_generation_reduces_extra_random_bits(tep: TepId, fill: int) -> None:
    # FIPS 186-4 §B.4.1: c from field bytes + 8, d = c mod (n - 1) + 1.
    curve = NIST[tep]
    calls: list[int] = []

    def random_bytes(n: int) -> bytes:
        calls.append(n)
        return bytes([fill]) * n

    kp = generate_keypair(tep, random_bytes)
    assert calls == [curve.size + 8]
    c = int.from_bytes(bytes([fill]) * (curve.size + 8), "big")
    d = c % (curve.n - 1) + 1
    assert 1 <= d < curve.n
    assert kp.public == curve.compressed(curve.public_point(d))


def test_all_zero_randomness_gives_scalar_one() -> None:
    kp = generate_keypair(P256, bytes)
    assert kp.public == h("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")


@pytest.mark.parametrize("tep", list(TepId)[1:5])
def test_short_random_bytes_is_a_local_error(tep: TepId) -> None:
    with pytest.raises(LocalProtocolError, match="random_bytes"):
        generate_keypair(tep, lambda n: bytes(n - 1))


@pytest.mark.parametrize(
    ("tep", "secret"),
    [
        (X25519, bytes(31)),
        (X448, bytes(57)),
        (P256, bytes(33)),
        (P521, bytes(65)),
        (P256, bytes(32)),  # d = 0
        (P256, ref.P256.n.to_bytes(32, "big")),  # d = n
        (P521, ref.P521.n.to_bytes(66, "big")),
        (P521, b"\xff" * 66),  # d >= n
    ],
)
def test_bad_private_keys_are_local_errors(tep: TepId, secret: bytes) -> None:
    with pytest.raises(LocalProtocolError):
        keypair_from_private_bytes(tep, secret)


def test_largest_nist_scalar_is_accepted() -> None:
    kp = keypair_from_private_bytes(P256, (ref.P256.n - 1).to_bytes(32, "big"))
    # (n - 1)G = -G: same x, y = p - Gy (even), so the prefix is 02.
    assert kp.public == h("026b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")


@pytest.mark.parametrize("tep", [0x00, 0x20, 0x25, 0x30, 0x7F, 0xA0, 0x100, -1])
def test_non_tcpcrypt_teps_are_local_errors(tep: int) -> None:
    with pytest.raises(LocalProtocolError, match="not a tcpcrypt"):
        generate_keypair(tep, counter_random(b"x"))
    with pytest.raises(LocalProtocolError):
        validate_public_key(tep, bytes(32))


def test_the_v_bit_of_a_tep_byte_is_ignored() -> None:
    kp = generate_keypair(0xA3, counter_random(b"v"))
    assert kp.tep == X25519
    validate_public_key(0xA1, kp_p256().public)


def kp_p256(dialect: Dialect = "rfc") -> KeyPair:
    return keypair_from_private_bytes(P256, (7).to_bytes(32, "big"), dialect=dialect)


@pytest.mark.parametrize("tep", [X25519, X448])
def test_legacy_dialect_has_only_nist_curves(tep: TepId) -> None:
    with pytest.raises(LocalProtocolError, match="legacy"):
        generate_keypair(tep, counter_random(b"x"), dialect="legacy")


def test_unknown_dialect_is_a_local_error() -> None:
    with pytest.raises(LocalProtocolError, match="dialect"):
        generate_keypair(P256, counter_random(b"x"), dialect="tls")  # type: ignore[arg-type]


def test_private_key_stays_out_of_repr_and_equality() -> None:
    kp = keypair_from_private_bytes(X25519, bytes(range(32)))
    text = repr(kp)
    assert "private" not in text
    assert bytes(range(32)).hex() not in text
    assert kp.public.hex() in text or repr(kp.public) in text
    again = keypair_from_private_bytes(X25519, bytes(range(32)))
    assert kp == again
    assert kp.private_key is not again.private_key
    with pytest.raises(dataclasses.FrozenInstanceError):
        kp.public = b""  # type: ignore[misc]


# --- peer key validation -----------------------------------------------------------------


def first_off_curve_x(curve: ref.Weierstrass) -> int:
    """The smallest x for which x^3 - 3x + b is not a square mod p (Euler's criterion)."""
    x = 0
    while pow((x**3 - 3 * x + curve.b) % curve.p, (curve.p - 1) // 2, curve.p) != 1:
        x += 1
    while pow((x**3 - 3 * x + curve.b) % curve.p, (curve.p - 1) // 2, curve.p) == 1:
        x += 1
    return x


def _bad_points() -> list[tuple[TepId, Dialect, bytes, str]]:
    cases: list[tuple[TepId, Dialect, bytes, str]] = []
    for tep, curve in NIST.items():
        size = curve.size
        gx, gy = curve.gx.to_bytes(size, "big"), curve.gy.to_bytes(size, "big")
        off_x = first_off_curve_x(curve).to_bytes(size, "big")
        p = curve.p.to_bytes(size, "big")
        cases += [
            (tep, "rfc", b"", "bytes, expected"),
            (tep, "rfc", b"\x00", "bytes, expected"),  # IEEE 1363 §E.2.3 identity encoding
            (tep, "rfc", b"\x02" + gx[:-1], "bytes, expected"),
            (tep, "rfc", b"\x02" + gx + b"\x00", "bytes, expected"),
            (tep, "rfc", b"\x04" + gx + gy, "bytes, expected"),  # uncompressed is not rfc
            (tep, "rfc", bytes(1 + size), "infinity"),
            (tep, "rfc", b"\x04" + gx, "expected 02/03"),
            (tep, "rfc", b"\x05" + gx, "expected 02/03"),
            (tep, "rfc", b"\x02" + off_x, "not on the curve"),
            (tep, "rfc", b"\x03" + off_x, "not on the curve"),
            (tep, "rfc", b"\x02" + p, "not below the field prime"),
            (tep, "rfc", b"\x03" + b"\xff" * size, "not below the field prime"),
            (tep, "legacy", b"\x02" + gx, "bytes, expected"),
            (tep, "legacy", bytes(1 + 2 * size), "infinity"),
            (tep, "legacy", b"\x02" + gx + gy, "expected 04"),
            (tep, "legacy", b"\x06" + gx + gy, "expected 04"),
            (tep, "legacy", b"\x04" + p + gy, "x-coordinate is not below"),
            (tep, "legacy", b"\x04" + gx + p, "y-coordinate is not below"),
            (tep, "legacy", b"\x04" + gx + (curve.gy + 1).to_bytes(size, "big"), "not a point"),
            (tep, "legacy", b"\x04" + off_x + gy, "not a point"),
        ]
    cases += [
        (X25519, "rfc", bytes(31), "bytes, expected 32"),
        (X25519, "rfc", bytes(33), "bytes, expected 32"),
        (X448, "rfc", bytes(32), "bytes, expected 56"),
    ]
    return cases


@pytest.mark.parametrize(("tep", "dialect", "data", "message"), _bad_points())
def test_invalid_public_keys_raise_key_exchange_error(
    tep: TepId, dialect: Dialect, data: bytes, message: str
) -> None:
    with pytest.raises(KeyExchangeError, match=message):
        validate_public_key(tep, data, dialect=dialect)
    own = generate_keypair(tep, counter_random(b"own"), dialect=dialect)
    with pytest.raises(KeyExchangeError, match=message):
        shared_secret(own, data)


@pytest.mark.parametrize("tep", [P256, P521])
def test_valid_points_pass(tep: TepId) -> None:
    curve = NIST[tep]
    g = (curve.gx, curve.gy)
    minus_g = (curve.gx, curve.p - curve.gy)
    for point in (g, minus_g, curve.public_point(12345)):
        validate_public_key(tep, curve.compressed(point))
        validate_public_key(tep, curve.uncompressed(point), dialect="legacy")


# RFC 7748 §5 inputs that force the all-zero output: u = 0, u = 1, the two points of order 8,
# u = p - 1, and the non-canonical p and p + 1 (and 0 with the masked top bit set).
X25519_SMALL_ORDER = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000080",
]
# X448: u = 0, u = 1 and u = p - 1 (p = 2^448 - 2^224 - 1).
X448_SMALL_ORDER = [
    "00" * 56,
    "01" + "00" * 55,
    "fe" + "ff" * 27 + "fe" + "ff" * 27,
]


@pytest.mark.parametrize("u", X25519_SMALL_ORDER)
def test_x25519_small_order_points_are_rejected(u: str) -> None:
    # The reference ladder confirms each gives the all-zero secret ...
    own = generate_keypair(X25519, counter_random(b"own"))
    secret = bytes(range(32))
    assert ref.X25519.scalarmult(secret, h(u)) == bytes(32)
    # ... and the code refuses it (RFC 8548 §5: abort on the all-zero value).
    validate_public_key(X25519, h(u))  # any 32 bytes are a u-coordinate
    with pytest.raises(KeyExchangeError):
        shared_secret(own, h(u))


@pytest.mark.parametrize("u", X448_SMALL_ORDER)
def test_x448_small_order_points_are_rejected(u: str) -> None:
    assert ref.X448.scalarmult(bytes(range(56)), h(u)) == bytes(56)
    own = generate_keypair(X448, counter_random(b"own"))
    with pytest.raises(KeyExchangeError):
        shared_secret(own, h(u))


@pytest.mark.parametrize(("tep", "size"), [(X25519, 32), (X448, 56)])
def test_check_shared_secret_rejects_all_zero(tep: TepId, size: int) -> None:
    with pytest.raises(KeyExchangeError, match="all zero"):
        check_shared_secret(tep, bytes(size))
    es = bytes(size - 1) + b"\x01"
    assert check_shared_secret(tep, es) == es


def test_check_shared_secret_leaves_nist_values_alone() -> None:
    # The all-zero rule is for X25519 / X448 (RFC 8548 §5); a NIST x-coordinate is passed on.
    assert check_shared_secret(P256, bytes(32)) == bytes(32)


def test_dialect_of_the_peer_key_can_be_overridden() -> None:
    mine = kp_p256("legacy")
    peer = keypair_from_private_bytes(P256, (11).to_bytes(32, "big"))
    es = shared_secret(peer, mine.public, dialect="legacy")
    assert shared_secret(mine, peer.public, dialect="rfc") == es
    with pytest.raises(KeyExchangeError):
        shared_secret(mine, peer.public)  # a legacy key pair expects 04 ‖ X ‖ Y by default


# --- decoder contract ----------------------------------------------------------------------

_OWN = {
    scheme: generate_keypair(scheme[0], counter_random(b"fuzz"), dialect=scheme[1])
    for scheme in SCHEMES
}


@st.composite
def peer_inputs(draw: st.DrawFn) -> tuple[TepId, Dialect, bytes]:
    tep, dialect = draw(st.sampled_from(list(SCHEMES)))
    size = SCHEMES[(tep, dialect)][0]
    data = draw(
        st.one_of(
            st.binary(max_size=140),
            st.binary(min_size=size, max_size=size),
            st.builds(
                lambda first, rest: bytes([first]) + rest,
                st.sampled_from([0x00, 0x02, 0x03, 0x04]),
                st.binary(min_size=size - 1, max_size=size - 1),
            ),
        )
    )
    return tep, dialect, data


@fuzz_settings
@given(peer_inputs())
def test_peer_keys_give_a_value_or_key_exchange_error(case: tuple[TepId, Dialect, bytes]) -> None:
    tep, dialect, data = case
    try:
        validate_public_key(tep, data, dialect=dialect)
    except KeyExchangeError:
        valid = False
    else:
        valid = True
    try:
        es = shared_secret(_OWN[(tep, dialect)], data)
    except KeyExchangeError:
        # Only a small-order X25519 / X448 key passes validation and still fails.
        assert not valid or tep in (X25519, X448)
    else:
        assert valid
        assert len(es) == SCHEMES[(tep, dialect)][1]
