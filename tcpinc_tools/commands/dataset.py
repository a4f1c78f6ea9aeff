"""``tcpinc analyze --parquet OUT/``: a Parquet dataset partitioned by capture, for DuckDB,
polars, pyarrow or Spark to read as they are.

Three tables, each a folder of Hive-style partitions, one per capture::

    OUT/connections/capture=<key>/part-0.parquet    one row per connection
    OUT/findings/capture=<key>/part-0.parquet       one row per finding
    OUT/captures/capture=<key>/part-0.parquet       one row: the capture's counters

``<key>`` is the capture's name as given on the command line with every character other
than letters, digits, ``.``, ``_`` and ``-`` replaced by ``_`` (:func:`partition_key`;
``-2``, ``-3``, ... added when two captures of one run would share a key). A run replaces
the partitions of the captures it analyzed and leaves the others: analyze each day's
captures into the same OUT/ and the dataset grows; analyze one again and its rows are
replaced. The files do not hold the ``capture`` column: readers take it from the folder
names (DuckDB ``hive_partitioning``, polars ``hive_partitioning=True``).

Columns:

- ``connections``: those of the single-file table (:data:`~.export.PARQUET_COLUMNS`, without
  the run-relative ``capture`` index), then ``link`` and ``day``;
- ``findings``: ``capture_name``, ``link``, ``flow`` (null for what belongs to no
  connection), ``day``, ``scope`` (``flow``: the connection's own; ``cross``: about several
  connections, with ``related``; ``capture``: key log lines and read errors), ``id``,
  ``severity``, ``message``, ``packet``, ``related`` (a list of ``{capture_name, flow}``);
- ``captures``: the document's ``captures`` entries without ``index``, and ``link``.

``link`` is the name of the folder the capture is in (store captures as ``LINK/…pcap``;
empty for standard input), ``day`` the UTC date of the connection's first packet. Findings
about several captures (a resumption id replayed on another link) are computed over the
captures of one run.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ..analysis import AnalysisResult, CrossFinding, Finding, FlowResult
from ..analysis.report import finding_to_json
from .export import ParquetTable, capture_json

__all__ = [
    "PART_FILE",
    "TABLES",
    "DatasetWritten",
    "ParquetDataset",
    "is_dataset_target",
    "link_of",
    "partition_key",
]

TABLES: Final = ("connections", "findings", "captures")
PART_FILE: Final = "part-0.parquet"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9._-]")
_NO_FLOW: Final = 0  # flow ids start at 1: the findings of no connection sort first


def is_dataset_target(out: str) -> bool:
    """``--parquet OUT`` means a dataset when OUT is a folder or ends with a separator."""
    return out.endswith(("/", os.sep)) or os.path.isdir(out)


def partition_key(name: str) -> str:
    """The partition folder value of a capture named ``name`` (see the module doc)."""
    name = name.removeprefix("./")
    return _UNSAFE.sub("_", name) or "_"


def link_of(name: str) -> str:
    """The folder a capture is in (its link, by the dataset's convention); "" for stdin."""
    if name == "-":
        return ""
    return os.path.basename(os.path.dirname(os.path.abspath(name)))


def _day(ts: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(ts, tz=datetime.UTC).date()


@dataclass(frozen=True, slots=True)
class DatasetWritten:
    """Rows written per table."""

    connections: int
    findings: int
    captures: int


class ParquetDataset:
    """Collects a run (connections as they come, captures as they end, the cross-capture
    findings last) and writes the dataset (see the module doc)."""

    def __init__(self, root: str, names: Sequence[str]) -> None:
        self.root = root
        self.names = list(names)
        self.keys = _unique_keys(self.names)
        self.links = [link_of(name) for name in self.names]
        self.table = ParquetTable()
        self._days: list[datetime.date] = []
        self._flow_days: dict[tuple[int, int], datetime.date] = {}
        self._findings: list[dict[int, list[dict[str, Any]]]] = [{} for _ in self.names]
        self._captures: dict[int, dict[str, Any]] = {}

    # -- collecting ------------------------------------------------------------------------

    def flow(self, capture: int, flow: FlowResult) -> None:
        self.table.flow(capture, self.names[capture], flow)
        day = _day(flow.first_ts)
        self._days.append(day)
        self._flow_days[(capture, flow.id)] = day
        rows = self._findings[capture].setdefault(flow.id, [])
        rows += [self._finding_row(capture, flow.id, "flow", f) for f in flow.findings]

    def capture(self, index: int, result: AnalysisResult, flows: int) -> None:
        """A capture read to its end (its connections already given)."""
        row = capture_json(index, result, flows)
        del row["index"]
        row["capture_name"] = row.pop("name")
        row["link"] = self.links[index]
        self._captures[index] = row
        rows = self._findings[index].setdefault(_NO_FLOW, [])
        rows += [self._finding_row(index, None, "capture", f) for f in result.findings]

    def cross(self, items: Sequence[CrossFinding]) -> None:
        """The findings about several connections (each on the row of its subject)."""
        self.table.cross(items)
        for item in items:
            capture, flow = item.subject
            row = self._finding_row(capture, flow, "cross", item.finding)
            row["related"] = [
                {"capture_name": self.names[c], "flow": f}
                for c, f in item.related
                if 0 <= c < len(self.names)
            ]
            self._findings[capture].setdefault(flow, []).append(row)

    def _finding_row(
        self, capture: int, flow: int | None, scope: str, finding: Finding
    ) -> dict[str, Any]:
        return {
            "capture_name": self.names[capture],
            "link": self.links[capture],
            "flow": flow,
            "day": self._flow_days.get((capture, flow)) if flow is not None else None,
            "scope": scope,
            **finding_to_json(finding),
            "related": [],
        }

    # -- writing ---------------------------------------------------------------------------

    def write(self) -> DatasetWritten:
        """Write every partition of this run's captures (replacing them); rows per table."""
        import pyarrow as pa
        import pyarrow.compute as pc

        connections = self.table.to_arrow()
        connections = connections.append_column("link", pa.array(self._links_of_rows()))
        connections = connections.append_column("day", pa.array(self._days, type=pa.date32()))
        counts = [0, 0, 0]
        for index, key in enumerate(self.keys):
            if index not in self._captures:
                continue
            mine = connections.filter(pc.equal(connections["capture"], index))
            mine = mine.drop_columns(["capture"])
            by_flow = self._findings[index]
            findings = [row for flow in sorted(by_flow) for row in by_flow[flow]]
            tables = (
                mine,
                pa.Table.from_pylist(findings, schema=_findings_schema(pa)),
                pa.Table.from_pylist([self._captures[index]], schema=_captures_schema(pa)),
            )
            for position, (name, table) in enumerate(zip(TABLES, tables, strict=True)):
                self._write_partition(name, key, table)
                counts[position] += int(table.num_rows)
        return DatasetWritten(*counts)

    def _links_of_rows(self) -> list[str]:
        captures = self.table.columns["capture"]
        return [self.links[c] for c in captures]

    def _write_partition(self, table_name: str, key: str, table: Any) -> None:
        import pyarrow.parquet as pq

        folder = os.path.join(self.root, table_name, f"capture={key}")
        if os.path.isdir(folder):
            shutil.rmtree(folder)
        os.makedirs(folder)
        part = os.path.join(folder, PART_FILE)
        pq.write_table(table, part + ".tmp")
        os.replace(part + ".tmp", part)


def _unique_keys(names: Sequence[str]) -> list[str]:
    keys: list[str] = []
    seen: set[str] = set()
    for name in names:
        key = base = partition_key(name)
        copy = 1
        while key in seen:
            copy += 1
            key = f"{base}-{copy}"
        seen.add(key)
        keys.append(key)
    return keys


def _findings_schema(pa: Any) -> Any:
    related = pa.struct([("capture_name", pa.string()), ("flow", pa.int64())])
    return pa.schema(
        [
            ("capture_name", pa.string()),
            ("link", pa.string()),
            ("flow", pa.int64()),
            ("day", pa.date32()),
            ("scope", pa.string()),
            ("id", pa.string()),
            ("severity", pa.string()),
            ("message", pa.string()),
            ("packet", pa.int64()),
            ("related", pa.list_(related)),
        ]
    )


def _captures_schema(pa: Any) -> Any:
    return pa.schema(
        [
            ("capture_name", pa.string()),
            ("link", pa.string()),
            ("format", pa.string()),
            ("size", pa.int64()),
            ("packets", pa.int64()),
            ("tcp_packets", pa.int64()),
            ("non_tcp", pa.int64()),
            ("fragments", pa.int64()),
            ("malformed", pa.int64()),
            ("headers_truncated", pa.int64()),
            ("flows", pa.int64()),
            ("error", pa.string()),
            ("error_offset", pa.int64()),
        ]
    )
