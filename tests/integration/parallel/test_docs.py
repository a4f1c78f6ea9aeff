"""docs/parallel.md is real: its console blocks print what the page shows, and its three
operator queries, in DuckDB SQL and in polars, return the tables printed under them on the
example dataset the page makes.

After a deliberate change, rewrite the page with ``python -m tests.integration.parallel.test_docs``
and review the diff.
"""

from __future__ import annotations

import datetime
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.docs.test_cli_examples import ROOT, _rstrip_lines, run_block

PAGE = ROOT / "docs" / "parallel.md"
CONSOLE = re.compile(r"```console\n(.*?)```\n", re.S)
# A query and the table right under it.
QUERY = re.compile(r"```sql\n(.*?)```\n\n((?:\|[^\n]*\n)+)", re.S)
PYTHON = re.compile(r"```python\n(.*?)```\n", re.S)
# The polars blocks' results, in the order of the tables.
RESULTS = ("share", "reasons", "top")
DATASET_COMMAND = "--parquet /tmp/ds/"


def console_blocks() -> list[str]:
    return CONSOLE.findall(PAGE.read_text())


def cell(value: object) -> str:
    if isinstance(value, datetime.date):
        return value.isoformat()
    return str(value)


def markdown(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def make_dataset(tmp: Path) -> None:
    """Run the page's console block that writes /tmp/ds/ (into ``tmp``)."""
    (block,) = [b for b in console_blocks() if DATASET_COMMAND in b]
    assert run_block(block, tmp) == _rstrip_lines(block)


def duckdb_tables(tmp: Path) -> list[str]:
    duckdb = pytest.importorskip("duckdb", reason="duckdb is not installed")
    out = []
    for sql, _table in QUERY.findall(PAGE.read_text()):
        result = duckdb.sql(sql.replace("/tmp/", f"{tmp}/"))
        out.append(markdown(list(result.columns), result.fetchall()))
    return out


def polars_tables(tmp: Path) -> list[str]:
    pytest.importorskip("polars", reason="polars is not installed")
    namespace: dict[str, Any] = {}
    for code in PYTHON.findall(PAGE.read_text()):
        exec(code.replace("/tmp/", f"{tmp}/"), namespace)  # the page's own code
    return [markdown(namespace[name].columns, namespace[name].rows()) for name in RESULTS]


CASES = [b for b in console_blocks() if DATASET_COMMAND not in b]


@pytest.mark.parametrize("block", CASES, ids=[f"console-{i}" for i in range(len(CASES))])
def test_console_block(block: str, tmp_path: Path) -> None:
    if "--dask" in block:
        pytest.importorskip("distributed", reason="the cluster extra (distributed) is missing")
    assert run_block(block, tmp_path) == _rstrip_lines(block)


def test_queries_return_the_tables_of_the_page(tmp_path: Path) -> None:
    make_dataset(tmp_path)
    printed = [table for _sql, table in QUERY.findall(PAGE.read_text())]
    assert len(printed) == len(RESULTS) == 3
    assert all(table.count("\n") > 3 for table in printed)  # header, rule, rows
    assert duckdb_tables(tmp_path) == printed
    assert polars_tables(tmp_path) == printed


def main() -> None:
    """Rewrite the page's console blocks and query tables with what they give now."""
    text = PAGE.read_text()

    def again(match: re.Match[str]) -> str:
        with tempfile.TemporaryDirectory() as tmp:  # each block in a fresh one, as tested
            return "```console\n" + run_block(match.group(1), Path(tmp)) + "```\n"

    text = CONSOLE.sub(again, text)
    PAGE.write_text(text)
    with tempfile.TemporaryDirectory() as tmp:
        make_dataset(Path(tmp))
        tables = iter(duckdb_tables(Path(tmp)))

        def table(match: re.Match[str]) -> str:
            return f"```sql\n{match.group(1)}```\n\n{next(tables)}"

        PAGE.write_text(QUERY.sub(table, text))


if __name__ == "__main__":
    main()
