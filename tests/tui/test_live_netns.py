"""The monitor on a live interface (root): two network namespaces joined by a veth pair, the
monitor capturing on side a's end (through tcpdump, dumpcap, or an AF_PACKET socket), our
endpoints making a TCP-ENO / tcpcrypt connection and its resumption across the veth; the
connections appear in the table, encrypted, and decrypt with the key log the endpoints
write while the monitor runs."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tcpinc_tools.endpoint.netns import NetnsPair
from tcpinc_tools.tui import MonitorConfig
from tcpinc_tools.tui.app import create_app

from .support import SIZE, screen_text, until

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces and packet capture need root"),
]

PORT = 7
TEXT = "hello from the monitor test\n"


@pytest.fixture
def pair() -> Iterator[NetnsPair]:
    """Fresh namespaces with unique names; deleted whatever happens."""
    netns = NetnsPair(tag=f"mon{os.getpid()}-{os.urandom(2).hex()}")
    try:
        netns.create()
        yield netns
    finally:
        netns.delete()


def endpoint(pair: NetnsPair, side: str, *args: str, keylog: Path) -> subprocess.Popen[bytes]:
    ns, veth, addr = pair.side(side)
    argv = [sys.executable, "-m", "tcpinc_tools.cli", "endpoint", *args]
    argv += ["--iface", veth, "--addr", addr, "--netns", ns, "--keylog", str(keylog)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stop(proc: subprocess.Popen[bytes]) -> tuple[int | None, str]:
    if proc.poll() is None:
        proc.terminate()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err.decode(errors="replace")


@pytest.mark.asyncio
@pytest.mark.parametrize("via", ["tcpdump", "dumpcap", "af_packet"])
async def test_handshakes_across_a_veth_appear(pair: NetnsPair, tmp_path: Path, via: str) -> None:
    keylog = tmp_path / "live.keys"  # written by the endpoints once they run
    config = MonitorConfig(
        "live",
        pair.veth_a,
        netns=pair.a,
        via=via,
        keylog=str(keylog),  # type: ignore[arg-type]
    )
    app = create_app(config)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause(1.5)  # the capture tool is listening
            server = endpoint(
                pair, "b", "listen", "--port", str(PORT), "--count", "2", keylog=keylog
            )
            procs.append(server)
            await pilot.pause(1.0)
            client = endpoint(
                pair,
                "a",
                "connect",
                f"{pair.addr_b}:{PORT}",
                "--count",
                "2",
                "--send",
                TEXT,
                "--verify-echo",
                keylog=keylog,
            )
            procs.append(client)

            def seen() -> bool:
                rows = list(app.model.rows.values())
                return len(rows) == 2 and all(
                    r.flow.tcpcrypt is not None and r.flow.tcpcrypt.decrypted for r in rows
                )

            await until(pilot, seen, timeout=40)
            code = await asyncio.to_thread(client.wait, 30)
            assert code == 0, stop(client)[1]
            rows = [app.model.rows[i] for i in sorted(app.model.rows)]
            for row in rows:
                assert row.status == "encrypted"
                assert row.flow.client[0] == pair.addr_a and row.flow.server == (pair.addr_b, PORT)
            tcpcrypts = [r.flow.tcpcrypt for r in rows]
            assert [t.resumed for t in tcpcrypts if t is not None] == [False, True]
            text = screen_text(app)
            assert f"{pair.addr_a}:" in text and f"{pair.addr_b}:{PORT}" in text
            assert "2 connections: 2 encrypted (100%)" in text
            assert app.error is None
            await pilot.press("q")
    finally:
        for proc in procs:
            stop(proc)
