"""tcpinc_tools.records: one reduction per registered dataclass, by position when its
constructor takes every field in order, else by keyword; and replace_fields on the same
plan. The classes are module-level, so that pickle finds them by name."""

from __future__ import annotations

import copy
import copyreg
import dataclasses
import pickle
import subprocess
import sys
from dataclasses import KW_ONLY, InitVar, dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.analysis.model import Finding, FlowResult, FlowSummary
from tcpinc_tools.analysis.registry import Severity
from tcpinc_tools.records import _rebuild, picklable, replace_fields
from tests.support import property_settings

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


@dataclass(frozen=True, slots=True)
class Point:
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Defaults:
    name: str
    tags: tuple[str, ...] = ()
    items: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Solo:
    value: bytes


@dataclass(frozen=True, slots=True)
class Empty:
    pass


@dataclass(frozen=True)
class NoSlots:
    a: int
    b: str = "b"


@dataclass(frozen=True, slots=True)
class Derived:
    """A field outside the constructor, computed from the others."""

    a: int
    double: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "double", 2 * self.a)


@dataclass(frozen=True, slots=True)
class KeywordField:
    a: int
    b: int = field(kw_only=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class KeywordClass:
    a: int
    b: int = 0


@dataclass(frozen=True, slots=True)
class AfterMarker:
    a: int
    _: KW_ONLY
    b: int


@dataclass(frozen=True)
class WithInitVar:
    a: int
    scale: InitVar[int] = 1
    scaled: int = field(init=False, default=0)

    def __post_init__(self, scale: int) -> None:
        object.__setattr__(self, "scaled", self.a * scale)


@dataclass(frozen=True)
class InitVarNoDefault:
    a: int
    scale: InitVar[int]


@dataclass(frozen=True, init=False)
class OwnInit:
    """A class with its own constructor: its parameters need not be the fields in order."""

    a: int
    b: int

    def __init__(self, b: int, a: int) -> None:
        object.__setattr__(self, "a", a)
        object.__setattr__(self, "b", b)


@dataclass(frozen=True, slots=True)
class Named:
    obj: int


@dataclass(frozen=True, slots=True)
class Unregistered:
    a: int
    b: int = 0


picklable(
    Point,
    Defaults,
    Solo,
    Empty,
    NoSlots,
    Derived,
    KeywordField,
    KeywordClass,
    AfterMarker,
    WithInitVar,
    OwnInit,
    Named,
)

POSITIONAL: list[tuple[object, tuple[Any, ...]]] = [
    (Point(1, 2), (1, 2)),
    (Defaults("n", ("t",), [3, 4]), ("n", ("t",), [3, 4])),
    (Defaults("n"), ("n", (), [])),
    (Solo(b"\x00\xff"), (b"\x00\xff",)),
    (Empty(), ()),
    (NoSlots(5), (5, "b")),
]


def changed_double(a: int, double: int) -> Derived:
    """A Derived whose init=False field no longer follows from its constructor argument."""
    obj = Derived(a)
    object.__setattr__(obj, "double", double)
    return obj


KEYWORD: list[tuple[object, dict[str, Any], dict[str, Any]]] = [
    (Derived(3), {"a": 3}, {"double": 6}),
    (changed_double(3, 7), {"a": 3}, {"double": 7}),
    (KeywordField(1, b=2), {"a": 1, "b": 2}, {}),
    (KeywordClass(a=1, b=2), {"a": 1, "b": 2}, {}),
    (AfterMarker(1, b=2), {"a": 1, "b": 2}, {}),
    (WithInitVar(2, 5), {"a": 2}, {"scaled": 10}),
    (OwnInit(b=2, a=1), {"a": 1, "b": 2}, {}),
]
EVERY = [obj for obj, _ in POSITIONAL] + [obj for obj, _, _ in KEYWORD]


def reduced(obj: object) -> Any:
    return copyreg.dispatch_table[type(obj)](obj)


@pytest.mark.parametrize(("obj", "values"), POSITIONAL, ids=repr)
def test_the_constructor_by_position_when_it_takes_every_field_in_order(
    obj: object, values: tuple[Any, ...]
) -> None:
    assert reduced(obj) == (type(obj), values)
    assert type(reduced(obj)[1]) is tuple


@pytest.mark.parametrize(("obj", "init", "rest"), KEYWORD, ids=repr)
def test_the_constructor_by_keyword_otherwise(
    obj: object, init: dict[str, Any], rest: dict[str, Any]
) -> None:
    assert reduced(obj) == (_rebuild, (type(obj), init, rest))


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("obj", EVERY, ids=repr)
def test_round_trip_at_every_protocol(obj: object, protocol: int) -> None:
    back = pickle.loads(pickle.dumps(obj, protocol=protocol))
    assert type(back) is type(obj)
    assert back == obj
    assert vars_of(back) == vars_of(obj)


@pytest.mark.parametrize("obj", EVERY, ids=repr)
def test_copy_and_deepcopy(obj: object) -> None:
    shallow, deep = copy.copy(obj), copy.deepcopy(obj)
    assert shallow is not obj and deep is not obj
    assert vars_of(shallow) == vars_of(obj) == vars_of(deep)
    assert type(shallow) is type(deep) is type(obj)


def test_a_field_outside_the_constructor_keeps_its_value_not_its_default() -> None:
    obj = changed_double(3, 7)
    for back in (pickle.loads(pickle.dumps(obj)), copy.copy(obj), copy.deepcopy(obj)):
        assert (back.a, back.double) == (3, 7)
    scaled = WithInitVar(2, 5)
    assert pickle.loads(pickle.dumps(scaled)).scaled == 10  # not 2 * the InitVar's default


def test_copies_share_or_copy_the_values_as_copy_does() -> None:
    obj = Defaults("n", ("t",), [1, 2])
    assert copy.copy(obj).items is obj.items
    deep = copy.deepcopy(obj)
    assert deep.items == [1, 2] and deep.items is not obj.items
    loaded = pickle.loads(pickle.dumps([obj, obj]))
    assert loaded[0] is loaded[1]  # one object pickled once, as by default


def test_the_reduction_is_planned_once_per_class() -> None:
    reducer = copyreg.dispatch_table[Point]
    assert reducer is copyreg.dispatch_table[Point]
    assert reducer(Point(1, 2)) == (Point, (1, 2))
    assert reducer(Point(3, 4)) == (Point, (3, 4))


def test_only_the_keyword_pickle_names_the_helper() -> None:
    assert b"_rebuild" not in pickle.dumps(Point(1, 2), protocol=pickle.HIGHEST_PROTOCOL)
    assert b"_rebuild" in pickle.dumps(KeywordField(1, b=2), protocol=pickle.HIGHEST_PROTOCOL)


def test_what_is_not_a_dataclass_class_is_refused() -> None:
    with pytest.raises(TypeError, match="not a dataclass"):
        picklable(int)
    with pytest.raises(TypeError, match="not a dataclass"):
        picklable(Point(1, 2))  # type: ignore[arg-type]
    assert int not in copyreg.dispatch_table


def test_an_initvar_without_a_default_is_refused_at_registration() -> None:
    with pytest.raises(TypeError, match="InitVar scale has no default"):
        picklable(InitVarNoDefault)
    assert InitVarNoDefault not in copyreg.dispatch_table


def test_the_package_results_reduce_by_position() -> None:
    finding = Finding("tcpeno.vacuous", Severity.WARN, "m", 3, 1, (0, 4), "client_to_server")
    flow = FlowResult(1, ("10.0.0.1", 4000), ("10.0.0.2", 80), 0.5, 1.5, 9, None, None, (finding,))
    summary = FlowSummary(0, 1, 1, 0.5, ("10.0.0.1", 4000), ("10.0.0.2", 80), key_id=b"k")
    for obj in (finding, flow, summary):
        kind, values = reduced(obj)
        assert kind is type(obj)
        assert values == tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


def test_a_pickle_made_in_another_process_loads_here() -> None:
    code = (
        "import pickle, sys\n"
        "from tcpinc_tools.analysis.model import Finding, FlowSummary\n"
        "from tcpinc_tools.analysis.registry import Severity\n"
        "from tests.unit.test_records import KeywordField, Derived, Point\n"
        "objs = [Finding('tcpeno.vacuous', Severity.WARN, 'm', 3, 1, (0, 4), 'c'),\n"
        "        FlowSummary(0, 1, 1, 0.5, ('a', 1), ('b', 2), frames=()),\n"
        "        Point(1, 2), KeywordField(1, b=2), Derived(4)]\n"
        "sys.stdout.buffer.write(pickle.dumps(objs, protocol=pickle.HIGHEST_PROTOCOL))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=True, timeout=60
    )
    assert pickle.loads(proc.stdout) == [
        Finding("tcpeno.vacuous", Severity.WARN, "m", 3, 1, (0, 4), "c"),
        FlowSummary(0, 1, 1, 0.5, ("a", 1), ("b", 2)),
        Point(1, 2),
        KeywordField(1, b=2),
        Derived(4),
    ]


# -- replace_fields -------------------------------------------------------------------------


def test_replace_fields_by_position() -> None:
    obj = Defaults("n", ("t",), [1])
    new = replace_fields(obj, items=[2], name="m")
    assert new == Defaults("m", ("t",), [2])
    assert new.tags is obj.tags
    assert replace_fields(Point(1, 2)) == Point(1, 2)
    assert replace_fields(Solo(b"a"), value=b"b") == Solo(b"b")
    assert replace_fields(NoSlots(1), b="c") == NoSlots(1, "c")


@pytest.mark.parametrize(
    ("obj", "changes", "expected"),
    [
        (Derived(3), {"a": 5}, Derived(5)),  # the init=False field computed again
        (KeywordField(1, b=2), {"b": 3}, KeywordField(1, b=3)),
        (KeywordClass(a=1, b=2), {"a": 3}, KeywordClass(a=3, b=2)),
        (AfterMarker(1, b=2), {"a": 0}, AfterMarker(0, b=2)),
        (Unregistered(1, 2), {"b": 3}, Unregistered(1, 3)),
        (OwnInit(b=2, a=1), {"a": 3}, OwnInit(b=2, a=3)),
    ],
    ids=repr,
)
def test_replace_fields_otherwise_as_dataclasses_replace(
    obj: object, changes: dict[str, Any], expected: object
) -> None:
    assert replace_fields(obj, **changes) == expected
    assert dataclasses.replace(obj, **changes) == expected  # type: ignore[type-var]


def test_replace_fields_errors_are_dataclasses_replace_errors() -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        replace_fields(Point(1, 2), x=0, z=3)
    with pytest.raises(ValueError, match="init=False"):
        replace_fields(Derived(3), double=1)
    with pytest.raises(TypeError, match="dataclass instance"):
        replace_fields(object(), a=1)


def test_replace_fields_object_is_positional_only() -> None:
    assert replace_fields(Named(1), obj=2) == Named(2)


findings = st.builds(
    Finding,
    st.text(max_size=20),
    st.sampled_from(Severity),
    st.text(max_size=40),
    st.none() | st.integers(1, 2**40),
    st.none() | st.integers(1, 2**40),
    st.none() | st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)),
    st.none() | st.sampled_from(["client_to_server", "server_to_client"]),
)


@property_settings
@given(findings, st.none() | st.integers(1, 2**40), st.text(max_size=40))
def test_finding_round_trips_and_replaces_as_dataclasses(
    finding: Finding, flow: int | None, message: str
) -> None:
    for protocol in PROTOCOLS:
        assert pickle.loads(pickle.dumps(finding, protocol=protocol)) == finding
    assert copy.deepcopy(finding) == finding
    fast = replace_fields(finding, flow=flow, message=message)
    assert fast == dataclasses.replace(finding, flow=flow, message=message)
    assert type(fast) is Finding


def vars_of(obj: object) -> dict[str, Any]:
    """Every field of a dataclass instance, init=False ones included."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
