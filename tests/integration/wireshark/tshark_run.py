"""Running tshark with the Lua plugin, and reading its ``-T fields`` output, for the tests of
this folder (as Wireshark's own test/lua suites do: tshark, fields, compare)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tcpinc_tools.wireshark import plugin_path, tshark_args
from tcpinc_tools.wireshark.gen_lua import lua_experts

TSHARK = shutil.which("tshark")
ROOT = Path(__file__).resolve().parents[3]
CAPTURES = ROOT / "captures"
LUA_DIR = Path(__file__).resolve().parent / "lua"
LUA_IDS = tuple(spec.id for spec in lua_experts())

needs_tshark = [
    pytest.mark.tshark,
    pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt install tshark)"),
]

SEP = "\t"
AGG = "|"


@dataclass(frozen=True)
class Run:
    """One tshark run: its stdout rows (split into fields), stdout and stderr."""

    fields: tuple[str, ...]
    rows: tuple[dict[str, str], ...]
    stdout: str
    stderr: str
    returncode: int

    def column(self, name: str) -> list[str]:
        return [row[name] for row in self.rows]


def captures() -> list[Path]:
    """Every committed capture that has a key log."""
    return sorted(p for p in CAPTURES.glob("*.pcap") if p.with_suffix(".keys").exists())


def tshark(
    capture: Path,
    *,
    keylog: str | os.PathLike[str] | None,
    fields: Sequence[str] = (),
    extra: Sequence[str] = (),
    scripts_before: Sequence[Path] = (),
    verbose: bool = False,
    env: dict[str, str] | None = None,
) -> Run:
    """Run tshark on ``capture`` with the plugin, the key log (None: none), and either
    ``-T fields`` for ``fields`` or ``-V`` (``verbose``). ``scripts_before`` load first."""
    assert TSHARK is not None
    argv = [TSHARK, "-n", "-r", str(capture)]
    for script in scripts_before:
        argv += ["-X", f"lua_script:{script}"]
    argv += tshark_args(keylog if keylog is not None else "")
    argv += list(extra)
    if verbose:
        argv += ["-V"]
    else:
        argv += ["-T", "fields", "-E", f"separator={SEP}", "-E", "occurrence=a"]
        argv += ["-E", f"aggregator={AGG}"]
        for name in fields:
            argv += ["-e", name]
    environment = {**os.environ, "TCPCRYPT_KEYLOG_FILE": ""}
    environment.update(env or {})
    proc = subprocess.run(
        argv, capture_output=True, text=True, check=False, timeout=300, env=environment
    )
    rows: list[dict[str, str]] = []
    if not verbose:
        for line in proc.stdout.splitlines():
            values = line.split(SEP)
            if len(values) == len(fields):
                rows.append(dict(zip(fields, values, strict=True)))
    return Run(tuple(fields), tuple(rows), proc.stdout, proc.stderr, proc.returncode)


def tshark_many(jobs: Sequence[tuple[Path, dict[str, object]]]) -> list[Run]:
    """Several tshark runs at once (each ``(capture, keyword arguments of tshark())``)."""
    with ThreadPoolExecutor(max_workers=min(8, (os.cpu_count() or 2) * 2)) as pool:
        futures = [pool.submit(tshark, cap, **kwargs) for cap, kwargs in jobs]  # type: ignore[arg-type]
        return [f.result() for f in futures]


def lua_errors(run: Run) -> list[str]:
    """Lines where Wireshark reports a Lua problem (a Lua Error expert, a load error)."""
    text = run.stdout + "\n" + run.stderr
    return [line for line in text.splitlines() if "Lua Error" in line or "Lua: Error" in line]


def split(value: str) -> list[str]:
    """The occurrences of one field in one row."""
    return [v for v in value.split(AGG) if v] if value else []


__all__ = [
    "AGG",
    "CAPTURES",
    "LUA_DIR",
    "LUA_IDS",
    "ROOT",
    "TSHARK",
    "Run",
    "captures",
    "lua_errors",
    "needs_tshark",
    "plugin_path",
    "split",
    "tshark",
    "tshark_many",
]
