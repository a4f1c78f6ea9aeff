"""The monitor driven with App.run_test() and a pilot on captures of the sample corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcpinc_tools.analysis import analyze_capture
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.tui import MonitorConfig
from tcpinc_tools.tui.app import create_app
from tcpinc_tools.tui.model import COLUMNS
from tcpinc_tools.tui.widgets import FilterBar, HelpScreen

from .support import SIZE, capture, file_app, keys, screen_text, until, until_ended

pytestmark = pytest.mark.asyncio

# N_A of the fresh session of captures/resume.pcap, as its key log names it (TCPCRYPT_SS_INIT1).
RESUME_N_A = "38c12bcf02c7d0d451d336f0d729dc5a4d64d3b769b54c90b36fa60f86cd88f0"


async def test_rows_appear_with_what_the_analysis_says() -> None:
    app = file_app("resume")
    expected = analyze_capture(capture("resume"), keylog=KeyLog.load(keys("resume"))).flows
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        assert app.table.shown_ids == [1, 2, 3]
        for flow in expected:
            row = app.model.rows[flow.id]
            cells = dict(zip([c.key for c in COLUMNS], row.cells(), strict=True))
            assert cells["status"] == "encrypted"
            assert cells["tep"] == "Curve25519"
            assert cells["aead"] == "AES128"
            assert flow.tcpcrypt is not None and flow.tcpcrypt.session_id is not None
            assert cells["session"] == flow.tcpcrypt.session_id.hex()[:8]
            assert cells["resumed"] == ("yes" if flow.tcpcrypt.resumed else "no")
            assert cells["packets"] == str(flow.packets)
        assert [app.model.rows[i].cells()[6] for i in (1, 2, 3)] == ["no", "yes", "yes"]
        totals = app.model.totals
        assert (totals.connections, totals.by_status["encrypted"]) == (3, 3)
        assert app.stats.done and app.stats.packets == 29
        text = screen_text(app)
        assert "3 connections: 3 encrypted (100%)" in text
        assert "192.0.2.1:51862     198.51.100.1:80     encrypted" in text


async def test_selection_moves_the_detail_pane() -> None:
    app = file_app("resume")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        assert app.table.selected == 1
        assert "Connection 1  192.0.2.1:51861 → 198.51.100.1:80" in screen_text(app)
        await pilot.press("down")
        await until(pilot, lambda: app.detail.shown == 2)
        text = screen_text(app)
        assert "Connection 2  192.0.2.1:51862 → 198.51.100.1:80  encrypted" in text
        await pilot.press("end")
        await until(pilot, lambda: app.detail.shown == 3)
        await pilot.press("home")
        await until(pilot, lambda: app.detail.shown == 1)
        await pilot.press("up")  # already on the first row
        await pilot.pause()
        assert app.table.selected == 1


async def test_detail_shows_handshake_options_init_and_transcript() -> None:
    app = file_app("resume")
    async with app.run_test(size=(120, 120)) as pilot:
        await until_ended(pilot, app)
        text = screen_text(app)
    # The fresh session: SYN (ENO 45 03 23: Curve25519), SYN-ACK (45 04 01 23: b=1), and the
    # client's ACK with the non-SYN form 45 02.
    assert "#1 client → server SYN     ENO 450323" in text
    assert "#2 server → client SYN-ACK ENO 45040123" in text
    assert "#3 client → server ACK     ENO 4502" in text and "non-SYN form" in text
    assert "global 0x01 (b=1 a=0) [Curve25519 0x23]" in text
    # The option space of the SYN: MSS 4 + SACK-permitted 2 + TS 10 + NOP 1 + WS 3 + ENO 3
    # + EOL 1 = 24 of 40 bytes.
    assert "24/40 bytes, 16 free" in text
    assert "MSS 4 · SACKok 2 · TS 10 · NOP 1 · WS 3 · ENO 3 · EOL 1" in text
    assert f"N_A        {RESUME_N_A}" in text
    assert "Init1        message_len 75, ciphers 0x0001 AEAD_AES_128_GCM" in text
    assert "Init2        message_len 74, cipher 0x0001 AEAD_AES_128_GCM" in text
    # RFC 8547 §4.8: the transcript is A's SYN option followed by B's SYN-ACK option.
    assert "transcript    450323" + "45040123" in text
    assert "FIN by FINp  yes" in text and "rekeys       0" in text
    assert "Findings (2)" in text and "tcpeno.option_space" in text


async def test_decrypted_conversation_with_and_without_the_key_log() -> None:
    app = file_app("resume")
    async with app.run_test(size=(120, 120)) as pilot:
        await until_ended(pilot, app)
        await pilot.press("down")
        await until(pilot, lambda: app.detail.shown == 2)
        text = screen_text(app)
    assert "GET /resume/1-resumed HTTP/1.1" in text
    assert "HTTP/1.1 200 OK" in text
    assert "session ID   a3" in text  # a resumed session: its first byte is 0xa3 (v=1)
    app = file_app("resume", keylog=False)
    async with app.run_test(size=(120, 120)) as pilot:
        await until_ended(pilot, app)
        await pilot.press("down")
        await until(pilot, lambda: app.detail.shown == 2)
        text = screen_text(app)
        assert app.model.rows[2].cells()[7] == "-"  # no session ID without the key
    assert "GET /resume" not in text
    assert "not decrypted: no secret for this session in the key log" in text


async def test_filter_by_typing() -> None:
    app = file_app("many-16")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        assert len(app.table.shown_ids) == 16
        await pilot.press("slash", *"fallback")
        await pilot.pause()
        assert app.table.shown_ids == [2, 10, 14, 15]
        assert isinstance(app.focused, FilterBar)
        await pilot.press("space", "exclamation_mark", *"vacuous")
        await pilot.pause()
        assert app.table.shown_ids == [2, 10, 14]
        await pilot.press("enter")
        assert app.focused is app.table
        await pilot.press("escape")  # on the table: nothing
        assert app.model.filter_text == "fallback !vacuous"
        # A digit typed on the table starts a new word of the filter.
        await pilot.press("slash", "escape")
        await pilot.pause()
        assert app.table.shown_ids == list(range(1, 17))
        await pilot.press(*"192.0.2.3", "space", *"chacha", "enter")
        await pilot.pause()
        assert app.table.shown_ids == [5, 11]
        assert app.table.selected in (5, 11)
        assert "192.0.2.3 chacha" in screen_text(app)


async def test_letters_typed_in_the_filter_are_no_commands() -> None:
    app = file_app("many-16")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        await pilot.press("slash", *"pcq")
        await pilot.pause()
        assert not app.paused and app.model.rows and app.is_running
        assert app.model.filter_text == "pcq"
        assert app.table.shown_ids == []


async def test_sort_keys_and_header() -> None:
    app = file_app("many-16")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        await pilot.press("s", "s", "s")  # id -> client -> server -> status
        await pilot.pause()
        assert app.model.sort_key == "status"
        shown = app.table.shown_ids
        assert shown[-4:] == [2, 10, 14, 15]  # the fallbacks after the encrypted ones
        await pilot.press("r")
        await pilot.pause()
        assert app.table.shown_ids == list(reversed(shown))
        assert "ENO status▼" in screen_text(app)


async def test_pause_holds_updates_until_resumed(tmp_path: Path) -> None:
    # A capture still being written: half of it first, the rest while the screen is paused.
    data = Path(capture("resume")).read_bytes()
    first, rest = split_records(data, 11)
    target = tmp_path / "growing.pcap"
    target.write_bytes(first)
    config = MonitorConfig("follow", str(target), keylog=keys("resume"), key_grace=0.0)
    app = create_app(config)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.stats.packets == 11 and app.model.rows)
        assert app.table.shown_ids == [1]
        await pilot.press("p")
        assert app.paused
        with target.open("ab") as handle:
            handle.write(rest)
        await until(pilot, lambda: app.stats.packets == 29)
        await until(pilot, lambda: app._held_updates > 0)
        assert app.table.shown_ids == [1]  # held
        assert "PAUSED" in screen_text(app)
        await pilot.press("p")
        await pilot.pause()
        assert not app.paused
        assert app.table.shown_ids == [1, 2, 3]
        assert "PAUSED" not in screen_text(app)
        assert app.ended is None  # a followed file does not end


def split_records(data: bytes, count: int) -> tuple[bytes, bytes]:
    """A pcap file cut after its first ``count`` records (pcap: a 24-byte file header,
    then records of a 16-byte header whose third field is the captured length)."""
    offset = 24
    for _ in range(count):
        caplen = int.from_bytes(data[offset + 8 : offset + 12], "little")
        offset += 16 + caplen
    return data[:offset], data[offset:]


async def test_export_writes_the_current_view(tmp_path: Path) -> None:
    app = file_app("many-16", export_dir=str(tmp_path))
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        await pilot.press("slash", *"fallback", "enter", "e")
        await until(pilot, lambda: bool(app.exports))
    path = app.exports[0]
    assert path.parent == tmp_path and path.name.startswith("tcpinc-monitor-")
    doc = json.loads(path.read_text())
    assert doc["version"] == 1
    assert doc["view"]["filter"] == "fallback"
    assert [f["id"] for f in doc["flows"]] == [2, 10, 14, 15]
    reasons = [f["eno"]["reason"] for f in doc["flows"]]
    assert reasons == ["tcpeno.fallback.no_eno"] * 3 + ["tcpeno.fallback.vacuous"]
    assert all(f["active"] is False for f in doc["flows"])
    assert doc["totals"]["connections"] == 16 and doc["totals"]["encrypted"] == 12
    assert doc["totals"]["fallbacks"] == {"no_eno": 3, "vacuous": 1}
    assert doc["flows"][0]["client"] == "192.0.2.2:51086"


async def test_help_screen_and_clear() -> None:
    app = file_app("resume")
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert "export the connections shown" in screen_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("c")
        await pilot.pause()
        assert app.table.shown_ids == [] and app.model.totals.connections == 0
        assert app.detail.shown is None
        assert "0 connections" in screen_text(app)


async def test_findings_of_an_attack_capture_are_listed() -> None:
    app = file_app("attack-bad-tag")
    expected = analyze_capture(
        capture("attack-bad-tag"), keylog=KeyLog.load(keys("attack-bad-tag"))
    )
    ids = {f.id for flow in expected.flows for f in flow.findings}
    assert "tcpcrypt.tag_failure" in ids
    async with app.run_test(size=(120, 120)) as pilot:
        await until_ended(pilot, app)
        text = screen_text(app)
        for finding_id in ids:
            assert finding_id in text
        await pilot.press("slash", *"tag_failure", "enter")
        await pilot.pause()
        flows = [
            f.id for f in expected.flows if any(x.id == "tcpcrypt.tag_failure" for x in f.findings)
        ]
        assert app.table.shown_ids == flows


async def test_a_capture_that_cannot_be_read_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "cut.pcap"
    data = Path(capture("resume")).read_bytes()
    broken.write_bytes(data[: len(data) - 5])  # the last record cut short
    app = create_app(MonitorConfig("file", str(broken)))
    async with app.run_test(size=SIZE) as pilot:
        await until_ended(pilot, app)
        assert app.error is not None and "truncated packet record" in app.error
        assert app.table.shown_ids == [1, 2, 3]  # everything before the cut is shown
        assert "truncated" in screen_text(app)
