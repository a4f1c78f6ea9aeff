"""The ingest worker without a screen: batches, the end of a file, a key log that comes
late, a key log that does not exist yet."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from textual.message import Message

from tcpinc_tools.analysis.live import FlowSnapshot
from tcpinc_tools.tui.ingest import Ingest, KeyLogWatcher
from tcpinc_tools.tui.messages import FlowsUpdated, SourceEnded
from tcpinc_tools.tui.sources import FileSource, FollowSource

from .support import capture, keys


def run(ingest: Ingest) -> list[Message]:
    posted: list[Message] = []
    ingest.run(posted.append)
    return posted


def latest(posted: list[Message]) -> dict[int, FlowSnapshot]:
    out: dict[int, FlowSnapshot] = {}
    for message in posted:
        if isinstance(message, FlowsUpdated):
            out.update(message.snapshots)
    return out


def test_a_file_is_posted_in_batches_and_ends() -> None:
    posted = run(Ingest(FileSource(capture("many-16")), keylog=KeyLogWatcher(keys("many-16"))))
    assert isinstance(posted[-1], SourceEnded) and posted[-1].error is None
    last = posted[-2]
    assert isinstance(last, FlowsUpdated) and last.stats.done
    assert last.stats.packets == 154 and last.stats.frames == 154
    assert last.stats.secrets == 12 and last.stats.rate == 0.0
    flows = latest(posted)
    assert sorted(flows) == list(range(1, 17))
    assert not any(snap.active for snap in flows.values())
    decrypted = [s.id for s in flows.values() if s.result.tcpcrypt and s.result.tcpcrypt.decrypted]
    assert len(decrypted) == 12


def test_a_broken_file_ends_with_its_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"not a capture at all")
    posted = run(Ingest(FileSource(str(bad))))
    end = posted[-1]
    assert isinstance(end, SourceEnded)
    assert end.error is not None and "not a pcap or pcapng file" in end.error
    assert latest(posted) == {}


def _follow(tmp_path: Path, *, grace: float) -> dict[int, FlowSnapshot]:
    """The resume capture written at once into a followed file; its key log written 0.15 s
    later, as an endpoint writes its secret just after the handshake."""
    target = tmp_path / "live.pcap"
    target.write_bytes(Path(capture("resume")).read_bytes())
    keylog = tmp_path / "live.keys"
    watcher = KeyLogWatcher(str(keylog), wait=True)
    ingest = Ingest(FollowSource(str(target)), keylog=watcher, interval=0.05, grace=grace)
    posted: list[Message] = []
    worker = threading.Thread(target=ingest.run, args=(posted.append,))
    worker.start()
    time.sleep(0.15)
    keylog.write_bytes(Path(keys("resume")).read_bytes())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        flows = latest(list(posted))
        if len(flows) == 3 and all(s.result.packets >= 9 for s in flows.values()):
            break
        time.sleep(0.05)
    time.sleep(0.2)
    ingest.stop()
    worker.join(5)
    assert not worker.is_alive()
    assert watcher.loaded and len(watcher.log) == 3
    return latest(posted)


def test_a_secret_written_within_the_grace_decrypts(tmp_path: Path) -> None:
    flows = _follow(tmp_path, grace=0.6)
    assert sorted(flows) == [1, 2, 3]
    for snap in flows.values():
        assert snap.result.tcpcrypt is not None and snap.result.tcpcrypt.decrypted
        assert snap.conversation  # the decrypted requests and answers


def test_without_grace_the_late_secret_is_missed(tmp_path: Path) -> None:
    flows = _follow(tmp_path, grace=0.0)
    first = flows[1].result
    assert first.tcpcrypt is not None and not first.tcpcrypt.decrypted
    assert "tcpcrypt.no_key" in {f.id for f in first.findings}


def test_key_log_watcher_reads_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "k.keys"
    watcher = KeyLogWatcher(str(path), wait=True)
    assert not watcher.loaded and watcher.poll() == 0
    lines = Path(keys("resume")).read_text().splitlines(keepends=True)
    path.write_text(lines[0] + lines[1])
    assert watcher.poll() == 1 and watcher.loaded
    with path.open("a") as handle:
        handle.writelines(lines[2:])
    assert watcher.poll() == 2
    assert watcher.poll() == 0
