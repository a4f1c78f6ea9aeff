"""The summary's tables without rich's per-cell layout, when every cell fits on one line.

The summary lists up to 1,000 connections; rich's :class:`~rich.table.Table` lays out each
of their 10,000 cells on its own (measure, wrap, pad, crop), which took 0.4 s: more than
the analysis of a small capture. :func:`summary_table` gives that table as
``Table(box=SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)`` draws
it, and when it can, as a :class:`PlainTable`, which yields the same segments (the same
characters, styles and breaks, so the same bytes on a terminal and in a file) without the
per-cell work (the bench's summary: 0.38 s of rendering became 0.07 s): when the table is no
wider than the console and every cell is one line of single-width printable characters
without spaces at its ends. Anything else (a narrow terminal,
where rich wraps the wrapping columns; a wide character) goes to rich's table.

The layout it reproduces: each column as wide as its widest cell or header; cells
justified in it (a right-justified cell loses its trailing spaces first); between two
columns the left one's padding (one space, in the row's style: bold on the header row)
and the box's vertical (one unstyled space); no padding at the edges; under the header a
rule of ``─`` across the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, JustifyMethod, RenderableType, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Text

__all__ = ["Column", "PlainTable", "rich_table", "summary_table"]

# (header, justify, wraps): a column of the table. Wrapping columns may wrap their words on
# a narrow console (rich's table only); the others never wrap.
Column = tuple[str, JustifyMethod, bool]

_RULE: Final = "─"  # box.SIMPLE_HEAD's horizontal line under the header
_GAP: Final = " "  # the left column's padding, then the box's vertical: one space each
_HEADER_STYLE: Final = "table.header"
_MARKUP: Final = frozenset("[]:")  # what rich's markup and emoji codes start with


def summary_table(
    columns: Sequence[Column], rows: Sequence[Sequence[Text]], width: int
) -> RenderableType:
    """The table of ``rows`` (one Text per column) for a console ``width`` cells wide: a
    :class:`PlainTable` when it applies, else :func:`rich_table`."""
    plain = PlainTable(columns, rows)
    return plain if plain.fits(width) else rich_table(columns, rows)


def rich_table(columns: Sequence[Column], rows: Sequence[Sequence[Text]]) -> Table:
    """The table drawn by rich: on a narrow console, the wrapping columns wrap their words;
    numbers, addresses and identifiers do not."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for (name, justify, wraps), widest in zip(columns, _widths(columns, rows), strict=True):
        table.add_column(
            name,
            justify=justify,
            no_wrap=not wraps,
            overflow="fold",
            min_width=None if wraps else widest,
        )
    for row in rows:
        table.add_row(*row)
    return table


class PlainTable:
    """The segments rich's table yields for ``rows`` when no cell needs its layout."""

    def __init__(self, columns: Sequence[Column], rows: Sequence[Sequence[Text]]) -> None:
        self.columns = tuple(columns)
        self.rows = rows
        self.widths = _widths(columns, rows)

    @property
    def width(self) -> int:
        """Cells across: the columns, and two spaces between each two."""
        return sum(self.widths) + 2 * len(_GAP) * (len(self.widths) - 1)

    def fits(self, width: int) -> bool:
        """Whether this draws what rich would on a console ``width`` cells wide."""
        if self.width > width:
            return False
        # rich reads a header string as console markup with emoji codes ("[b]", ":smile:")
        names = [name for name, _justify, _wraps in self.columns]
        plain_names = all(_one_line(name) and not _MARKUP & set(name) for name in names)
        return plain_names and all(_one_line(cell.plain) for row in self.rows for cell in row)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        header_style = console.get_style(_HEADER_STYLE)
        last = len(self.columns) - 1
        for index, (name, justify, _wraps) in enumerate(self.columns):
            header = Text(name)
            _justify_text(header, justify, self.widths[index])
            yield Segment(header.plain, header_style)
            if index < last:
                yield Segment(_GAP, header_style)
                yield Segment(_GAP)
        yield Segment.line()
        yield Segment(_RULE * self.width)
        yield Segment.line()
        for row in self.rows:
            line = Text()
            for index, cell in enumerate(row):
                text = cell.copy()
                _justify_text(text, self.columns[index][1], self.widths[index])
                line.append_text(text)
                if index < last:
                    line.append(_GAP + _GAP)
            yield from line.render(console)
            yield Segment.line()


def _widths(columns: Sequence[Column], rows: Sequence[Sequence[Text]]) -> list[int]:
    """Each column's width: its widest cell or header."""
    return [
        max(cell_len(name), *(row[index].cell_len for row in rows))
        for index, (name, _justify, _wraps) in enumerate(columns)
    ]


def _one_line(plain: str) -> bool:
    """One line of printable single-width characters, no spaces at either end (rich would
    strip them from a right-justified cell, and wrap at them)."""
    return plain.isprintable() and cell_len(plain) == len(plain) and plain == plain.strip()


def _justify_text(text: Text, justify: JustifyMethod, width: int) -> None:
    """Pad ``text`` to ``width`` in place, as rich justifies one line of a cell (the
    padding takes the text's own style)."""
    excess = width - text.cell_len
    if excess <= 0:
        return
    if justify == "right":
        text.pad_left(excess)
    elif justify == "center":
        text.pad_left(excess // 2)
        text.pad_right(excess - excess // 2)
    else:
        text.pad_right(excess)
