"""``tcpinc wireshark``: install, locate and check the Lua dissector.

    tcpinc wireshark install [--dir DIR] [--tshark PATH]
    tcpinc wireshark path
    tcpinc wireshark check [--tshark PATH]

``install`` copies the plugin (tcpinc.lua and its helpers) into a ``tcpinc`` folder of
Wireshark's personal Lua plugins folder, which Wireshark and tshark load at start.
``path`` prints this package's copy of tcpinc.lua (for ``tshark -X lua_script:``).
``check`` says whether tshark is there, built with Lua, whether the plugin loads, and which
AEAD implementation decrypts frames. Errors are one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Final, TextIO

from ..wireshark import (
    PLUGIN_FILES,
    PluginProbe,
    WiresharkError,
    install,
    installed_dir,
    plugin_path,
    probe_plugin,
    tshark_info,
)
from . import COMMANDS

__all__ = ["HELP", "configure", "run"]

HELP: Final = COMMANDS["wireshark"]

_BACKEND_TEXT: Final = {
    "gcrypt": "Wireshark's Gcrypt Lua API (Wireshark 4.6 and later)",
    "luaossl": "luaossl (lua-luaossl): OpenSSL ciphers, GHASH and Poly1305 in Lua",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "The Lua dissector for TCP-ENO and tcpcrypt: fields, expert infos and decryption with "
        "the key log, in Wireshark and tshark."
    )
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    p_install = sub.add_parser("install", help="copy the plugin into the personal plugins folder")
    p_install.add_argument("--dir", metavar="DIR", help="install into DIR instead")
    p_install.add_argument("--tshark", metavar="PATH", help="the tshark to ask for its folders")
    sub.add_parser("path", help="print the path of this package's tcpinc.lua")
    p_check = sub.add_parser("check", help="tshark, Lua, plugin and AEAD backend status")
    p_check.add_argument("--tshark", metavar="PATH", help="the tshark to check")


def _fail(message: str) -> int:
    sys.stderr.write(f"tcpinc wireshark: {message}\n")
    return 2


def run(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None)
    try:
        if action == "install":
            return _install(args, sys.stdout)
        if action == "path":
            sys.stdout.write(f"{plugin_path()}\n")
            return 0
        if action == "check":
            return check(args.tshark, sys.stdout)
    except WiresharkError as exc:
        return _fail(str(exc))
    return _fail("an ACTION is needed: install, path or check")


def _install(args: argparse.Namespace, out: TextIO) -> int:
    dest = install(args.dir, tshark=args.tshark) if args.dir else install(tshark=args.tshark)
    out.write(f"installed {len(PLUGIN_FILES)} files into {dest}\n")
    for name in PLUGIN_FILES:
        out.write(f"  {dest / name}\n")
    out.write(
        "Wireshark and tshark load it at start. Decrypt with the key log preference, e.g.\n"
        "  tshark -o tcpcrypt.keylog_file:KEYS -o tcp.reassemble_out_of_order:TRUE -r CAP\n"
        "or set TCPCRYPT_KEYLOG_FILE before starting Wireshark.\n"
    )
    return 0


def _describe(probe: PluginProbe) -> str:
    if not probe.decrypts:
        return "none: frames are shown but not decrypted (install lua-luaossl, or Wireshark 4.6+)"
    return f"{probe.chosen} - {_BACKEND_TEXT.get(probe.chosen, probe.chosen)}"


def check(tshark: str | None, out: TextIO) -> int:
    """Report on tshark and the plugin; 0 when the plugin loads and can decrypt, 1 when it
    loads but cannot decrypt, 2 when tshark or Lua is missing or the plugin does not load."""
    info = tshark_info(tshark)
    out.write(f"tshark:   {info.path} (Wireshark {info.version or 'version unknown'})\n")
    if info.lua is None:
        out.write("Lua:      no - this tshark was built without Lua; the plugin cannot load\n")
        return 2
    out.write(f"Lua:      {info.lua}\n")
    out.write(f"plugins:  {info.personal_lua_plugins} (personal Lua plugins folder)\n")
    package = probe_plugin(tshark=info.path)
    if package is None:
        out.write(
            f"plugin:   {plugin_path()} does not load (run tshark -X lua_script:... to see why)\n"
        )
        return 2
    out.write(f"plugin:   {plugin_path()} loads (version {package.version}, {package.lua})\n")
    installed = probe_plugin(tshark=info.path, script="")
    target = installed_dir(info.path)
    if installed is None:
        out.write(f"installed: no (tcpinc wireshark install puts it in {target})\n")
    else:
        where = installed.directory
        stale = " - older than this package's" if installed.version != package.version else ""
        out.write(f"installed: {where} (version {installed.version}{stale})\n")
    out.write(f"HMAC:     {package.hmac}\n")
    out.write(f"AEAD:     {_describe(package)}\n")
    available = ", ".join(package.backends) or "none"
    out.write(f"          available: {available}\n")
    return 0 if package.decrypts else 1
