"""Machine-readable outputs of ``tcpinc analyze`` beside the JSON document: JSON lines
(streamed) and a Parquet connections table; and the running totals both share.

``--jsonl`` writes one JSON object per line, each with a ``type``:

- ``flow``: one connection, as the document's ``flows`` entries
  (:func:`~tcpinc_tools.analysis.report.flow_to_json`), written and flushed as soon as the
  connection is finished: before the capture has been read to the end;
- ``capture``: one capture, after its last flow, as the document's ``captures`` entries;
- ``finding``: what belongs to no single flow, as the document's top-level ``findings``
  (key log lines, capture errors, and the cross-connection findings with ``flow`` and
  ``related``; these are known only at the end, so the ``flow`` lines do not repeat them);
- ``stats``: the totals, last, as the document's ``stats``.

``--parquet OUT`` writes one row per connection (:data:`PARQUET_COLUMNS`): the document's
flow fields flattened with ``eno_`` and ``tcpcrypt_`` prefixes, hex fields as strings,
plaintext as binary (null without ``--payload``), and the findings (cross-connection ones
included) as a list of structs.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Final

from ..analysis import AnalysisResult, CrossFinding, Finding, FlowResult, Severity
from ..analysis.report import JSON_VERSION, capture_json, finding_to_json, flow_to_json

__all__ = [
    "PARQUET_COLUMNS",
    "JsonLines",
    "ParquetTable",
    "Totals",
    "capture_json",
]

Json = dict[str, Any]


@dataclass(slots=True)
class Totals:
    """The document's ``stats``, counted as flows and findings come."""

    captures: int = 0
    packets: int = 0
    tcp_packets: int = 0
    flows: int = 0
    status: dict[str, int] = field(
        default_factory=lambda: {"encrypted": 0, "fallback": 0, "incomplete": 0}
    )
    eno_flows: int = 0
    tcpcrypt_flows: int = 0
    decrypted: int = 0
    resumed: int = 0
    severities: dict[str, int] = field(default_factory=lambda: {s.value: 0 for s in Severity})

    def flow(self, flow: FlowResult) -> None:
        self.flows += 1
        if flow.eno is not None:
            self.eno_flows += 1
            self.status[flow.eno.status] += 1
        if flow.tcpcrypt is not None:
            self.tcpcrypt_flows += 1
            self.decrypted += flow.tcpcrypt.decrypted
            self.resumed += flow.tcpcrypt.resumed
        self.findings(flow.findings)

    def findings(self, findings: Iterable[Finding]) -> None:
        for finding in findings:
            self.severities[finding.severity.value] += 1

    def capture(self, result: AnalysisResult) -> None:
        self.captures += 1
        self.packets += result.capture.stats.packets
        self.tcp_packets += result.capture.stats.tcp
        self.findings(result.findings)

    @property
    def plain(self) -> int:
        """Connections with no TCP-ENO at all."""
        return self.flows - self.eno_flows

    def to_json(self) -> Json:
        return {
            "captures": self.captures,
            "packets": self.packets,
            "tcp_packets": self.tcp_packets,
            "flows": self.flows,
            **self.status,
            "eno_flows": self.eno_flows,
            "tcpcrypt_flows": self.tcpcrypt_flows,
            "decrypted": self.decrypted,
            "resumed": self.resumed,
            "findings": dict(self.severities),
        }


def _cross_json(item: CrossFinding) -> Json:
    return {
        **finding_to_json(item.finding),
        "capture": item.subject[0],
        "flow": item.subject[1],
        "related": [list(ref) for ref in item.related],
    }


class JsonLines:
    """``--jsonl`` (see the module doc): every line flushed as it is written."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.totals = Totals()

    def _line(self, kind: str, body: Json) -> None:
        self.out.write(json.dumps({"type": kind, **body}, separators=(",", ":")) + "\n")
        self.out.flush()

    def flow(self, capture: int, flow: FlowResult) -> None:
        self.totals.flow(flow)
        self._line("flow", flow_to_json(flow, capture=capture))

    def capture(self, index: int, result: AnalysisResult, flows: int) -> None:
        self.totals.capture(result)
        self._line("capture", capture_json(index, result, flows))
        for finding in result.findings:
            self._line("finding", {**finding_to_json(finding), "capture": index, "flow": None})

    def finish(self, cross: Sequence[CrossFinding]) -> None:
        for item in cross:
            self.totals.findings((item.finding,))
            self._line("finding", _cross_json(item))
        self._line("stats", {"version": JSON_VERSION, **self.totals.to_json()})


# Column name -> Arrow type name (see ParquetTable.schema); the order of the file.
PARQUET_COLUMNS: Final = (
    ("capture", "int32"),
    ("capture_name", "string"),
    ("id", "int64"),
    ("client", "string"),
    ("server", "string"),
    ("first_ts", "float64"),
    ("last_ts", "float64"),
    ("packets", "int64"),
    ("bytes_client_to_server", "int64"),
    ("bytes_server_to_client", "int64"),
    ("eno_dialect", "string"),
    ("eno_status", "string"),
    ("eno_reason", "string"),
    ("eno_host_a", "string"),
    ("eno_host_b", "string"),
    ("eno_syn_a", "string"),
    ("eno_syn_b", "string"),
    ("eno_transcript", "string"),
    ("eno_global_a", "int16"),
    ("eno_global_b", "int16"),
    ("eno_negotiated_tep", "int16"),
    ("eno_negotiated_tep_byte", "int16"),
    ("eno_tep_name", "string"),
    ("eno_simultaneous_open", "bool"),
    ("tcpcrypt_aead", "string"),
    ("tcpcrypt_resumed", "bool"),
    ("tcpcrypt_init1", "bool"),
    ("tcpcrypt_init2", "bool"),
    ("tcpcrypt_session_id", "string"),
    ("tcpcrypt_frames_a_to_b", "int64"),
    ("tcpcrypt_frames_b_to_a", "int64"),
    ("tcpcrypt_rekeys", "int64"),
    ("tcpcrypt_fin_authenticated", "bool"),
    ("tcpcrypt_decrypted", "bool"),
    ("tcpcrypt_decrypt_failures", "int64"),
    ("tcpcrypt_offset_reading", "string"),
    ("tcpcrypt_frames_decrypted", "int64"),
    ("tcpcrypt_urgent_frames", "int64"),
    ("tcpcrypt_plaintext_a_to_b", "binary"),
    ("tcpcrypt_plaintext_b_to_a", "binary"),
    ("findings_count", "int32"),
    ("max_severity", "string"),
    ("findings", "findings"),
)
_FLOW_KEYS: Final = (
    "capture",
    "id",
    "client",
    "server",
    "first_ts",
    "last_ts",
    "packets",
    "bytes_client_to_server",
    "bytes_server_to_client",
)
_ENO_KEYS: Final = tuple(n.removeprefix("eno_") for n, _ in PARQUET_COLUMNS if n[:4] == "eno_")
_TC_KEYS: Final = tuple(
    n.removeprefix("tcpcrypt_")
    for n, _ in PARQUET_COLUMNS
    if n.startswith("tcpcrypt_") and not n.startswith("tcpcrypt_plaintext")
)


class ParquetTable:
    """``--parquet OUT``: the connections table, one row per flow, written at the end (the
    cross-connection findings of a row are known only then)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name, _ in PARQUET_COLUMNS}
        self._where: dict[tuple[int, int], int] = {}
        self.totals = Totals()

    def flow(self, capture: int, name: str, flow: FlowResult) -> None:
        self.totals.flow(flow)
        doc = flow_to_json(flow, capture=capture)
        row: Json = {key: doc[key] for key in _FLOW_KEYS}
        row["capture_name"] = name
        eno = doc["eno"] or {}
        tc = doc["tcpcrypt"] or {}
        for key in _ENO_KEYS:
            row["eno_" + key] = eno.get(key)
        for key in _TC_KEYS:
            row["tcpcrypt_" + key] = tc.get(key)
        row["tcpcrypt_plaintext_a_to_b"] = (
            flow.tcpcrypt.plaintext_a_to_b if flow.tcpcrypt is not None else None
        )
        row["tcpcrypt_plaintext_b_to_a"] = (
            flow.tcpcrypt.plaintext_b_to_a if flow.tcpcrypt is not None else None
        )
        row["findings"] = [_finding_struct(f) for f in flow.findings]
        self._where[(capture, flow.id)] = len(self.columns["id"])
        for column, values in self.columns.items():
            values.append(row.get(column))
        self._summarize(len(self.columns["id"]) - 1)

    def _summarize(self, index: int) -> None:
        findings = self.columns["findings"][index]
        self.columns["findings_count"][index] = len(findings)
        worst = max((Severity(f["severity"]) for f in findings), key=lambda s: s.rank, default=None)
        self.columns["max_severity"][index] = worst.value if worst is not None else None

    def cross(self, items: Sequence[CrossFinding]) -> None:
        """Add each cross-connection finding to the row of the flow it is reported on."""
        for item in items:
            index = self._where.get(item.subject)
            if index is not None:
                self.columns["findings"][index].append(_finding_struct(item.finding))
                self._summarize(index)

    def to_arrow(self) -> Any:
        """The table as a ``pyarrow.Table`` (the columns of :data:`PARQUET_COLUMNS`)."""
        import pyarrow as pa

        finding = pa.struct(
            [
                ("id", pa.string()),
                ("severity", pa.string()),
                ("message", pa.string()),
                ("packet", pa.int64()),
            ]
        )
        types = {
            "int16": pa.int16(),
            "int32": pa.int32(),
            "int64": pa.int64(),
            "float64": pa.float64(),
            "string": pa.string(),
            "bool": pa.bool_(),
            "binary": pa.large_binary(),
            "findings": pa.list_(finding),
        }
        schema = pa.schema([(name, types[kind]) for name, kind in PARQUET_COLUMNS])
        return pa.table(self.columns, schema=schema)

    def write(self, path: str) -> int:
        """Write the table; the number of rows."""
        import pyarrow.parquet as pq

        table = self.to_arrow()
        pq.write_table(table, path)
        return int(table.num_rows)


def _finding_struct(finding: Finding) -> Json:
    return finding_to_json(finding)
