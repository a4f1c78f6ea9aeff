"""`tcpinc wireshark install | path | check`."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest

from tcpinc_tools.cli import main
from tcpinc_tools.wireshark import (
    PLUGIN_FILES,
    PLUGIN_SUBDIR,
    install,
    plugin_dir,
    plugin_path,
    probe_plugin,
)

from .tshark_run import TSHARK


def test_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wireshark", "path"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == str(plugin_path())
    assert Path(printed).name == "tcpinc.lua" and Path(printed).is_file()


def test_no_action(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wireshark"]) == 2
    assert "an ACTION is needed" in capsys.readouterr().err


def test_install_into_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "plugins" / "tcpinc"
    assert main(["wireshark", "install", "--dir", str(target)]) == 0
    out = capsys.readouterr().out
    assert f"installed {len(PLUGIN_FILES)} files into {target}" in out
    for name in PLUGIN_FILES:
        assert filecmp.cmp(target / name, plugin_dir() / name, shallow=False)


def test_install_over_an_old_copy(tmp_path: Path) -> None:
    (tmp_path / "tcpinc.lua").write_text("-- an old copy\n")
    assert install(tmp_path) == tmp_path
    assert filecmp.cmp(tmp_path / "tcpinc.lua", plugin_path(), shallow=False)


def test_install_where_it_cannot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert main(["wireshark", "install", "--dir", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("tcpinc wireshark: cannot install the plugin into") and err.count("\n") == 1
    )


def test_check_without_tshark(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["wireshark", "check", "--tshark", "/nonexistent/tshark"]) == 2
    assert "tshark not found" in capsys.readouterr().err


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt install tshark)")
@pytest.mark.parametrize("home_has_plugin", [False, True])
def test_install_and_check(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    home_has_plugin: bool,
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    if home_has_plugin:
        assert main(["wireshark", "install"]) == 0
        out = capsys.readouterr().out
        folder = tmp_path / ".local" / "lib" / "wireshark" / "plugins" / PLUGIN_SUBDIR
        assert str(folder) in out and (folder / "tcpinc.lua").is_file()
        installed = probe_plugin(script="")
        assert installed is not None and installed.directory == str(folder)
    else:
        assert probe_plugin(script="") is None
    status = main(["wireshark", "check"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Lua:      5." in out
    assert f"plugin:   {plugin_path()} loads" in out
    assert "AEAD:     luaossl" in out
    if home_has_plugin:
        assert f"installed: {tmp_path}" in out
    else:
        assert "installed: no" in out
