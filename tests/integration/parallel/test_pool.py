"""``tcpinc analyze --jobs N`` over many captures: inputs (files, folders, globs), a process
pool with one capture per task, and output byte for byte that of ``--jobs 1``; bad
captures reported one line each (exit status 2) while the others are analyzed."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from tcpinc_tools.analysis.parallel import (
    CaptureOutcome,
    CaptureTask,
    TaskOptions,
    analyze_pool,
    analyze_serial,
    analyze_task,
    expand_inputs,
    make_tasks,
)
from tests.integration.parallel.conftest import Links
from tests.unit.commands.clirun import Run, tcpinc


def analyze(capsys: pytest.CaptureFixture[str], links: Links, *args: str | Path) -> Run:
    return tcpinc(capsys, "analyze", links.root, "--keylog", links.keys, *args)


# -- inputs ----------------------------------------------------------------------------------


def test_folder_expands_recursively_in_path_order(links: Links) -> None:
    inputs = expand_inputs([str(links.root)])
    expected = sorted([*links.good, *links.bad], key=str)
    assert inputs.paths == tuple(str(p) for p in expected)
    assert not any(p.endswith("README.txt") for p in inputs.paths)
    assert inputs.problems == ()


def test_globs_files_and_problems(links: Links, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    inputs = expand_inputs(
        [
            str(links.root / "link-b" / "*.pcap"),
            str(links.root / "**" / "*.pcapng"),
            str(links.good[0]),
            str(tmp_path / "missing.pcap"),  # kept: the reader reports it
            str(tmp_path / "nothing-*.pcap"),
            str(empty),
        ]
    )
    b = links.root / "link-b"
    assert inputs.paths == (
        str(b / "2026-01-01.pcap"),
        str(b / "2026-01-02.pcap"),
        str(b / "legacy.pcap"),
        str(links.good[1]),
        str(links.good[0]),
        str(tmp_path / "missing.pcap"),
    )
    assert inputs.problems == (
        f"{tmp_path / 'nothing-*.pcap'}: no capture matches this pattern",
        f"{empty}: no capture in this folder (*.pcap, *.pcapng, *.cap)",
    )


def test_tasks_name_captures_as_given_and_open_them_by_absolute_path(
    links: Links, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(links.root)
    (task,) = make_tasks(["link-b/legacy.pcap"])
    assert task == CaptureTask(0, "link-b/legacy.pcap", str(links.root / "link-b/legacy.pcap"))
    outcome = analyze_task(task, TaskOptions.with_keylog(str(links.keys)))
    assert outcome.result.capture.name == "link-b/legacy.pcap"
    monkeypatch.chdir(links.root.parent)  # a worker elsewhere: same report, by the name given
    elsewhere = analyze_task(task, TaskOptions.with_keylog(str(links.keys)))
    assert elsewhere.result.capture.name == "link-b/legacy.pcap"
    assert elsewhere.handed_out == outcome.handed_out


# -- the pool, byte for byte -----------------------------------------------------------------


@pytest.mark.parametrize("mode", [("--json",), ("--jsonl",), (), ("--json", "--payload")])
def test_jobs_2_writes_the_bytes_of_jobs_1(
    capsys: pytest.CaptureFixture[str], links: Links, mode: tuple[str, ...]
) -> None:
    one = analyze(capsys, links, *mode, "--jobs", "1")
    two = analyze(capsys, links, *mode, "--jobs", "2")
    assert two.out == one.out and two.err == one.err and two.status == one.status == 2
    assert len(one.out) > 1000


def test_bad_captures_are_reported_and_the_rest_analyzed(
    capsys: pytest.CaptureFixture[str], links: Links
) -> None:
    run = analyze(capsys, links, "--json", "--jobs", "2")
    assert run.status == 2
    errors = [line for line in run.err.splitlines() if "warning" not in line]
    broken, cut = (str(p) for p in links.bad)
    assert len(errors) == 2
    assert errors[0].startswith(f"tcpinc analyze: {broken}: not a pcap or pcapng file")
    assert errors[1].startswith(f"tcpinc analyze: {cut}: ")
    doc = json.loads(run.out)
    by_name = {c["name"]: c for c in doc["captures"]}
    assert by_name[broken]["error"] is not None and by_name[broken]["flows"] == 0
    assert by_name[cut]["error"] is not None and by_name[cut]["flows"] > 0  # what was read
    for path in links.good:
        assert by_name[str(path)]["error"] is None and by_name[str(path)]["flows"] > 0
    assert doc["stats"]["flows"] == sum(c["flows"] for c in doc["captures"])


def test_cross_capture_findings_come_from_the_merged_summaries(
    capsys: pytest.CaptureFixture[str], links: Links
) -> None:
    doc = json.loads(analyze(capsys, links, "--json", "--jobs", "2").out)
    index = {c["name"]: c["index"] for c in doc["captures"]}
    first, again = (index[str(links.root / "link-b" / f"2026-01-0{d}.pcap")] for d in (1, 2))
    replays = [
        f for f in doc["findings"] if f["id"] == "tcpcrypt.resume.replay" and f["capture"] == again
    ]
    # The day-2 copy offers the resumption ids of day 1 again: reported on day 2's flows,
    # naming day 1's.
    assert replays and all(f["related"][0][0] == first for f in replays)
    assert any(f["id"] == "tcpcrypt.nonce_reuse" and f["capture"] == again for f in doc["findings"])


def test_summaries_are_small_and_picklable(links: Links) -> None:
    options = TaskOptions.with_keylog(str(links.keys))
    outcomes = list(analyze_serial(make_tasks([str(p) for p in links.good]), options))
    summaries = [s for o in outcomes for s in o.result.summaries]
    assert pickle.loads(pickle.dumps(summaries)) == summaries
    per_flow = len(pickle.dumps(summaries)) / len(summaries)
    assert per_flow < 1024, per_flow  # what crosses machines for cross-capture findings


def raise_on_second(task: CaptureTask, options: TaskOptions) -> CaptureOutcome:
    if task.index == 1:
        raise RuntimeError("bug in the analysis")
    return analyze_task(task, options)


def test_a_task_that_raises_fails_its_capture_only(links: Links) -> None:
    tasks = make_tasks([str(p) for p in links.good[:3]])
    done: list[tuple[int, int]] = []
    outcomes = list(
        analyze_pool(
            tasks,
            TaskOptions(),
            jobs=2,
            task=raise_on_second,
            on_done=lambda n, total: done.append((n, total)),
        )
    )
    assert [o.index for o in outcomes] == [0, 1, 2]
    assert [o.failed for o in outcomes] == [False, True, False]
    (error,) = outcomes[1].result.capture_errors
    assert str(error) == f"{tasks[1].name}: analysis failed: RuntimeError: bug in the analysis"
    assert done == [(1, 3), (2, 3), (3, 3)]


def test_outcomes_in_input_order_whatever_finishes_first(links: Links) -> None:
    # The big first capture finishes last; outcomes still come in input order.
    names = [str(links.good[0]), *(str(links.good[4]),) * 6]
    outcomes = list(analyze_pool(make_tasks(names), TaskOptions(), jobs=2))
    assert [o.index for o in outcomes] == list(range(7))
    assert [o.result.capture.name for o in outcomes] == names


def test_jobs_argument(capsys: pytest.CaptureFixture[str], links: Links) -> None:
    bad = tcpinc(capsys, "analyze", links.good[0], "--jobs", "-1")
    assert bad.status == 2 and "must be 0 or more" in bad.err
    auto = tcpinc(capsys, "analyze", links.good[2], links.good[4], "--json", "--jobs", "0")
    serial = tcpinc(capsys, "analyze", links.good[2], links.good[4], "--json")
    assert auto.out == serial.out and auto.status == 0


def test_glob_on_the_command_line(capsys: pytest.CaptureFixture[str], links: Links) -> None:
    pattern = str(links.root / "link-b" / "*.pcap")
    run = tcpinc(capsys, "analyze", pattern, "--keylog", links.keys, "--json", "-j", "2")
    doc: dict[str, Any] = json.loads(run.out)
    assert [c["name"] for c in doc["captures"]] == [
        str(links.root / "link-b" / n)
        for n in ("2026-01-01.pcap", "2026-01-02.pcap", "legacy.pcap")
    ]
    none = tcpinc(capsys, "analyze", str(links.root / "*.nothing"), "-j", "2")
    assert none.status == 2 and none.out == ""
    assert (
        none.err == f"tcpinc analyze: {links.root / '*.nothing'}: no capture matches this pattern\n"
    )


def test_stdin_cannot_go_to_a_pool(capsys: pytest.CaptureFixture[str], links: Links) -> None:
    run = tcpinc(capsys, "analyze", "-", links.good[0], "--jobs", "2")
    assert run.status == 2
    assert run.err == (
        "tcpinc analyze: '-' (standard input) cannot go to worker processes: analyze it "
        "alone (--jobs N then splits it by connection) or without --jobs and --dask\n"
    )
