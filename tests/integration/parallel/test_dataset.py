"""``tcpinc analyze --parquet OUT/``: a dataset partitioned by capture (connections,
findings, captures) that pyarrow, DuckDB and polars read as it is; the same files from
``--jobs 1`` and ``--jobs 2``; a run replaces the partitions of its captures only."""

from __future__ import annotations

import contextlib
import datetime
import io
import json
from pathlib import Path
from typing import Any

import pyarrow.dataset as pads
import pytest

from tcpinc_tools.cli import main
from tcpinc_tools.commands.dataset import (
    PART_FILE,
    TABLES,
    is_dataset_target,
    link_of,
    partition_key,
)
from tcpinc_tools.commands.export import PARQUET_COLUMNS
from tests.integration.parallel.conftest import Links
from tests.unit.commands.clirun import tcpinc


def write(capsys: pytest.CaptureFixture[str], out: Path, *args: str | Path) -> str:
    run = tcpinc(capsys, "analyze", *args, "--parquet", f"{out}/")
    assert run.status in (0, 2), run.err
    return run.out


def table(out: Path, name: str) -> Any:
    return pads.dataset(out / name, format="parquet", partitioning="hive").to_table()


def quiet(*argv: str | Path) -> tuple[int, str]:
    """``tcpinc ARGV`` in this process: exit status and stdout (stderr dropped)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        status = main([str(a) for a in argv])
    return status, out.getvalue()


@pytest.fixture(scope="module")
def written(links: Links, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The dataset of the links folder (``--jobs 2``) and the ``--json`` document."""
    out = tmp_path_factory.mktemp("dataset") / "out"
    args = ("analyze", links.root, "--keylog", links.keys)
    assert quiet(*args, "-j", "2", "--parquet", f"{out}/")[0] == 2  # two bad captures
    status, doc = quiet(*args, "--json")
    assert status == 2
    return out, json.loads(doc)


def test_layout_one_partition_per_capture(written: tuple[Path, dict[str, Any]]) -> None:
    out, doc = written
    keys = sorted(partition_key(c["name"]) for c in doc["captures"])
    for name in TABLES:
        folders = sorted(p.name for p in (out / name).iterdir())
        assert folders == [f"capture={key}" for key in keys]
        for folder in folders:
            assert sorted(p.name for p in (out / name / folder).iterdir()) == [PART_FILE]


def test_connections_read_back_with_pyarrow(written: tuple[Path, dict[str, Any]]) -> None:
    out, doc = written
    connections = table(out, "connections")
    expected = [n for n, _ in PARQUET_COLUMNS if n != "capture"] + ["link", "day", "capture"]
    assert connections.column_names == expected
    assert connections.num_rows == doc["stats"]["flows"]
    rows = {(r["capture_name"], r["id"]): r for r in connections.to_pylist()}
    names = {c["index"]: c["name"] for c in doc["captures"]}
    for flow in doc["flows"]:
        row = rows[(names[flow["capture"]], flow["id"])]
        assert row["client"] == flow["client"] and row["packets"] == flow["packets"]
        assert row["eno_status"] == (flow["eno"] or {}).get("status")
        assert row["findings_count"] == len(flow["findings"])
        assert row["link"] == Path(names[flow["capture"]]).parent.name
        day = datetime.datetime.fromtimestamp(flow["first_ts"], tz=datetime.UTC).date()
        assert row["day"] == day
        assert row["capture"] == partition_key(names[flow["capture"]])
    assert {r["day"] for r in rows.values()} == {
        datetime.date(2026, 1, 1),
        datetime.date(2026, 1, 2),
    }


def test_findings_and_captures_read_back(written: tuple[Path, dict[str, Any]]) -> None:
    out, doc = written
    findings = table(out, "findings").to_pylist()
    own = sum(len(f["findings"]) for f in doc["flows"])
    cross = [f for f in doc["findings"] if "related" in f]
    alone = [f for f in doc["findings"] if f["flow"] is None]
    by_scope = {s: sum(r["scope"] == s for r in findings) for s in ("flow", "cross", "capture")}
    assert by_scope == {"flow": own - len(cross), "cross": len(cross), "capture": len(alone)}
    names = {c["index"]: c["name"] for c in doc["captures"]}
    replay = next(r for r in findings if r["id"] == "tcpcrypt.resume.replay")
    source = next(f for f in cross if f["id"] == "tcpcrypt.resume.replay")
    assert replay["related"] == [
        {"capture_name": names[c], "flow": f} for c, f in source["related"]
    ]
    captures = {r["capture_name"]: r for r in table(out, "captures").to_pylist()}
    assert len(captures) == len(doc["captures"])
    for entry in doc["captures"]:
        row = captures[entry["name"]]
        assert (row["packets"], row["flows"], row["error"]) == (
            entry["packets"],
            entry["flows"],
            entry["error"],
        )


def test_jobs_1_writes_the_same_files(
    capsys: pytest.CaptureFixture[str], links: Links, tmp_path: Path, written: tuple[Path, Any]
) -> None:
    out, _ = written
    serial = tmp_path / "serial"
    write(capsys, serial, links.root, "--keylog", links.keys)
    files = sorted(p.relative_to(out) for p in out.rglob("*.parquet"))
    assert files == sorted(p.relative_to(serial) for p in serial.rglob("*.parquet"))
    for name in files:
        assert (serial / name).read_bytes() == (out / name).read_bytes(), name


def test_a_run_replaces_its_partitions_only(
    capsys: pytest.CaptureFixture[str], links: Links, tmp_path: Path
) -> None:
    out = tmp_path / "grows"
    first, second = (str(p) for p in links.good[:2])
    assert write(capsys, out, first, "--keylog", links.keys).endswith(f"-> {out}/\n")
    before = table(out, "connections").num_rows
    write(capsys, out, first, second, "--keylog", links.keys)
    both = table(out, "connections")
    write(capsys, out, second, "--keylog", links.keys)  # again: replaced, not added
    again = table(out, "connections")
    assert both.num_rows == again.num_rows > before
    assert sorted(set(again["capture"].to_pylist())) == sorted(
        partition_key(p) for p in (first, second)
    )


def test_partition_keys_and_targets(tmp_path: Path) -> None:
    assert partition_key("./link-a/2026-01-01.pcap") == "link-a_2026-01-01.pcap"
    assert partition_key("/data/caps/x y=1.pcapng") == "_data_caps_x_y_1.pcapng"
    assert link_of("/data/link-b/day.pcap") == "link-b" and link_of("-") == ""
    assert is_dataset_target(f"{tmp_path / 'new'}/") and is_dataset_target(str(tmp_path))
    assert not is_dataset_target(str(tmp_path / "table.parquet"))


def test_two_captures_with_one_key_get_two_partitions(
    capsys: pytest.CaptureFixture[str], links: Links, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    twin = tmp_path / "a_b.pcap"
    (tmp_path / "a" / "b.pcap").write_bytes(links.good[4].read_bytes())
    twin.write_bytes(links.good[4].read_bytes())
    out = tmp_path / "out"
    write(capsys, out, tmp_path / "a" / "b.pcap", twin)
    assert sorted(p.name for p in (out / "connections").iterdir()) == [
        f"capture={partition_key(str(tmp_path / 'a_b.pcap'))}",
        f"capture={partition_key(str(tmp_path / 'a_b.pcap'))}-2",
    ]


def test_single_file_parquet_is_unchanged(
    capsys: pytest.CaptureFixture[str], links: Links, tmp_path: Path
) -> None:
    path = tmp_path / "table.parquet"
    run = tcpinc(capsys, "analyze", *links.good[:2], "--parquet", path, "-j", "2")
    assert run.status == 0 and path.is_file()
    single = pads.dataset(path).to_table()
    assert single.column_names == [n for n, _ in PARQUET_COLUMNS]
    assert run.out == f"{single.num_rows} connections -> {path}\n"


def test_duckdb_reads_the_dataset(written: tuple[Path, dict[str, Any]]) -> None:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    out, doc = written
    rows = duckdb.sql(
        f"SELECT link, count(*), count(*) FILTER (eno_status = 'encrypted') "
        f"FROM read_parquet('{out}/connections/*/*.parquet', hive_partitioning = true) "
        f"GROUP BY link ORDER BY link"
    ).fetchall()
    names = {c["index"]: Path(c["name"]).parent.name for c in doc["captures"]}
    expected: dict[str, list[int]] = {}
    for flow in doc["flows"]:
        counts = expected.setdefault(names[flow["capture"]], [0, 0])
        counts[0] += 1
        counts[1] += (flow["eno"] or {}).get("status") == "encrypted"
    assert rows == [(link, *counts) for link, counts in sorted(expected.items())]


def test_polars_reads_the_dataset(written: tuple[Path, dict[str, Any]]) -> None:
    pl = pytest.importorskip("polars", reason="polars is not installed")
    out, doc = written
    findings = pl.scan_parquet(f"{out}/findings/**/*.parquet", hive_partitioning=True)
    counted = findings.group_by("id").agg(pl.len().alias("n")).collect()
    by_id = dict(zip(counted["id"].to_list(), counted["n"].to_list(), strict=True))
    expected: dict[str, int] = {}
    for flow in doc["flows"]:
        for finding in flow["findings"]:
            expected[finding["id"]] = expected.get(finding["id"], 0) + 1
    for finding in doc["findings"]:
        if finding["flow"] is None:
            expected[finding["id"]] = expected.get(finding["id"], 0) + 1
    assert by_id == expected
