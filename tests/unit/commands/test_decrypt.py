"""``tcpinc decrypt``: the rewritten capture reads as plain TCP with the plaintext in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tcpinc_tools.capture.reader import read_packets
from tests.unit.commands.clirun import capture, keys, tcpinc


def test_decrypted_capture_is_plain_tcp_with_the_plaintext(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "plain.pcap"
    name = "fresh-x25519-chacha20poly1305"
    run = tcpinc(capsys, "decrypt", capture(name), "--keylog", keys(name), "-o", out)
    assert run.status == 0 and run.err == ""
    assert run.out == (
        f"1 of 1 connections decrypted (flows 1): 4 frames of plaintext; 2 segments left out, "
        f"0 added by splitting; 9 packets -> {out}\n"
    )
    # Read back by the analyzer: no ENO any more, the HTTP exchange as plain TCP.
    again = tcpinc(capsys, "analyze", "--json", out)
    (flow,) = json.loads(again.out)["flows"]
    assert flow["eno"] is None and flow["tcpcrypt"] is None
    # The NOPs where ENO was read as what they are: an option overwritten (by us).
    assert {f["id"] for f in flow["findings"]} == {"tcpeno.option_overwritten"}
    request = b"".join(p.payload for p in read_packets(out) if p.dport == 80)
    assert request.startswith(b"GET /fresh-x25519-chacha20poly1305 HTTP/1.1\r\n")
    assert flow["bytes_client_to_server"] == len(request)


def test_needs_a_key_log(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TCPCRYPT_KEYLOG_FILE", raising=False)
    run = tcpinc(capsys, "decrypt", capture("resume"), "-o", tmp_path / "x.pcap")
    assert run.status == 2
    assert run.err == "tcpinc decrypt: a key log is needed: --keylog F, or TCPCRYPT_KEYLOG_FILE\n"
    assert not (tmp_path / "x.pcap").exists()


def test_refuses_to_overwrite_its_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    copy = tmp_path / "c.pcap"
    copy.write_bytes(capture("resume").read_bytes())
    run = tcpinc(capsys, "decrypt", copy, "--keylog", keys("resume"), "-o", copy)
    assert (
        run.status == 2 and run.err == "tcpinc decrypt: the output cannot be the capture itself\n"
    )
    assert copy.read_bytes() == capture("resume").read_bytes()


def test_without_a_usable_key_everything_is_copied(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    log = tmp_path / "other.keys"
    log.write_text(f"TCPCRYPT_SS_INIT1 {'ab' * 32} {'cd' * 32}\n")
    out = tmp_path / "same.pcap"
    run = tcpinc(capsys, "decrypt", capture("resume"), "--keylog", log, "-o", out)
    assert run.status == 0
    assert run.err == (
        "tcpinc decrypt: warning: tcpcrypt without a usable key, copied as they are: "
        "flows 1, 2, 3\n"
    )
    assert out.read_bytes() == capture("resume").read_bytes()


def test_bad_captures(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "none.pcap"
    run = tcpinc(capsys, "decrypt", missing, "--keylog", keys("resume"), "-o", tmp_path / "o.pcap")
    assert run.status == 2 and run.err == f"tcpinc decrypt: {missing}: no such file\n"
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture("resume").read_bytes()[:1000])
    out = tmp_path / "part.pcap"
    run = tcpinc(capsys, "decrypt", cut, "--keylog", keys("resume"), "-o", out)
    assert run.status == 2
    assert run.err == f"tcpinc decrypt: {cut}: truncated packet record at byte 896\n"
    payloads = [p.payload for p in read_packets(out) if p.payload]
    assert payloads[0].startswith(b"GET /resume/0-fresh HTTP/1.1")


def test_bad_tag_frames_are_left_out_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    name = "attack-bad-tag"
    run = tcpinc(
        capsys, "decrypt", capture(name), "--keylog", keys(name), "-o", tmp_path / "o.pcap"
    )
    assert run.status == 0
    assert run.err == (
        "tcpinc decrypt: warning: 1 frames of decrypted connections did not authenticate; "
        "their bytes are left out\n"
    )
