"""ENO negotiation (RFC 8547 §4.3-§4.8, the examples of §6; LEGACY.md for the legacy dialect)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.wire.eno import EnoOutcome, EnoSuboption, Role, negotiate
from tests.support import fuzz_settings
from tests.unit.wire.test_eno import eno_like

H = bytes.fromhex

# The TEPs of the RFC 8547 §6 examples: X, Y and Z.
X, Y, Z = 0x21, 0x23, 0x22
NINE = H("010203040506070809")

REASONS = {
    "tcpeno.fallback.no_eno",
    "tcpeno.fallback.ill_formed",
    "tcpeno.fallback.b_conflict",
    "tcpeno.fallback.aa_mandatory",
    "tcpeno.fallback.vacuous",
    "tcpeno.fallback.no_common_tep",
}


# -- RFC 8547 §6 ---------------------------------------------------------------------------------


def test_rfc_example_success() -> None:
    # A: SYN ENO<X,Y>; B: SYN-ACK ENO<b=1,Y>; A's global suboption is the implicit 0x00.
    syn_a, syn_b = H("45042123"), H("45040123")
    out = negotiate(syn_a, syn_b)
    assert out.ok
    assert out.reason is None
    assert out.dialect == "rfc"
    assert (out.role_a, out.role_b) == (Role.A, Role.B)
    assert out.negotiated_tep == Y
    assert out.negotiated_tep_byte == 0x23
    assert out.tep_name == "TCPCRYPT_ECDHE_Curve25519"
    assert (out.global_a, out.global_b) == (0x00, 0x01)
    assert out.transcript == H("45042123 45040123")
    assert out.suboption_a == EnoSuboption(tep=Y, offset=3)
    assert out.suboption_b == EnoSuboption(tep=Y, offset=3)
    assert out.option_a is not None and out.option_a.raw == syn_a
    assert out.option_b is not None and out.option_b.raw == syn_b
    assert out.detail is None


def test_digest_transcript_example() -> None:
    out = negotiate(H("450323"), H("45040123"))
    assert out.transcript == H("450323 45040123")


def test_rfc_example_failure_b_without_eno() -> None:
    out = negotiate(H("45042123"), None)
    assert out == EnoOutcome(ok=False, dialect="rfc", reason="tcpeno.fallback.no_eno")
    assert out.tep_name is None


def test_rfc_example_failure_a_option_stripped() -> None:
    out = negotiate(None, H("45040123"))
    assert out.reason == "tcpeno.fallback.no_eno"
    assert out.role_a is None and out.transcript is None


def test_rfc_example_failure_asymmetric_stripping() -> None:
    # The reverse path strips B's option: A sees a SYN-ACK without ENO.
    out = negotiate(H("45042123"), None)
    assert not out.ok
    assert out.reason == "tcpeno.fallback.no_eno"


def test_rfc_example_failure_no_supported_tep() -> None:
    out = negotiate(H("45042123"), H("45040124"))
    assert not out.ok
    assert out.reason == "tcpeno.fallback.no_common_tep"
    assert (out.role_a, out.role_b) == (Role.A, Role.B)
    assert out.transcript == H("45042123 45040124")
    assert out.negotiated_tep is None and out.negotiated_tep_byte is None
    assert out.suboption_a is None and out.suboption_b is None


def test_rfc_example_failure_b_mandatory_aa() -> None:
    out = negotiate(H("45042123"), H("45040323"), aa_mandatory_b=True)
    assert out.reason == "tcpeno.fallback.aa_mandatory"


def test_rfc_example_simultaneous_open() -> None:
    # A: ENO<Y,X>; B: ENO<b=1,X,Y,Z>. Y is the last of B's TEPs that is valid.
    syn_a, syn_b = H("45042321"), H("450601212322")
    out = negotiate(syn_a, syn_b)
    assert out.ok
    assert out.negotiated_tep == Y
    assert (out.role_a, out.role_b) == (Role.A, Role.B)
    assert out.transcript == H("45042321 450601212322")
    assert out.suboption_a == EnoSuboption(tep=Y, offset=2)
    assert out.suboption_b == EnoSuboption(tep=Y, offset=4)


def test_simultaneous_open_with_host_a_playing_b() -> None:
    # Host "a" (the one that sent first) set b=1: it is B, and the transcript is still A ‖ B.
    out = negotiate(H("450601212322"), H("45042321"))
    assert out.ok
    assert (out.role_a, out.role_b) == (Role.B, Role.A)
    assert out.negotiated_tep == Y
    assert out.transcript == H("45042321 450601212322")
    assert (out.global_a, out.global_b) == (0x01, 0x00)
    # suboption_a comes from host "a"'s option, which is B's.
    assert out.suboption_a == EnoSuboption(tep=Y, offset=4)
    assert out.suboption_b == EnoSuboption(tep=Y, offset=2)


# -- roles and global suboptions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("syn_a", "syn_b"),
    [
        ("450321", "450321"),  # both implicit b=0 (default simultaneous open)
        ("45040021", "450321"),  # explicit and implicit 0
        ("45040121", "45040121"),  # both b=1 (active opener set b=1, reached a passive opener)
        ("45040321", "45041d21"),  # b=1 under other bits
    ],
)
def test_b_conflict(syn_a: str, syn_b: str) -> None:
    out = negotiate(H(syn_a), H(syn_b))
    assert out.reason == "tcpeno.fallback.b_conflict"
    assert out.role_a is None and out.role_b is None
    assert out.transcript is None
    assert out.option_a is not None and out.option_b is not None
    assert out.global_a is not None and out.global_b is not None


def test_explicit_zero_global_is_role_a() -> None:
    out = negotiate(H("45040021"), H("45040121"))
    assert out.ok
    assert out.role_a is Role.A
    assert out.global_a == 0


def test_reserved_bits_ignored_for_roles() -> None:
    out = negotiate(H("45041c21"), H("45041d21"))
    assert out.ok
    assert (out.global_a, out.global_b) == (0x1C, 0x1D)


def test_only_the_first_global_counts() -> None:
    # A's second global (0x01) is ignored, so A is b=0; B's first one says b=1.
    out = negotiate(H("4505 00 21 01"), H("4505 01 00 21"))
    assert out.ok
    assert (out.global_a, out.global_b) == (0x00, 0x01)


def test_mandatory_aa_on_host_a() -> None:
    assert negotiate(H("450321"), H("45040121"), aa_mandatory_a=True).reason == (
        "tcpeno.fallback.aa_mandatory"
    )
    out = negotiate(H("450321"), H("45040321"), aa_mandatory_a=True)
    assert out.ok
    assert out.option_b is not None and out.option_b.a


def test_mandatory_aa_on_host_b() -> None:
    out = negotiate(H("450321"), H("45040121"), aa_mandatory_b=True)
    assert out.reason == "tcpeno.fallback.aa_mandatory"
    # Roles are known at this point and reported.
    assert (out.role_a, out.role_b) == (Role.A, Role.B)
    assert out.transcript == H("450321 45040121")
    assert negotiate(H("45040221"), H("45040121"), aa_mandatory_b=True).ok


def test_mandatory_aa_both_sides() -> None:
    kwargs = {"aa_mandatory_a": True, "aa_mandatory_b": True}
    assert negotiate(H("45040221"), H("45040321"), **kwargs).ok  # type: ignore[arg-type]
    assert not negotiate(H("45040221"), H("45040121"), **kwargs).ok  # type: ignore[arg-type]


def test_a_bit_without_mandatory_mode_changes_nothing() -> None:
    assert negotiate(H("450321"), H("45040121")).ok


# -- vacuous options (RFC 8547 §4.6) ------------------------------------------------------------


def test_vacuous_syn() -> None:
    out = negotiate(H("4502"), H("45040121"))
    assert out.reason == "tcpeno.fallback.vacuous"
    assert out.transcript == H("4502 45040121")


def test_vacuous_syn_ack() -> None:
    out = negotiate(H("450321"), H("450301"))
    assert out.reason == "tcpeno.fallback.vacuous"
    assert out.role_b is Role.B


def test_vacuous_checked_after_aa() -> None:
    assert negotiate(H("4502"), H("450301"), aa_mandatory_a=True).reason == (
        "tcpeno.fallback.aa_mandatory"
    )


# -- the negotiated TEP (RFC 8547 §4.5) --------------------------------------------------------


def test_last_valid_tep_in_b_wins_order_in_a_does_not_matter() -> None:
    assert negotiate(H("45042321"), H("4505012123")).negotiated_tep == 0x23
    assert negotiate(H("45042321"), H("4505012321")).negotiated_tep == 0x21
    assert negotiate(H("45042123"), H("4505012321")).negotiated_tep == 0x21


def test_tep_only_b_sent_is_skipped() -> None:
    assert negotiate(H("450321"), H("4505012124")).negotiated_tep == 0x21


def test_repetition_in_a_makes_a_tep_invalid() -> None:
    out = negotiate(H("4505212123"), H("4505012321"))
    assert out.negotiated_tep == 0x23
    assert negotiate(H("45042121"), H("45040121")).reason == "tcpeno.fallback.no_common_tep"


def test_repetition_in_b_makes_a_tep_invalid() -> None:
    assert negotiate(H("45042123"), H("450601212321")).negotiated_tep == 0x23


def test_repetition_with_and_without_v_is_still_repetition_in_rfc() -> None:
    # The legacy resumption layout 21 22 a1 <9 bytes> repeats 0x21: invalid under RFC 8548.
    out = negotiate(H("450e2122a1") + NINE, H("45040121"))
    assert out.reason == "tcpeno.fallback.no_common_tep"
    assert negotiate(H("450e2122a1") + NINE, H("4505012221")).negotiated_tep == 0x22


def test_v_bit_of_b_is_kept() -> None:
    # A offers resumption (a1 + data), B accepts it with v=1 and its own data.
    syn_a = H("450da1") + NINE + H("00")
    syn_b = H("450d01a1") + NINE
    out = negotiate(syn_a, syn_b)
    assert out.negotiated_tep == 0x21
    assert out.negotiated_tep_byte == 0xA1
    assert out.suboption_a is not None and out.suboption_a.data == NINE + H("00")
    assert out.suboption_b is not None and out.suboption_b.data == NINE


def test_v_bit_ignored_for_selection() -> None:
    # A offered resumption, B answered with v=0: fresh key exchange, session-ID byte 0x21.
    out = negotiate(H("450da1") + NINE + H("00"), H("45040121"))
    assert out.ok
    assert out.negotiated_tep == 0x21
    assert out.negotiated_tep_byte == 0x21
    assert out.suboption_a is not None and out.suboption_a.v
    # And the other way round: A v=0, B v=1.
    out = negotiate(H("450321"), H("450501a1ff"))
    assert out.negotiated_tep_byte == 0xA1


def test_length_byte_suboption_is_negotiable() -> None:
    out = negotiate(H("4509 83a1aabbccdd 23"), H("45040121"))
    assert out.negotiated_tep == 0x21
    assert out.suboption_a is not None and out.suboption_a.data == H("aabbccdd")


# -- ill-formed and absent options ------------------------------------------------------------


def test_ill_formed_a() -> None:
    out = negotiate(H("4504 8021"), H("45040121"))
    assert out.reason == "tcpeno.fallback.ill_formed"
    assert out.option_a is None
    assert out.option_b is not None and out.option_b.raw == H("45040121")
    assert out.role_a is None and out.transcript is None
    assert out.detail is not None
    assert out.detail.startswith("host a: tcpeno.ill_formed.length_then_non_tep")


def test_ill_formed_b_keeps_a() -> None:
    out = negotiate(H("450321"), H("4504 0185"))
    assert out.reason == "tcpeno.fallback.ill_formed"
    assert out.option_a is not None and out.option_a.raw == H("450321")
    assert out.option_b is None
    assert out.detail is not None and out.detail.startswith("host b: ")
    assert "length_overrun" in out.detail


def test_both_ill_formed_reports_host_a() -> None:
    out = negotiate(H("4501"), H("4503 85"))
    assert out.reason == "tcpeno.fallback.ill_formed"
    assert out.detail is not None and out.detail.startswith("host a: tcpeno.bad_length")


def test_no_eno_checked_before_ill_formed() -> None:
    assert negotiate(H("4503 85"), H("020405b4")).reason == "tcpeno.fallback.no_eno"
    assert negotiate(H("4503 85"), None).reason == "tcpeno.fallback.no_eno"


@pytest.mark.parametrize("bad", ["", "45", "4505 21", "4501", "fd06454e"])
def test_truncated_or_bad_length_is_ill_formed(bad: str) -> None:
    assert negotiate(H(bad), H("45040121")).reason == "tcpeno.fallback.ill_formed"


def test_ill_formed_checked_before_b_conflict() -> None:
    assert negotiate(H("45040185"), H("45040121")).reason == "tcpeno.fallback.ill_formed"


@pytest.mark.parametrize(
    ("syn_a", "dialect"),
    [
        ("020405b4", "rfc"),  # not an ENO option at all
        ("fd05454e21", "rfc"),  # legacy kind under the rfc dialect
        ("fd06f98900aa", "legacy"),  # kind 253 with another ExID
        ("450321", "legacy"),  # kind 69 under the legacy dialect
    ],
)
def test_no_eno_of_this_dialect(syn_a: str, dialect: str) -> None:
    other = "45040121" if dialect == "rfc" else "fd05454e21"
    out = negotiate(H(syn_a), H(other), dialect=dialect)  # type: ignore[arg-type]
    assert out.reason == "tcpeno.fallback.no_eno"
    assert out.option_a is None


def test_unknown_dialect_is_caller_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        negotiate(H("450321"), H("45040121"), dialect="tls")  # type: ignore[arg-type]


def test_bytes_after_the_option_are_not_in_the_transcript() -> None:
    out = negotiate(H("450321 0402"), H("45040121 01"))
    assert out.transcript == H("450321 45040121")


# -- legacy dialect (LEGACY.md) ----------------------------------------------------------------


def test_legacy_handshake() -> None:
    out = negotiate(H("fd06454e2122"), H("fd05454e21"), dialect="legacy")
    assert out.ok
    assert out.dialect == "legacy"
    assert (out.role_a, out.role_b) == (Role.A, Role.B)
    assert out.negotiated_tep == 0x21
    assert out.negotiated_tep_byte == 0x21
    assert (out.global_a, out.global_b) == (0, 0)
    assert out.transcript == H("fd06454e2122 fd04454e fd05454e21 fd04454e")


def test_legacy_has_no_b_conflict_and_roles_follow_the_active_opener() -> None:
    out = negotiate(H("fd06454e0121"), H("fd06454e0121"), dialect="legacy")
    assert out.ok
    assert out.role_a is Role.A
    assert out.transcript == H("fd06454e0121 fd04454e fd06454e0121 fd04454e")


def test_legacy_resumption() -> None:
    # SYN: fresh offers 21 22, then the resumption suboption a1 + 9 bytes.
    # SYN-ACK: 0x04 (a global suboption) and a1 alone.
    syn_a = H("fd10454e2122a1") + NINE
    syn_b = H("fd06454e04a1")
    out = negotiate(syn_a, syn_b, dialect="legacy")
    assert out.ok
    assert out.negotiated_tep == 0x21
    assert out.negotiated_tep_byte == 0xA1
    assert out.global_b == 0x04
    assert out.suboption_a == EnoSuboption(tep=0x21, v=True, data=NINE, offset=6)
    assert out.suboption_b == EnoSuboption(tep=0x21, v=True, data=b"", offset=5)
    assert out.transcript == syn_a + H("fd04454e") + syn_b + H("fd04454e")


def test_legacy_fresh_answer_picks_the_v0_suboption_of_a() -> None:
    out = negotiate(H("fd10454e2122a1") + NINE, H("fd05454e21"), dialect="legacy")
    assert out.negotiated_tep_byte == 0x21
    assert out.suboption_a == EnoSuboption(tep=0x21, offset=4)


def test_legacy_only_resumption_offered_answered_fresh() -> None:
    out = negotiate(H("fd0e454ea1") + NINE, H("fd05454e21"), dialect="legacy")
    assert out.negotiated_tep_byte == 0x21
    assert out.suboption_a is not None and out.suboption_a.data == NINE


def test_legacy_double_v0_is_invalid() -> None:
    out = negotiate(H("fd07454e212122"), H("fd05454e21"), dialect="legacy")
    assert out.reason == "tcpeno.fallback.no_common_tep"


def test_legacy_mandatory_aa_uses_the_a_bit() -> None:
    out = negotiate(H("fd05454e21"), H("fd06454e0421"), aa_mandatory_a=True, dialect="legacy")
    assert out.reason == "tcpeno.fallback.aa_mandatory"


def test_role_other() -> None:
    assert Role.A.other is Role.B
    assert Role.B.other is Role.A


# -- contract: any bytes give an outcome ---------------------------------------------------------

_option_bytes = st.one_of(st.none(), st.binary(max_size=44), eno_like())


@fuzz_settings
@given(
    _option_bytes,
    _option_bytes,
    st.booleans(),
    st.booleans(),
    st.sampled_from(["rfc", "legacy"]),
)
def test_negotiate_never_raises(
    syn_a: bytes | None, syn_b: bytes | None, aa_a: bool, aa_b: bool, dialect: str
) -> None:
    out = negotiate(syn_a, syn_b, aa_mandatory_a=aa_a, aa_mandatory_b=aa_b, dialect=dialect)  # type: ignore[arg-type]
    assert isinstance(out, EnoOutcome)
    assert out.dialect == dialect
    if out.ok:
        assert out.reason is None
        assert out.option_a is not None and out.option_b is not None
        assert out.negotiated_tep is not None and out.negotiated_tep_byte is not None
        assert out.negotiated_tep_byte & 0x7F == out.negotiated_tep
        assert out.negotiated_tep in out.option_a.teps
        assert out.negotiated_tep in out.option_b.teps
        assert out.suboption_a in out.option_a.suboptions
        assert out.suboption_b in out.option_b.suboptions
    else:
        assert out.reason in REASONS
        assert out.negotiated_tep is None
    if out.transcript is not None:
        assert out.option_a is not None and out.option_b is not None
        assert out.role_a is not None and out.role_b is out.role_a.other
        a_first = out.role_a is Role.A
        first, second = (out.option_a, out.option_b) if a_first else (out.option_b, out.option_a)
        assert out.transcript.startswith(first.raw)
        assert second.raw in out.transcript
