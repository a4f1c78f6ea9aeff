"""jsontext: the characters of ``json.dump(value, stream, indent=2)``, written in large pieces.

The reference is the standard library itself: every test compares with ``json.dumps(value,
indent=2)`` (or the ``json.dump`` of the same value), never with text this module produced.
"""

from __future__ import annotations

import io
import json
import math
import sys
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator
from enum import Enum, IntEnum, StrEnum
from itertools import pairwise
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.analysis import analyze_capture, to_json_document
from tcpinc_tools.analysis.jsontext import LazyArray, dumps_json, write_json
from tcpinc_tools.analysis.model import AnalysisResult
from tcpinc_tools.keylog import KeyLog
from tests.support import property_settings

CAPTURES = Path(__file__).resolve().parents[3] / "captures"


class Level(IntEnum):
    LOW = 1
    HUGE = 2**70
    NEGATIVE = -7


class Colour(str, Enum):  # noqa: UP042 - the mixin spelling, as well as StrEnum below
    RED = "red"
    ODD = 'é\ud800\x00"\\'


class Mode(StrEnum):
    PLAIN = "plain"
    QUOTED = '"\t"'


class Loud(int):
    """json writes int.__repr__, not the subclass's own text."""

    def __repr__(self) -> str:
        return "loud"

    def __str__(self) -> str:
        return "loud"


class Precise(float):
    def __repr__(self) -> str:
        return "precise"


class Shout(str):
    def __str__(self) -> str:
        return "SHOUT"


class Reversed(dict[Any, Any]):
    """json asks a dict subclass for its items()."""

    def items(self) -> Any:
        return list(super().items())[::-1]


class Pair(NamedTuple):
    left: object
    right: object


# Any code point, surrogates and control characters included, and plenty of plain ASCII.
ANY_CHAR = st.characters(codec=None, exclude_categories=())
TEXT = (
    st.text(ANY_CHAR)
    | st.text(st.characters(max_codepoint=0x7F))
    | st.sampled_from(Colour)
    | st.sampled_from(Mode)
)
SPECIAL_FLOATS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e300, -1e300, 5e-324, 1e16, 0.1]
FLOATS = st.floats() | st.sampled_from(SPECIAL_FLOATS) | st.builds(Precise, st.floats())
INTS = (
    st.integers()
    | st.integers(min_value=-(2**200), max_value=2**200)
    | st.sampled_from(Level)
    | st.builds(Loud, st.integers())
)
SCALARS = st.none() | st.booleans() | INTS | FLOATS | TEXT | st.builds(Shout, TEXT)
KEYS = TEXT | INTS | FLOATS | st.booleans() | st.none()


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    lists = st.lists(children, max_size=6)
    return (
        lists
        | lists.map(tuple)
        | st.dictionaries(KEYS, children, max_size=6)
        | st.dictionaries(st.sampled_from(["id", "eno", "findings", "a"]), children, max_size=4)
    )


JSON_VALUES = st.recursive(SCALARS, containers, max_leaves=40)


def written(value: object) -> str:
    stream = io.StringIO()
    write_json(value, stream)
    return stream.getvalue()


@property_settings
@given(JSON_VALUES)
def test_same_text_as_json_dumps(value: object) -> None:
    expected = json.dumps(value, indent=2)
    assert dumps_json(value) == expected
    assert written(value) == expected


@property_settings
@given(st.lists(st.dictionaries(TEXT, SCALARS, max_size=8), max_size=40))
def test_a_list_of_records_as_json_dump_writes_it(records: list[dict[str, object]]) -> None:
    expected = io.StringIO()
    json.dump(records, expected, indent=2)
    assert written(records) == expected.getvalue()


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "null"),
        (True, "true"),
        ([], "[]"),
        ({}, "{}"),
        ((), "[]"),
        ([[], {}], "[\n  [],\n  {}\n]"),
        ({"a": [1, {"b": None}]}, '{\n  "a": [\n    1,\n    {\n      "b": null\n    }\n  ]\n}'),
        ([math.nan, math.inf, -math.inf, -0.0], "[\n  NaN,\n  Infinity,\n  -Infinity,\n  -0.0\n]"),
        (
            {1: 2, 2.5: 3, None: 4, False: 5},
            '{\n  "1": 2,\n  "2.5": 3,\n  "null": 4,\n  "false": 5\n}',
        ),
        ("é\x01\ud83d", '"\\u00e9\\u0001\\ud83d"'),
        (
            [Level.HUGE, Loud(3), Precise(0.5), Colour.RED],
            '[\n  1180591620717411303424,\n  3,\n  0.5,\n  "red"\n]',
        ),
    ],
)
def test_spelled_out(value: object, text: str) -> None:
    # the expected text is written by hand; json agrees with it
    assert json.dumps(value, indent=2) == text
    assert written(value) == text


def test_subclasses_of_the_containers() -> None:
    value: dict[str, object] = {
        "ordered": OrderedDict([("z", 1), ("a", 2)]),
        "default": defaultdict(list, {"k": [1]}),
        "counter": Counter("abca"),
        "reversed": Reversed({"first": 1, "second": {"x": Reversed({"p": 1, "q": 2})}}),
        "pair": Pair(1, Pair("a", [])),
        "empty": [Reversed(), Pair((), {})],
    }
    assert written(value) == json.dumps(value, indent=2)
    assert '"second"' in written(value).split('"first"')[0]


def test_keys_repeat_across_levels_and_positions() -> None:
    inner = {"b": 1, "a": 2}
    value = {"a": {"a": inner, "b": [inner, {"a": inner}]}, "b": {"b": inner}}
    assert written(value) == json.dumps(value, indent=2)
    many = {f"key-{i}": {f"key-{j}": j for j in range(3)} for i in range(3000)}
    assert written([many, many]) == json.dumps([many, many], indent=2)


def test_deep_nesting_as_json() -> None:
    value: object = "bottom"
    for depth in range(200):
        value = [value] if depth % 2 else {"d": value, "e": depth}
    assert written(value) == json.dumps(value, indent=2)


def test_nesting_past_the_recursion_limit_raises_recursion_error() -> None:
    value: object = []
    for _ in range(sys.getrecursionlimit() + 100):
        value = [value]
    with pytest.raises(RecursionError):
        json.dumps(value, indent=2)
    with pytest.raises(RecursionError):
        written(value)


def json_error(value: object) -> BaseException:
    with pytest.raises((TypeError, ValueError)) as info:
        json.dumps(value, indent=2)
    return info.value


@pytest.mark.parametrize(
    "value",
    [
        object(),
        b"bytes",
        {1, 2},
        {"a": [1, {"b": bytearray(2)}]},
        [1, 2, 3j],
        {"ok": 1, (1, 2): "tuple key"},
        {"nested": {frozenset(): 1}},
    ],
)
def test_what_json_cannot_encode_raises_its_type_error(value: object) -> None:
    expected = json_error(value)
    assert isinstance(expected, TypeError)
    with pytest.raises(TypeError) as info:
        written(value)
    assert str(info.value) == str(expected)
    with pytest.raises(
        TypeError, match=r"^(Object of type \w+ is not JSON serializable|keys must)"
    ):
        dumps_json(value)


def test_a_cycle_raises_value_error() -> None:
    looped: list[object] = [1]
    looped.append({"again": looped})
    mapping: dict[str, object] = {}
    mapping["self"] = [mapping]
    for value in (looped, mapping):
        assert str(json_error(value)) == "Circular reference detected"
        with pytest.raises(ValueError, match=r"^Circular reference detected$"):
            written(value)
    # the same container twice, side by side, is no cycle
    shared = [1, 2]
    assert written([shared, {"x": shared}]) == json.dumps([shared, {"x": shared}], indent=2)


class Recorder(io.StringIO):
    """A stream that remembers the length of each write."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, text: str) -> int:
        self.sizes.append(len(text))
        return super().write(text)


def record(value: object) -> Recorder:
    stream = Recorder()
    write_json(value, stream)
    assert stream.getvalue() == json.dumps(value, indent=2)
    return stream


def test_writes_in_large_pieces() -> None:
    flows = [
        {"id": i, "client": f"10.0.0.1:{i}", "eno": {"status": "encrypted", "tep": None}}
        for i in range(20_000)
    ]
    stream = record({"version": 1, "flows": flows})
    assert 10 < len(stream.sizes) <= len(flows) // 100
    # every write but the last joins a few thousand pieces
    assert min(stream.sizes[:-1]) >= 2048
    assert max(stream.sizes) < 256 * 1024
    assert len(record({"small": [1, 2, 3]}).sizes) == 1
    assert record([]).sizes == [2]


def test_at_most_one_write_per_item_plus_a_few() -> None:
    big = ["x" * 100_000 for _ in range(300)]
    stream = record(big)
    assert 1 < len(stream.sizes) <= len(big) + 2
    assert sum(stream.sizes) == len(json.dumps(big, indent=2))


def analyzed(path: Path) -> AnalysisResult:
    keys = path.with_suffix(".keys")
    keylog = KeyLog.load(keys) if keys.exists() else None
    return analyze_capture(path, keylog=keylog, payload=True)


def test_the_document_of_every_capture_as_json_dump_writes_it() -> None:
    results = [analyzed(path) for path in sorted(CAPTURES.glob("*.pcap"))]
    assert len(results) >= 30
    doc = to_json_document(results)
    assert len(doc["flows"]) > 50 and doc["findings"]
    assert any(flow["tcpcrypt"] and "plaintext_a_to_b" in flow["tcpcrypt"] for flow in doc["flows"])
    expected = io.StringIO()
    json.dump(doc, expected, indent=2)
    stream = Recorder()
    write_json(doc, stream)
    assert stream.getvalue() == expected.getvalue()
    assert len(stream.sizes) > 1
    # one capture alone, too
    single = to_json_document([analyzed(CAPTURES / "resume.pcap")])
    assert written(single) == json.dumps(single, indent=2)


def lazily(value: object) -> object:
    """``value`` with every list and tuple (not their subclasses) made a LazyArray of a
    generator: json writes the original as the LazyArray version must be written."""
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        items = [lazily(item) for item in value]
        return LazyArray(item for item in items)
    if isinstance(value, dict) and type(value) is dict:
        return {key: lazily(item) for key, item in value.items()}
    return value


@property_settings
@given(JSON_VALUES)
def test_a_lazy_array_as_json_writes_the_list(value: object) -> None:
    expected = json.dumps(value, indent=2)
    assert dumps_json(lazily(value)) == expected
    assert written(lazily(value)) == expected


def test_a_lazy_array_is_empty_or_nested_as_a_list() -> None:
    assert dumps_json(LazyArray(iter(()))) == "[]"
    assert dumps_json({"a": LazyArray([])}) == json.dumps({"a": []}, indent=2)
    nested = {"flows": LazyArray(LazyArray(iter([i, {"x": i}])) for i in range(3))}
    assert dumps_json(nested) == json.dumps({"flows": [[i, {"x": i}] for i in range(3)]}, indent=2)


def test_a_lazy_array_item_is_asked_for_after_the_one_before_was_written() -> None:
    """Written in pieces, a lazy array's items come one at a time: when an item is made,
    the stream already has everything before it, up to the last flush."""
    big = "y" * 70_000  # one item past the 64 Ki characters that start a write
    stream = Recorder()
    seen: list[int] = []

    def items() -> Iterator[object]:
        for i in range(5):
            seen.append(len(stream.getvalue()))
            yield {"n": i, "text": big}

    write_json({"version": 1, "flows": LazyArray(items())}, stream)
    assert stream.getvalue() == json.dumps(
        {"version": 1, "flows": [{"n": i, "text": big} for i in range(5)]}, indent=2
    )
    # each item after the first found its predecessor written (the writer flushed it)
    assert all(after > before + len(big) for before, after in pairwise(seen))


def test_json_itself_cannot_write_a_lazy_array() -> None:
    with pytest.raises(TypeError, match="LazyArray is not JSON serializable"):
        json.dumps(LazyArray([]))
