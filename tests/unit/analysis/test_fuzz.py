"""Random damage to a good capture never makes the analyzer raise (ARCHITECTURE.md: the
analysis is lenient, every decode error becomes a finding)."""

from __future__ import annotations

import io
import json

from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools.analysis import analyze_capture, to_json_document
from tcpinc_tools.analysis.registry import get
from tcpinc_tools.capture.writer import CaptureWriter
from tcpinc_tools.keylog import KeyLog
from tests.support import property_settings
from tests.unit.analysis.builder import C, S, fresh_rfc
from tests.unit.analysis.test_decrypt import SS0, resumed


def base() -> tuple[list[tuple[float, str, str, bytes]], str]:
    cap, conn, sess = fresh_rfc(client_data=(b"a" * 300, b"b"), server_data=(b"c",))
    sess.frame(C, b"after", rekey=True)
    sess.frame(S, b"urgent", urgent=2)
    conn.send_all(C)
    conn.send_all(S)
    resumed(cap=cap, client=("10.0.0.1", 40077))
    log = sess.keylog() + f"TCPCRYPT_SS_INIT1 {bytes(32).hex()} {SS0.hex()}\n"
    return cap.items, log


ITEMS, KEYLOG = base()

# One change to one segment: (segment index, what, position, value).
mutation = st.tuples(
    st.integers(0, len(ITEMS) - 1),
    st.sampled_from(["payload", "options", "flags", "seq", "cut", "drop", "dup", "swap"]),
    st.integers(0, 2000),
    st.integers(1, 255),
)


def mutate(items: list[tuple[float, str, str, bytes]], change: tuple[int, str, int, int]) -> None:
    index, what, pos, value = change
    ts, src, dst, tcp = items[index]
    header_len = (tcp[12] >> 4) * 4
    body = bytearray(tcp)
    if what == "payload" and len(tcp) > header_len:
        body[header_len + pos % (len(tcp) - header_len)] ^= value
    elif what == "options" and header_len > 20:
        body[20 + pos % (header_len - 20)] ^= value
    elif what == "flags":
        body[13] ^= value
    elif what == "seq":
        body[4 + pos % 8] ^= value
    elif what == "cut" and len(tcp) > header_len:
        body = body[: header_len + pos % (len(tcp) - header_len)]
    elif what == "drop":
        del items[index]
        return
    elif what == "dup":
        items.insert(index, (ts, src, dst, bytes(body)))
        return
    elif what == "swap" and index + 1 < len(items):
        items[index], items[index + 1] = items[index + 1], items[index]
        return
    items[index] = (ts, src, dst, bytes(body))


@property_settings
@given(st.lists(mutation, min_size=1, max_size=8))
def test_mutated_captures_never_raise(changes: list[tuple[int, str, int, int]]) -> None:
    items = list(ITEMS)
    for change in changes:
        if items:
            mutate(items, (change[0] % len(items), *change[1:]))
    out = io.BytesIO()
    with CaptureWriter(out) as writer:
        for ts, src, dst, tcp in items:
            writer.write_tcp(ts, src, dst, tcp)
    for keylog in (None, KeyLog.parse(KEYLOG)):
        result = analyze_capture(io.BytesIO(out.getvalue()), keylog=keylog, payload=True)
        for flow in result.flows:
            for finding in flow.findings:
                assert get(finding.id) is not None, finding
                assert finding.id != "tcpinc.analyzer_error", finding
        json.dumps(to_json_document([result]))
