"""Build of tcpinc-tools: the metadata is in pyproject.toml; this adds the compiled modules.

The per-packet path of ``tcpinc analyze`` (the modules of ``NATIVE_MODULES`` in
tcpinc_tools/build.py) is compiled to C extensions with mypyc, from the same mypy --strict
sources, when a wheel is built (``pip install .``): about 1.7x the pure interpreter's
speed (docs/performance.md). The package works the same without them:

- ``TCPINC_PURE=1`` builds without compiling;
- an editable install (``pip install -e .``, the development .venv) is never compiled, so
  a change to a source file is never shadowed by an older extension module beside it.
"""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path
from typing import Any

from setuptools import setup

HERE = Path(__file__).resolve().parent


def native_modules() -> list[str]:
    """The source files to compile: NATIVE_MODULES of tcpinc_tools/build.py, read without
    importing the package."""
    tree = ast.parse((HERE / "tcpinc_tools" / "build.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "NATIVE_MODULES" for t in node.targets
        ):
            names: tuple[str, ...] = ast.literal_eval(node.value)
            return [name.replace(".", "/") + ".py" for name in names]
    raise SystemExit("setup.py: no NATIVE_MODULES in tcpinc_tools/build.py")


# The setup.py commands that build extension modules (a wheel, an install, build_ext
# itself); the metadata commands (egg_info, dist_info) and the editable ones (editable_wheel,
# develop) compile nothing.
BUILDING = frozenset({"bdist_wheel", "build", "build_ext", "install"})
EDITABLE = frozenset({"editable_wheel", "develop"})


def ext_modules() -> list[Any]:
    commands = set(sys.argv[1:])
    if not commands & BUILDING or commands & EDITABLE:
        return []
    if os.environ.get("TCPINC_PURE", "") not in ("", "0"):
        return []
    from mypyc.build import mypycify  # a build requirement (pyproject.toml)

    return list(mypycify(native_modules(), opt_level="3", debug_level="0"))


setup(ext_modules=ext_modules())
