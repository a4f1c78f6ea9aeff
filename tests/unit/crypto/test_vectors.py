"""The tcpcrypt vectors in tests/vectors/crypto/ against an independent computation and the code.

Two steps per vector: (1) rebuild it with tests/vectors/crypto/generate.py (HKDF by hand with
hmac/hashlib, RFC 7748 ladders and NIST arithmetic in plain integers, the AEAD with a
hand-built nonce; nothing from tcpinc_tools) and require the file to be exactly that; (2) run
tcpinc_tools.crypto on the file's inputs and require the file's expected values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tcpinc_tools.crypto import (
    SessionKeys,
    compute_ss0,
    derive_keys,
    keypair_from_private_bytes,
    legacy_resume_id,
    next_ss,
    open_frame,
    resume_id,
    seal_frame,
    session_nonce,
    shared_secret,
)
from tcpinc_tools.wire.constants import AeadId, LegacyAeadId
from tests.vectors.crypto import generate

VECTOR_DIR = Path(__file__).parents[2] / "vectors" / "crypto"
NAMES = sorted(p.stem for p in VECTOR_DIR.glob("*.json"))
h = bytes.fromhex


def _load(name: str) -> dict[str, Any]:
    vector: dict[str, Any] = json.loads((VECTOR_DIR / f"{name}.json").read_text(encoding="utf-8"))
    return vector


@pytest.fixture(scope="module")
def regenerated() -> dict[str, dict[str, Any]]:
    return generate.build_all()


def test_the_vector_set_is_complete(regenerated: dict[str, dict[str, Any]]) -> None:
    assert set(NAMES) == set(regenerated)
    kinds = [name.split("_")[0] for name in NAMES]
    # 4 TEPs x 3 AEADs, resumption i = 1 and 2, rekey generations 1 and 2, legacy x 2 AEADs.
    assert (kinds.count("rfc"), kinds.count("resume"), kinds.count("rekey")) == (12, 2, 2)
    assert kinds.count("legacy") == 2
    assert {
        (v["tep"], v["aead"]) for v in regenerated.values() if v["name"].startswith("rfc_")
    } == {(tep, aead) for tep in (0x21, 0x22, 0x23, 0x24) for aead in (0x0001, 0x0002, 0x0010)}


@pytest.mark.parametrize("name", NAMES)
def test_file_equals_the_independent_computation(
    name: str, regenerated: dict[str, dict[str, Any]]
) -> None:
    text = (VECTOR_DIR / f"{name}.json").read_text(encoding="utf-8")
    assert text == generate.dumps(regenerated[name])
    vector = _load(name)
    assert vector["name"] == name
    assert vector["formulas"], "each vector names the formulas it exercises"


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith(("rfc_", "legacy_"))])
def test_key_exchange_and_ss0(name: str) -> None:
    v = _load(name)
    inp, exp, dialect = v["inputs"], v["expected"], v["dialect"]
    a = keypair_from_private_bytes(v["tep"], h(inp["priv_a"]), dialect=dialect)
    b = keypair_from_private_bytes(v["tep"], h(inp["priv_b"]), dialect=dialect)
    assert a.public == h(exp["pub_a"])
    assert b.public == h(exp["pub_b"])
    # Init1 / Init2 end with the public keys (RFC 8548 §4.1: senders leave no trailing bytes).
    assert h(inp["init1"]).endswith(a.public)
    assert h(inp["init2"]).endswith(b.public)
    es = shared_secret(a, b.public)
    assert es == shared_secret(b, a.public) == h(exp["es"])
    ss0 = compute_ss0(h(inp["n_a"]), h(inp["transcript"]), h(inp["init1"]), h(inp["init2"]), es)
    assert ss0 == h(exp["ss0"])
    assert next_ss(ss0) == h(exp["ss1"])


def _session_keys(v: dict[str, Any]) -> SessionKeys:
    inp, exp = v["inputs"], v["expected"]
    kind = v["name"].split("_")[0]
    if kind == "rfc":
        return derive_keys(h(exp["ss0"]), tep_byte=v["tep_byte"], aead=v["aead"])
    if kind == "legacy":
        keys = derive_keys(
            h(exp["ss0"]), tep_byte=v["tep_byte"], aead=LegacyAeadId(v["aead"]), dialect="legacy"
        )
        assert keys.aead == AeadId(v["aead"])
        return keys
    ss = h(inp["ss0"])
    if kind == "rekey":
        keys = derive_keys(ss, tep_byte=v["tep_byte"], aead=v["aead"])
        for j, mk in enumerate(exp["mk"]):
            assert keys.generation == j
            assert keys.mk == h(mk)
            if j < inp["generation"]:
                keys = keys.next_generation()
        direct = derive_keys(
            ss, tep_byte=v["tep_byte"], aead=v["aead"], generation=inp["generation"]
        )
        assert direct == keys
        return keys
    assert kind == "resume"
    for _ in range(inp["i"]):
        ss = next_ss(ss)
    assert ss == h(exp["ss"])
    resume = resume_id(ss)
    assert resume == h(exp["resume"])
    nonce_a, nonce_b = h(inp["nonce_a"]), h(inp["nonce_b"])
    assert bytes([v["tep_byte"]]) + resume[:9] + nonce_a == h(exp["suboption_a"])
    assert bytes([v["tep_byte"]]) + resume[9:] + nonce_b == h(exp["suboption_b"])
    sn = session_nonce(nonce_a, nonce_b)
    assert sn == h(exp["sn"])
    return derive_keys(ss, tep_byte=v["tep_byte"], aead=v["aead"], sn=sn)


@pytest.mark.parametrize("name", NAMES)
def test_session_keys_and_frames(name: str) -> None:
    v = _load(name)
    exp, dialect = v["expected"], v["dialect"]
    keys = _session_keys(v)
    assert keys.session_id == h(exp["session_id"])
    assert len(keys.session_id) == 33
    assert keys.mk == h(exp["mk"][-1])
    assert keys.k_ab == h(exp["k_ab"])
    assert keys.k_ba == h(exp["k_ba"])
    assert keys.key("ab") == h(exp["key_ab"])
    assert keys.key("ba") == h(exp["key_ba"])
    assert keys.nr("ab") == h(exp.get("nr_ab", ""))
    assert keys.nr("ba") == h(exp.get("nr_ba", ""))
    for f in v["frames"]:
        direction, offset, control = f["direction"], f["offset"], f["control"]
        plaintext, frame = h(f["plaintext"]), h(f["frame"])
        cipher = keys.cipher(direction)
        assert cipher.nonce(offset) == h(f["nonce"])
        assert cipher.seal(offset, plaintext, control) == frame
        assert cipher.open(offset, frame) == plaintext
        traffic_key = keys.traffic_key(direction)
        assert (
            seal_frame(traffic_key, v["aead"], offset, plaintext, control=control, dialect=dialect)
            == frame
        )
        assert open_frame(traffic_key, v["aead"], offset, frame, dialect=dialect) == plaintext


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("legacy_")])
def test_legacy_resumption(name: str) -> None:
    v = _load(name)
    exp = v["expected"]
    ss1 = next_ss(h(exp["ss0"]))
    assert ss1 == h(exp["ss1"])
    assert legacy_resume_id(ss1) == h(exp["resume_id1"])
    resumed = derive_keys(ss1, tep_byte=v["tep"] | 0x80, aead=v["aead"], dialect="legacy")
    assert resumed.session_id == h(exp["session_id1"])
    assert resumed.session_id[1:10] == legacy_resume_id(ss1)
