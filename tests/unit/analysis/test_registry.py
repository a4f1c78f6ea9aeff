"""The finding registry and the field table: every id the package raises is registered."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.analysis import registry
from tcpinc_tools.analysis.model import FindingSink, make_finding
from tcpinc_tools.analysis.registry import (
    FIELDS,
    REGISTRY,
    Group,
    Severity,
    field_spec,
    get,
    lookup,
)
from tcpinc_tools.errors import DecodeError
from tcpinc_tools.protocol.segment import decode_tcp_header
from tcpinc_tools.wire import tcp_options
from tcpinc_tools.wire.eno import decode_eno_option, negotiate
from tcpinc_tools.wire.tcpcrypt import (
    decode_frame,
    decode_frame_plaintext,
    decode_init1,
    decode_init2,
    decode_resume_suboption,
    init_message_length,
)
from tests.support import property_settings

PACKAGE = Path(__file__).resolve().parents[3] / "tcpinc_tools"
# A string literal shaped like a finding id: "tcp.…", "tcpeno.…", "tcpcrypt.…", "tcpinc.…".
ID_LITERAL = re.compile(r"""["'](?:f?)((?:tcp|tcpeno|tcpcrypt|tcpinc)\.[a-z0-9_.{}]+)["']""")
# The f-string templates in the package and the values they are formatted with (a new
# template makes the test fail until it is listed here).
TEMPLATES = {
    "tcp.option.{name}.bad_length": ("mss", "wscale", "sack_perm", "timestamps"),
    "tcpcrypt.{name}.bad_magic": ("init1", "init2"),
    "tcpcrypt.{name}.truncated": ("init1", "init2"),
}


def ids_in_source() -> set[str]:
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if path.name == "registry.py":
            continue
        for raw in ID_LITERAL.findall(path.read_text()):
            if raw.endswith((".py", ".")):
                continue  # a module name, or a prefix matched with startswith
            if "{" not in raw:
                found.add(raw)
                continue
            assert raw in TEMPLATES, f"{path.name}: unknown id template {raw!r}"
            found |= {raw.replace("{name}", value) for value in TEMPLATES[raw]}
    return found


def test_every_id_literal_in_the_package_is_registered() -> None:
    found = ids_in_source()
    # The grep must see the ids we know are there (it would pass vacuously otherwise).
    assert {"tcp.reassembly.gap", "tcpeno.fallback.stripped", "tcpcrypt.tag_failure"} <= found
    assert "tcpcrypt.init2.truncated" in found and "tcp.option.wscale.bad_length" in found
    missing = sorted(i for i in found if get(i) is None)
    assert not missing, f"unregistered ids: {missing}"


def test_the_brief_ids_are_registered() -> None:
    brief = [
        "tcpcrypt.tag_failure",
        "tcpcrypt.fin_without_finp",
        "tcpcrypt.cipher_not_offered",
        "tcpcrypt.invalid_public_key",
        "tcpcrypt.resume.mismatch",
        "tcpcrypt.resume.replay",
        "tcpcrypt.resume.tracking",
        "tcpcrypt.resume.other_server",
        "tcpcrypt.nonce_reuse",
        "tcpcrypt.pubkey_reuse",
        "tcpcrypt.truncation",
        "tcpcrypt.plaintext_after_enable",
        "tcpcrypt.frame_id_reuse",
        "tcpcrypt.offset_reading",
        "tcpeno.legacy_kind",
        "tcpeno.tls_draft_tep",
        "tcpeno.fallback.stripped",
        "tcp.reassembly.gap",
        "tcp.flow.port_reuse",
    ]
    for finding_id in brief:
        spec = lookup(finding_id)
        assert spec.id == finding_id and spec.message and spec.rfc


def test_registry_rows_are_well_formed() -> None:
    ids = [spec.id for spec in REGISTRY]
    assert len(ids) == len(set(ids))
    for spec in REGISTRY:
        assert re.fullmatch(r"(tcp|tcpeno|tcpcrypt|tcpinc)\.[a-z0-9_.]+", spec.id), spec.id
        assert isinstance(spec.severity, Severity) and isinstance(spec.group, Group)
        assert spec.message[0].isupper() and "\n" not in spec.message
        assert spec.rfc
    # Wireshark's four expert severities, in order.
    assert [s.value for s in sorted(Severity, key=lambda s: s.rank)] == [
        "chat",
        "note",
        "warn",
        "error",
    ]


def test_lookup_and_get() -> None:
    assert lookup("tcpcrypt.truncation").severity is Severity.ERROR
    assert lookup("tcpeno.option_space").severity is Severity.NOTE
    assert get("tcpeno.no_such_thing") is None
    with pytest.raises(KeyError, match=r"tcpeno\.no_such_thing"):
        lookup("tcpeno.no_such_thing")
    assert lookup("tcpcrypt.tag_failure").render("x") == "Frame fails authentication: x"
    assert lookup("tcpcrypt.tag_failure").render() == "Frame fails authentication"


def test_make_finding_for_an_unknown_id_does_not_raise() -> None:
    finding = make_finding("tcpeno.unknown_here", "detail", packet=3)
    assert finding.id == "tcpeno.unknown_here" and finding.message == "detail"
    assert finding.severity is Severity.WARN and finding.packet == 3


def test_sink_bounds_findings_per_id_and_per_flow() -> None:
    sink = FindingSink(7)
    for i in range(40):
        sink.add("tcpcrypt.tag_failure", str(i), packet=i)
    items = sink.finished()
    assert sum(1 for f in items if f.id == "tcpcrypt.tag_failure") == 32
    assert items[-1].id == "tcpinc.findings_suppressed"
    assert "8 not listed (tcpcrypt.tag_failure x8)" in items[-1].message
    assert all(f.flow == 7 for f in items)
    many = FindingSink(1)
    for i in range(300):
        many.add(REGISTRY[i % len(REGISTRY)].id)
    assert len(many.finished()) == 257


def test_fields_table() -> None:
    names = [f.name for f in FIELDS]
    assert len(names) == len(set(names))
    types = {"uint8", "uint16", "uint32", "uint64", "bool", "bytes", "string", "none", "framenum"}
    for spec in FIELDS:
        assert spec.type in types, spec
        assert spec.name.split(".")[0] in ("tcpeno", "tcpcrypt")
        assert re.fullmatch(r"[a-z0-9_.]+", spec.name)
        assert spec.description
    for name in (
        "tcpeno.tep",
        "tcpeno.global.b",
        "tcpeno.global.a",
        "tcpeno.suboption.v",
        "tcpeno.suboption.data",
        "tcpeno.negotiated_tep",
        "tcpeno.status",
        "tcpcrypt.init1",
        "tcpcrypt.init2",
        "tcpcrypt.frame.control",
        "tcpcrypt.frame.rekey",
        "tcpcrypt.frame.clen",
        "tcpcrypt.frame.ciphertext",
        "tcpcrypt.session_id",
        "tcpcrypt.plaintext",
        "tcpcrypt.flags.fin",
        "tcpcrypt.flags.urg",
    ):
        assert field_spec(name).name == name
    with pytest.raises(KeyError):
        field_spec("tcpeno.nope")
    # A field name is never also a finding id (one vocabulary, two tables).
    assert not set(names) & {spec.id for spec in REGISTRY}


def test_table_typos_are_caught() -> None:
    with pytest.raises(AssertionError):
        registry._rows("a | b\n    c\nd | e", 3)


def _expert_ids(call: object) -> set[str]:
    try:
        call()  # type: ignore[operator]
    except DecodeError as exc:
        return {exc.expert_id}
    return set()


@property_settings
@given(st.binary(max_size=64))
def test_every_decode_error_id_is_registered(data: bytes) -> None:
    raised: set[str] = set()
    raised |= _expert_ids(lambda: decode_eno_option(data, syn=True))
    raised |= _expert_ids(lambda: decode_eno_option(data, syn=False))
    raised |= _expert_ids(lambda: decode_eno_option(b"\x45" + data, syn=True))
    raised |= _expert_ids(lambda: decode_eno_option(b"\xfd" + data, syn=True))
    for tep in (0x21, 0x22, 0x23, 0x24, 0x30):
        for dialect in ("rfc", "legacy"):
            raised |= _expert_ids(lambda: decode_init1(data, tep, dialect=dialect))  # noqa: B023
            raised |= _expert_ids(lambda: decode_init2(data, tep, dialect=dialect))  # noqa: B023
            prefix1 = bytes.fromhex("15101a0e") + data
            prefix2 = bytes.fromhex("097105e0") + data
            raised |= _expert_ids(lambda: decode_init1(prefix1, tep, dialect=dialect))  # noqa: B023
            raised |= _expert_ids(lambda: decode_init2(prefix2, tep, dialect=dialect))  # noqa: B023
    raised |= _expert_ids(lambda: init_message_length(data))
    raised |= _expert_ids(lambda: decode_frame(data))
    for dialect in ("rfc", "legacy"):
        raised |= _expert_ids(lambda: decode_frame_plaintext(data, dialect=dialect))  # noqa: B023
        raised |= _expert_ids(lambda: decode_resume_suboption(data, dialect=dialect))  # noqa: B023
    raised |= _expert_ids(lambda: decode_tcp_header(data))
    for decode in (
        tcp_options.decode_mss,
        tcp_options.decode_window_scale,
        tcp_options.decode_sack_permitted,
        tcp_options.decode_timestamps,
        tcp_options.decode_sack,
    ):
        raised |= _expert_ids(lambda: decode(data))  # noqa: B023
    raised |= {o.error for o in tcp_options.iter_tcp_options(data) if o.error}
    raised |= {a.expert_id for a in tcp_options.syn_option_report(data).anomalies}
    outcome = negotiate(data[: len(data) // 2], data[len(data) // 2 :])
    if outcome.reason is not None:
        raised.add(outcome.reason)
    unregistered = {i for i in raised if get(i) is None}
    assert not unregistered, unregistered
