"""The per-capture tasks of :mod:`.parallel` on a Dask distributed cluster.

``address`` is a scheduler's address (``tcp://host:8786``), or ``local:N`` for a cluster of
N worker processes on this machine, started for the run and stopped after it. Every task is
:func:`~.parallel.analyze_task`: a worker opens the capture and the key log itself, by the
paths it was given (made absolute: on a cluster of several machines they must name the same
files everywhere, on a shared file system), and sends back the capture's
:class:`~.parallel.CaptureOutcome`; packets never travel. The workers need this package
installed (``pip install tcpinc-tools[cluster]`` on each).

Outcomes come back in input order (:func:`analyze_dask` holds those that finish early);
``on_done`` is called as each task finishes (``distributed.as_completed``), for a progress
display. Failures:

- a task that raises is run again up to ``retries`` times (Dask's ``retries=``);
- a task whose worker dies (killed, out of memory) is given to another worker by the
  scheduler, up to ``distributed.scheduler.allowed-failures`` times (3 unless configured);
- past that, the capture gets a failed outcome (:func:`~.parallel.failed_outcome`: one
  error line, exit status 2) and the other captures are still analyzed.

The ``distributed`` package is optional (the ``cluster`` extra); it is imported only here,
when a run asks for it (:func:`require_distributed` says what to install otherwise).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from typing import Any, Final

from ..errors import TcpincError
from .parallel import (
    CaptureOutcome,
    CaptureTask,
    OutcomeCallback,
    TaskOptions,
    analyze_task,
    failed_outcome,
)

__all__ = [
    "DASK_RETRIES",
    "LOCAL_PREFIX",
    "DaskUnavailableError",
    "analyze_dask",
    "local_workers",
    "require_distributed",
]

# Runs of a task that raised, after the first (Dask's ``retries=``).
DASK_RETRIES: Final = 2
# ``--dask local:N``: N worker processes on this machine.
LOCAL_PREFIX: Final = "local:"


class DaskUnavailableError(TcpincError):
    """``distributed`` is not installed, or ``--dask`` names no usable cluster."""


def require_distributed() -> Any:
    """The ``distributed`` module; :class:`DaskUnavailableError` when it is not installed."""
    try:
        return importlib.import_module("distributed")
    except ImportError:
        raise DaskUnavailableError(
            "--dask needs the distributed package: pip install 'tcpinc-tools[cluster]'"
        ) from None


def local_workers(address: str) -> int | None:
    """N for ``local:N``; None for a scheduler address. Raises DaskUnavailableError for a
    ``local:`` without a positive count."""
    if not address.startswith(LOCAL_PREFIX):
        return None
    count = address[len(LOCAL_PREFIX) :]
    if not count.isdigit() or int(count) < 1:
        raise DaskUnavailableError(f"--dask {address}: write local:N with N at least 1")
    return int(count)


def _client(stack: ExitStack, address: str) -> Any:
    """A client of the cluster at ``address`` (a local one started for the run)."""
    distributed = require_distributed()
    workers = local_workers(address)
    try:
        if workers is None:
            return stack.enter_context(distributed.Client(address, timeout="10s"))
        cluster = stack.enter_context(
            distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,  # the analysis holds the GIL: processes, not threads
                processes=True,
                dashboard_address=":0",  # any free port: never clash with another cluster
                silence_logs=logging.CRITICAL,  # failures are reported per capture
            )
        )
        return stack.enter_context(distributed.Client(cluster))
    except OSError as exc:  # TimeoutError included: no scheduler there
        raise DaskUnavailableError(f"--dask {address}: cannot reach the cluster: {exc}") from None


def analyze_dask(
    tasks: Sequence[CaptureTask],
    options: TaskOptions,
    *,
    address: str,
    on_done: OutcomeCallback | None = None,
    retries: int = DASK_RETRIES,
    task: Callable[[CaptureTask, TaskOptions], CaptureOutcome] = analyze_task,
) -> Iterator[CaptureOutcome]:
    """The tasks on the cluster at ``address``; outcomes in the order of ``tasks`` (see the
    module doc). ``task`` is the function the workers run (it is pickled: a module-level
    function, or a ``functools.partial`` of one). Raises :class:`DaskUnavailableError` when
    the cluster cannot be used at all."""
    with ExitStack() as stack:
        client = _client(stack, address)
        distributed = require_distributed()
        futures = [
            client.submit(task, item, options, retries=retries, pure=False) for item in tasks
        ]
        position = {future.key: index for index, future in enumerate(futures)}
        ready: dict[int, CaptureOutcome] = {}
        emitted = 0
        for done, future in enumerate(distributed.as_completed(futures), start=1):
            index = position[future.key]
            ready[index] = _collect(future, tasks[index])
            future.release()
            if on_done is not None:
                on_done(done, len(tasks))
            while emitted in ready:
                yield ready.pop(emitted)
                emitted += 1


def _collect(future: Any, task: CaptureTask) -> CaptureOutcome:
    try:
        outcome: CaptureOutcome = future.result()
    except Exception as exc:  # raised past its retries, or KilledWorker
        return failed_outcome(task, f"{type(exc).__name__}: {exc}")
    return outcome
