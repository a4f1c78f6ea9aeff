"""FlowsUpdated messages fold into the next one when the app falls behind."""

from __future__ import annotations

from dataclasses import replace

from tcpinc_tools.tui.messages import FlowsUpdated, IngestStats, SourceEnded

from .test_model import MANY


def test_an_older_update_folds_into_the_newer_one() -> None:
    older = FlowsUpdated({1: MANY[0], 2: MANY[1]}, IngestStats(packets=10))
    newer_two = replace(MANY[1], active=True)
    newer = FlowsUpdated({2: newer_two, 3: MANY[2]}, IngestStats(packets=20))
    assert older.can_replace(newer)
    assert newer.snapshots == {1: MANY[0], 2: newer_two, 3: MANY[2]}  # the newer snapshot wins
    assert newer.stats.packets == 20 and newer.folded == 2
    assert not older.can_replace(SourceEnded(None))
