"""The scenarios of ``tcpinc gen``, by family; importing this package registers them all.

Families (module): fresh (``fresh-<tep>-<aead>``), resume, traffic (rekey,
simultaneous-open, urgent, bulk, lossy, many), fallback (``fallback-*``), attack
(``attack-*``), coexist (coexist-mptcp-tfo, tls-tep), legacy (``legacy-*``).
"""

from __future__ import annotations

from . import attack, coexist, fallback, fresh, legacy, resume, traffic
from .registry import (
    Outcome,
    Scenario,
    ScenarioContext,
    Summary,
    UnknownScenarioError,
    check,
    generate,
    get,
    names,
    scenarios,
)

__all__ = [
    "Outcome",
    "Scenario",
    "ScenarioContext",
    "Summary",
    "UnknownScenarioError",
    "check",
    "generate",
    "get",
    "names",
    "scenarios",
]

_FAMILIES = (fresh, resume, traffic, fallback, attack, coexist, legacy)
