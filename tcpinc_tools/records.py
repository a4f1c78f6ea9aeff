"""Pickling, copying and replacing the frozen dataclasses, the same whether their module is
compiled or not.

The hot modules are compiled with mypyc when the package is built (``setup.py``; the list is
``NATIVE_MODULES`` in :mod:`tcpinc_tools.build`). A compiled frozen dataclass pickles, by
default, as its attributes set one by one after construction, which the class's frozen guard
refuses (``FrozenInstanceError`` on load). :func:`picklable` registers, in :mod:`copyreg`,
a reduction through the constructor instead, for pure and compiled classes alike, so
results cross process boundaries (``--jobs``, ``--dask``) and ``copy.copy`` works in both
builds. Each module with frozen dataclasses that leave the process calls it for them.

The reduction is planned once per class, when it is registered. When the constructor takes
every field positionally, in order (every field ``init``, none ``kw_only``, no ``InitVar``),
an instance reduces to its class and its field values, ``(cls, (x, y))``: the results of a
large capture are tens of thousands of dataclasses, and this is several times cheaper to
pickle and to load than keywords. Otherwise it reduces to ``_rebuild(cls, init, rest)``:
the constructor called by keyword, then the fields outside it (``init=False``) set.
:func:`replace_fields` is :func:`dataclasses.replace` on the same plan.

Constructors. The frozen dataclasses made for every packet, frame or connection (options,
ENO suboptions, findings, results, summaries, frames, keys) are declared ``init=False``
with an ``__init__`` written out: the fields in order, with the fields' defaults, each set
with ``object.__setattr__``, which is what the generated ``__init__`` of a frozen dataclass
does. Compiled, mypyc turns the generated one into a call of an interpreted function with a
call of ``object.__setattr__`` per field (about 0.5 us for five fields), and the written
one into direct stores (about 0.02 us); everything else (eq, hash, repr, the frozen guard,
fields, replace) still comes from ``dataclass``. Such a constructor counts here as taking
every field in order when its signature lists them so; ``tests/unit/test_constructors.py``
checks every one against its fields.

>>> import copy, copyreg
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Point:
...     x: int
...     y: int
>>> picklable(Point)
>>> copyreg.dispatch_table[Point](Point(1, 2))[1]  # pickled as Point(1, 2)
(1, 2)
>>> copy.copy(Point(1, 2))
Point(x=1, y=2)
>>> replace_fields(Point(1, 2), y=3)
Point(x=1, y=3)
"""

from __future__ import annotations

import copyreg
import dataclasses
import inspect
import operator
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

__all__ = ["picklable", "replace_fields"]

_T = TypeVar("_T")
_Values = Callable[[Any], tuple[Any, ...]]
# What dataclasses marks an InitVar pseudo-field with (in __dataclass_fields__, never in
# dataclasses.fields()): an argument of the constructor that is not a field.
_INITVAR: Final = vars(dataclasses)["_FIELD_INITVAR"]


# The classes registered whose constructor takes every field in order: how to read their
# field values, and where each field is among them (for replace_fields).
_POSITIONAL: Final[dict[type, tuple[_Values, dict[str, int]]]] = {}


def picklable(*classes: type) -> None:
    """Pickle (and copy) each dataclass in ``classes`` through its constructor: by position
    when it takes every field in order, else by keyword."""
    for cls in classes:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"{getattr(cls, '__qualname__', cls)!r} is not a dataclass")
        fields = dataclasses.fields(cls)
        if _takes_fields_in_order(cls, fields):
            values = _getter(tuple(f.name for f in fields))
            _POSITIONAL[cls] = (values, {f.name: i for i, f in enumerate(fields)})
            copyreg.pickle(cls, _by_position(cls, values))
        else:
            _POSITIONAL.pop(cls, None)
            copyreg.pickle(cls, _by_keyword(cls, fields))


def replace_fields(obj: _T, /, **changes: Any) -> _T:
    """``obj`` with the fields in ``changes`` replaced, as :func:`dataclasses.replace` (which
    it falls back on, errors included, for a class that :func:`picklable` did not register
    or whose constructor does not take every field in order)."""
    plan = _POSITIONAL.get(type(obj))
    if plan is not None:
        values_of, index = plan
        values = list(values_of(obj))
        try:
            for name, value in changes.items():
                values[index[name]] = value
        except KeyError:  # not a field: dataclasses.replace says so
            pass
        else:
            return type(obj)(*values)
    replaced: _T = dataclasses.replace(cast(Any, obj), **changes)
    return replaced


def _takes_fields_in_order(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> bool:
    """Whether the constructor of ``cls`` is the generated one and its parameters are its
    fields in order; refuses a class that cannot be built again from its fields at all."""
    pseudo = getattr(cls, "__dataclass_fields__", {}).values()
    initvars = [f for f in pseudo if getattr(f, "_field_type", None) is _INITVAR]
    for var in initvars:
        if var.default is dataclasses.MISSING:
            raise TypeError(
                f"{cls.__qualname__}: the InitVar {var.name} has no default, so an "
                "instance cannot be built again from its fields"
            )
    params = getattr(cls, "__dataclass_params__", None)
    return (
        (params is None or bool(params.init) or _own_init_takes(cls, fields))
        and not initvars
        and all(f.init and not f.kw_only for f in fields)
    )


def _own_init_takes(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> bool:
    """Whether the written-out constructor of ``cls`` (``init=False``) takes ``fields`` in
    order, by position or keyword, with their defaults (the signature of a compiled class
    comes from its text signature)."""
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):  # no signature to read
        return False
    if [p.name for p in params] != [f.name for f in fields]:
        return False
    for param, field in zip(params, fields, strict=True):
        if param.kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
            return False
        if field.default is dataclasses.MISSING:
            if param.default is not inspect.Parameter.empty:
                return False
        elif param.default is inspect.Parameter.empty or param.default != field.default:
            return False
    return True


def _by_position(cls: type, values: _Values) -> Callable[[Any], tuple[Any, tuple[Any, ...]]]:
    """The reduction of an instance of ``cls`` to ``cls(*values(obj))``."""

    def reduce(obj: Any) -> tuple[Any, tuple[Any, ...]]:
        return cls, values(obj)

    return reduce


def _by_keyword(
    cls: type, fields: tuple[dataclasses.Field[Any], ...]
) -> Callable[[Any], tuple[Any, tuple[Any, ...]]]:
    """The reduction of an instance of ``cls`` to :func:`_rebuild`: the constructor by
    keyword, then the fields outside it."""
    init = tuple(f.name for f in fields if f.init)
    rest = tuple(f.name for f in fields if not f.init)
    init_values, rest_values = _getter(init), _getter(rest)

    def reduce(obj: Any) -> tuple[Any, tuple[Any, ...]]:
        return _rebuild, (
            cls,
            dict(zip(init, init_values(obj), strict=True)),
            dict(zip(rest, rest_values(obj), strict=True)),
        )

    return reduce


def _getter(names: tuple[str, ...]) -> _Values:
    """The values of the attributes ``names`` of an object, as a tuple."""
    if len(names) > 1:
        values: _Values = operator.attrgetter(*names)
        return values
    if names:
        one = operator.attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _rebuild(cls: type, init: dict[str, Any], rest: dict[str, Any]) -> Any:
    obj = cls(**init)
    for name, value in rest.items():  # fields outside __init__ (init=False)
        object.__setattr__(obj, name, value)
    return obj
