"""crypto/schedule.py: Extract, CPRF and the session keys (RFC 8548 §3.1, §3.3-§3.5, LEGACY.md).

Expected values are RFC 5869 test cases spelled out in hex, or computed here by hand with
``hmac`` straight from the RFC 8548 formulas.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest

from tcpinc_tools.crypto import (
    FrameCipher,
    compute_ss0,
    cprf,
    derive_keys,
    extract,
    legacy_resume_id,
    next_ss,
    resume_id,
    session_nonce,
)
from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.wire.constants import AeadId, LegacyAeadId

h = bytes.fromhex
SS = h("56d34f497e2476985264e40b90e928360b1450bd752effa5a780ff1e93fb3a05")


def hm(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha256).digest()


# --- RFC 5869 -----------------------------------------------------------------------------


def test_rfc5869_case_1() -> None:
    ikm = h("0b" * 22)
    salt = h("000102030405060708090a0b0c")
    info = h("f0f1f2f3f4f5f6f7f8f9")
    prk = extract(salt, ikm)
    assert prk == h("077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5")
    assert cprf(prk, info, 42) == h(
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_rfc5869_case_2_three_blocks() -> None:
    prk = extract(bytes(range(0x60, 0xB0)), bytes(range(0x50)))
    assert prk == h("06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244")
    assert cprf(prk, bytes(range(0xB0, 0x100)), 82) == h(
        "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
        "59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
        "cc30c58179ec3e87c14c01d5c1f3434f1d87"
    )


def test_rfc5869_case_3_empty_salt_and_info() -> None:
    prk = extract(b"", h("0b" * 22))
    assert prk == h("19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04")
    assert cprf(prk, b"", 42) == h(
        "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"
    )


def test_counter_byte_follows_the_whole_const() -> None:
    # DIGEST.md T15: T(1) = HMAC(K, CONST | sn | 0x01), not HMAC(K, CONST | 0x01 | sn).
    sn = h("a1b2c3d4e5f60718") + h("0f1e2d3c4b5a6978")
    right = hm(SS, b"\x03" + sn + b"\x01")
    assert cprf(SS, b"\x03" + sn, 32) == right
    assert right != hm(SS, b"\x03\x01" + sn)


def test_cprf_lengths() -> None:
    t1 = hm(SS, b"\x02\x01")
    t2 = hm(SS, t1 + b"\x02\x02")
    assert cprf(SS, b"\x02", 0) == b""
    assert cprf(SS, b"\x02", 18) == t1[:18]
    assert cprf(SS, b"\x02", 50) == (t1 + t2)[:50]
    assert len(cprf(SS, b"\x02", 255 * 32)) == 255 * 32
    with pytest.raises(LocalProtocolError):
        cprf(SS, b"\x02", 255 * 32 + 1)
    with pytest.raises(LocalProtocolError):
        cprf(SS, b"\x02", -1)


# --- ss, resume ---------------------------------------------------------------------------


def test_compute_ss0_is_extract_over_the_concatenation() -> None:
    n_a = bytes(range(32))
    transcript = h("450323") + h("45040123")
    init1, init2, es = b"\x15\x10\x1a\x0einit1", b"\x09\x71\x05\xe0init2", b"\x42" * 32
    assert compute_ss0(n_a, transcript, init1, init2, es) == hm(
        n_a, transcript + init1 + init2 + es
    )


def test_next_ss_and_resume() -> None:
    assert next_ss(SS) == hm(SS, b"\x01\x01")
    assert resume_id(SS) == hm(SS, b"\x06\x01")[:18]  # CONST_RESUME = 0x06, not 0x05 (T8)
    assert resume_id(SS) != hm(SS, b"\x05\x01")[:18]
    assert legacy_resume_id(SS) == hm(SS, b"\x02\x01")[:9]


def test_session_nonce() -> None:
    assert session_nonce(b"\x01\x02", b"") == b"\x01\x02"
    assert session_nonce(b"", b"") == b""
    assert session_nonce(bytes(8), b"\xff" * 8) == bytes(8) + b"\xff" * 8
    with pytest.raises(LocalProtocolError, match="nonce_a"):
        session_nonce(bytes(9), b"")
    with pytest.raises(LocalProtocolError, match="nonce_b"):
        session_nonce(b"", bytes(9))


# --- session keys -------------------------------------------------------------------------


@pytest.mark.parametrize(("aead", "tk_len"), [(0x0001, 28), (0x0002, 44), (0x0010, 44)])
def test_derive_keys_by_hand(aead: int, tk_len: int) -> None:
    sn = h("c0ffee")
    keys = derive_keys(SS, tep_byte=0xA3, aead=aead, sn=sn)
    mk = hm(SS, b"\x03" + sn + b"\x01")
    # Written out per RFC 8548 §3.1: T(1) = HMAC(PRK, CONST | 0x01),
    # T(2) = HMAC(PRK, T(1) | CONST | 0x02); 28 bytes need T(1) only, 44 need T(2) too.
    a1 = hm(mk, b"\x04\x01")
    k_ab = (a1 + hm(mk, a1 + b"\x04\x02"))[:tk_len]
    t1 = hm(mk, b"\x05\x01")
    k_ba = (t1 + hm(mk, t1 + b"\x05\x02"))[:tk_len]
    assert keys.session_id == b"\xa3" + hm(SS, b"\x02" + sn + b"\x01")
    assert keys.mk == mk
    assert keys.k_ab == k_ab
    assert keys.k_ba == k_ba
    key_len = tk_len - 12
    assert keys.key("ab") == k_ab[:key_len]
    assert keys.nr("ab") == k_ab[key_len:]
    assert keys.key("ba") == k_ba[:key_len]
    assert keys.nr("ba") == k_ba[key_len:]
    assert keys.traffic_key("ab") == k_ab
    assert keys.traffic_key("ba") == k_ba
    assert keys.aead == AeadId(aead)
    assert (keys.tep_byte, keys.dialect, keys.generation) == (0xA3, "rfc", 0)


def test_rekey_chain() -> None:
    keys = derive_keys(SS, tep_byte=0x23, aead=AeadId.AEAD_AES_128_GCM)
    mk0 = hm(SS, b"\x03\x01")
    mk1 = hm(mk0, b"\x03\x01")
    mk2 = hm(mk1, b"\x03\x01")
    one = keys.next_generation()
    two = one.next_generation()
    assert (keys.mk, one.mk, two.mk) == (mk0, mk1, mk2)
    assert (one.generation, two.generation) == (1, 2)
    assert two.k_ab == hm(mk2, b"\x04\x01")[:28]
    assert two.k_ba == hm(mk2, b"\x05\x01")[:28]
    assert two.session_id == keys.session_id  # the session ID does not change on rekey
    assert derive_keys(SS, tep_byte=0x23, aead=1, generation=2) == two


def test_legacy_keys_by_hand() -> None:
    keys = derive_keys(SS, tep_byte=0x21, aead=LegacyAeadId.AES_128_GCM, dialect="legacy")
    mk = hm(SS, b"\x03\x01")
    assert keys.session_id == b"\x21" + hm(SS, b"\x02\x01")
    assert keys.mk == mk
    assert keys.k_ab == hm(mk, b"\x04\x01")
    assert keys.k_ba == hm(mk, b"\x05\x01")
    assert keys.aead == AeadId.AEAD_AES_128_GCM
    assert keys.key("ab") == keys.k_ab[:16]
    assert keys.nr("ab") == b""
    wide = derive_keys(SS, tep_byte=0x21, aead=AeadId.AEAD_AES_256_GCM, dialect="legacy")
    assert wide.k_ab == keys.k_ab  # 32 bytes either way; only the key length differs
    assert wide.key("ba") == keys.k_ba
    # Rekeying in legacy follows the rfc mk chain (LEGACY.md is silent).
    assert keys.next_generation().mk == hm(mk, b"\x03\x01")
    assert keys.next_generation().k_ab == hm(hm(mk, b"\x03\x01"), b"\x04\x01")


def test_legacy_resume_id_is_the_session_id_prefix() -> None:
    keys = derive_keys(SS, tep_byte=0xA1, aead=1, dialect="legacy")
    assert keys.session_id[1:10] == legacy_resume_id(SS)


def test_secrets_stay_out_of_repr() -> None:
    keys = derive_keys(SS, tep_byte=0x23, aead=0x0010)
    text = repr(keys)
    for secret in (keys.mk, keys.k_ab, keys.k_ba, SS):
        assert secret.hex() not in text
        assert repr(secret) not in text
    assert repr(keys.session_id) in text
    assert "AEAD_CHACHA20_POLY1305" in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        keys.mk = b""  # type: ignore[misc]


def test_cipher_of_each_direction() -> None:
    keys = derive_keys(SS, tep_byte=0x23, aead=0x0001)
    sealed = keys.cipher("ab").seal(73, b"\x00hello")
    assert FrameCipher(keys.k_ab, 0x0001).open(73, sealed) == b"\x00hello"
    assert keys.cipher("ba").seal(73, b"\x00hello") != sealed


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tep_byte": 0x100}, "not a byte"),
        ({"tep_byte": -1}, "not a byte"),
        ({"generation": -1}, "negative"),
        ({"sn": bytes(17)}, "at most 16"),
        ({"sn": b"\x01", "dialect": "legacy"}, "no session nonce"),
        ({"dialect": "tls"}, "dialect"),
        ({"aead": 0x0003}, "not available"),
        ({"aead": 0x0010, "dialect": "legacy"}, "not available"),
    ],
)
def test_derive_keys_rejects_misuse(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"tep_byte": 0x23, "aead": 0x0001, **kwargs}
    with pytest.raises(LocalProtocolError, match=message):
        derive_keys(SS, **args)  # type: ignore[arg-type]


def test_unknown_direction() -> None:
    keys = derive_keys(SS, tep_byte=0x23, aead=0x0001)
    with pytest.raises(LocalProtocolError, match="direction"):
        keys.traffic_key("ca")  # type: ignore[arg-type]
