"""The Lua dissector on every capture of captures/, against the Python analyzer.

For each capture tshark runs twice, with the key log and without (the differential test
Wireshark itself uses for decryption), and ``tcpinc_tools.analysis.analyze_capture`` runs on
the same file. Per packet, the dissector's fields must agree with the analyzer's result for
that packet's connection:

- ``tcpeno.status``, ``tcpeno.reason``, ``tcpeno.negotiated_tep``, ``tcpeno.role``: from the
  packet where the connection's ENO state was last decided on, exactly the analyzer's final
  state; before it, ``incomplete``;
- ``tcpcrypt.session_id``: the analyzer's session ID, on every frame (none without the key);
- ``tcpcrypt.data``: concatenated per direction, the analyzer's plaintext (none without key);
- expert infos: the finding ids the analyzer reports for the connection (those the dissector
  registers), with the documented exceptions in ``NOT_IN_LUA``.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tcpinc_tools.analysis import AnalysisResult, analyze_capture, flow_to_json
from tcpinc_tools.keylog import KeyLog

from .tshark_run import LUA_IDS, Run, captures, lua_errors, needs_tshark, split, tshark_many

pytestmark = needs_tshark

ENO_FIELDS = ["tcpeno.status", "tcpeno.reason", "tcpeno.negotiated_tep", "tcpeno.role"]
FIELDS = [
    "frame.number",
    "ip.src",
    "tcp.srcport",
    "ip.dst",
    "tcp.dstport",
    *ENO_FIELDS,
    "tcpcrypt.session_id",
    "tcpcrypt.data",
    "tcpcrypt.frame.clen",
    "tcpcrypt.init1",
    "tcpcrypt.init2",
    "http.request.method",
    *LUA_IDS,
]

# Findings of the analyzer that the dissector does not raise, and why.
NOT_IN_LUA = {
    # The analyzer searches for the next frame boundary byte by byte after undecodable
    # bytes and reports where it found one; Wireshark's TCP reassembly hands the dissector
    # whole segments, so it resumes at the next segment and says so only when bytes are
    # missing. Both report the damage itself (plaintext_after_enable, malformed_frame...).
    "tcpcrypt.resync",
    # Cross-connection checks that need every session of the capture at once (the key log's
    # origin of a resumed secret, randomness reused between sessions, one frame ID under one
    # key in two sessions): analyzer only.
    "tcpcrypt.nonce_reuse",
    "tcpcrypt.pubkey_reuse",
    "tcpcrypt.frame_id_reuse",
}
# Cross-connection findings the dissector does raise (per resumption identifier).
CROSS_IN_LUA = {
    "tcpcrypt.resume.replay",
    "tcpcrypt.resume.tracking",
    "tcpcrypt.resume.other_server",
}

CAPTURES = captures()


@dataclass
class Outcome:
    with_key: Run
    without_key: Run
    analysis: AnalysisResult
    analysis_no_key: AnalysisResult


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    jobs: list[tuple[Path, dict[str, object]]] = []
    for cap in CAPTURES:
        jobs.append((cap, {"keylog": cap.with_suffix(".keys"), "fields": FIELDS}))
        jobs.append((cap, {"keylog": None, "fields": FIELDS}))
    runs = tshark_many(jobs)
    out: dict[str, Outcome] = {}
    for i, cap in enumerate(CAPTURES):
        keys = KeyLog.load(cap.with_suffix(".keys"))
        out[cap.stem] = Outcome(
            runs[2 * i],
            runs[2 * i + 1],
            analyze_capture(cap, keylog=keys, payload=True),
            analyze_capture(cap, payload=True),
        )
    return out


def _flow_of(result: AnalysisResult, row: dict[str, str]) -> Any:
    ends = {(row["ip.src"], int(row["tcp.srcport"])), (row["ip.dst"], int(row["tcp.dstport"]))}
    number = int(row["frame.number"])
    best = None
    for flow in result.flows:
        later = best is None or flow.first_packet > best.first_packet
        if {flow.client, flow.server} == ends and flow.first_packet <= number and later:
            best = flow
    return best


def _by_flow(result: AnalysisResult, run: Run) -> dict[int, list[dict[str, str]]]:
    rows: dict[int, list[dict[str, str]]] = collections.defaultdict(list)
    for row in run.rows:
        if not row["tcp.srcport"]:
            continue
        flow = _flow_of(result, row)
        assert flow is not None, f"packet {row['frame.number']} belongs to no analyzed flow"
        rows[flow.id].append(row)
    return rows


def _tep(value: int | None) -> str:
    return "" if value is None else f"0x{value:02x}"


def _check_eno(rows: list[dict[str, str]], eno: dict[str, Any] | None, where: str) -> None:
    if eno is None:
        assert all(not r["tcpeno.status"] for r in rows), f"{where}: ENO state on a plain flow"
        return
    final = {
        "tcpeno.status": eno["status"],
        "tcpeno.reason": eno["reason"] or "",
        "tcpeno.negotiated_tep": _tep(eno["negotiated_tep"]),
    }
    states = [tuple(r[k] for k in final) for r in rows]
    decided = max(i for i, s in enumerate(states) if i == 0 or s != states[i - 1])
    assert states[-1] == tuple(final.values()), f"{where}: final ENO state"
    for i, row in enumerate(rows):
        got = dict(zip(final, states[i], strict=True))
        if i >= decided:
            assert got == final, f"{where}: packet {row['frame.number']}"
        else:
            assert got["tcpeno.status"] in ("", "incomplete"), f"{where}: {row['frame.number']}"
        if row["tcpeno.role"] and eno["host_a"] is not None:
            sender = f"{row['ip.src']}:{row['tcp.srcport']}"
            assert row["tcpeno.role"] == ("A" if sender == eno["host_a"] else "B"), where


def _check_tcpcrypt(
    rows: list[dict[str, str]], doc: dict[str, Any], where: str, *, with_key: bool
) -> None:
    sessions = {v for r in rows for v in split(r["tcpcrypt.session_id"])}
    data: dict[str, str] = collections.defaultdict(str)
    for row in rows:
        sender = f"{row['ip.src']}:{row['tcp.srcport']}"
        data[sender] += "".join(split(row["tcpcrypt.data"]))
    tc = doc["tcpcrypt"]
    if not with_key or tc is None or tc["session_id"] is None:
        assert not sessions, f"{where}: a session ID without a key"
        assert not any(data.values()), f"{where}: plaintext without a key"
        return
    assert {s.replace(":", "") for s in sessions} <= {tc["session_id"]}, where
    assert sessions, f"{where}: the analyzer knows the session ID, the dissector shows none"
    host_a = doc["eno"]["host_a"]
    a_to_b = data.get(host_a, "")
    b_to_a = "".join(v for k, v in data.items() if k != host_a)
    assert a_to_b == tc["plaintext_a_to_b"], f"{where}: plaintext A→B"
    assert b_to_a == tc["plaintext_b_to_a"], f"{where}: plaintext B→A"


def _lua_ids(rows: list[dict[str, str]]) -> set[str]:
    return {name for row in rows for name in LUA_IDS if row[name]}


def _python_ids(result: AnalysisResult, flow_id: int) -> set[str]:
    flow = next(f for f in result.flows if f.id == flow_id)
    ids = {f.id for f in flow.findings}
    ids |= {c.finding.id for c in result.cross if c.subject[1] == flow_id} & CROSS_IN_LUA
    return (ids & set(LUA_IDS)) - NOT_IN_LUA


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_no_lua_error(capture: Path, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[capture.stem]
    for run in (outcome.with_key, outcome.without_key):
        assert run.returncode == 0, run.stderr
        assert lua_errors(run) == []
        assert run.rows, "tshark printed no packet"


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_fields_agree_with_the_analyzer(capture: Path, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[capture.stem]
    result = outcome.analysis
    by_flow = _by_flow(result, outcome.with_key)
    for flow in result.flows:
        doc = flow_to_json(flow)
        where = f"{capture.stem} flow {flow.id}"
        rows = by_flow.get(flow.id, [])
        assert len(rows) == flow.packets, where
        _check_eno(rows, doc["eno"], where)
        _check_tcpcrypt(rows, doc, where, with_key=True)
        assert _lua_ids(rows) - NOT_IN_LUA == _python_ids(result, flow.id), where


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_without_the_key_log(capture: Path, outcomes: dict[str, Outcome]) -> None:
    outcome = outcomes[capture.stem]
    with_key, without = outcome.with_key, outcome.without_key
    assert len(with_key.rows) == len(without.rows)
    for keyed, plain in zip(with_key.rows, without.rows, strict=True):
        # ENO does not depend on secrets, nor does the delimiting of Init messages and frames
        for name in (*ENO_FIELDS, "tcpcrypt.frame.clen", "tcpcrypt.init1", "tcpcrypt.init2"):
            assert keyed[name] == plain[name], f"packet {keyed['frame.number']}: {name}"
        assert plain["tcpcrypt.session_id"] == "" and plain["tcpcrypt.data"] == ""
        assert plain["http.request.method"] == "" or keyed["http.request.method"] != ""
    result = outcome.analysis_no_key
    by_flow = _by_flow(result, without)
    for flow in result.flows:
        doc = flow_to_json(flow)
        where = f"{capture.stem} flow {flow.id} (no key)"
        _check_eno(by_flow.get(flow.id, []), doc["eno"], where)
        _check_tcpcrypt(by_flow.get(flow.id, []), doc, where, with_key=False)


# What each fault or fallback scenario must show as expert infos (with the key log).
EXPECTED = {
    "fallback-no-eno": {"tcpeno.fallback.no_eno"},
    "fallback-stripped-syn": {"tcpeno.option_overwritten"},
    "fallback-stripped-synack": {"tcpeno.fallback.stripped"},
    "fallback-b-conflict": {"tcpeno.fallback.b_conflict"},
    "fallback-no-common-tep": {"tcpeno.fallback.no_common_tep"},
    "fallback-aa-mandatory": {"tcpeno.fallback.aa_mandatory"},
    "fallback-vacuous": {"tcpeno.fallback.vacuous"},
    "fallback-ill-formed": {
        "tcpeno.fallback.ill_formed",
        "tcpeno.ill_formed.length_then_non_tep",
    },
    "fallback-multiple-eno": {"tcpeno.fallback.multiple_eno", "tcpeno.multiple_eno"},
    "attack-bad-tag": {"tcpcrypt.tag_failure"},
    "attack-truncation": {"tcpcrypt.truncation"},
    "attack-rst-injection": {"tcpcrypt.unauthenticated_reset"},
    "attack-resume-replay": {"tcpcrypt.resume.replay"},
    "attack-plaintext-after-enable": {"tcpcrypt.plaintext_after_enable"},
    "attack-tracking": {"tcpcrypt.resume.tracking"},
    "tls-tep": {"tcpeno.tls_draft_tep", "tcpeno.fallback.vacuous"},
    "legacy-fresh": {"tcpeno.legacy_kind"},
    "legacy-resume": {"tcpeno.legacy_kind"},
}


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_fault_and_fallback_experts(scenario: str, outcomes: dict[str, Outcome]) -> None:
    if scenario not in outcomes:
        pytest.fail(f"captures/{scenario}.pcap is missing")
    seen = _lua_ids(list(outcomes[scenario].with_key.rows))
    assert EXPECTED[scenario] <= seen, sorted(seen)


def test_clean_captures_raise_no_warning(outcomes: dict[str, Outcome]) -> None:
    quiet = [name for name in outcomes if name.startswith("fresh-")]
    assert len(quiet) == 12
    for name in quiet:
        seen = _lua_ids(list(outcomes[name].with_key.rows))
        assert seen == {"tcpeno.option_space"}, (name, sorted(seen))


def test_http_inside_tcpcrypt(outcomes: dict[str, Outcome]) -> None:
    """The decrypted data goes to Wireshark's dissectors: HTTP shows, only with the key."""
    outcome = outcomes["fresh-x25519-aes128gcm"]
    methods = [r["http.request.method"] for r in outcome.with_key.rows]
    assert methods.count("GET") == 1
    assert not any(r["http.request.method"] for r in outcome.without_key.rows)
    # and the session is still tcpcrypt's after HTTP recognised the first frame
    frames = [r for r in outcome.with_key.rows if r["tcpcrypt.frame.clen"]]
    assert frames and all(r["tcpcrypt.session_id"] for r in frames)


@pytest.mark.parametrize("name", ["resume", "bulk-256k", "lossy", "legacy-resume", "rekey"])
def test_two_passes_show_what_one_pass_shows(name: str, outcomes: dict[str, Outcome]) -> None:
    """tshark -2 (Wireshark's way: dissect everything, then show) with a display filter, so
    that the first pass builds the protocol tree the plugin reads its TCP fields from."""
    capture = next(c for c in CAPTURES if c.stem == name)
    (two,) = tshark_many(
        [
            (
                capture,
                {
                    "keylog": capture.with_suffix(".keys"),
                    "fields": FIELDS,
                    "extra": ["-2", "-Y", "tcp"],
                },
            )
        ]
    )
    assert lua_errors(two) == []
    assert two.rows == outcomes[name].with_key.rows
