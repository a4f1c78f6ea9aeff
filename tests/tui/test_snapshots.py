"""Snapshot tests: the whole screen as text at 120x40, compared with tests/tui/snapshots/.

The screen depends on textual's rendering, so the snapshots hold for the textual version
pyproject.toml pins; after a deliberate change of the screen (or of that pin), rewrite them
with TCPINC_UPDATE_SNAPSHOTS=1 and review the diff.
"""

from __future__ import annotations

import pytest

from .support import SIZE, assert_snapshot, file_app, screen_text, until, until_ended

pytestmark = pytest.mark.asyncio


async def test_resume_second_connection_selected() -> None:
    app = file_app("resume")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        await pilot.press("down")
        await until(pilot, lambda: app.detail.shown == 2)
        assert_snapshot("resume-selected", screen_text(app))


async def test_many_filtered_on_fallbacks() -> None:
    app = file_app("many-16")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        await pilot.press("slash", *"fallback", "enter")
        await until(pilot, lambda: app.detail.shown == 2)
        assert_snapshot("many-16-fallback", screen_text(app))


async def test_fallback_reason_and_option_space() -> None:
    app = file_app("fallback-no-common-tep")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        assert_snapshot("fallback-no-common-tep", screen_text(app))


async def test_help_screen() -> None:
    app = file_app("resume")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert_snapshot("help", screen_text(app))
