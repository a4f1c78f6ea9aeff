"""The scenario registry: the names, their one-line descriptions, option checks, errors."""

from __future__ import annotations

import pytest

from tcpinc_tools.commands.gen import parse_size, reproduce_command
from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.sim.link import Tap
from tcpinc_tools.sim.scenarios import (
    UnknownScenarioError,
    check,
    generate,
    get,
    names,
    scenarios,
)
from tcpinc_tools.sim.scenarios.registry import FAMILIES, ScenarioContext, register


def test_names_families_descriptions() -> None:
    assert len(names()) == len(set(names())) == 38
    families = [s.family for s in scenarios()]
    assert families == sorted(families, key=FAMILIES.index)  # grouped, in listing order
    for scenario in scenarios():
        assert "\n" not in scenario.description and 20 < len(scenario.description) <= 100
        assert scenario.name.startswith(scenario.family) or scenario.family in (
            "traffic",
            "coexist",
            "resume",
        )
    assert get("bulk").size == 4 << 20 and get("many").count == 20
    assert {s.name for s in scenarios() if s.count or s.size} == {"bulk", "many"}


def test_unknown_names() -> None:
    with pytest.raises(UnknownScenarioError) as info:
        get("fresh-p256")
    assert info.value.suggestions == (
        "fresh-p256-aes128gcm",
        "fresh-p256-aes256gcm",
        "fresh-p256-chacha20poly1305",
    )
    with pytest.raises(UnknownScenarioError) as info:
        get("lossey")
    assert info.value.suggestions[0] == "lossy"
    with pytest.raises(UnknownScenarioError) as info:
        get("zzzzzzzz")
    assert info.value.suggestions == () and "did you mean" not in str(info.value)


def test_option_checks() -> None:
    assert check("many", count=3).name == "many"
    with pytest.raises(LocalProtocolError, match="applies only to: many"):
        check("resume", count=3)
    with pytest.raises(LocalProtocolError, match="at least 1"):
        check("bulk", size=0)


def test_register_refuses_bad_entries() -> None:
    def build(ctx: ScenarioContext) -> object:
        raise AssertionError("never built")

    with pytest.raises(LocalProtocolError, match="twice"):
        register("resume", "resume", description="again")(build)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="unknown family"):
        register("x-new", "nonsense", description="x")(build)  # type: ignore[arg-type]
    with pytest.raises(LocalProtocolError, match="one-line"):
        register("x-new", "traffic")(build)  # type: ignore[arg-type]
    assert "x-new" not in names()


def test_addresses() -> None:
    ctx = ScenarioContext(seed=0, tap=Tap(None))
    assert ctx.address("client") == "192.0.2.1" and ctx.address("server", 3) == "198.51.100.3"
    v6 = ScenarioContext(seed=0, tap=Tap(None), ipv6=True)
    assert v6.address("other", 10) == "2001:db8:a::a"
    with pytest.raises(LocalProtocolError):
        ctx.address("nobody")


def test_generate_without_a_sink_still_runs() -> None:
    summary = generate("fallback-vacuous", None, seed=5)
    assert summary.packets == 8 and len(summary.connections) == 1
    assert summary.connections[0].result == "plain TCP (tcpeno.fallback.vacuous)"


def test_size_parsing_and_reproduce_command() -> None:
    assert [parse_size(t) for t in ("262144", "256k", "4M", "4MiB", "1g")] == [
        262144,
        262144,
        4 << 20,
        4 << 20,
        1 << 30,
    ]
    assert reproduce_command("many", seed=3, count=4, ipv6=True) == (
        "tcpinc gen many --seed 3 --count 4 --ipv6"
    )
