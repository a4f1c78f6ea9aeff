"""The plugin's cryptography (tcpinc_crypto.lua) against values computed here independently:
SHA-256 and HMAC with hashlib/hmac, CPRF by hand from RFC 8548 §3.1, GHASH from AES-GCM tags
(tag = E_K(J0) XOR GHASH, NIST SP 800-38D §7.1), Poly1305 and the AEADs with `cryptography`,
plus the RFC 8439 §2.5.2 Poly1305 and §2.8.2 AEAD vectors spelled out in hex."""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.poly1305 import Poly1305

from tcpinc_tools.wireshark import plugin_dir

from .tshark_run import LUA_DIR, TSHARK, needs_tshark

pytestmark = needs_tshark

# RFC 8439 §2.5.2.
POLY_KEY = "85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b"
POLY_MSG = b"Cryptographic Forum Research Group".hex()
POLY_TAG = "a8061dc1305136c6c22b8baf0c0127a9"
# RFC 8439 §2.8.2.
AEAD_KEY = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
AEAD_NONCE = "070000004041424344454647"
AEAD_AAD = "50515253c0c1c2c3c4c5c6c7"
AEAD_PT = (
    b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for "
    b"the future, sunscreen would be it."
).hex()
AEAD_CT = (
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69"
    "da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad67594"
    "5585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
)
AEAD_TAG = "1ae10b594f09e26a7e902ecbd0600691"


def _hex(data: bytes) -> str:
    return data.hex() or "-"


def _cprf(k: bytes, const: bytes, length: int) -> bytes:
    # RFC 8548 §3.1: T(n) = HMAC-SHA256(K, T(n-1) | CONST | n), the first L bytes.
    out, t, n = b"", b"", 1
    while len(out) < length:
        t = hmac.new(k, t + const + bytes((n,)), hashlib.sha256).digest()
        out += t
        n += 1
    return out[:length]


def _ghash_from_gcm(key: bytes, iv: bytes, aad: bytes, ct_tag: bytes) -> tuple[bytes, bytes]:
    """(H, GHASH_H(A, C)) of an AES-GCM output, via tag XOR E_K(J0)."""
    ecb = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    h = ecb.update(bytes(16))
    # SP 800-38D §7.1: with a 96-bit IV, J0 = IV ‖ 0^31 ‖ 1.
    assert len(iv) == 12
    j0 = iv + b"\x00\x00\x00\x01"
    ek_j0 = ecb.update(j0)
    tag = ct_tag[-16:]
    return h, bytes(a ^ b for a, b in zip(tag, ek_j0, strict=True))


def _gcm_iv8(key: bytes, iv: bytes, aad: bytes, pt: bytes) -> bytes:
    enc = Cipher(algorithms.AES(key), modes.GCM(iv)).encryptor()
    enc.authenticate_additional_data(aad)
    return enc.update(pt) + enc.finalize() + enc.tag


def _vectors() -> tuple[list[str], list[str]]:
    """(vector lines for the Lua runner, the expected result of each)."""
    rng = random.Random(8548)
    lines: list[str] = []
    want: list[str] = []
    for n in (0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 200, 1000):
        msg = rng.randbytes(n)
        lines.append(f"sha256 {_hex(msg)}")
        want.append(hashlib.sha256(msg).hexdigest())
    for klen in (0, 16, 32, 64, 65, 100):
        key, msg = rng.randbytes(klen), rng.randbytes(rng.randrange(0, 150))
        mac = hmac.new(key, msg, hashlib.sha256).hexdigest()
        lines.append(f"hmac {_hex(key)} {_hex(msg)}")
        want.append(f"{mac} {mac}")
    for const, length in (
        (b"\x01", 32),
        (b"\x06", 18),
        (b"\x04", 28),
        (b"\x05", 44),
        (b"\x03" + rng.randbytes(16), 32),
        (b"\x02", 100),
    ):
        key = rng.randbytes(32)
        lines.append(f"cprf {key.hex()} {const.hex()} {length}")
        want.append(_cprf(key, const, length).hex())
    for klen in (16, 32):
        for n in (0, 1, 16, 17, 100):
            key, iv, aad, pt = (
                rng.randbytes(klen),
                rng.randbytes(12),
                rng.randbytes(3),
                rng.randbytes(n),
            )
            sealed = AESGCM(key).encrypt(iv, pt, aad)
            h, s = _ghash_from_gcm(key, iv, aad, sealed)
            lines.append(f"ghash {h.hex()} {aad.hex()} {_hex(sealed[:-16])}")
            want.append(s.hex())
            aead = 1 if klen == 16 else 2
            lines.append(f"open luaossl {aead} {key.hex()} {iv.hex()} {aad.hex()} {sealed.hex()}")
            want.append(_hex(pt))
            iv8 = rng.randbytes(8)
            sealed8 = _gcm_iv8(key, iv8, aad, pt)
            lines.append(f"open luaossl {aead} {key.hex()} {iv8.hex()} {aad.hex()} {sealed8.hex()}")
            want.append(_hex(pt))
            bad = bytearray(sealed8)
            bad[rng.randrange(len(bad))] ^= 0x40
            lines.append(
                f"open luaossl {aead} {key.hex()} {iv8.hex()} {aad.hex()} {bytes(bad).hex()}"
            )
            want.append("FAIL")
    for n in (0, 1, 15, 16, 17, 64, 100):
        key, msg = rng.randbytes(32), rng.randbytes(n)
        lines.append(f"poly {key.hex()} {_hex(msg)}")
        want.append(Poly1305.generate_tag(key, msg).hex())
        key, iv, aad, pt = rng.randbytes(32), rng.randbytes(12), rng.randbytes(3), rng.randbytes(n)
        sealed = ChaCha20Poly1305(key).encrypt(iv, pt, aad)
        lines.append(f"open luaossl 16 {key.hex()} {iv.hex()} {aad.hex()} {sealed.hex()}")
        want.append(_hex(pt))
        bad = bytearray(sealed)
        bad[-1] ^= 1
        lines.append(f"open luaossl 16 {key.hex()} {iv.hex()} {aad.hex()} {bytes(bad).hex()}")
        want.append("FAIL")
    lines.append(f"poly {POLY_KEY} {POLY_MSG}")
    want.append(POLY_TAG)
    lines.append(f"open luaossl 16 {AEAD_KEY} {AEAD_NONCE} {AEAD_AAD} {AEAD_CT}{AEAD_TAG}")
    want.append(AEAD_PT)
    # a wrong AEAD id, a key of the wrong length, a sealed text shorter than the tag
    lines.append(f"open luaossl 3 {bytes(16).hex()} {bytes(12).hex()} 000000 {bytes(16).hex()}")
    want.append("FAIL")
    lines.append(f"open luaossl 1 {bytes(15).hex()} {bytes(12).hex()} 000000 {bytes(16).hex()}")
    want.append("FAIL")
    lines.append(f"open luaossl 1 {bytes(16).hex()} {bytes(12).hex()} 000000 {bytes(15).hex()}")
    want.append("FAIL")
    return lines, want


def _run_vectors(tmp_path: Path, lines: list[str], scripts: list[Path]) -> list[str]:
    assert TSHARK is not None
    vectors, results = tmp_path / "vectors.txt", tmp_path / "results.txt"
    vectors.write_text("\n".join(lines) + "\n")
    env = {
        **os.environ,
        "TCPINC_PLUGIN_DIR": str(plugin_dir()),
        "TCPINC_VECTORS": str(vectors),
        "TCPINC_RESULTS": str(results),
        "HOME": str(tmp_path),
    }
    argv = [TSHARK, "-G", "protocols"]
    for script in scripts:
        argv += ["-X", f"lua_script:{script}"]
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert "Lua" not in proc.stderr, proc.stderr
    got = results.read_text().splitlines()
    assert len(got) == len(lines), proc.stdout[-2000:] + proc.stderr
    return [line.split(" ", 1)[1] for line in got]


def test_crypto_matches_independent_values(tmp_path: Path) -> None:
    lines, want = _vectors()
    got = _run_vectors(tmp_path, lines, [LUA_DIR / "crypto_vectors.lua"])
    mismatches = [
        (line[:60], g[:40], w[:40]) for line, g, w in zip(lines, got, want, strict=True) if g != w
    ]
    assert mismatches == []


def test_plain_lua_hashing_without_luaossl(tmp_path: Path) -> None:
    """With luaossl hidden, HMAC and the CPRF fall back to the plain-Lua SHA-256."""
    lines, want = _vectors()
    keep = [
        i
        for i, line in enumerate(lines)
        if line.split()[0] in ("sha256", "hmac", "cprf", "poly", "ghash")
    ]
    got = _run_vectors(
        tmp_path,
        [lines[i] for i in keep],
        [LUA_DIR / "hide_luaossl.lua", LUA_DIR / "crypto_vectors.lua"],
    )
    assert got == [want[i] for i in keep]


@pytest.mark.parametrize("length", [0, 5])
def test_the_ghash_helper_covers_empty_inputs(length: int) -> None:
    # the vector generator itself: a GCM tag of an empty message is E_K(J0) XOR GHASH
    key, iv = bytes(range(16)), bytes(12)
    sealed = AESGCM(key).encrypt(iv, bytes(length), b"")
    h, s = _ghash_from_gcm(key, iv, b"", sealed)
    assert len(h) == len(s) == 16
    if length == 0:
        assert s == bytes(16)  # GHASH of nothing but a zero length block is zero
