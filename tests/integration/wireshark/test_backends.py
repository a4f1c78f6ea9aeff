"""How decryption behaves with each AEAD implementation the plugin can use.

Only Wireshark 4.0 with Lua 5.2 is installed here, so the three cases are made on it:

- luaossl (lua-luaossl installed): decrypts (the other tests of this folder);
- Gcrypt (Wireshark 4.6+): lua/gcrypt_shim.lua provides the GcryptCipher API with the
  documented calls, and lua/hide_luaossl.lua makes luaossl unloadable for the plugin, so the
  plugin takes its "gcrypt" path and hashes with its plain-Lua SHA-256;
- neither: luaossl hidden, no shim: frames are delimited but not decrypted, and exactly one
  expert note in the whole capture says why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tcpinc_tools.wireshark import plugin_dir, plugin_path

from .tshark_run import CAPTURES, LUA_DIR, TSHARK, Run, lua_errors, needs_tshark, split, tshark

pytestmark = needs_tshark

FIELDS = [
    "frame.number",
    "tcpcrypt.frame.clen",
    "tcpcrypt.session_id",
    "tcpcrypt.data",
    "tcpcrypt.aead",
    "tcpinc.keylog.note",
    "_ws.expert.message",
]
SHIM = [LUA_DIR / "gcrypt_shim.lua", LUA_DIR / "hide_luaossl.lua"]
HIDE = [LUA_DIR / "hide_luaossl.lua"]


def _run(name: str, *, before: list[Path], backend: str | None = None) -> Run:
    capture = CAPTURES / f"{name}.pcap"
    extra = ["-o", f"tcpcrypt.aead_backend:{backend}"] if backend else []
    return tshark(
        capture,
        keylog=capture.with_suffix(".keys"),
        fields=FIELDS,
        scripts_before=before,
        extra=extra,
        env={"TCPINC_PLUGIN_DIR": str(plugin_dir()), "TCPINC_LUA_PROBE": "1"},
    )


def _probe(run: Run) -> str:
    lines = [line for line in run.stdout.splitlines() if line.startswith("tcpinc-plugin ")]
    assert len(lines) == 1, run.stdout[:500]
    return lines[0]


def _notes(run: Run) -> list[str]:
    return [
        msg
        for row in run.rows
        if row["tcpinc.keylog.note"]
        for msg in split(row["_ws.expert.message"])
        if msg.startswith("Key log note")
    ]


@pytest.mark.parametrize(
    "name",
    ["resume", "fresh-x25519-chacha20poly1305", "fresh-p521-aes256gcm", "legacy-resume", "rekey"],
)
def test_gcrypt_path_decrypts_like_luaossl(name: str) -> None:
    reference = _run(name, before=[])
    shimmed = _run(name, before=SHIM)
    assert lua_errors(shimmed) == []
    assert "backends=gcrypt " in _probe(shimmed) and " hmac=lua " in _probe(shimmed)
    assert "chosen=luaossl" in _probe(reference)
    data = [r["tcpcrypt.data"] for r in reference.rows]
    assert any(data)
    assert [r["tcpcrypt.data"] for r in shimmed.rows] == data
    assert [r["tcpcrypt.session_id"] for r in shimmed.rows] == [
        r["tcpcrypt.session_id"] for r in reference.rows
    ]


def test_tag_failure_with_the_gcrypt_path() -> None:
    run = _run("attack-bad-tag", before=SHIM)
    messages = [m for r in run.rows for m in split(r["_ws.expert.message"])]
    assert any(m.startswith("Frame fails authentication") for m in messages)


def test_no_backend_one_note_and_no_plaintext() -> None:
    run = _run("resume", before=HIDE)
    assert lua_errors(run) == []
    assert "backends=none " in _probe(run) and "chosen=none " in _probe(run)
    assert sum(len(split(r["tcpcrypt.frame.clen"])) for r in run.rows) > 0
    assert not any(r["tcpcrypt.data"] or r["tcpcrypt.session_id"] for r in run.rows)
    notes = _notes(run)
    assert len(notes) == 1, notes
    assert "no AEAD implementation" in notes[0] and "lua-luaossl" in notes[0]


def test_backend_preference_none() -> None:
    run = _run("resume", before=[], backend="none")
    assert not any(r["tcpcrypt.data"] for r in run.rows)
    notes = _notes(run)
    assert len(notes) == 1 and "turned off" in notes[0]


def test_backend_preference_names_a_missing_backend() -> None:
    run = _run("fresh-x25519-aes128gcm", before=[], backend="gcrypt")
    assert not any(r["tcpcrypt.data"] for r in run.rows)
    notes = _notes(run)
    assert len(notes) == 1 and "'gcrypt' is not available" in notes[0]


def test_no_key_log_no_note() -> None:
    capture = CAPTURES / "resume.pcap"
    run = tshark(capture, keylog=None, fields=FIELDS, scripts_before=HIDE)
    assert _notes(run) == [] and not any(r["tcpcrypt.data"] for r in run.rows)


def test_environment_variable_is_the_default(tmp_path: Path) -> None:
    """TCPCRYPT_KEYLOG_FILE sets the preference's default, as SSLKEYLOGFILE does."""
    capture = CAPTURES / "fresh-x25519-aes128gcm.pcap"
    keys = str(capture.with_suffix(".keys"))
    assert TSHARK is not None
    argv = [TSHARK, "-n", "-r", str(capture), "-X", f"lua_script:{plugin_path()}"]
    argv += ["-T", "fields", "-e", "tcpcrypt.data"]
    env = {**os.environ, "TCPCRYPT_KEYLOG_FILE": keys, "HOME": str(tmp_path)}
    out = subprocess.run(argv, capture_output=True, text=True, env=env, check=True).stdout
    assert "474554" in out  # "GET"
