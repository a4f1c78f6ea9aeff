"""The monitor's widgets, one per module, each with its DEFAULT_CSS."""

from __future__ import annotations

from .connections_table import ConnectionsTable
from .detail_pane import DetailPane
from .filter_bar import FilterBar
from .help_screen import HelpScreen
from .table_header import TableHeader
from .totals_header import TotalsHeader

__all__ = [
    "ConnectionsTable",
    "DetailPane",
    "FilterBar",
    "HelpScreen",
    "TableHeader",
    "TotalsHeader",
]
