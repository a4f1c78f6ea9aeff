"""Helpers of the monitor tests: build the app as the command does, wait for the ingest,
read the screen as text, compare it with a stored snapshot."""

from __future__ import annotations

import asyncio
import io
import os
import time
from pathlib import Path
from typing import Final

from rich.console import Console
from textual.pilot import Pilot

from tcpinc_tools.tui import MonitorConfig
from tcpinc_tools.tui.app import MonitorApp, create_app

CAPTURES: Final = Path(__file__).resolve().parents[2] / "captures"
SNAPSHOTS: Final = Path(__file__).resolve().parent / "snapshots"
# The terminal of every screen test (and of the snapshots): as in docs/monitor.md.
SIZE: Final = (120, 40)
# Set to 1 to rewrite the snapshot files from the screens of this run (then review the diff).
UPDATE_ENV: Final = "TCPINC_UPDATE_SNAPSHOTS"


def capture(name: str) -> str:
    return str(CAPTURES / f"{name}.pcap")


def keys(name: str) -> str:
    return str(CAPTURES / f"{name}.keys")


def file_app(name: str, *, keylog: bool = True, export_dir: str = ".") -> MonitorApp:
    """The app of ``tcpinc monitor -r captures/NAME.pcap [--keylog captures/NAME.keys]``."""
    config = MonitorConfig(
        "file", capture(name), keylog=keys(name) if keylog else None, export_dir=export_dir
    )
    return create_app(config)


async def until(pilot: Pilot[int], test: object, timeout: float = 20.0) -> None:
    """Let the app run until ``test()`` is true (AssertionError after ``timeout``)."""
    assert callable(test)
    end = time.monotonic() + timeout
    while not test():
        if time.monotonic() > end:
            raise AssertionError(f"condition not met within {timeout} s")
        await pilot.pause(0.02)
    await pilot.pause()


async def until_ended(pilot: Pilot[int], app: MonitorApp, timeout: float = 20.0) -> None:
    """The source read to its end and every update applied."""
    await until(pilot, lambda: app.ended is not None, timeout)
    await asyncio.sleep(0)
    await pilot.pause()


def screen_text(app: MonitorApp) -> str:
    """The screen as plain text, one line per terminal row (trailing spaces removed)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        color_system=None,
        legacy_windows=False,
    )
    # The compositor's full frame, as App.export_screenshot renders it (text, not SVG).
    frame = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(frame)
    text = console.export_text(styles=False)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def assert_snapshot(name: str, text: str) -> None:
    """``text`` equals tests/tui/snapshots/NAME.txt (rewritten when UPDATE_ENV=1)."""
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get(UPDATE_ENV) == "1" or not path.exists():
        if os.environ.get(UPDATE_ENV) != "1":
            raise AssertionError(f"no snapshot {path}: run with {UPDATE_ENV}=1 and review it")
        path.write_text(text, encoding="utf-8")
        return
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = [
            f"line {i + 1}:\n  want {w!r}\n  got  {g!r}"
            for i, (w, g) in enumerate(zip(expected.splitlines(), text.splitlines(), strict=False))
            if w != g
        ]
        raise AssertionError(
            f"screen differs from {path} ({UPDATE_ENV}=1 to update):\n" + "\n".join(diff[:10])
        )
