"""The JSON document of ``tcpinc analyze --json`` (ARCHITECTURE.md "JSON output contract").

``{"version": 1, "captures": [...], "flows": [...], "findings": [...], "stats": {...}}``.

- ``captures``: one object per capture, in the order given (its ``index`` is the ``capture``
  of its flows and findings).
- ``flows``: every connection, by capture then id, with the contract's keys (``id``,
  ``client``, ``server``, ``first_ts``, ``last_ts``, ``packets``, ``eno``, ``tcpcrypt``,
  ``findings``) and a few more (``capture``, byte counts; ``eno.simultaneous_open``;
  ``tcpcrypt.offset_reading``, ``frames_decrypted``, ``urgent_frames``). A flow's findings
  are its own and the cross-connection findings reported on it.
- ``findings``: what belongs to no single flow's decoding, each with ``capture`` and
  ``flow`` (null, or the flow it is reported on): key log lines, capture errors, and the
  cross-connection findings (with ``related``: the ``[capture, flow]`` pairs compared).
- ``stats``: totals.

Units: hex is lowercase without separators; timestamps are seconds since the epoch
(floats); addresses are ``ip:port`` (``[ip]:port`` for IPv6); ``tep_name`` the IANA name;
``aead`` the IANA AEAD name; ``plaintext_*`` only when the analysis kept the payload.
:func:`flow_to_json` gives one flow alone, for one-connection-per-line output.
:func:`to_json_document` makes the document of analyses that kept their flows;
:class:`JsonReport` makes it of flows handed out as they finish, holding them on disk
(``tcpinc analyze --json``).
"""

from __future__ import annotations

import pickle
import tempfile
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any, BinaryIO, Final

from .cross import cross_connection_findings
from .jsontext import LazyArray
from .model import (
    AnalysisResult,
    CrossFinding,
    EnoResult,
    Finding,
    FlowResult,
    FlowSummary,
    TcpcryptResult,
)
from .registry import Severity

__all__ = [
    "JSON_VERSION",
    "JsonReport",
    "capture_json",
    "endpoint_text",
    "eno_to_json",
    "finding_to_json",
    "flow_to_json",
    "tcpcrypt_to_json",
    "to_json_document",
]

JSON_VERSION: Final = 1
# JsonReport's sort key of a flow: its capture's index above its id (flow ids are counted
# per capture, far below 2**32; capture indexes below 2**31).
_CAPTURE_SHIFT: Final = 32
_FLOW_ID_MASK: Final = (1 << _CAPTURE_SHIFT) - 1

Json = dict[str, Any]


def endpoint_text(endpoint: tuple[str, int]) -> str:
    """``ip:port``; an IPv6 address in brackets (RFC 3986 §3.2.2 style)."""
    address, port = endpoint
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def _hex(data: bytes | None) -> str | None:
    return None if data is None else data.hex()


def finding_to_json(finding: Finding) -> Json:
    """``{id, severity, message, packet}``."""
    return {
        "id": finding.id,
        "severity": finding.severity.value,
        "message": finding.message,
        "packet": finding.packet,
    }


def eno_to_json(eno: EnoResult) -> Json:
    return {
        "dialect": eno.dialect,
        "status": eno.status,
        "reason": eno.reason,
        "host_a": endpoint_text(eno.host_a),
        "host_b": endpoint_text(eno.host_b),
        "syn_a": _hex(eno.syn_a),
        "syn_b": _hex(eno.syn_b),
        "transcript": _hex(eno.transcript),
        "global_a": eno.global_a,
        "global_b": eno.global_b,
        "negotiated_tep": eno.negotiated_tep,
        "negotiated_tep_byte": eno.negotiated_tep_byte,
        "tep_name": eno.tep_name,
        "simultaneous_open": eno.simultaneous_open,
    }


def tcpcrypt_to_json(tc: TcpcryptResult) -> Json:
    """The ``tcpcrypt`` object; ``plaintext_*`` only when the result kept the payload."""
    out: Json = {
        "aead": tc.aead,
        "resumed": tc.resumed,
        "init1": tc.init1,
        "init2": tc.init2,
        "session_id": _hex(tc.session_id),
        "frames_a_to_b": tc.frames_a_to_b,
        "frames_b_to_a": tc.frames_b_to_a,
        "rekeys": tc.rekeys,
        "fin_authenticated": tc.fin_authenticated,
        "decrypted": tc.decrypted,
        "decrypt_failures": tc.decrypt_failures,
        "offset_reading": tc.offset_reading,
        "frames_decrypted": tc.frames_decrypted,
        "urgent_frames": tc.urgent_frames,
    }
    if tc.plaintext_a_to_b is not None or tc.plaintext_b_to_a is not None:
        out["plaintext_a_to_b"] = (tc.plaintext_a_to_b or b"").hex()
        out["plaintext_b_to_a"] = (tc.plaintext_b_to_a or b"").hex()
    return out


def flow_to_json(
    flow: FlowResult, *, capture: int = 0, extra_findings: Sequence[Finding] = ()
) -> Json:
    """One ``flows`` entry; ``extra_findings`` (cross-connection ones) follow its own."""
    return {
        "id": flow.id,
        "capture": capture,
        "client": endpoint_text(flow.client),
        "server": endpoint_text(flow.server),
        "first_ts": float(flow.first_ts),
        "last_ts": float(flow.last_ts),
        "packets": flow.packets,
        "bytes_client_to_server": flow.bytes_client_to_server,
        "bytes_server_to_client": flow.bytes_server_to_client,
        "eno": eno_to_json(flow.eno) if flow.eno is not None else None,
        "tcpcrypt": tcpcrypt_to_json(flow.tcpcrypt) if flow.tcpcrypt is not None else None,
        "findings": [finding_to_json(f) for f in (*flow.findings, *extra_findings)],
    }


def capture_json(index: int, result: AnalysisResult, flows: int | None = None) -> Json:
    """One ``captures`` entry of the document. ``flows`` is the number of connections when
    they were counted as they streamed past (``result.flows`` then holds none)."""
    info = result.capture
    stats = info.stats
    return {
        "index": index,
        "name": info.name,
        "format": info.format,
        "size": info.size,
        "packets": stats.packets,
        "tcp_packets": stats.tcp,
        "non_tcp": stats.non_tcp,
        "fragments": stats.fragments,
        "malformed": stats.malformed,
        "headers_truncated": stats.headers_truncated,
        "flows": len(result.flows) if flows is None else flows,
        "error": info.error,
        "error_offset": info.error_offset,
    }


def _cross(captures: Sequence[tuple[int, AnalysisResult]]) -> list[CrossFinding]:
    summaries: list[FlowSummary] = []
    for index, result in captures:
        # Copied only when the analysis numbered its capture otherwise (a copy of every
        # summary would be as large as what the analysis kept of the connections).
        summaries += [
            s if s.capture == index else replace(s, capture=index) for s in result.summaries
        ]
    return cross_connection_findings(summaries)


def _by_subject(cross: Sequence[CrossFinding]) -> dict[tuple[int, int], list[Finding]]:
    by_subject: dict[tuple[int, int], list[Finding]] = {}
    for item in cross:
        by_subject.setdefault(item.subject, []).append(item.finding)
    return by_subject


class _Tally:
    """The ``stats`` counters, flow by flow and finding by finding."""

    def __init__(self) -> None:
        self.flows = 0
        self.severities = {s.value: 0 for s in Severity}
        self.totals = {
            "encrypted": 0,
            "fallback": 0,
            "incomplete": 0,
            "eno_flows": 0,
            "tcpcrypt_flows": 0,
            "decrypted": 0,
            "resumed": 0,
        }

    def flow(self, flow: FlowResult) -> None:
        """A flow and its own findings (cross-connection ones are counted apart)."""
        self.flows += 1
        for finding in flow.findings:
            self.severities[finding.severity.value] += 1
        totals = self.totals
        if flow.eno is not None:
            totals["eno_flows"] += 1
            totals[flow.eno.status] += 1
        if flow.tcpcrypt is not None:
            totals["tcpcrypt_flows"] += 1
            totals["decrypted"] += flow.tcpcrypt.decrypted
            totals["resumed"] += flow.tcpcrypt.resumed


def _document(
    captures: Sequence[tuple[int, AnalysisResult, int | None]],
    flows: list[Json] | LazyArray,
    cross: Sequence[CrossFinding],
    tally: _Tally,
) -> Json:
    """The document around ``flows`` (already counted in ``tally``): ``captures`` are
    (index, result, flows counted or None for ``len(result.flows)``), by index."""
    findings: list[Json] = []
    severities = tally.severities
    for index, result, _counted in captures:
        for finding in result.findings:
            findings.append({**finding_to_json(finding), "capture": index, "flow": None})
            severities[finding.severity.value] += 1
    for item in cross:
        entry = finding_to_json(item.finding)
        entry.update(
            capture=item.subject[0],
            flow=item.subject[1],
            related=[list(ref) for ref in item.related],
        )
        findings.append(entry)
        severities[item.finding.severity.value] += 1
    stats: Json = {
        "captures": len(captures),
        "packets": sum(r.capture.stats.packets for _i, r, _c in captures),
        "tcp_packets": sum(r.capture.stats.tcp for _i, r, _c in captures),
        "flows": tally.flows,
        **tally.totals,
        "findings": severities,
    }
    return {
        "version": JSON_VERSION,
        "captures": [capture_json(i, r, counted) for i, r, counted in captures],
        "flows": flows,
        "findings": findings,
        "stats": stats,
    }


def to_json_document(results: Sequence[AnalysisResult]) -> Json:
    """The whole document for the analyses of one or more captures (see the module doc),
    with their flows. Cross-connection findings are computed over all of them together."""
    captures = list(enumerate(results))
    cross = _cross(captures)
    by_subject = _by_subject(cross)
    tally = _Tally()
    flows: list[Json] = []
    for index, result in captures:
        for flow in result.flows:
            extra = by_subject.get((index, flow.id), [])
            flows.append(flow_to_json(flow, capture=index, extra_findings=extra))
            tally.flow(flow)
    return _document([(i, r, None) for i, r in captures], flows, cross, tally)


class JsonReport:
    """The ``--json`` document of connections handed out one at a time, in bounded memory.

    :meth:`flow` takes each connection as its analysis hands it out (``keep_flows`` off) and
    puts its entry (:func:`flow_to_json`, without the cross-connection findings: they are
    known only at the end) in a temporary file, pickled; :meth:`capture` takes each
    capture's result. :meth:`document` is the document with its ``flows`` a
    :class:`~.jsontext.LazyArray` that reads the entries back one at a time, by capture then
    id, while :func:`~.jsontext.write_json` writes it (``json`` cannot write it). Memory
    keeps each flow's place in the file, not the flow: ``tcpinc analyze --json`` then holds
    what the summary holds. The text is ``write_json(to_json_document(results))``'s for the
    same analyses with their flows kept.

    :meth:`close` removes the file (``with contextlib.closing(JsonReport()) as report``).
    """

    def __init__(self, spool: BinaryIO | None = None) -> None:
        # The report owns its file: close() (or the with block's end) removes it.
        self._spool = spool if spool is not None else tempfile.TemporaryFile()  # noqa: SIM115
        # Per entry, in the order written: (capture << 32) | flow id, and where it starts in
        # the spool (one more: where the next would). Two machine integers a flow, not a
        # tuple of Python ones: this is what grows with the connections.
        self._keys = array("q")
        self._starts = array("q", [0])
        self._captures: list[tuple[int, AnalysisResult, int | None]] = []
        self._tally = _Tally()

    def close(self) -> None:
        self._spool.close()

    def flow(self, capture: int, flow: FlowResult) -> None:
        """One connection of capture ``capture``, as it is handed out."""
        data = pickle.dumps(flow_to_json(flow, capture=capture), pickle.HIGHEST_PROTOCOL)
        self._spool.write(data)
        self._keys.append((capture << _CAPTURE_SHIFT) | flow.id)
        self._starts.append(self._starts[-1] + len(data))
        self._tally.flow(flow)

    def capture(self, index: int, result: AnalysisResult, counted: int) -> None:
        """Capture ``index`` is done: ``counted`` flows of it came to :meth:`flow` (any
        flows its result still holds are taken too)."""
        for flow in result.flows:
            self.flow(index, flow)
        self._captures.append((index, result, counted + len(result.flows)))

    def document(self) -> Json:
        """The document, its flows to be read back while it is written (once)."""
        captures = sorted(self._captures, key=_first)
        cross = _cross([(i, r) for i, r, _c in captures])
        return _document(captures, LazyArray(self._entries(cross)), cross, self._tally)

    def _entries(self, cross: Sequence[CrossFinding]) -> Iterator[Json]:
        by_subject = _by_subject(cross)
        spool = self._spool
        spool.flush()
        keys, starts = self._keys, self._starts
        # by (capture, id), then in the order written
        for at in sorted(range(len(keys)), key=keys.__getitem__):
            spool.seek(starts[at])
            entry: Json = pickle.loads(spool.read(starts[at + 1] - starts[at]))
            key = keys[at]
            extra = by_subject.get((key >> _CAPTURE_SHIFT, key & _FLOW_ID_MASK))
            if extra:
                entry["findings"] += [finding_to_json(f) for f in extra]
            yield entry


def _first(item: tuple[int, AnalysisResult, int | None]) -> int:
    return item[0]
