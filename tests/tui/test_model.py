"""The connections model: filter words, sort, totals, the row limit, the cached view."""

from __future__ import annotations

from dataclasses import replace

from tcpinc_tools.analysis.live import FlowSnapshot, LiveAnalyzer
from tcpinc_tools.capture import read_packets
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.tui.model import COLUMNS, ConnectionModel, human_bytes, short_reason

from .support import capture, keys


def snapshots(name: str) -> list[FlowSnapshot]:
    analyzer = LiveAnalyzer(KeyLog.load(keys(name)))
    for pkt in read_packets(capture(name)):
        analyzer.feed(pkt)
    found, _ = analyzer.close()
    return found


MANY = snapshots("many-16")


def test_filter_words_all_match_and_bang_excludes() -> None:
    model = ConnectionModel()
    model.update(MANY)
    ids = lambda: [r.id for r in model.visible()]  # noqa: E731
    model.set_filter("FALLBACK")
    assert ids() == [2, 10, 14, 15]
    model.set_filter("fallback !no_eno")
    assert ids() == [15]
    model.set_filter("192.0.2.3 yes")  # resumed connections of one client
    assert ids() == [11, 16]
    model.set_filter("tcpeno.fallback.vacuous")  # the reason's full id is searchable
    assert ids() == [15]
    model.set_filter("   ")
    assert ids() == list(range(1, 17))


def test_sort_by_each_column_and_reverse() -> None:
    model = ConnectionModel()
    model.update(MANY)
    for column in COLUMNS:
        model.set_sort(column.key)
        rows = model.visible()
        keys_ = [model.sort_value(r) for r in rows]
        assert keys_ == sorted(keys_)
        model.set_sort(column.key, reverse=True)
        assert [r.id for r in model.visible()] == [r.id for r in reversed(rows)]
    model.set_sort("packets")
    assert [r.flow.packets for r in model.visible()][:4] == [8, 8, 8, 8]


def test_totals_follow_updates_and_clear() -> None:
    model = ConnectionModel()
    model.update(MANY)
    totals = model.totals
    assert totals.connections == 16
    assert totals.by_status == {"encrypted": 12, "fallback": 4, "incomplete": 0, "plain": 0}
    assert totals.fallbacks == {"no_eno": 3, "vacuous": 1}
    assert totals.encrypted_share == 0.75
    # A connection whose status changes is counted once, under its new status.
    first = MANY[0]
    assert first.result.eno is not None
    changed = replace(
        first, result=replace(first.result, eno=replace(first.result.eno, status="incomplete"))
    )
    model.update([changed])
    assert model.totals.by_status["encrypted"] == 11
    assert model.totals.by_status["incomplete"] == 1
    assert model.totals.connections == 16
    model.clear()
    assert model.totals.connections == 0 and model.visible() == []


def test_row_limit_drops_the_oldest_finished_rows_but_not_the_kept_one() -> None:
    model = ConnectionModel(max_rows=10)
    changed, removed = model.update(MANY, keep=1)
    assert len(model.rows) == 10
    assert 1 in model.rows  # the selected one stays
    assert removed == {2, 3, 4, 5, 6, 7}
    assert model.totals.dropped == 6 and model.totals.connections == 10
    assert changed.isdisjoint(removed)


def test_open_rows_are_never_dropped() -> None:
    model = ConnectionModel(max_rows=2)
    active = [replace(s, active=True) for s in MANY[:4]]
    model.update(active)
    assert sorted(model.rows) == [1, 2, 3, 4]


def test_view_is_cached_until_something_changes() -> None:
    model = ConnectionModel()
    model.update(MANY[:5])
    view = model.visible()
    assert model.visible() is view
    model.update(MANY[:2])  # changes, no new row, id order: same order
    assert model.visible() is view
    model.update(MANY[5:6])
    assert [r.id for r in model.visible()] == [1, 2, 3, 4, 5, 6]
    model.set_sort("status")
    assert model.visible() is not view


def test_rows_that_come_back_after_clear_are_still_in_id_order() -> None:
    model = ConnectionModel()
    model.update(MANY[8:10])
    model.update(MANY[2:4])  # older flows seen again after newer ones
    assert [r.id for r in model.visible()] == [3, 4, 9, 10]


def test_cell_texts() -> None:
    model = ConnectionModel()
    model.update(MANY)
    row = model.rows[5]
    cells = dict(zip([c.key for c in COLUMNS], row.cells(), strict=True))
    assert cells["tep"] == "P521" and cells["aead"] == "ChaCha20"
    assert cells["status"] == "encrypted" and cells["resumed"] == "no"
    assert model.rows[15].cells()[3] == "fallback vacuous"
    assert human_bytes(1023) == "1023" and human_bytes(1536) == "1.5K"
    assert human_bytes(200 * 1024 * 1024) == "200M"
    assert short_reason("tcpeno.fallback.no_common_tep") == "no_common_tep"
    assert short_reason("tcpcrypt.resume.mismatch") == "resume.mismatch"
    assert short_reason(None) == ""
