"""`tcpinc endpoint` and `tcpinc lab` as commands: data in and out, the key log, errors on
one line with status 2, and Ctrl-C / SIGTERM leaving no nftables table and no namespace."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tcpinc_tools.endpoint import Host
from tcpinc_tools.endpoint.linux import netns_command, run
from tcpinc_tools.endpoint.netns import NETNS_PREFIX, NetnsPair, leftover_namespaces
from tcpinc_tools.endpoint.nft import list_tables
from tcpinc_tools.endpoint.services import echo
from tcpinc_tools.keylog import KeyLog

from .conftest import NEEDS_ROOT
from .support import HostThread, endpoint

pytestmark = NEEDS_ROOT

TCPINC = [sys.executable, "-m", "tcpinc_tools.cli"]


def _tcpinc(
    *args: str,
    netns: str | None = None,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = netns_command(netns, [*TCPINC, *args])
    return subprocess.run(
        argv, input=stdin, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_removes_the_nft_table(pair: NetnsPair, sig: int, status: int) -> None:
    server = endpoint(pair, "b", "listen", "--port", "7")
    server.wait_line("listening on")
    table = f"tcpinc_{server.popen.pid}"
    assert list_tables(pair.b) == [table]
    ruleset = run(["nft", "list", "table", "inet", table], netns=pair.b)
    assert f"ip saddr {pair.addr_b} tcp sport @ports" in ruleset
    assert "elements = { 7 }" in ruleset
    assert server.stop(sig) == status
    assert list_tables(pair.b) == []


def test_echo_with_stdin_and_the_keylog_environment(pair: NetnsPair, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    server = endpoint(pair, "b", "listen", "--port", "7", "--count", "1")
    server.wait_line("listening on")
    env = dict(os.environ, TCPCRYPT_KEYLOG_FILE=str(keys))
    ns, veth, addr = pair.side("a")
    data = "line one\nline two\n" * 100
    connect = ["endpoint", "connect", f"{pair.addr_b}:7", "--iface", veth, "--addr", addr]
    client = _tcpinc(*connect, netns=ns, stdin=data, env=env)
    assert client.returncode == 0, client.stderr
    assert client.stdout == data
    lines = client.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"peer={pair.addr_b}:7 role=A ")
    assert "outcome=encrypted" in lines[0] and f"sent={len(data)}" in lines[0]
    assert server.wait(10) == 0
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    log = KeyLog.load(keys)
    assert len(log) == 1 and not log.errors


def test_pipe_mode(pair: NetnsPair) -> None:
    server = endpoint(pair, "b", "listen", "--port", "9", "--pipe", stdin=True)
    server.wait_line("listening on")
    assert server.popen.stdin is not None
    server.popen.stdin.write(b"from the server\n")
    server.popen.stdin.close()
    ns, veth, addr = pair.side("a")
    connect = ["endpoint", "connect", f"{pair.addr_b}:9", "--iface", veth, "--addr", addr]
    client = _tcpinc(*connect, "--send", "from the client\n", netns=ns)
    assert client.returncode == 0, client.stderr
    assert client.stdout == "from the server\n"
    assert server.wait(10) == 0
    assert bytes(server.stdout) == b"from the client\n"


def test_options_reach_the_wire(pair: NetnsPair) -> None:
    """TEP / AEAD lists, B's order and mandatory application-awareness, end to end."""
    choices = ["--tep", "p521,x448", "--aead-order", "aes128gcm,chacha20poly1305"]
    server = endpoint(
        pair, "b", "listen", "--port", "7", "--count", "2", *choices, "--require-aware"
    )
    server.wait_line("listening on")
    ns, veth, addr = pair.side("a")
    common = ["endpoint", "connect", f"{pair.addr_b}:7", "--iface", veth, "--addr", addr]
    aware = _tcpinc(*common, "--send", "x", "--aware", "--no-resume", netns=ns)
    assert aware.returncode == 0, aware.stderr
    assert "tep=TCPCRYPT_ECDHE_Curve448 aead=AEAD_CHACHA20_POLY1305" in aware.stderr
    unaware = _tcpinc(*common, "--send", "y", netns=ns)
    assert unaware.returncode == 0, unaware.stderr
    assert "outcome=fallback reason=tcpeno.fallback.no_eno" in unaware.stderr
    assert server.wait(10) == 0
    assert "outcome=fallback reason=tcpeno.fallback.aa_mandatory" in "\n".join(server.lines)


def test_errors_are_one_line_with_status_2(pair: NetnsPair) -> None:
    ns, _, addr = pair.side("a")
    listen = ["endpoint", "listen", "--port", "7"]
    nosuch = _tcpinc(*listen, "--iface", "nosuch0", "--addr", addr, netns=ns)
    assert nosuch.returncode == 2
    assert nosuch.stderr.splitlines() == [
        "tcpinc endpoint: error: interface 'nosuch0': No such device"
    ]
    assert list_tables(ns) == []
    bad_target = _tcpinc("endpoint", "connect", "nowhere", "--iface", "lo", "--addr", addr)
    assert bad_target.returncode == 2
    assert len(bad_target.stderr.splitlines()) == 1
    connect = ["endpoint", "connect", "1.2.3.4:5", "--iface", "lo", "--addr", addr]
    bad_tep = _tcpinc(*connect, "--tep", "rot13")
    assert bad_tep.returncode == 2
    assert len(bad_tep.stderr.splitlines()) == 1 and "unknown TEP 'rot13'" in bad_tep.stderr
    unknown = _tcpinc("lab", "no-such-scenario", "-o", "/dev/null")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines() == [
        "tcpinc lab: error: unknown scenario 'no-such-scenario' (tcpinc lab --list names them)"
    ]


def test_lab_ctrl_c_deletes_its_namespaces(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*TCPINC, "lab", "bulk", "-o", str(tmp_path / "bulk.pcap"), "--size", "200M"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    mine = f"{NETNS_PREFIX}{proc.pid}-"
    deadline = time.monotonic() + 20
    while not any(n.startswith(mine) for n in leftover_namespaces()):
        assert time.monotonic() < deadline, "the lab made no namespace"
        time.sleep(0.05)
    time.sleep(1.5)  # well inside the transfer
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "tcpinc lab: interrupted; namespaces deleted"
    assert not [n for n in leftover_namespaces() if n.startswith(mine)]


def test_rst_guard_when_the_kernel_owns_the_address(kernel_b_pair: NetnsPair) -> None:
    """With the address configured on the interface the kernel answers our peers with RSTs;
    the endpoint's nftables table is what keeps its connections alive."""
    pair = kernel_b_pair
    for guarded in (False, True):
        server = Host.open(pair.veth_b, pair.addr_b, netns=pair.b, rst_guard=guarded)
        server.listen(7, handler=echo)
        with HostThread(server), Host.open(pair.veth_a, pair.addr_a, netns=pair.a) as client:
            sock = client.open_connection((pair.addr_b, 7))
            client.run_until(lambda: sock.ready, 5)  # noqa: B023
            if guarded:
                assert sock.encrypted
                sock.send(b"guarded")
                sock.close()
                assert sock.recv_until_eof(timeout=5) == b"guarded"
            else:
                assert sock.abort_reason in (
                    "connection refused (reset in SYN-SENT)",
                    "connection reset by peer",
                )
        assert list_tables(pair.b) == []


def test_legacy_dialect(pair: NetnsPair) -> None:
    """tcpcryptd 0.5's dialect (kind 253, one-byte AEAD ids), fresh and then resumed."""
    server = endpoint(pair, "b", "listen", "--port", "7", "--count", "2", "--dialect", "legacy")
    server.wait_line("listening on")
    ns, veth, addr = pair.side("a")
    connect = ["endpoint", "connect", f"{pair.addr_b}:7", "--iface", veth, "--addr", addr]
    client = _tcpinc(
        *connect, "--dialect", "legacy", "--count", "2", "--send", "old", "--verify-echo", netns=ns
    )
    assert client.returncode == 0, client.stderr
    lines = client.stderr.splitlines()
    assert "outcome=encrypted" in lines[0] and "tep=TCPCRYPT_ECDHE_P521" in lines[0]
    assert "outcome=resumed" in lines[2] and "session_id=a2" in lines[2]
    assert lines[1] == lines[3] == "echo verified: 3 of 3 bytes"
    assert server.wait(10) == 0


def test_no_resume(pair: NetnsPair) -> None:
    server = endpoint(pair, "b", "listen", "--port", "7", "--count", "2")
    server.wait_line("listening on")
    ns, veth, addr = pair.side("a")
    connect = ["endpoint", "connect", f"{pair.addr_b}:7", "--iface", veth, "--addr", addr]
    client = _tcpinc(*connect, "--no-resume", "--count", "2", "--send", "again", netns=ns)
    assert client.returncode == 0, client.stderr
    assert client.stdout == "again" * 2
    outcomes = [line.split()[2] for line in client.stderr.splitlines()]
    assert outcomes == ["outcome=encrypted", "outcome=encrypted"]
    assert server.wait(10) == 0
