"""The scenario registry: names, one-line descriptions, and the runner behind ``tcpinc gen``.

A scenario is a function that takes a :class:`ScenarioContext` and returns a
:class:`~tcpinc_tools.sim.driver.Simulation` set up with its hosts, link stages and
connections; :func:`generate` runs it and writes what the tap sees. The first line of the
function's docstring is its description (``tcpinc gen --list``).
"""

from __future__ import annotations

import difflib
import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from ...errors import LocalProtocolError
from ...keylog import KeyLogWriter
from ...wire.constants import aead_name, tep_name
from ..driver import Simulation
from ..link import PacketSink, Tap

__all__ = [
    "FAMILIES",
    "Builder",
    "Outcome",
    "Scenario",
    "ScenarioContext",
    "Summary",
    "UnknownScenarioError",
    "check",
    "generate",
    "get",
    "names",
    "register",
    "scenarios",
]

# Documentation prefixes (RFC 5737, RFC 3849): client side, server side, others (attackers,
# a host that moved).
_V4: Final = {"client": "192.0.2.", "server": "198.51.100.", "other": "203.0.113."}
_V6: Final = {"client": "2001:db8:c::", "server": "2001:db8:5::", "other": "2001:db8:a::"}


@dataclass(frozen=True, slots=True)
class ScenarioContext:
    """What a scenario is given: the options of the run, the tap and the key log."""

    seed: int
    tap: Tap
    keylog: KeyLogWriter | None = None
    ipv6: bool = False
    count: int | None = None
    size: int | None = None

    def rng(self, name: str) -> random.Random:
        """A generator of its own for ``name``, seeded from the run's seed."""
        return random.Random(f"{self.seed}:{name}")

    def address(self, role: str, n: int = 1) -> str:
        """Host ``n`` (1-254) of ``role`` ("client", "server", "other"), IPv4 or IPv6."""
        if role not in _V4 or not 1 <= n <= 254:
            raise LocalProtocolError(f"no address for {role} {n}")
        text = (_V6 if self.ipv6 else _V4)[role] + (f"{n:x}" if self.ipv6 else str(n))
        return str(ipaddress.ip_address(text))


Builder = Callable[[ScenarioContext], Simulation]


@dataclass(frozen=True, slots=True)
class Scenario:
    """A registered scenario. ``count`` / ``size``: the default of that option, or None
    when the scenario does not take it."""

    name: str
    family: str
    description: str
    build: Builder = field(repr=False)
    count: int | None = None
    size: int | None = None


_REGISTRY: dict[str, Scenario] = {}
# The order of the families in listings.
FAMILIES: Final = ("fresh", "resume", "traffic", "fallback", "attack", "coexist", "legacy")


def register(
    name: str,
    family: str,
    *,
    description: str | None = None,
    count: int | None = None,
    size: int | None = None,
) -> Callable[[Builder], Builder]:
    """Register the decorated builder under ``name`` (description: its docstring's first
    line unless given)."""

    def decorate(build: Builder) -> Builder:
        lines = (build.__doc__ or "").strip().splitlines()
        line = description if description is not None else (lines[0] if lines else "")
        if not line.strip() or "\n" in line:
            raise LocalProtocolError(f"scenario {name} needs a one-line description")
        if family not in FAMILIES:
            raise LocalProtocolError(f"scenario {name}: unknown family {family!r}")
        if name in _REGISTRY:
            raise LocalProtocolError(f"scenario {name} registered twice")
        _REGISTRY[name] = Scenario(name, family, line.strip(), build, count, size)
        return build

    return decorate


def scenarios() -> tuple[Scenario, ...]:
    """Every scenario: by family (in FAMILIES order), then in registration order."""
    rank = {family: i for i, family in enumerate(FAMILIES)}
    return tuple(sorted(_REGISTRY.values(), key=lambda s: rank.get(s.family, len(rank))))


def names() -> tuple[str, ...]:
    return tuple(s.name for s in scenarios())


class UnknownScenarioError(LocalProtocolError):
    """No scenario has this name; ``suggestions`` holds the close ones."""

    def __init__(self, name: str) -> None:
        known = list(_REGISTRY)
        # Names that start with what was typed, else the closest spellings.
        prefixed = [n for n in known if name and n.startswith(name)]
        self.suggestions = tuple(prefixed or difflib.get_close_matches(name, known, 5, 0.5))
        hint = f"; did you mean {', '.join(self.suggestions)}?" if self.suggestions else ""
        super().__init__(f"unknown scenario {name!r}{hint} (tcpinc gen --list shows them all)")


def get(name: str) -> Scenario:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownScenarioError(name) from None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One connection end as its own stack saw it (from its events): ``local`` and
    ``remote`` as ``address:port``, ``active`` for the end that connected."""

    local: str
    remote: str
    active: bool
    result: str
    session_id: bytes | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    """What a run produced: packets at the tap, and every end's outcome."""

    scenario: str
    packets: int
    ends: tuple[Outcome, ...]
    duration: float

    @property
    def connections(self) -> tuple[Outcome, ...]:
        """The ends that connected (one per connection, two in a simultaneous open)."""
        return tuple(o for o in self.ends if o.active)


def _describe(sim: Simulation) -> tuple[Outcome, ...]:
    out: list[Outcome] = []
    for end in sim.ends:
        res = end.result
        session_id = None
        if res.encryption is not None:
            enc = res.encryption
            session_id = enc.session_id
            text = f"tcpcrypt {tep_name(enc.tep)} {aead_name(enc.aead)}"
            if enc.resumed:
                text += " resumed"
            if res.generation:
                text += f", key generation {res.generation}"
        elif res.fallback is not None:
            text = f"plain TCP ({res.fallback.reason})"
        else:
            text = "plain TCP (no TCP-ENO)" if res.negotiated is None else "TCP-ENO negotiated"
        ended = end.app.ended
        if ended is not None and ended != "closed":
            text += f"; aborted: {ended}"
        remote = f"{end.remote_ip}:{end.remote_port}"
        out.append(Outcome(end.label(), remote, end.active, text, session_id))
    return tuple(out)


def check(name: str, *, count: int | None = None, size: int | None = None) -> Scenario:
    """The scenario ``name``, once its options make sense for it (else LocalProtocolError;
    UnknownScenarioError for an unknown name)."""
    scenario = get(name)
    for option, value, default in (("count", count, scenario.count), ("size", size, scenario.size)):
        if value is not None and default is None:
            takes = [s.name for s in scenarios() if getattr(s, option) is not None]
            raise LocalProtocolError(f"--{option} applies only to: {', '.join(takes)}")
        if value is not None and value < 1:
            raise LocalProtocolError(f"--{option} must be at least 1, not {value}")
    return scenario


def generate(
    name: str,
    sink: PacketSink | None,
    *,
    keylog: KeyLogWriter | None = None,
    seed: int = 0,
    count: int | None = None,
    size: int | None = None,
    ipv6: bool = False,
) -> Summary:
    """Run scenario ``name`` and write every packet at its tap to ``sink``."""
    scenario = check(name, count=count, size=size)
    tap = Tap(sink)
    ctx = ScenarioContext(
        seed=seed,
        tap=tap,
        keylog=keylog,
        ipv6=ipv6,
        count=count if count is not None else scenario.count,
        size=size if size is not None else scenario.size,
    )
    sim = scenario.build(ctx)
    sim.run()
    return Summary(name, tap.packets, _describe(sim), sim.now)
