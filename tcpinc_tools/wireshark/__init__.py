"""Wireshark and tshark: the Lua dissector that ships with this package, and a pyshark bridge.

The plugin (``tcpinc.lua`` and its helpers, package data in ``plugin/``; the source tree shows
the same folder as ``dissectors/lua``) gives Wireshark the fields, expert infos and decryption
of ``tcpinc analyze``. From Python::

    from tcpinc_tools.wireshark import open_capture

    with open_capture("captures/resume.pcap", keylog="captures/resume.keys",
                      display_filter="http.request") as cap:
        for pkt in cap:
            print(pkt.number, pkt.tcpcrypt.session_id, pkt.http.request_method)

This module runs tshark (through pyshark or subprocess): it sits at the level of the analysis
or above, and nothing in ``wire``, ``crypto`` or ``protocol`` imports it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..errors import TcpincError

if TYPE_CHECKING:  # pragma: no cover
    import pyshark

__all__ = [
    "BACKEND_PREF",
    "KEYLOG_PREF",
    "OUT_OF_ORDER_PREF",
    "PLUGIN_FILES",
    "PLUGIN_SUBDIR",
    "PluginProbe",
    "TsharkInfo",
    "WiresharkError",
    "install",
    "installed_dir",
    "open_capture",
    "personal_plugin_dir",
    "plugin_dir",
    "plugin_path",
    "probe_plugin",
    "tshark_args",
    "tshark_info",
]

# The plugin: the dissector (first) and the helpers it loads from its own folder.
_PLUGIN_MODULES: Final = (
    "tcpinc",
    "tcpinc_fields",
    "tcpinc_crypto",
    "tcpinc_eno",
    "tcpinc_keylog",
    "tcpinc_tcpcrypt",
)
PLUGIN_FILES: Final = tuple(f"{module}.lua" for module in _PLUGIN_MODULES)
# The folder `install` creates inside Wireshark's personal Lua plugins folder.
PLUGIN_SUBDIR: Final = "tcpinc"


def _pref(protocol: str, name: str) -> str:
    """A Wireshark preference name: ``protocol.name``."""
    return f"{protocol}.{name}"


KEYLOG_PREF: Final = _pref("tcpcrypt", "keylog_file")
BACKEND_PREF: Final = _pref("tcpcrypt", "aead_backend")
# Wireshark reassembles out-of-order segments only with this TCP preference; a tcpcrypt frame
# cut by a lost and retransmitted segment needs it.
OUT_OF_ORDER_PREF: Final = _pref("tcp", "reassemble_out_of_order")
# Set in tshark's environment, the plugin prints one line about itself when it loads.
PROBE_ENV: Final = "TCPINC_LUA_PROBE"
# Where Wireshark 4.x looks for personal Lua plugins when `tshark -G folders` cannot say.
DEFAULT_PERSONAL_DIR: Final = Path.home() / ".local" / "lib" / "wireshark" / "plugins"
_TIMEOUT: Final = 60.0


class WiresharkError(TcpincError):
    """tshark is missing, failed, or the plugin cannot be installed."""


def plugin_dir() -> Path:
    """The folder that holds the plugin files of this package."""
    return Path(__file__).resolve().parent / "plugin"


def plugin_path() -> Path:
    """``tcpinc.lua`` of this package (give it to ``tshark -X lua_script:``)."""
    return plugin_dir() / PLUGIN_FILES[0]


def find_tshark(tshark: str | None = None) -> str | None:
    """The tshark executable: ``tshark`` if given, else the first one on PATH."""
    return shutil.which(tshark or "tshark")


def _require_tshark(tshark: str | None) -> str:
    found = find_tshark(tshark)
    if found is None:
        raise WiresharkError(
            "tshark not found on PATH (Debian: apt install tshark; the plugin also needs "
            "lua-luaossl for decryption before Wireshark 4.6)"
        )
    return found


def _run(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=_TIMEOUT,
            env=dict(env) if env is not None else None,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WiresharkError(f"{argv[0]}: {exc}") from None
    return done.stdout + done.stderr


@dataclass(frozen=True, slots=True)
class TsharkInfo:
    """What ``tshark -v`` and ``tshark -G folders`` say."""

    path: str
    version: str | None
    lua: str | None  # "5.2.4", or None when built without Lua
    personal_lua_plugins: Path


_VERSION = re.compile(r"TShark \(Wireshark\) (\S+)")
_LUA = re.compile(r"with\s+Lua\s+(\d+(?:\.\d+)*)", re.S)
_FOLDER = re.compile(r"^Personal Lua Plugins:\s*(.+?)\s*$", re.M)


def tshark_info(tshark: str | None = None) -> TsharkInfo:
    """Version, Lua support and personal Lua plugins folder of tshark (WiresharkError when
    tshark is not found)."""
    path = _require_tshark(tshark)
    text = _run([path, "-v"])
    version = _VERSION.search(text)
    lua = _LUA.search(text)
    folders = _run([path, "-G", "folders"])
    folder = _FOLDER.search(folders)
    return TsharkInfo(
        path=path,
        version=version.group(1) if version else None,
        lua=lua.group(1) if lua and "without Lua" not in text else None,
        personal_lua_plugins=Path(folder.group(1)) if folder else DEFAULT_PERSONAL_DIR,
    )


def personal_plugin_dir(tshark: str | None = None) -> Path:
    """Wireshark's personal Lua plugins folder (``~/.local/lib/wireshark/plugins`` on
    Linux with Wireshark 4.x), as tshark reports it."""
    if find_tshark(tshark) is None:
        return DEFAULT_PERSONAL_DIR
    return tshark_info(tshark).personal_lua_plugins


def installed_dir(tshark: str | None = None) -> Path:
    """Where :func:`install` puts the plugin."""
    return personal_plugin_dir(tshark) / PLUGIN_SUBDIR


def install(target: str | os.PathLike[str] | None = None, *, tshark: str | None = None) -> Path:
    """Copy the plugin files into ``target`` (default: :func:`installed_dir`), replacing an
    older copy; returns the folder. Wireshark loads Lua plugins from subfolders too."""
    dest = Path(target) if target is not None else installed_dir(tshark)
    try:
        dest.mkdir(parents=True, exist_ok=True)
        for name in PLUGIN_FILES:
            shutil.copyfile(plugin_dir() / name, dest / name)
    except OSError as exc:
        raise WiresharkError(f"cannot install the plugin into {dest}: {exc}") from None
    return dest


@dataclass(frozen=True, slots=True)
class PluginProbe:
    """The line the plugin prints when it loads with ``TCPINC_LUA_PROBE`` set."""

    version: str
    lua: str
    backends: tuple[str, ...]  # usable AEAD implementations, best first
    hmac: str  # "luaossl" or "lua"
    chosen: str  # the AEAD backend in use, or "none"
    directory: str

    @property
    def decrypts(self) -> bool:
        return self.chosen != "none"


_PROBE = re.compile(
    r"tcpinc-plugin version=(\S+) lua=(.+?) backends=(\S+) hmac=(\S+) chosen=(\S+) dir=(.+)$",
    re.M,
)


def probe_plugin(
    *, tshark: str | None = None, script: str | os.PathLike[str] | None = None
) -> PluginProbe | None:
    """Load the plugin in tshark and read what it says about itself: ``script`` (default:
    this package's copy), or with ``script=""`` only what Wireshark loads on its own (the
    installed plugin). None when no plugin loaded."""
    path = _require_tshark(tshark)
    argv = [path, "-G", "protocols"]  # -G must come first
    chosen = plugin_path() if script is None else script
    env = {**os.environ, PROBE_ENV: "1"}
    with tempfile.TemporaryDirectory(prefix="tcpinc-probe-") as home:
        if str(chosen):
            argv += ["-X", f"lua_script:{chosen}"]
            # An empty home: no personal plugin (an installed copy) loads before this one.
            env["HOME"] = home
        out = _run(argv, env=env)
    match = _PROBE.search(out)
    if match is None:
        return None
    backends = tuple(b for b in match.group(3).split(",") if b != "none")
    return PluginProbe(
        version=match.group(1),
        lua=match.group(2),
        backends=backends,
        hmac=match.group(4),
        chosen=match.group(5),
        directory=match.group(6).strip(),
    )


def tshark_args(
    keylog: str | os.PathLike[str] | None = None,
    *,
    plugin: bool = True,
    out_of_order: bool = True,
    backend: str | None = None,
) -> list[str]:
    """tshark options that load this package's plugin and set its key log.

    ``keylog`` None leaves the preference alone (then ``TCPCRYPT_KEYLOG_FILE`` applies); ""
    turns decryption off. ``out_of_order`` sets ``tcp.reassemble_out_of_order`` so frames
    survive lost and reordered segments. ``backend``: ``auto``, ``gcrypt``, ``luaossl`` or
    ``none`` (the ``tcpcrypt.aead_backend`` preference).
    """
    args: list[str] = []
    if plugin:
        args += ["-X", f"lua_script:{plugin_path()}"]
    if keylog is not None:
        args += ["-o", f"{KEYLOG_PREF}:{os.fspath(keylog)}"]
    if out_of_order:
        args += ["-o", f"{OUT_OF_ORDER_PREF}:TRUE"]
    if backend is not None:
        args += ["-o", f"{BACKEND_PREF}:{backend}"]
    return args


def open_capture(
    path: str | os.PathLike[str],
    keylog: str | os.PathLike[str] | None = None,
    display_filter: str | None = None,
    **kwargs: Any,
) -> pyshark.FileCapture:
    """A :class:`pyshark.FileCapture` of ``path`` dissected with this package's plugin.

    ``keylog`` is the tcpcrypt key log (docs/keylog.md) for decryption; None leaves
    ``TCPCRYPT_KEYLOG_FILE`` in charge. ``display_filter`` is a Wireshark display filter
    (``tcpcrypt.flags.fin == 1``, ``tcpeno.status == "fallback"``...). Other keyword
    arguments go to FileCapture (``tshark_path``, ``keep_packets``, ``use_json``...);
    ``custom_parameters`` (a list) and ``override_prefs`` are added to the plugin's.
    """
    import pyshark

    if not Path(path).exists():
        raise WiresharkError(f"{os.fspath(path)}: no such capture file")
    custom = tshark_args(plugin=True, out_of_order=False)
    extra = kwargs.pop("custom_parameters", None) or []
    if not isinstance(extra, list):
        raise WiresharkError("custom_parameters must be a list of tshark arguments")
    prefs: dict[str, str] = {OUT_OF_ORDER_PREF: "TRUE"}
    if keylog is not None:
        prefs[KEYLOG_PREF] = os.fspath(keylog)
    prefs.update(kwargs.pop("override_prefs", None) or {})
    return pyshark.FileCapture(
        os.fspath(path),
        display_filter=display_filter,
        custom_parameters=custom + list(extra),
        override_prefs=prefs,
        **kwargs,
    )
