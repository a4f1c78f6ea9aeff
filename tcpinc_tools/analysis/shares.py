"""What the shares of a split analysis send back, and their merge (see
:mod:`~.hashsplit`).

Each share numbers a connection by the number of its first packet and notes when it ended;
:func:`merge_shares` renumbers them 1, 2, ... in that order, which is the order in which one
flow table numbers them (the ids inside findings and messages follow), and sorts them by
when they ended, then by id, as one analyzer hands them out. The results of a large capture
are tens of thousands of dataclasses: :func:`dumps_result` pickles them as their
constructors' arguments (:mod:`tcpinc_tools.records`), the merge rebuilds the renumbered
ones with :func:`~tcpinc_tools.records.replace_fields` (and the caller takes them in under
:func:`~tcpinc_tools.analysis.analyzer.paused_gc`).
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from ..capture.stream import ANOMALY_PORT_REUSE
from ..records import picklable, replace_fields
from .model import Finding, FlowResult, FlowSummary

__all__ = [
    "EndKey",
    "ShareResult",
    "dumps_result",
    "in_order",
    "merge_shares",
    "numbering",
    "renumbered",
]

# When a connection ended: (packet number, 0) while that packet was filed (a reused port
# pair, an eviction), (packet number, 1) at the expiry check after it, (sys.maxsize, 0) at
# the end of the capture.
EndKey = tuple[int, int]
_PORT_REUSE_FLOW: Final = re.compile(r"(?<=port pair of flow )\d+")


@dataclass(frozen=True, slots=True)
class ShareResult:
    """What a share gives the merge: its connections and their summaries (flow ids numbered
    by first packet), and when each connection ended."""

    flows: list[FlowResult]
    summaries: list[FlowSummary]
    ends: dict[int, EndKey]


def dumps_result(message: object) -> bytes:
    """``message`` pickled for :meth:`Connection.recv` (which unpickles it as it is); its
    dataclasses as their constructors' arguments (:func:`tcpinc_tools.records.picklable`)."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def _renumber_finding(finding: Finding, ids: dict[int, int]) -> Finding:
    flow = ids.get(finding.flow, finding.flow) if finding.flow is not None else None
    message = finding.message
    if finding.id == ANOMALY_PORT_REUSE:
        message = _PORT_REUSE_FLOW.sub(lambda m: str(ids.get(int(m[0]), int(m[0]))), message)
    if flow == finding.flow and message == finding.message:
        return finding
    return replace_fields(finding, flow=flow, message=message)


def merge_shares(shares: Sequence[ShareResult]) -> tuple[list[FlowResult], list[FlowSummary]]:
    """The connections of every share renumbered as one flow table numbers them, in the
    order one analyzer hands them out; and their summaries, in the same order."""
    ids = numbering([[flow.id for flow in share.flows] for share in shares])
    return in_order([renumbered(share, ids) for share in shares])


def numbering(shares: Iterable[list[int]]) -> dict[int, int]:
    """Every share's flow ids (first packet numbers) to 1, 2, ... in that order."""
    every = sorted(flow for share in shares for flow in share)
    return {old: new for new, old in enumerate(every, start=1)}


def renumbered(share: ShareResult, ids: dict[int, int]) -> ShareResult:
    flows = [
        replace_fields(
            flow,
            id=ids[flow.id],
            findings=tuple(_renumber_finding(f, ids) for f in flow.findings),
        )
        for flow in share.flows
    ]
    summaries = [replace_fields(s, flow=ids[s.flow]) for s in share.summaries]
    return ShareResult(flows, summaries, {ids[old]: end for old, end in share.ends.items()})


def in_order(shares: Sequence[ShareResult]) -> tuple[list[FlowResult], list[FlowSummary]]:
    """Renumbered shares merged: by when each connection ended, then by id."""
    order = {flow: (end, flow) for share in shares for flow, end in share.ends.items()}
    flows = sorted((f for share in shares for f in share.flows), key=lambda f: order[f.id])
    summaries = [s for share in shares for s in share.summaries]
    summaries.sort(key=lambda s: order[s.flow])
    return flows, summaries


picklable(ShareResult)
