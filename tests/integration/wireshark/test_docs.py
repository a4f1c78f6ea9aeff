"""docs/wireshark.md shows real tshark output: the documented filters, run again, print the
lines the page shows."""

from __future__ import annotations

import pytest

from .tshark_run import CAPTURES, ROOT, needs_tshark, tshark

pytestmark = needs_tshark

PAGE = (ROOT / "docs" / "wireshark.md").read_text(encoding="utf-8")

CASES = [
    (
        "resume",
        True,
        ["-Y", "http.request"],
        [
            "frame.number",
            "tcpeno.negotiated_tep_byte",
            "tcpcrypt.aead",
            "tcpcrypt.session_id",
            "http.request.uri",
        ],
    ),
    (
        "legacy-resume",
        False,
        ["-Y", "tcpeno.tep == 0x21 && tcpeno.suboption.v == 1"],
        ["frame.number", "tcpeno.kind", "tcpcrypt.resume.half"],
    ),
    (
        "rekey",
        True,
        ["-Y", "tcpcrypt.frame.rekey == 1"],
        ["frame.number", "ip.src", "tcpcrypt.frame.generation", "tcpcrypt.frame.offset"],
    ),
    (
        "fallback-b-conflict",
        False,
        ["-Y", 'tcpeno.status == "fallback"'],
        ["frame.number", "tcpeno.status", "tcpeno.reason"],
    ),
]


@pytest.mark.parametrize(("name", "keyed", "extra", "fields"), CASES, ids=[c[0] for c in CASES])
def test_documented_output(name: str, keyed: bool, extra: list[str], fields: list[str]) -> None:
    capture = CAPTURES / f"{name}.pcap"
    run = tshark(
        capture, keylog=capture.with_suffix(".keys") if keyed else None, fields=fields, extra=extra
    )
    lines = ["\t".join(row[f].replace("|", ",") for f in fields) for row in run.rows]
    assert lines
    # the page shows the first line of the fallback filter and every line of the others
    for line in lines[:1] if name.startswith("fallback") else lines:
        assert line.rstrip("\t") in PAGE, line
