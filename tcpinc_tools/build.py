"""Which build of the package this is: the modules compiled with mypyc, or none.

``NATIVE_MODULES`` lists the modules on the per-packet path of ``tcpinc analyze``; setup.py
reads this tuple (without importing the package) and compiles them with mypyc when a wheel is
built (``pip install .``). An editable install, or ``TCPINC_PURE=1``, leaves them as Python.
``tcpinc --version`` says which build runs (docs/performance.md).
"""

from __future__ import annotations

import importlib.util

__all__ = ["NATIVE_MODULES", "build_description", "compiled_modules"]

# Compiled in a wheel build, in this order (setup.py parses this assignment).
NATIVE_MODULES = (
    "tcpinc_tools.wire.buffer",
    "tcpinc_tools.wire.eno",
    "tcpinc_tools.wire.eno_codec",
    "tcpinc_tools.wire.frames",
    "tcpinc_tools.wire.tcp_options",
    "tcpinc_tools.wire.tcpcrypt",
    "tcpinc_tools.capture.checksum",
    "tcpinc_tools.capture.expiry",
    "tcpinc_tools.capture.flows",
    "tcpinc_tools.capture.framing",
    "tcpinc_tools.capture.packet",
    "tcpinc_tools.capture.reader",
    "tcpinc_tools.capture.stream",
    "tcpinc_tools.analysis.analyzer",
    "tcpinc_tools.analysis.streaming",
    "tcpinc_tools.analysis.live",
    "tcpinc_tools.analysis.hashsplit",
    "tcpinc_tools.analysis.shares",
    "tcpinc_tools.analysis.cross",
    "tcpinc_tools.analysis.decrypt",
    "tcpinc_tools.analysis.eno_analysis",
    "tcpinc_tools.analysis.flow_analysis",
    "tcpinc_tools.analysis.model",
    "tcpinc_tools.analysis.option_space",
    "tcpinc_tools.analysis.registry",
    "tcpinc_tools.analysis.tcpcrypt_analysis",
    "tcpinc_tools.analysis.tcpcrypt_stream",
    "tcpinc_tools.analysis.jsontext",
    "tcpinc_tools.analysis.report",
)


def compiled_modules() -> list[str]:
    """The modules of :data:`NATIVE_MODULES` that this installation runs as C extensions
    (found, not imported)."""
    out = []
    for name in NATIVE_MODULES:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        if origin is not None and not origin.endswith(".py"):
            out.append(name)
    return out


def build_description() -> str:
    """``pure Python``, ``compiled`` or ``N of M modules compiled`` (a mixed installation)."""
    done = len(compiled_modules())
    if done == 0:
        return "pure Python"
    if done == len(NATIVE_MODULES):
        return f"compiled: {done} modules with mypyc"
    return f"{done} of {len(NATIVE_MODULES)} modules compiled"
