"""``tcpinc analyze --dask``: the per-capture tasks on a Dask distributed cluster of two
worker processes on this machine, with the result of ``--jobs 1``; a worker killed while
the run goes on, and a task that raises once, leave the result complete (the scheduler
reschedules, Dask's ``retries=`` runs again); bad captures are reported, the rest analyzed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tcpinc_tools.analysis import to_json_document
from tcpinc_tools.analysis.dask_backend import DaskUnavailableError, analyze_dask, local_workers
from tcpinc_tools.analysis.parallel import (
    CaptureOutcome,
    CaptureTask,
    TaskOptions,
    analyze_serial,
    analyze_task,
    expand_inputs,
    make_tasks,
)
from tests.integration.parallel.conftest import Links
from tests.unit.commands.clirun import tcpinc

distributed = pytest.importorskip(
    "distributed", reason="the cluster extra (package distributed) is not installed"
)


@contextlib.contextmanager
def default_signals() -> Iterator[None]:
    """SIGCHLD and the signal wakeup fd as in a fresh process, for the duration. Tests that
    ran asyncio earlier in this pytest process may have left both set, with the fd closed:
    each exiting cluster process would then print "Exception ignored when trying to write
    to the signal wakeup fd" on stderr, which a fresh ``tcpinc`` never does."""
    old_fd = signal.set_wakeup_fd(-1)
    old_chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, old_chld)
        signal.set_wakeup_fd(old_fd)


@pytest.fixture(autouse=True)
def _fresh_signals() -> Iterator[None]:
    with default_signals():
        yield


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with (
        default_signals(),
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as local,
    ):
        yield local


def document(outcomes: list[CaptureOutcome]) -> str:
    return json.dumps(to_json_document([o.result for o in outcomes]))


def tasks_and_options(links: Links) -> tuple[list[CaptureTask], TaskOptions]:
    names = list(expand_inputs([str(links.root)]).paths)
    return make_tasks(names), TaskOptions.with_keylog(str(links.keys))


def test_cluster_gives_the_document_of_jobs_1(
    capsys: pytest.CaptureFixture[str], links: Links, cluster: Any
) -> None:
    address = cluster.scheduler_address
    args = ("analyze", links.root, "--keylog", links.keys, "--json")
    one = tcpinc(capsys, *args, "--jobs", "1")
    on_dask = tcpinc(capsys, *args, "--dask", address)
    assert (on_dask.status, on_dask.out, on_dask.err) == (one.status, one.out, one.err)
    assert one.status == 2  # broken.pcap and cut.pcap: reported, the rest analyzed
    bad = [line for line in on_dask.err.splitlines() if "warning" not in line]
    assert [line.split(": ")[1] for line in bad] == [str(p) for p in links.bad]
    doc = json.loads(on_dask.out)
    assert sum(c["flows"] > 0 for c in doc["captures"]) == len(links.good) + 1  # + cut.pcap


def test_progress_as_tasks_finish(links: Links, cluster: Any) -> None:
    tasks, options = tasks_and_options(links)
    seen: list[tuple[int, int]] = []
    outcomes = list(
        analyze_dask(
            tasks,
            options,
            address=cluster.scheduler_address,
            on_done=lambda done, total: seen.append((done, total)),
        )
    )
    assert seen == [(n, len(tasks)) for n in range(1, len(tasks) + 1)]
    assert [o.index for o in outcomes] == list(range(len(tasks)))
    assert document(outcomes) == document(list(analyze_serial(tasks, options)))


def kill_worker_once(task: CaptureTask, options: TaskOptions, *, marker: str) -> CaptureOutcome:
    """Kill this worker process the first time the second capture runs."""
    if task.index == 1 and not os.path.exists(marker):
        Path(marker).touch()
        os.kill(os.getpid(), signal.SIGKILL)
    return analyze_task(task, options)


def raise_once(task: CaptureTask, options: TaskOptions, *, marker: str) -> CaptureOutcome:
    if task.index == 2 and not os.path.exists(marker):
        Path(marker).touch()
        raise OSError("the shared file system hiccuped")
    return analyze_task(task, options)


def test_a_killed_worker_leaves_the_result_complete(
    links: Links, cluster: Any, tmp_path: Path
) -> None:
    tasks, options = tasks_and_options(links)
    marker = tmp_path / "killed"
    task = functools.partial(kill_worker_once, marker=str(marker))
    outcomes = list(analyze_dask(tasks, options, address=cluster.scheduler_address, task=task))
    assert marker.exists()  # a worker did die, running the second capture
    bad = {str(p) for p in links.bad}
    assert [o.failed for o in outcomes] == [t.name in bad for t in tasks]
    assert document(outcomes) == document(list(analyze_serial(tasks, options)))


def test_a_task_that_raises_is_retried(links: Links, cluster: Any, tmp_path: Path) -> None:
    tasks, options = tasks_and_options(links)
    address = cluster.scheduler_address
    marker = tmp_path / "raised"
    task = functools.partial(raise_once, marker=str(marker))
    outcomes = list(analyze_dask(tasks, options, address=address, task=task))
    assert marker.exists()
    assert document(outcomes) == document(list(analyze_serial(tasks, options)))
    # Without retries the capture fails, alone, with one line of reason.
    marker.unlink()
    once = list(analyze_dask(tasks, options, address=address, task=task, retries=0))
    (error,) = once[2].result.capture_errors
    assert (
        str(error) == f"{tasks[2].name}: analysis failed: OSError: the shared file system hiccuped"
    )
    bad = [t.index for t in tasks if t.name in {str(p) for p in links.bad}]
    assert [o.index for o in once if o.failed] == [2, *bad]
    assert document(once[:2] + once[3:]) == document(outcomes[:2] + outcomes[3:])


def test_local_cluster_from_the_command_line(
    capsys: pytest.CaptureFixture[str], links: Links
) -> None:
    captures = [str(p) for p in links.good]
    one = tcpinc(capsys, "analyze", *captures, "--keylog", links.keys, "--jsonl")
    local = tcpinc(
        capsys, "analyze", *captures, "--keylog", links.keys, "--jsonl", "--dask", "local:2"
    )
    assert one.status == 0 and one.out.count('"type":"flow"') == 79
    assert (local.status, local.out, local.err) == (one.status, one.out, one.err)


def test_bad_cluster_addresses(capsys: pytest.CaptureFixture[str], links: Links) -> None:
    assert local_workers("local:3") == 3 and local_workers("tcp://10.1.2.3:8786") is None
    with pytest.raises(DaskUnavailableError):
        local_workers("local:0")
    run = tcpinc(capsys, "analyze", links.good[0], "--dask", "local:x")
    assert (run.status, run.out) == (2, "")
    assert run.err == "tcpinc analyze: --dask local:x: write local:N with N at least 1\n"
    both = tcpinc(capsys, "analyze", links.good[0], "--dask", "local:1", "--jobs", "2")
    assert both.status == 2 and "not allowed with argument" in both.err
