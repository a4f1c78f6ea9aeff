"""follow_capture: the conversation of one connection, decrypted, plain, or without a key;
escape_bytes: how bytes become text."""

from __future__ import annotations

from pathlib import Path

from tcpinc_tools.analysis.follow import (
    CLIENT_TO_SERVER,
    SERVER_TO_CLIENT,
    default_flow,
    escape_bytes,
    follow_capture,
)
from tcpinc_tools.keylog import KeyLog
from tests.unit.analysis.builder import C, Capture, S, fresh_rfc

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
RESPONSE = b"HTTP/1.1 200 OK\r\n\r\nhello"


def with_plain_first(tmp_path: Path) -> tuple[Path, str]:
    """Flow 1 plain TCP (no ENO), flow 2 a fresh tcpcrypt session."""
    cap = Capture()
    plain = cap.conn(client=("10.0.0.3", 40001), isn=(7, 70))
    plain.handshake(b"", b"", b"")
    plain.streams[C].extend(b"plain ")
    plain.streams[C].extend(b"request\n")
    plain.streams[S].extend(b"plain \x00reply")
    plain.data(C, 0, 6)
    plain.data(C, 6)
    plain.send_all(S)
    plain.close()
    _, _, sess = fresh_rfc(cap=cap, client_data=(REQUEST[:10], REQUEST[10:]))
    path = tmp_path / "two.pcap"
    cap.write(str(path))
    return path, sess.keylog()


def test_default_is_the_first_decrypted_tcpcrypt_connection(tmp_path: Path) -> None:
    path, keys = with_plain_first(tmp_path)
    (conv,), result = follow_capture(path, keylog=KeyLog.parse(keys))
    assert [f.id for f in result.flows] == [1, 2]
    assert conv.flow.id == 2 and conv.mode == "decrypted"
    # Two frames of the request, one of the response (FINp frames carry no data).
    assert [(p.direction, p.data) for p in conv.pieces] == [
        (CLIENT_TO_SERVER, REQUEST[:10]),
        (CLIENT_TO_SERVER, REQUEST[10:]),
        (SERVER_TO_CLIENT, RESPONSE),
    ]
    assert conv.total(CLIENT_TO_SERVER) == len(REQUEST)


def test_a_plain_connection_shows_its_streams(tmp_path: Path) -> None:
    path, keys = with_plain_first(tmp_path)
    (conv,), _ = follow_capture(path, keylog=KeyLog.parse(keys), flow=1)
    assert conv.mode == "plain"
    assert [(p.direction, p.offset, p.data) for p in conv.pieces] == [
        (CLIENT_TO_SERVER, 0, b"plain "),
        (CLIENT_TO_SERVER, 6, b"request\n"),
        (SERVER_TO_CLIENT, 0, b"plain \x00reply"),
    ]


def test_without_a_key_a_tcpcrypt_connection_shows_nothing(tmp_path: Path) -> None:
    path, _ = with_plain_first(tmp_path)
    (conv,), _ = follow_capture(path, flow=2)
    assert conv.mode == "encrypted" and conv.pieces == ()
    # Not told which: without a key the first tcpcrypt connection is still the default.
    (default,), _ = follow_capture(path)
    assert default.flow.id == 2


def test_all_and_unknown_flows(tmp_path: Path) -> None:
    path, keys = with_plain_first(tmp_path)
    convs, _ = follow_capture(path, keylog=KeyLog.parse(keys), every=True)
    assert [(c.flow.id, c.mode) for c in convs] == [(1, "plain"), (2, "decrypted")]
    none, result = follow_capture(path, flow=9)
    assert none == [] and len(result.flows) == 2


def test_default_flow_order_of_preference() -> None:
    assert default_flow([]) is None


def test_escape_bytes() -> None:
    assert escape_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == "GET / HTTP/1.1\nHost: x\n\n"
    assert escape_bytes(b"a\tb\nc") == "a\tb\nc"
    assert escape_bytes(b"\x00\xff\x1b[31m") == "\\x00\\xff\\x1b[31m"
    assert escape_bytes(b"lone\rcr\\") == "lone\\x0dcr\\\\"
    assert escape_bytes(b"") == ""
