"""PlainTable draws exactly what rich's table draws, whenever it says it applies."""

from __future__ import annotations

import io
from functools import partial
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console, JustifyMethod
from rich.table import Table
from rich.text import Text

from tcpinc_tools.analysis.streaming import analyze_streaming
from tcpinc_tools.commands.plaintable import Column, PlainTable, rich_table, summary_table
from tcpinc_tools.commands.render import CONNECTION_COLUMNS, Summary
from tcpinc_tools.keylog import KeyLog
from tests.support import property_settings

CAPTURES = Path(__file__).resolve().parents[3] / "captures"
STYLES = ("", "green", "yellow", "magenta", "dim", "bold red", "cyan")


def draw(renderable: object, width: int, color: bool) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        highlight=False,
        soft_wrap=False,
        force_terminal=color,
        color_system="truecolor" if color else None,
    )
    console.print(renderable)
    return out.getvalue()


words = st.text(alphabet="abcxyz019:.-()_…[]é→漢 ", min_size=1, max_size=12).map(str.strip)


@st.composite
def cells(draw_: st.DrawFn) -> Text:
    text = Text(draw_(words.filter(bool)), style=draw_(st.sampled_from(STYLES)))
    for _ in range(draw_(st.integers(0, 2))):
        text.append(" " + draw_(words.filter(bool)), style=draw_(st.sampled_from(STYLES)))
    return text


@st.composite
def tables(draw_: st.DrawFn) -> tuple[list[Column], list[list[Text]]]:
    n = draw_(st.integers(1, 6))
    justify: list[JustifyMethod] = ["left", "right", "center"]
    columns: list[Column] = [
        (draw_(words.filter(bool)), draw_(st.sampled_from(justify)), draw_(st.booleans()))
        for _ in range(n)
    ]
    rows = draw_(st.lists(st.lists(cells(), min_size=n, max_size=n), min_size=1, max_size=8))
    return columns, rows


@property_settings
@given(tables(), st.integers(10, 160), st.booleans())
def test_same_bytes_as_rich_when_it_fits(
    table: tuple[list[Column], list[list[Text]]], width: int, color: bool
) -> None:
    columns, rows = table
    plain = PlainTable(columns, rows)
    chosen = summary_table(columns, rows, width)
    expected = draw(rich_table(columns, rows), width, color)
    assert draw(chosen, width, color) == expected
    if plain.fits(width):
        assert chosen is not None and isinstance(chosen, PlainTable)
    else:
        assert isinstance(chosen, Table)


def test_a_table_wider_than_the_console_goes_to_rich() -> None:
    columns: list[Column] = [("name", "left", True), ("n", "right", False)]
    rows = [[Text("a long status (with a reason)"), Text("12")]]
    plain = PlainTable(columns, rows)
    assert plain.width == len("a long status (with a reason)") + 2 + 2
    assert plain.fits(plain.width)
    assert not plain.fits(plain.width - 1)
    narrow = summary_table(columns, rows, 20)
    assert isinstance(narrow, Table)
    assert "a long status" in draw(narrow, 20, False)  # rich wraps it


def test_cells_rich_would_change_go_to_rich() -> None:
    columns: list[Column] = [("name", "left", False)]
    for odd in ("two\nlines", "trailing ", " leading", "wide 漢字", "tab\there"):
        assert not PlainTable(columns, [[Text(odd)]]).fits(200), odd
    assert PlainTable(columns, [[Text("inner space")]]).fits(200)


def test_the_header_is_bold_and_the_rule_spans_the_table() -> None:
    columns: list[Column] = [("id", "right", False), ("client", "left", False)]
    rows = [[Text("7"), Text("192.0.2.1:80", style="green")]]
    colored = draw(PlainTable(columns, rows), 80, True)
    assert colored.startswith("\x1b[1mid\x1b[0m")
    plain = draw(PlainTable(columns, rows), 80, False)
    assert plain.splitlines() == ["id  client      ", "─" * 16, " 7  192.0.2.1:80"]


def test_the_summary_of_every_sample_capture_is_rich_s_table(tmp_path: Path) -> None:
    """The connections tables of the corpus, colored and plain, narrow and wide."""
    summary = Summary()
    for index, capture in enumerate(sorted(CAPTURES.glob("*.pcap"))):
        keys = capture.with_suffix(".keys")
        keylog = KeyLog.load(keys) if keys.exists() else None
        result = analyze_streaming(
            capture, keylog=keylog, capture=index, on_flow=partial(summary.flow, index)
        )
        summary.capture(result)
    rows = [summary.row_cells(row) for row in summary.rows]
    assert len(rows) > 50
    for width in (80, 200):
        for color in (False, True):
            assert draw(summary_table(CONNECTION_COLUMNS, rows, width), width, color) == draw(
                rich_table(CONNECTION_COLUMNS, rows), width, color
            )
    assert isinstance(summary_table(CONNECTION_COLUMNS, rows, 200), PlainTable)


def test_headers_rich_reads_as_markup_go_to_rich() -> None:
    rows = [[Text("1")]]
    for header in (":smile:", "[b]x[/b]", "a:b"):
        assert not PlainTable([(header, "left", False)], rows).fits(80), header
