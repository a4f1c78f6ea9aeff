"""JSON text exactly as ``json.dump(value, stream, indent=2)`` writes it, without its cost.

With ``indent``, the standard library encodes in pure Python (a generator per container,
a ``yield`` per token); ``tcpinc analyze --json`` writes tens of megabytes that way. This
module writes the same characters: ``ensure_ascii`` (strings through the C
``json.encoder.encode_basestring_ascii``), ``NaN``/``Infinity``/``-Infinity`` for the
special floats, separators ``","`` and ``": "``, two spaces per level, keys in the dict's
order. It follows :mod:`json`'s order of type tests, so subclasses come out as there: a
``str`` subclass (a ``StrEnum`` member) as its text, an ``int`` subclass (an ``IntEnum``
member) through ``int.__repr__``, a ``float`` subclass through ``float.__repr__``, a ``bool``
as ``true``/``false``; dict keys that are ``float``, ``bool``, ``None`` or ``int`` become
strings as there. Anything else raises :mod:`json`'s ``TypeError``.

The pieces are collected in a list and written joined, a few thousand at a time (tens of
KiB), so that neither one huge string nor a write per token reaches the stream. The module
is compiled with mypyc in a wheel build (``tcpinc_tools.build.NATIVE_MODULES``): the hot
loops test exact types first (``type(x) is str``) and fall back to :mod:`json`'s
``isinstance`` chain only for subclasses and errors.

One addition json has not: a :class:`LazyArray` is written as an array of the items its
iterable gives while it is being written, so a document too large to hold can be written one
item at a time (``tcpinc analyze --json``'s flows). Everything else in the value is held.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable
from json.encoder import encode_basestring_ascii
from typing import Any, Final, TextIO, cast

__all__ = ["LazyArray", "dumps_json", "write_json"]

_INDENT: Final = "  "
# A write joins the pieces (tokens, keys with their indentation) collected until there are
# 2,048 of them (40-90 KiB of a report) or their strings reach 64 Ki characters: large
# enough that the stream's per-call cost vanishes, small enough not to double the memory.
_FLUSH_PIECES: Final = 2048
_FLUSH_CHARS: Final = 65536
# Containers nested deeper than this are checked for cycles (json checks every one; a
# cycle shallower than this repeats below it and is caught there, at no cost on the way).
_CYCLE_LEVEL: Final = 32
# Compiled code does not count its own recursion: the nesting is bounded by the
# interpreter's recursion limit (as json's is), and never more than this.
_MAX_LEVEL: Final = 10_000
# Exact str keys remembered per nesting level with their indentation and separator.
_KEY_CACHE: Final = 1024


class LazyArray:
    """An array whose items are made while it is written (only here: json does not know
    it). The items are taken once, in order; each is written before the next is asked for.
    """

    __slots__ = ("items",)

    def __init__(self, items: Iterable[object]) -> None:
        self.items = items


def _float_text(value: float) -> str:
    """``json``'s float: its ``repr``, or the JavaScript names of the special values."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


def _key_text(key: object) -> str:
    """A dict key as json converts it to a string (before quoting)."""
    if isinstance(key, str):
        return key
    if isinstance(key, float):
        return _float_text(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


class _Writer:
    """One encoding: the pieces not yet written, and the strings of each nesting level
    (indexed by the level of a container's items: 1 for the top value's)."""

    def __init__(self, stream: TextIO | None) -> None:
        self.stream = stream
        self.limit = _FLUSH_PIECES if stream is not None else sys.maxsize
        self.char_limit = _FLUSH_CHARS if stream is not None else sys.maxsize
        self.chars = 0  # of the string values among the pieces
        self.max_level = min(sys.getrecursionlimit(), _MAX_LEVEL)
        self.parts: list[str] = []
        self.markers: dict[int, object] = {}
        self.encode: Callable[[str], str] = encode_basestring_ascii
        self.item_sep: list[str] = [","]
        self.open_array: list[str] = ["["]
        self.open_object: list[str] = ["{"]
        self.close_array: list[str] = ["]"]
        self.close_object: list[str] = ["}"]
        self.first_keys: list[dict[str, str]] = [{}]
        self.next_keys: list[dict[str, str]] = [{}]

    def flush(self) -> None:
        if self.stream is not None and self.parts:
            self.stream.write("".join(self.parts))
            self.parts.clear()
            self.chars = 0

    def _grow(self, level: int) -> None:
        if level > self.max_level:
            raise RecursionError("maximum recursion depth exceeded while encoding a JSON object")
        while len(self.item_sep) <= level:
            n = len(self.item_sep)
            inner = "\n" + _INDENT * n
            outer = "\n" + _INDENT * (n - 1)
            self.item_sep.append("," + inner)
            self.open_array.append("[" + inner)
            self.open_object.append("{" + inner)
            self.close_array.append(outer + "]")
            self.close_object.append(outer + "}")
            self.first_keys.append({})
            self.next_keys.append({})

    def _mark(self, container: object) -> int:
        marker = id(container)
        if marker in self.markers:
            raise ValueError("Circular reference detected")
        self.markers[marker] = container
        return marker

    def _key(self, key: object, level: int, first: bool) -> str:
        """A key's piece: the separator (or ``{``), the indentation, the quoted key, ``: ``."""
        prefix = self.open_object[level] if first else self.item_sep[level]
        piece = prefix + self.encode(_key_text(key)) + ": "
        if type(key) is str:
            cache = self.first_keys[level] if first else self.next_keys[level]
            if len(cache) < _KEY_CACHE:
                cache[key] = piece
        return piece

    def put_value(self, value: object, level: int) -> None:
        """Any value at nesting ``level`` (0 for the top one), in json's order of tests."""
        parts = self.parts
        if isinstance(value, str):
            text = self.encode(value)
            parts.append(text)
            self.chars += len(text)
        elif value is None:
            parts.append("null")
        elif value is True:
            parts.append("true")
        elif value is False:
            parts.append("false")
        elif isinstance(value, int):
            parts.append(int.__repr__(value))
        elif isinstance(value, float):
            parts.append(_float_text(value))
        elif isinstance(value, (list, tuple)):
            if not value:
                parts.append("[]")
            elif type(value) is list:
                self.put_array(value, level + 1)
            else:
                # a tuple, or a list subclass: iterated as json iterates it
                self.put_array(list(cast(Any, value)), level + 1)
        elif isinstance(value, dict):
            if not value:
                parts.append("{}")
            elif type(value) is dict:
                self.put_object(value, level + 1)
            else:
                # a dict subclass: its own items(), as json asks for them
                self.put_object(dict(cast(Any, value).items()), level + 1)
        elif isinstance(value, LazyArray):
            self.put_items(value.items, level + 1)
        else:
            raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    def put_item(self, item: object, level: int) -> None:
        """An item of a container whose items sit at ``level``: the exact types a report is
        made of first, anything else through :meth:`put_value`."""
        parts = self.parts
        if type(item) is str:
            text = self.encode(item)
            parts.append(text)
            self.chars += len(text)
        elif type(item) is int:
            parts.append(str(item))
        elif item is None:
            parts.append("null")
        elif item is True:
            parts.append("true")
        elif item is False:
            parts.append("false")
        elif type(item) is dict:
            self.put_object(item, level + 1)
        elif type(item) is list:
            self.put_array(item, level + 1)
        elif type(item) is float:
            parts.append(_float_text(item))
        else:
            self.put_value(item, level)

    def put_array(self, items: list[object], level: int) -> None:
        """A list whose items sit at ``level``."""
        if level >= len(self.item_sep):
            self._grow(level)
        marker = self._mark(items) if level > _CYCLE_LEVEL else 0
        self.put_items(items, level)
        if marker:
            del self.markers[marker]

    def put_items(self, items: Iterable[object], level: int) -> None:
        """An array of ``items`` (a list, or a :class:`LazyArray`'s iterable, each item
        written before the next is asked for) at ``level``."""
        parts = self.parts
        if level >= len(self.item_sep):
            self._grow(level)
        limit = self.limit
        char_limit = self.char_limit
        sep = self.item_sep[level]
        first = True
        for item in items:
            if first:
                parts.append(self.open_array[level])
                first = False
            else:
                parts.append(sep)
            self.put_item(item, level)
            if len(parts) >= limit or self.chars >= char_limit:
                self.flush()
        parts.append("[]" if first else self.close_array[level])

    def put_object(self, obj: dict[Any, Any], level: int) -> None:
        """A dict whose values sit at ``level``."""
        parts = self.parts
        if not obj:
            parts.append("{}")
            return
        if level >= len(self.item_sep):
            self._grow(level)
        marker = self._mark(obj) if level > _CYCLE_LEVEL else 0
        limit = self.limit
        char_limit = self.char_limit
        first_keys = self.first_keys[level]
        next_keys = self.next_keys[level]
        first = True
        for key, item in obj.items():
            piece: str | None = None
            if type(key) is str:
                piece = first_keys.get(key) if first else next_keys.get(key)
            if piece is None:
                piece = self._key(key, level, first)
            first = False
            parts.append(piece)
            self.put_item(item, level)
            if len(parts) >= limit or self.chars >= char_limit:
                self.flush()
        parts.append(self.close_object[level])
        if marker:
            del self.markers[marker]


def write_json(value: object, stream: TextIO) -> None:
    """Write ``value`` to ``stream`` exactly as ``json.dump(value, stream, indent=2)`` does
    (no newline after it), in writes of a few thousand pieces each.

    Raises ``TypeError`` for a value or dict key json cannot encode (with json's message),
    ``ValueError`` for a container that contains itself. What was encoded before the error
    may have been written, as with json.dump.
    """
    writer = _Writer(stream)
    writer.put_value(value, 0)
    writer.flush()


def dumps_json(value: object) -> str:
    """``json.dumps(value, indent=2)``, the same string."""
    writer = _Writer(None)
    writer.put_value(value, 0)
    return "".join(writer.parts)
