"""Constants against the IANA tables of RFC 8547 §11 and RFC 8548 §7."""

from __future__ import annotations

from tcpinc_tools.wire import constants as c


def test_option_kinds() -> None:
    assert [int(k) for k in c.TcpOptionKind] == [0, 1, 2, 3, 4, 5, 8, 30, 34, 69, 253, 254]
    assert c.ENO_EXID == 0x454E
    assert bytes.fromhex("fd04454e") == c.LEGACY_MINIMAL_ENO


def test_tep_registry_names() -> None:
    assert c.tep_name(0x21) == "TCPCRYPT_ECDHE_P256"
    assert c.tep_name(0x22) == "TCPCRYPT_ECDHE_P521"
    assert c.tep_name(0x23) == "TCPCRYPT_ECDHE_Curve25519"
    assert c.tep_name(0xA4) == "TCPCRYPT_ECDHE_Curve448"  # v bit ignored
    assert c.tep_name(0x20) == "experimental"
    assert c.tep_name(0x30) == "TCP-use-TLS (draft)"
    assert c.tep_name(0x75) == "reserved"
    assert c.tep_name(0x25) is None


def test_aead_registry() -> None:
    assert c.aead_name(0x0001) == "AEAD_AES_128_GCM"
    assert c.aead_name(0x0002) == "AEAD_AES_256_GCM"
    assert c.aead_name(0x0010) == "AEAD_CHACHA20_POLY1305"
    assert c.aead_name(0x0003) is None
    lens = {a: (p.key_len, p.nonce_len, p.traffic_key_len) for a, p in c.AEAD_PARAMS.items()}
    assert lens == {
        c.AeadId.AEAD_AES_128_GCM: (16, 12, 28),
        c.AeadId.AEAD_AES_256_GCM: (32, 12, 44),
        c.AeadId.AEAD_CHACHA20_POLY1305: (32, 12, 44),
    }
    assert [int(x) for x in c.LegacyAeadId] == [0x01, 0x02]
    assert c.LEGACY_AEAD_TO_RFC[c.LegacyAeadId.AES_256_GCM] == c.AeadId.AEAD_AES_256_GCM


def test_rfc8548_table1() -> None:
    assert [int(x) for x in c.Const] == [1, 2, 3, 4, 5, 6]
    assert c.Const.RESUME == 0x06  # not 0x05 (DIGEST.md T8)
    assert c.INIT1_MAGIC.to_bytes(4, "big") == bytes.fromhex("15101a0e")
    assert c.INIT2_MAGIC.to_bytes(4, "big") == bytes.fromhex("097105e0")
    assert (c.K_LEN, c.N_A_LEN, c.N_B_LEN) == (32, 32, 32)
    assert (c.RESUME_ID_LEN, c.RESUME_HALF_LEN, c.RESUME_NONCE_MAX) == (18, 9, 8)
    assert (c.GLOBAL_B, c.GLOBAL_A, c.GLOBAL_RESERVED) == (0x01, 0x02, 0x1C)
