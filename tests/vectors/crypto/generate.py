"""Builds the tcpcrypt key-schedule and frame vectors in tests/vectors/crypto/*.json.

Every expected value comes from :mod:`tests.vectors.crypto.reference` (HKDF by hand with
``hmac``/``hashlib``, RFC 7748 ladders and affine NIST arithmetic in plain integers, the AEAD
called directly with a hand-built nonce), never from ``tcpinc_tools``. The inputs are spelled
out below in hex. ``tests/unit/crypto/test_vectors.py`` rebuilds every vector with these
functions, checks it equals its file, then runs the code under test against the file.

Regenerate the files with ``python -m tests.vectors.crypto.generate``.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any, NamedTuple

from tests.vectors.crypto import reference as ref

HERE = Path(__file__).parent

# --- inputs, spelled out --------------------------------------------------------------------

# Ephemeral private keys: RFC 7748 §5 byte strings for X25519 / X448, the big-endian scalar d
# (1 <= d < n) for P-256 / P-521.
PRIVATE = {
    "x25519": (
        "8f88c33543cf251e9f369c6e759e02fdeebcce832db1b58d9b66caf9e2a84b93",
        "49504822451448267baddcf42809d8976d4137c74ca4bccf1eac9a80cdf4ed42",
    ),
    "x448": (
        "08366dab3ed1732141de74d0c1a0ddba75e6e655b5bca720b4b530e76cf048191e0ba765f03e173d"
        "7078eb20d197a753725479789d9e190f",
        "07c43153b554f38b908d8a586f96ef5231199e183b1a9bfa1871d60f71a0ed57fdf65368b1d23f72"
        "82e1793a647af948373835a4f5862621",
    ),
    "p256": (
        "15b1c38f63623bd9e2717747f5bce9d25ec12f58cdeb704e7ef8c8b5289ff6b9",
        "08f7b6dd623ddab9445cec55ae77de63f92c23023a12215cd69f501c3add215c",
    ),
    "p521": (
        "012eab018d6810806475f2c420df35e7c1ecf7e10594e6026c5c92f03cc336aaac76671ee87f0f39"
        "6c0a5346634a6bef51c37048579b070fe69496aa4ad5b3267354",
        "0050e0d29629e22b9f3453851180ef4ce265edb3be8d9d63b0a7799d0c4faa387c6a8246654d6719"
        "a57f06df18e9eee7dc547d9bd48a6fad86d73e882f5a54076e7c",
    ),
}
N_A = "785bfa8d661bb7ab13a3e7dbf69aaa1c5acf7aea8bc2a596f8f4b30cf741d1ac"
N_B = "3ebf40ee24fcddaed8b1ece89b3be5fbc48f591c6a9be5c497f4ee02ba577590"
LEGACY_N_A = "9f244117e7761869dc1bd321c3eaed75e12f39c6552c433ec15613fcbe0a70f3"
LEGACY_N_B = "5282e815ae7e216b28ecb529dcc760104fd92ac6947b6723b70d1fee4f9b00be"

TEP = {"p256": 0x21, "p521": 0x22, "x25519": 0x23, "x448": 0x24}  # RFC 8548 §7 Table 4
AEAD = {"aes128": 0x0001, "aes256": 0x0002, "chacha20": 0x0010}  # RFC 8548 §7 Table 5

# RFC 8547 §4.8: transcript = A's SYN-form ENO option ‖ B's (kind and length included). A offers
# all four tcpcrypt TEPs with the implicit global suboption; B answers b=1 and one TEP.
SYN_A = "450621222324"
# RFC 8548 §4.3 Table 1.
INIT1_MAGIC = "15101a0e"
INIT2_MAGIC = "097105e0"
CONST_NEXTK, CONST_SESSID, CONST_REKEY, CONST_KEY_A, CONST_KEY_B, CONST_RESUME = (
    b"\x01",
    b"\x02",
    b"\x03",
    b"\x04",
    b"\x05",
    b"\x06",
)
K_LEN = 32

# Frame plaintexts, encoded by hand per RFC 8548 §4.2.1: flags ‖ [urgent (2, BE)] ‖ data.
PLAIN_AB_1 = b"\x00" + b"GET / HTTP/1.1\r\nHost: tcpinc.example\r\n\r\n"  # no flags
PLAIN_AB_2 = b"\x02" + b"\x00\x03" + b"urgent!"  # URGp, urgent = 3
PLAIN_BA_1 = b"\x01" + b"HTTP/1.1 204 No Content\r\n\r\n"  # FINp

SCHEDULE_FORMULAS = [
    "RFC 8548 §3.3: PRK = Extract(N_A, eno_transcript | Init1 | Init2 | ES); ss[0] = PRK",
    "RFC 8548 §3.4: session_id[i] = TEP-byte | CPRF(ss[i], CONST_SESSID | sn[i], K_LEN)",
    "RFC 8548 §3.3: mk[0] = CPRF(ss[i], CONST_REKEY | sn[i], K_LEN)",
    "RFC 8548 §3.3: k_ab[j] = CPRF(mk[j], CONST_KEY_A, ae_key_len + ae_nonce_len)",
    "RFC 8548 §3.3: k_ba[j] = CPRF(mk[j], CONST_KEY_B, ae_key_len + ae_nonce_len)",
]
FRAME_FORMULAS = [
    "RFC 8548 §3.6: K = first ae_key_len bytes of the traffic key, NR = the rest",
    "RFC 8548 §4.2.3, §3.6: N = (zero-pad(offset, ae_nonce_len)) XOR NR",
    "RFC 8548 §4.2.2: A = control | clen; §4.2: frame = control | clen | AEAD-Encrypt(K, N, P, A)",
]


# --- pieces ---------------------------------------------------------------------------------


def _hex(b: bytes) -> str:
    return b.hex()


def _public(scheme: str, priv: bytes, *, legacy: bool = False) -> bytes:
    if scheme == "x25519":
        return ref.X25519.public(priv)
    if scheme == "x448":
        return ref.X448.public(priv)
    curve = ref.P256 if scheme == "p256" else ref.P521
    point = curve.public_point(int.from_bytes(priv, "big"))
    return curve.uncompressed(point) if legacy else curve.compressed(point)


def _es(scheme: str, priv: bytes, peer_public: bytes) -> bytes:
    if scheme == "x25519":
        return ref.X25519.scalarmult(priv, peer_public)
    if scheme == "x448":
        return ref.X448.scalarmult(priv, peer_public)
    curve = ref.P256 if scheme == "p256" else ref.P521
    if peer_public[0] == 0x04:
        size = curve.size
        peer = (
            int.from_bytes(peer_public[1 : 1 + size], "big"),
            int.from_bytes(peer_public[1 + size :], "big"),
        )
    else:
        peer = curve.decompress(peer_public)
    return curve.ecsvdp_dh(int.from_bytes(priv, "big"), peer)


def _wire_pubkey(scheme: str, public: bytes) -> bytes:
    # RFC 8548 §5: NIST keys carry pubkey_len = L, counting its own two bytes (DIGEST.md T27);
    # X25519 / X448 keys go raw.
    if scheme in ("p256", "p521"):
        return struct.pack(">H", 2 + len(public)) + public
    return public


def _init1(ciphers: list[int], n_a: bytes, pub: bytes, *, legacy: bool) -> bytes:
    # RFC 8548 §4.1: INIT1_MAGIC ‖ message_len (4) ‖ nciphers (1) ‖ sym_cipher[] (2 each) ‖ N_A ‖
    # Pub_A. LEGACY.md: the cipher ids are one byte each.
    fmt = ">B" if legacy else ">H"
    body = bytes([len(ciphers)]) + b"".join(struct.pack(fmt, c) for c in ciphers) + n_a + pub
    return bytes.fromhex(INIT1_MAGIC) + struct.pack(">I", 8 + len(body)) + body


def _init2(cipher: int, n_b: bytes, pub: bytes, *, legacy: bool) -> bytes:
    # RFC 8548 §4.1: INIT2_MAGIC ‖ message_len (4) ‖ sym_cipher (2) ‖ N_B ‖ Pub_B (LEGACY.md: 1).
    body = struct.pack(">B" if legacy else ">H", cipher) + n_b + pub
    return bytes.fromhex(INIT2_MAGIC) + struct.pack(">I", 8 + len(body)) + body


def _keys(ss: bytes, sn: bytes, aead: int, generation: int = 0) -> dict[str, Any]:
    """RFC 8548 §3.3/§3.4 by hand: session ID tail, mk[0..j], k_ab[j], k_ba[j]."""
    length = ref.AEAD_KEY_LEN[aead] + ref.AEAD_NONCE_LEN
    mks = [ref.hkdf_expand(ss, CONST_REKEY + sn, K_LEN)]
    for _ in range(generation):
        mks.append(ref.hkdf_expand(mks[-1], CONST_REKEY, K_LEN))
    k_ab = ref.hkdf_expand(mks[-1], CONST_KEY_A, length)
    k_ba = ref.hkdf_expand(mks[-1], CONST_KEY_B, length)
    key_len = ref.AEAD_KEY_LEN[aead]
    return {
        "session_id_tail": ref.hkdf_expand(ss, CONST_SESSID + sn, K_LEN),
        "mk": mks,
        "k_ab": k_ab,
        "k_ba": k_ba,
        "key": {"ab": k_ab[:key_len], "ba": k_ba[:key_len]},
        "nr": {"ab": k_ab[key_len:], "ba": k_ba[key_len:]},
    }


def _frames(
    aead: int, keys: dict[str, Any], plan: list[tuple[str, int, int, bytes]], *, legacy: bool
) -> list[dict[str, Any]]:
    out = []
    for direction, offset, control, plaintext in plan:
        nr = keys["nr"][direction]
        nonce = ref.legacy_nonce(offset) if legacy else ref.rfc_nonce(nr, offset)
        frame = ref.seal(aead, keys["key"][direction], nonce, control, plaintext)
        out.append(
            {
                "direction": direction,
                "offset": offset,
                "control": control,
                "plaintext": _hex(plaintext),
                "nonce": _hex(nonce),
                "frame": _hex(frame),
            }
        )
    return out


def _key_fields(keys: dict[str, Any], tep_byte: int) -> dict[str, Any]:
    return {
        "session_id": _hex(bytes([tep_byte]) + keys["session_id_tail"]),
        "mk": [_hex(m) for m in keys["mk"]],
        "k_ab": _hex(keys["k_ab"]),
        "k_ba": _hex(keys["k_ba"]),
        "key_ab": _hex(keys["key"]["ab"]),
        "nr_ab": _hex(keys["nr"]["ab"]),
        "key_ba": _hex(keys["key"]["ba"]),
        "nr_ba": _hex(keys["nr"]["ba"]),
    }


class _Exchange(NamedTuple):
    """One key exchange between A and B with the fixed private keys of ``scheme``."""

    priv_a: bytes
    priv_b: bytes
    pub_a: bytes
    pub_b: bytes
    es: bytes
    transcript: bytes
    init1: bytes
    init2: bytes
    ss0: bytes

    def inputs(self, n_a: bytes, n_b: bytes) -> dict[str, str]:
        return {
            "priv_a": _hex(self.priv_a),
            "priv_b": _hex(self.priv_b),
            "n_a": _hex(n_a),
            "n_b": _hex(n_b),
            "transcript": _hex(self.transcript),
            "init1": _hex(self.init1),
            "init2": _hex(self.init2),
        }

    def expected(self) -> dict[str, str]:
        return {
            "pub_a": _hex(self.pub_a),
            "pub_b": _hex(self.pub_b),
            "es": _hex(self.es),
            "ss0": _hex(self.ss0),
        }


def _exchange(
    scheme: str,
    transcript: bytes,
    ciphers: list[int],
    aead: int,
    n_a: bytes,
    n_b: bytes,
    *,
    legacy: bool,
) -> _Exchange:
    """Keys, ES (both ways, checked equal), Init1 offering ``ciphers``, Init2 choosing
    ``aead``, and ss[0] = Extract(N_A, transcript | Init1 | Init2 | ES) (RFC 8548 §3.3;
    LEGACY.md the same)."""
    priv_a, priv_b = (bytes.fromhex(h) for h in PRIVATE[scheme])
    pub_a = _public(scheme, priv_a, legacy=legacy)
    pub_b = _public(scheme, priv_b, legacy=legacy)
    es = _es(scheme, priv_a, pub_b)
    assert es == _es(scheme, priv_b, pub_a)
    init1 = _init1(ciphers, n_a, _wire_pubkey(scheme, pub_a), legacy=legacy)
    init2 = _init2(aead, n_b, _wire_pubkey(scheme, pub_b), legacy=legacy)
    ss0 = ref.hkdf_extract(n_a, transcript + init1 + init2 + es)
    return _Exchange(priv_a, priv_b, pub_a, pub_b, es, transcript, init1, init2, ss0)


# --- vectors --------------------------------------------------------------------------------


def fresh(scheme: str, aead_name: str) -> dict[str, Any]:
    """A full key exchange, RFC dialect: keys, ES, ss[0], session keys and three frames."""
    tep, aead = TEP[scheme], AEAD[aead_name]
    n_a, n_b = bytes.fromhex(N_A), bytes.fromhex(N_B)
    transcript = bytes.fromhex(SYN_A) + bytes([0x45, 0x04, 0x01, tep])
    ex = _exchange(scheme, transcript, [0x0001, 0x0002, 0x0010], aead, n_a, n_b, legacy=False)
    init1, init2, ss0 = ex.init1, ex.init2, ex.ss0
    keys = _keys(ss0, b"", aead)
    # DIGEST.md §2.12 (T12): offsets count from ISN+1, so A's first frame follows Init1.
    first_ab = len(init1)
    plan = [
        ("ab", first_ab, 0x00, PLAIN_AB_1),
        ("ab", first_ab + 3 + len(PLAIN_AB_1) + 16, 0x00, PLAIN_AB_2),
        ("ba", len(init2), 0x00, PLAIN_BA_1),
    ]
    return {
        "name": f"rfc_{scheme}_{aead_name}",
        "description": f"fresh key exchange, TEP {tep:#04x}, AEAD {aead:#06x}, rfc dialect",
        "formulas": [
            "RFC 8548 §5: ES = X25519/X448, or ECSVDP-DH x-coordinate (FE2OSP); "
            "NIST keys compressed (IEEE 1363 §E.2.3)",
            *SCHEDULE_FORMULAS,
            "RFC 8548 §3.3: ss[i] = CPRF(ss[i-1], CONST_NEXTK, K_LEN)",
            *FRAME_FORMULAS,
        ],
        "dialect": "rfc",
        "tep": tep,
        "tep_byte": tep,
        "aead": aead,
        "inputs": ex.inputs(n_a, n_b),
        "expected": {
            **ex.expected(),
            "ss1": _hex(ref.hkdf_expand(ss0, CONST_NEXTK, K_LEN)),
            **_key_fields(keys, tep),
        },
        "frames": _frames(aead, keys, plan, legacy=False),
    }


def resumption(base: dict[str, Any], i: int, nonce_a: bytes, nonce_b: bytes) -> dict[str, Any]:
    """A resumed session with ss[i] of ``base``'s session and sn[i] = nonce_a | nonce_b."""
    tep, aead = base["tep"], base["aead"]
    ss0 = bytes.fromhex(base["expected"]["ss0"])
    ss = ss0
    for _ in range(i):
        # RFC 8548 §3.3: ss[i] = CPRF(ss[i-1], CONST_NEXTK, K_LEN)
        ss = ref.hkdf_expand(ss, CONST_NEXTK, K_LEN)
    # RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME, 18); sn[i] = nonce_a | nonce_b.
    resume = ref.hkdf_expand(ss, CONST_RESUME, 18)
    sn = nonce_a + nonce_b
    tep_byte = tep | 0x80
    keys = _keys(ss, sn, aead)
    # A resumed session has no Init1 / Init2: frames start at offset 0 in both directions.
    plan = [("ab", 0, 0x00, PLAIN_AB_1), ("ba", 0, 0x00, PLAIN_BA_1)]
    return {
        "name": f"resume_{base['name'].removeprefix('rfc_')}_i{i}",
        "description": f"session resumption with ss[{i}] of {base['name']}",
        "formulas": [
            "RFC 8548 §3.3: ss[i] = CPRF(ss[i-1], CONST_NEXTK, K_LEN)",
            "RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME, 18)",
            "RFC 8548 §3.5 Fig. 2/3: suboption = TEP-byte (v=1) | resume[i] half | nonce",
            "RFC 8548 §3.5: sn[i] = nonce_a | nonce_b",
            *SCHEDULE_FORMULAS[1:],
            *FRAME_FORMULAS,
        ],
        "dialect": "rfc",
        "tep": tep,
        "tep_byte": tep_byte,
        "aead": aead,
        "inputs": {"ss0": _hex(ss0), "i": i, "nonce_a": _hex(nonce_a), "nonce_b": _hex(nonce_b)},
        "expected": {
            "ss": _hex(ss),
            "resume": _hex(resume),
            "suboption_a": _hex(bytes([tep_byte]) + resume[:9] + nonce_a),
            "suboption_b": _hex(bytes([tep_byte]) + resume[9:] + nonce_b),
            "sn": _hex(sn),
            **_key_fields(keys, tep_byte),
        },
        "frames": _frames(aead, keys, plan, legacy=False),
    }


def rekey(base: dict[str, Any], generation: int) -> dict[str, Any]:
    """Key generation ``generation`` of ``base``'s session (RFC 8548 §3.8)."""
    tep, aead = base["tep"], base["aead"]
    ss0 = bytes.fromhex(base["expected"]["ss0"])
    keys = _keys(ss0, b"", aead, generation)
    # The first frame under the new keys carries rekey = 1 (RFC 8548 §3.8, §4.2).
    plan = [("ab", 5000, 0x01, PLAIN_AB_1), ("ba", 7000, 0x01, PLAIN_BA_1)]
    return {
        "name": f"rekey_{base['name'].removeprefix('rfc_')}_gen{generation}",
        "description": f"key generation {generation} of {base['name']}",
        "formulas": [
            "RFC 8548 §3.3: mk[0] = CPRF(ss[i], CONST_REKEY | sn[i], K_LEN)",
            "RFC 8548 §3.3: mk[j] = CPRF(mk[j-1], CONST_REKEY, K_LEN)",
            *SCHEDULE_FORMULAS[3:],
            *FRAME_FORMULAS,
        ],
        "dialect": "rfc",
        "tep": tep,
        "tep_byte": tep,
        "aead": aead,
        "inputs": {"ss0": _hex(ss0), "generation": generation},
        "expected": _key_fields(keys, tep),
        "frames": _frames(aead, keys, plan, legacy=False),
    }


def legacy(aead_name: str) -> dict[str, Any]:
    """tcpcryptd 0.5 (LEGACY.md): P-256, uncompressed keys, 1-byte cipher ids, LE nonces."""
    scheme, tep = "p256", 0x21
    aead = {"aes128": 0x01, "aes256": 0x02}[aead_name]  # LEGACY.md one-byte ids
    key_len = {0x01: 16, 0x02: 32}[aead]
    n_a, n_b = bytes.fromhex(LEGACY_N_A), bytes.fromhex(LEGACY_N_B)
    # LEGACY.md: A's SYN option ‖ fd 04 45 4e ‖ B's SYN option ‖ fd 04 45 4e.
    transcript = bytes.fromhex("fd06454e2122" + "fd04454e" + "fd05454e21" + "fd04454e")
    ex = _exchange(scheme, transcript, [0x01, 0x02], aead, n_a, n_b, legacy=True)
    assert (len(ex.init1), len(ex.init2)) == (110, 108)  # the sizes LEGACY.md reports
    ss0 = ex.ss0
    # LEGACY.md: mk = Expand(ss, 0x03); K_AB / K_BA = Expand(mk, 0x04 / 0x05), 32 bytes.
    mk = ref.hkdf_expand(ss0, CONST_REKEY, 32)
    k_ab = ref.hkdf_expand(mk, CONST_KEY_A, 32)
    k_ba = ref.hkdf_expand(mk, CONST_KEY_B, 32)
    keys = {"key": {"ab": k_ab[:key_len], "ba": k_ba[:key_len]}, "nr": {"ab": b"", "ba": b""}}
    ss1 = ref.hkdf_expand(ss0, CONST_NEXTK, 32)
    sessid1_tail = ref.hkdf_expand(ss1, CONST_SESSID, 32)
    # LEGACY.md: offsets count from the first byte after Init1 / Init2.
    plan = [
        ("ab", 0, 0x00, PLAIN_AB_1),
        ("ab", 3 + len(PLAIN_AB_1) + 16, 0x00, PLAIN_AB_2),
        ("ba", 0, 0x00, PLAIN_BA_1),
    ]
    return {
        "name": f"legacy_p256_{aead_name}",
        "description": "tcpcryptd 0.5 legacy dialect, P-256 with uncompressed keys",
        "formulas": [
            "LEGACY.md: ss[0] = Extract(N_A, transcript | Init1 | Init2 | ES), ES = x-coordinate",
            "LEGACY.md: session ID = TEP byte | Expand(ss[i], 0x02)",
            "LEGACY.md: mk = Expand(ss[i], 0x03); K_AB = Expand(mk, 0x04); K_BA = Expand(mk, 0x05)",
            "LEGACY.md: ss[i+1] = Expand(ss[i], 0x01); resumption id = session ID[1:10]",
            "LEGACY.md: nonce = offset, 8 bytes little-endian; AES key = first 16/32 bytes",
        ],
        "dialect": "legacy",
        "tep": tep,
        "tep_byte": tep,
        "aead": aead,
        "inputs": ex.inputs(n_a, n_b),
        "expected": {
            **ex.expected(),
            "session_id": _hex(bytes([tep]) + ref.hkdf_expand(ss0, CONST_SESSID, 32)),
            "mk": [_hex(mk)],
            "k_ab": _hex(k_ab),
            "k_ba": _hex(k_ba),
            "key_ab": _hex(k_ab[:key_len]),
            "key_ba": _hex(k_ba[:key_len]),
            "ss1": _hex(ss1),
            "resume_id1": _hex(sessid1_tail[:9]),
            "session_id1": _hex(bytes([tep | 0x80]) + sessid1_tail),
        },
        "frames": _frames(aead, keys, plan, legacy=True),
    }


def build_all() -> dict[str, dict[str, Any]]:
    """Every vector by name."""
    vectors: dict[str, dict[str, Any]] = {}
    for scheme in TEP:
        for aead_name in AEAD:
            v = fresh(scheme, aead_name)
            vectors[v["name"]] = v
    resumed = [
        resumption(
            vectors["rfc_x25519_aes128"],
            1,
            bytes.fromhex("a1b2c3d4e5f60718"),
            bytes.fromhex("0f1e2d3c4b5a6978"),
        ),
        resumption(vectors["rfc_p256_chacha20"], 2, bytes.fromhex("c0ffee"), b""),
        rekey(vectors["rfc_x448_aes256"], 1),
        rekey(vectors["rfc_x448_aes256"], 2),
        legacy("aes128"),
        legacy("aes256"),
    ]
    for v in resumed:
        vectors[v["name"]] = v
    return vectors


def dumps(vector: dict[str, Any]) -> str:
    return json.dumps(vector, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> None:
    for name, vector in build_all().items():
        (HERE / f"{name}.json").write_text(dumps(vector), encoding="utf-8")


if __name__ == "__main__":
    main()
