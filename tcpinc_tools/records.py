"""Pickling of the frozen dataclasses, the same whether their module is compiled or not.

The hot modules are compiled with mypyc when the package is built (``setup.py``; the list is
``NATIVE_MODULES`` in :mod:`tcpinc_tools.build`). A compiled frozen dataclass pickles, by
default, as its attributes set one by one after construction, which the class's frozen guard
refuses (``FrozenInstanceError`` on load). :func:`picklable` registers, in :mod:`copyreg`,
a reduction through the constructor instead, for pure and compiled classes alike, so
results cross process boundaries (``--jobs``, ``--dask``) and ``copy.copy`` works in both
builds. Each module with frozen dataclasses that leave the process calls it for them.

>>> import pickle
>>> from dataclasses import dataclass
>>> @dataclass(frozen=True)
... class Point:
...     x: int
...     y: int
>>> picklable(Point)
>>> pickle.loads(pickle.dumps(Point(1, 2)))
Point(x=1, y=2)
"""

from __future__ import annotations

import copyreg
import dataclasses
from typing import Any

__all__ = ["picklable"]


def picklable(*classes: type) -> None:
    """Pickle (and copy) each dataclass in ``classes`` through its constructor."""
    for cls in classes:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__qualname__} is not a dataclass")
        copyreg.pickle(cls, _reduce)


def _reduce(obj: Any) -> tuple[Any, tuple[type, dict[str, Any], dict[str, Any]]]:
    init: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for field in dataclasses.fields(obj):
        (init if field.init else rest)[field.name] = getattr(obj, field.name)
    return _rebuild, (type(obj), init, rest)


def _rebuild(cls: type, init: dict[str, Any], rest: dict[str, Any]) -> Any:
    obj = cls(**init)
    for name, value in rest.items():  # fields outside __init__ (init=False)
        object.__setattr__(obj, name, value)
    return obj
