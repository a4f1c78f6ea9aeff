"""``tcpinc follow``: the conversation as text, client lines '>' and server lines '<'."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.commands.clirun import capture, keys, tcpinc

RULE = "=" * 67


def test_default_is_the_first_decrypted_connection(capsys: pytest.CaptureFixture[str]) -> None:
    run = tcpinc(capsys, "follow", capture("resume"), "--keylog", keys("resume"))
    assert run.status == 0
    lines = run.out.splitlines()
    assert lines[:5] == [
        RULE,
        "Follow: flow 1, tcpcrypt Curve25519 AES_128_GCM, decrypted",
        "Client: 192.0.2.1:51861  (lines marked >)",
        "Server: 198.51.100.1:80  (lines marked <)",
        RULE,
    ]
    assert lines[5:11] == [
        "> GET /resume/0-fresh HTTP/1.1",
        "> Host: server.example",
        "> User-Agent: tcpinc-gen",
        "> Connection: close",
        "> ",
        "< HTTP/1.1 200 OK",
    ]
    assert lines[-2:] == [RULE, "client 97 bytes, server 187 bytes"]
    assert run.err == (
        "tcpinc follow: showing flow 1 of 3; pick another with --flow N (ids: tcpinc "
        "analyze), or --all\n"
    )


def test_pick_a_flow_and_all(capsys: pytest.CaptureFixture[str]) -> None:
    run = tcpinc(capsys, "follow", capture("resume"), "--keylog", keys("resume"), "--flow", "3")
    assert "Follow: flow 3, tcpcrypt Curve25519 AES_128_GCM resumed, decrypted" in run.out
    assert "> GET /resume/2-resumed HTTP/1.1" in run.out and run.err == ""
    every = tcpinc(capsys, "follow", capture("resume"), "--keylog", keys("resume"), "--all")
    assert [line for line in every.out.splitlines() if line.startswith("Follow:")] == [
        f"Follow: flow {n}, tcpcrypt Curve25519 AES_128_GCM{' resumed' if n > 1 else ''}, decrypted"
        for n in (1, 2, 3)
    ]


def test_plain_and_undecrypted_connections(capsys: pytest.CaptureFixture[str]) -> None:
    plain = tcpinc(capsys, "follow", capture("fallback-no-common-tep"))
    assert "Follow: flow 1, plain TCP (TCP-ENO fell back: tcpeno.fallback.no_common_tep)" in (
        plain.out
    )
    assert "> GET /fallback-no-common-tep HTTP/1.1" in plain.out
    locked = tcpinc(capsys, "follow", capture("resume"), "--flow", "2")
    assert "Follow: flow 2, tcpcrypt Curve25519 - resumed, not decrypted" in locked.out
    assert "(4 frames not decrypted: no key for this session in the key log)" in locked.out
    assert locked.out.splitlines()[-1] == "client 0 bytes, server 0 bytes"


def test_unknown_flow_and_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run = tcpinc(capsys, "follow", capture("resume"), "--flow", "9")
    assert run.status == 2 and run.out == ""
    assert run.err == f"tcpinc follow: no flow 9 in {capture('resume')} (flows 1-3)\n"
    missing = tcpinc(capsys, "follow", tmp_path / "none.pcap")
    assert (
        missing.status == 2
        and missing.err == f"tcpinc follow: {tmp_path / 'none.pcap'}: no such file\n"
    )
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(capture("resume").read_bytes()[:1000])
    part = tcpinc(capsys, "follow", cut, "--keylog", keys("resume"))
    assert part.status == 2 and "truncated packet record at byte 896" in part.err
    assert "> GET /resume/0-fresh HTTP/1.1" in part.out  # what was read is shown


def test_non_printable_bytes_are_escaped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from tests.unit.analysis.builder import Capture

    cap = Capture()
    conn = cap.conn()
    conn.handshake(b"", b"", b"")
    conn.streams[0].extend(b"bin\x00\x1b[31m\\ok\r\nnext")
    conn.send_all(0)
    conn.close()
    path = tmp_path / "bin.pcap"
    cap.write(str(path))
    run = tcpinc(capsys, "follow", path)
    assert "> bin\\x00\\x1b[31m\\\\ok\n> next\n" in run.out
    assert "\x1b" not in run.out
