"""Link impairment: loss, duplication and reordering of the frames an endpoint sends.

The lab's ``lossy`` scenario asks for ``tc netem`` on the veth. Kernels built without
``sch_netem`` (CONFIG_NET_SCH_NETEM unset, as in some VM images) cannot do that, so the
endpoint can impair its own output instead, with the same three knobs as netem:

    loss       each frame is dropped with this probability
    duplicate  each frame that survives is sent twice with this probability
    reorder    each frame is held back by ``delay`` seconds with this probability, so that
               the frames sent after it overtake it

Applied on both endpoints, this impairs both directions just as netem on both ends of the
veth would. Frames dropped this way never reach the wire, as with netem (tcpdump sees a
qdisc's output). Randomness is a seeded :class:`random.Random`, so a run can be repeated.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Final

from .errors import EndpointError

__all__ = ["DEFAULT_REORDER_DELAY", "Impairment", "parse_impairment"]

# How long a reordered frame is held: several frame times on a veth, far below the RTO.
DEFAULT_REORDER_DELAY: Final = 0.005
_FIELD: Final = re.compile(r"^(loss|duplicate|reorder|delay|seed)=([0-9.]+)(%?)$")


@dataclass(frozen=True, slots=True)
class Impairment:
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    delay: float = DEFAULT_REORDER_DELAY
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise EndpointError(f"impairment {name}={value} outside 0..1")
        if not 0.0 <= self.delay <= 10.0:
            raise EndpointError(f"impairment delay={self.delay} outside 0..10 s")

    def describe(self) -> str:
        return (
            f"loss {self.loss:.0%}, duplicate {self.duplicate:.0%}, reorder {self.reorder:.0%}"
            f" (held {self.delay * 1000:g} ms)"
        )

    def scheduler(self) -> _Scheduler:
        return _Scheduler(self)


class _Scheduler:
    """The link's FrameScheduler for one impairment."""

    def __init__(self, spec: Impairment) -> None:
        self.spec = spec
        self._rng = random.Random(spec.seed)

    def __call__(self, frame: bytes, now: float) -> list[tuple[float, bytes]]:
        spec, rng = self.spec, self._rng
        if rng.random() < spec.loss:
            return []
        when = now + spec.delay if rng.random() < spec.reorder else now
        plan = [(when, frame)]
        if rng.random() < spec.duplicate:
            plan.append((when, frame))
        return plan


def parse_impairment(text: str) -> Impairment:
    """``loss=10%,duplicate=5%,reorder=25%[,delay=0.005][,seed=N]`` (fractions or %)."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = _FIELD.match(part)
        if m is None:
            raise EndpointError(
                f"bad impairment {part!r}: use loss=, duplicate=, reorder= (e.g. 10%), "
                "delay= (seconds), seed="
            )
        name, number, percent = m.groups()
        try:
            value = float(number)
        except ValueError:
            raise EndpointError(f"bad number in impairment {part!r}") from None
        values[name] = value / 100 if percent else value
    return Impairment(
        loss=values.get("loss", 0.0),
        duplicate=values.get("duplicate", 0.0),
        reorder=values.get("reorder", 0.0),
        delay=values.get("delay", DEFAULT_REORDER_DELAY),
        seed=int(values.get("seed", 0)),
    )
