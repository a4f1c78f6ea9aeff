"""The Lua tables and docs/fields.md come from the registry, and are current; the plugin
registers exactly the registry's names in Wireshark."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

from tcpinc_tools import __version__
from tcpinc_tools.analysis.registry import FIELDS, REGISTRY
from tcpinc_tools.wireshark import PLUGIN_FILES, plugin_dir, plugin_path
from tcpinc_tools.wireshark.gen_lua import (
    FIELDS_LUA,
    LUA_EXPERT_EXTRAS,
    docs_path,
    lua_experts,
    main,
    render_docs,
    render_lua,
)

from .tshark_run import ROOT, TSHARK

ROW = re.compile(r'^\s*\{ "([^"]+)", "([^"]+)", ')


def _lua_rows(section: str) -> list[tuple[str, str]]:
    text = (plugin_dir() / FIELDS_LUA).read_text(encoding="utf-8")
    body = text.split(f"  {section} = {{", 1)[1].split("\n  },", 1)[0]
    return [m.groups() for line in body.splitlines() if (m := ROW.match(line))]  # type: ignore[misc]


def test_generated_files_are_current() -> None:
    assert (plugin_dir() / FIELDS_LUA).read_text(encoding="utf-8") == render_lua()
    assert docs_path().read_text(encoding="utf-8") == render_docs()
    assert main(["--check"]) == 0


def test_check_reports_a_stale_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "fields.md"
    stale.write_text("old\n")
    monkeypatch.setattr("tcpinc_tools.wireshark.gen_lua.docs_path", lambda: stale)
    assert main(["--check"]) == 1
    assert "is not current" in capsys.readouterr().err
    assert stale.read_text() == "old\n"
    assert main([]) == 0
    assert stale.read_text() == render_docs()


def test_lua_tables_match_the_registry() -> None:
    fields = _lua_rows("fields")
    assert fields == [(f.name, f.type) for f in FIELDS]
    experts = {name for name, _ in _lua_rows("experts")}
    registry = {spec.id for spec in REGISTRY}
    mine = {i for i in registry if i.startswith(("tcpeno.", "tcpcrypt."))} | set(LUA_EXPERT_EXTRAS)
    assert experts == mine == {spec.id for spec in lua_experts()}
    severities = {name: sev for name, sev in _lua_rows("experts")}
    assert all(severities[s.id] == s.severity.value for s in lua_experts())


def test_plugin_files_and_version() -> None:
    for name in PLUGIN_FILES:
        assert (plugin_dir() / name).is_file()
    text = plugin_path().read_text(encoding="utf-8")
    assert f'local VERSION = "{__version__}"' in text
    # the source tree shows the same files as dissectors/lua
    assert (ROOT / "dissectors" / "lua" / "tcpinc.lua").read_text(encoding="utf-8") == text


def test_docs_list_every_id() -> None:
    text = docs_path().read_text(encoding="utf-8")
    for spec in FIELDS:
        assert f"`{spec.name}`" in text
    for finding in REGISTRY:
        assert f"`{finding.id}`" in text


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt install tshark)")
def test_wireshark_registers_the_names(tmp_path: Path) -> None:
    assert TSHARK is not None
    out = subprocess.run(
        [TSHARK, "-G", "fields", "-X", f"lua_script:{plugin_path()}"],
        capture_output=True,
        text=True,
        check=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    ).stdout
    fields = {parts[2]: parts[0] for line in out.splitlines() if len(parts := line.split("\t")) > 2}
    for spec in FIELDS:
        kind = "P" if spec.name in ("tcpeno", "tcpcrypt") else "F"
        assert fields.get(spec.name) == kind, spec.name
    for finding in lua_experts():
        assert finding.id in fields, finding.id


def test_lower_layers_do_not_import_the_wireshark_module() -> None:
    """The bridge runs tshark: it sits at the analysis level or above (ARCHITECTURE.md)."""
    package = ROOT / "tcpinc_tools"
    lower = ["wire", "crypto", "protocol", "capture", "sim", "analysis", "keylog", "errors.py"]
    offenders = []
    for part in lower:
        base = package / part
        for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    names = [("." * node.level) + (node.module or "")]
                if any("wireshark" in name for name in names):
                    offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
