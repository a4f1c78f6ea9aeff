"""The retransmission timeout (RFC 6298) and the small deadline set of a connection.

Times are plain floats in seconds from the caller's clock (the ``now`` arguments); nothing
here reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Final

__all__ = ["CLOCK_GRANULARITY", "Deadlines", "RtoEstimator", "TimerKind"]

# RFC 6298 §2: G, the clock granularity. Our clock is a float, so G only keeps the
# variance term from vanishing on a perfectly regular simulated link.
CLOCK_GRANULARITY: Final = 0.001


@dataclass(slots=True)
class RtoEstimator:
    """SRTT, RTTVAR and RTO of RFC 6298, with the exponential backoff of §5.5."""

    initial: float
    minimum: float
    maximum: float
    srtt: float | None = None
    rttvar: float = 0.0
    rto: float = field(init=False)

    def __post_init__(self) -> None:
        self.rto = self._clamp(self.initial)

    def _clamp(self, value: float) -> float:
        # RFC 6298 §2.4: RTO is at least the minimum; §2.5: a maximum may be placed on it.
        return min(max(value, self.minimum), self.maximum)

    def sample(self, rtt: float) -> None:
        """Take one RTT measurement R (never from a retransmitted segment: Karn's rule)."""
        rtt = max(rtt, 0.0)
        if self.srtt is None:
            # RFC 6298 §2.2: SRTT <- R, RTTVAR <- R/2.
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            # RFC 6298 §2.3 (alpha = 1/8, beta = 1/4; RTTVAR first, with the old SRTT).
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt
        # RFC 6298 §2.2/§2.3: RTO <- SRTT + max(G, K*RTTVAR), K = 4.
        self.rto = self._clamp(self.srtt + max(CLOCK_GRANULARITY, 4 * self.rttvar))

    def backoff(self) -> None:
        """RFC 6298 §5.5: the timer expired, so RTO <- RTO * 2 (up to the maximum)."""
        self.rto = self._clamp(self.rto * 2)

    def reinitialize(self, value: float) -> None:
        """RFC 6298 §5.7: after a retransmitted SYN, data transmission starts at 3 s."""
        if self.srtt is None:
            self.rto = self._clamp(value)


class TimerKind(Enum):
    RETRANSMIT = "retransmit"  # RFC 6298 §5
    PERSIST = "persist"  # RFC 9293 §3.8.6.1: zero-window probing
    TIME_WAIT = "time_wait"  # RFC 9293 §3.6: 2*MSL


@dataclass(slots=True)
class Deadlines:
    """At most one pending deadline per :class:`TimerKind`; the earliest is the timer."""

    _at: dict[TimerKind, float] = field(default_factory=dict)

    def set(self, kind: TimerKind, when: float) -> None:
        self._at[kind] = when

    def cancel(self, kind: TimerKind) -> None:
        self._at.pop(kind, None)

    def cancel_all(self) -> None:
        self._at.clear()

    def get(self, kind: TimerKind) -> float | None:
        return self._at.get(kind)

    def earliest(self) -> float | None:
        return min(self._at.values(), default=None)

    def expired(self, now: float) -> list[TimerKind]:
        """The kinds due at ``now`` (earliest first); they stay set until cancelled."""
        due = [(when, kind) for kind, when in self._at.items() if when <= now]
        return [kind for _, kind in sorted(due, key=lambda item: item[0])]
