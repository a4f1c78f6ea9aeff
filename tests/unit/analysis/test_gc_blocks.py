"""The collector settings around an analysis (relaxed_gc) and its output (frozen_gc)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcpinc_tools.analysis.analyzer import (
    GC_YOUNG_THRESHOLD,
    analyze_capture,
    frozen_gc,
    paused_gc,
    relaxed_gc,
)
from tcpinc_tools.analysis.hashsplit import analyze_share
from tcpinc_tools.analysis.parallel import TaskOptions
from tcpinc_tools.analysis.streaming import analyze_streaming
from tcpinc_tools.keylog import KeyLog

CAPTURES = Path(__file__).resolve().parents[3] / "captures"


@pytest.fixture
def default_gc() -> Iterator[None]:
    """Python's own thresholds and nothing frozen, restored afterwards."""
    saved = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)
    gc.unfreeze()


@pytest.mark.usefixtures("default_gc")
def test_relaxed_gc_raises_the_young_threshold_and_restores_it() -> None:
    with relaxed_gc():
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
        with relaxed_gc():
            assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, 10, 10)  # the outer block is open
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.usefixtures("default_gc")
def test_relaxed_gc_never_lowers_a_higher_threshold() -> None:
    gc.set_threshold(GC_YOUNG_THRESHOLD * 4, 20, 30)
    with relaxed_gc():
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD * 4, 20, 30)
    assert gc.get_threshold() == (GC_YOUNG_THRESHOLD * 4, 20, 30)


@pytest.mark.usefixtures("default_gc")
def test_relaxed_gc_restores_after_an_exception() -> None:
    with pytest.raises(RuntimeError), relaxed_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == (700, 10, 10)


@pytest.mark.usefixtures("default_gc")
def test_frozen_gc_freezes_what_is_alive_and_unfreezes_at_the_end() -> None:
    alive = len(gc.get_objects())
    with frozen_gc():
        frozen = gc.get_freeze_count()
        # Everything that was tracked on entry (less what died since) is out of sight.
        assert frozen >= alive // 2
        assert len(gc.get_objects()) < alive // 2
        with frozen_gc():
            assert gc.get_freeze_count() == frozen  # nested: nothing frozen twice
        assert gc.get_freeze_count() == frozen  # the outer block still holds them
    assert gc.get_freeze_count() == 0
    assert len(gc.get_objects()) >= alive // 2


@pytest.mark.usefixtures("default_gc")
def test_frozen_gc_still_collects_cycles_made_inside_the_block() -> None:
    class Node:
        def __init__(self) -> None:
            self.peer: Node | None = None

    with frozen_gc():
        a, b = Node(), Node()
        a.peer, b.peer = b, a
        del a, b
        assert gc.collect() >= 2


@pytest.mark.usefixtures("default_gc")
def test_frozen_gc_unfreezes_after_an_exception() -> None:
    with pytest.raises(RuntimeError), frozen_gc():
        assert gc.get_freeze_count() > 0
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0


@pytest.mark.usefixtures("default_gc")
def test_paused_gc_turns_the_collector_off_and_back_on() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer block is open
    assert gc.isenabled()


@pytest.mark.usefixtures("default_gc")
def test_paused_gc_leaves_a_disabled_collector_disabled() -> None:
    gc.disable()
    try:
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.usefixtures("default_gc")
def test_paused_gc_turns_it_back_on_after_an_exception() -> None:
    with pytest.raises(RuntimeError), paused_gc():
        raise RuntimeError("boom")
    assert gc.isenabled()


@pytest.mark.parametrize("capture", sorted(CAPTURES.glob("*.pcap*")), ids=lambda p: p.name)
def test_the_analysis_makes_no_reference_cycles(capture: Path) -> None:
    """What GC_YOUNG_THRESHOLD rests on: an analysis (with the key log, plaintext kept),
    by each of the three entry points, leaves nothing for the cyclic collector, so
    collecting rarely costs no memory. In the compiled build too (`make test-native`):
    there, closures share an environment that refers back to them."""
    keys = capture.with_suffix(".keys")
    keylog = KeyLog.load(keys) if keys.exists() else None
    options = TaskOptions.with_keylog(str(keys) if keylog is not None else None, payload=True)
    gc.collect()
    gc.disable()
    try:
        result = analyze_streaming(capture, keylog=keylog, payload=True)
        assert result.summaries or result.capture.stats.packets == 0
        del result
        assert gc.collect() == 0
        whole = analyze_capture(capture, keylog=keylog, payload=True)
        del whole
        assert gc.collect() == 0
        for share in range(2):
            part = analyze_share(str(capture), share, 2, options)
            del part
            assert gc.collect() == 0
    finally:
        gc.enable()
