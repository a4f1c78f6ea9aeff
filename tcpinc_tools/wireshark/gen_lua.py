"""Generate the Lua dissector's field and expert tables, and docs/fields.md, from the registry.

The registry (:mod:`tcpinc_tools.analysis.registry`) is the one list of finding ids and field
names (ARCHITECTURE.md "Errors and findings"). This module writes it out twice:

- ``tcpinc_fields.lua`` next to the plugin: every field of :data:`FIELDS`, and the findings the
  dissector can raise as Wireshark expert infos (the ``tcpeno.*`` and ``tcpcrypt.*`` ids, and
  the two key-log ids); the plugin builds its ``ProtoField`` and ``ProtoExpert`` objects from it;
- ``docs/fields.md``: the field and finding reference.

Run ``python -m tcpinc_tools.wireshark.gen_lua`` after changing the registry (``--check`` only
compares, for CI); a test fails while the committed files differ from what this writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from ..analysis.registry import FIELDS, REGISTRY, FieldSpec, FindingSpec

__all__ = [
    "FIELDS_LUA",
    "LUA_EXPERT_EXTRAS",
    "LUA_EXPERT_PREFIXES",
    "docs_path",
    "lua_experts",
    "main",
    "render_docs",
    "render_lua",
]

# The findings the Lua dissector registers as expert infos: its own protocols' ids, and the
# key log's two (the dissector reads the key log too).
LUA_EXPERT_PREFIXES: Final = ("tcpeno.", "tcpcrypt.")
LUA_EXPERT_EXTRAS: Final = ("tcpinc.keylog.bad_line", "tcpinc.keylog.note")
FIELDS_LUA: Final = "tcpinc_fields.lua"

_LUA_HEADER: Final = """\
-- tcpinc_fields.lua: the dissector's fields and expert infos, generated from the registry
-- (tcpinc_tools/analysis/registry.py) by `python -m tcpinc_tools.wireshark.gen_lua`.
-- Do not edit: change the registry and run the generator again.
-- A helper of tcpinc.lua; on its own it only returns a table.
"""


def lua_experts() -> tuple[FindingSpec, ...]:
    """The registry entries the Lua dissector registers, in registry order."""
    return tuple(
        spec
        for spec in REGISTRY
        if spec.id.startswith(LUA_EXPERT_PREFIXES) or spec.id in LUA_EXPERT_EXTRAS
    )


def _lua_string(text: str) -> str:
    """A double-quoted Lua string literal (UTF-8 kept as is)."""
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\{ord(ch):03d}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _row(values: Iterable[str]) -> str:
    return "    { " + ", ".join(_lua_string(v) for v in values) + " },"


def render_lua(
    fields: Sequence[FieldSpec] = FIELDS, experts: Sequence[FindingSpec] | None = None
) -> str:
    """The text of tcpinc_fields.lua."""
    experts = lua_experts() if experts is None else experts
    lines = [_LUA_HEADER, "return {", "  -- { filter name, ProtoField type, description }"]
    lines.append("  fields = {")
    lines += [_row((f.name, f.type, f.description)) for f in fields]
    lines.append("  },")
    lines.append("  -- { expert id, severity, group, message }")
    lines.append("  experts = {")
    lines += ["  " + _row((e.id, e.severity.value, e.group.value, e.message)) for e in experts]
    lines.append("  },")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_docs(
    fields: Sequence[FieldSpec] = FIELDS, findings: Sequence[FindingSpec] = REGISTRY
) -> str:
    """The text of docs/fields.md."""
    in_lua = {spec.id for spec in lua_experts()}
    out = [
        "# Field and finding reference",
        "",
        "<!-- Generated from tcpinc_tools/analysis/registry.py by",
        "     `python -m tcpinc_tools.wireshark.gen_lua`. Do not edit by hand. -->",
        "",
        "One vocabulary serves the Python analyzer (`tcpinc analyze`, JSON finding ids), the",
        "Wireshark Lua dissector (display filter fields and expert infos) and this page.",
        "See [wireshark.md](wireshark.md) for the dissector and its preferences.",
        "",
        "## Display filter fields",
        "",
        f"{len(fields)} fields, usable in Wireshark display filters and in",
        "`tshark -T fields -e NAME`.",
        "",
        "| Field | Type | Description |",
        "|---|---|---|",
    ]
    out += [f"| `{f.name}` | {f.type} | {_md_cell(f.description)} |" for f in fields]
    out += [
        "",
        "## Findings (expert infos)",
        "",
        "Every finding id the toolkit reports. **Lua** marks the ids the Wireshark dissector",
        "registers as expert infos (filter with `_ws.expert.message`, or list them with",
        "`tshark -z expert`); the others come from the Python analyzer only (TCP reassembly",
        "and capture-level checks, which Wireshark's own TCP dissector does its way).",
        "",
        "| Id | Severity | Group | Message | Source | Lua |",
        "|---|---|---|---|---|---|",
    ]
    out += [
        f"| `{s.id}` | {s.severity.value} | {s.group.value} | {_md_cell(s.message)} | "
        f"{_md_cell(s.rfc)} | {'yes' if s.id in in_lua else ''} |"
        for s in findings
    ]
    return "\n".join(out) + "\n"


def plugin_dir() -> Path:
    """The folder holding the Lua plugin (package data)."""
    return Path(__file__).resolve().parent / "plugin"


def docs_path() -> Path:
    """docs/fields.md of the source tree this package lives in."""
    return Path(__file__).resolve().parents[2] / "docs" / "fields.md"


def _targets() -> list[tuple[Path, str]]:
    return [(plugin_dir() / FIELDS_LUA, render_lua()), (docs_path(), render_docs())]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tcpinc_tools.wireshark.gen_lua",
        description="Write tcpinc_fields.lua and docs/fields.md from the registry.",
    )
    parser.add_argument(
        "--check", action="store_true", help="only check that the files are current"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, text in _targets():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        for path in stale:
            print(
                f"{path} is not current: run python -m tcpinc_tools.wireshark.gen_lua",
                file=sys.stderr,
            )
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
