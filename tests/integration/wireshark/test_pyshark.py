"""`tcpinc_tools.wireshark.open_capture`: a pyshark FileCapture with the plugin and key log."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpinc_tools.analysis import analyze_capture, flow_to_json
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.wireshark import WiresharkError, open_capture, plugin_path, tshark_args

from .tshark_run import CAPTURES, TSHARK

RESUME = CAPTURES / "resume.pcap"


def test_tshark_args() -> None:
    args = tshark_args("k.keys", backend="none")
    assert args == [
        "-X",
        f"lua_script:{plugin_path()}",
        "-o",
        "tcpcrypt.keylog_file:k.keys",
        "-o",
        "tcp.reassemble_out_of_order:TRUE",
        "-o",
        "tcpcrypt.aead_backend:none",
    ]
    assert tshark_args(plugin=False, out_of_order=False) == []


def test_missing_capture(tmp_path: Path) -> None:
    with pytest.raises(WiresharkError, match="no such capture file"):
        open_capture(tmp_path / "nothing.pcap")


def test_custom_parameters_must_be_a_list() -> None:
    with pytest.raises(WiresharkError, match="custom_parameters"):
        open_capture(RESUME, custom_parameters={"-n": ""})


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt install tshark)")
def test_http_requests_of_a_resumed_session() -> None:
    expected = [
        flow_to_json(f)["tcpcrypt"]["session_id"]
        for f in analyze_capture(RESUME, keylog=KeyLog.load(RESUME.with_suffix(".keys"))).flows
    ]
    with open_capture(
        RESUME, keylog=RESUME.with_suffix(".keys"), display_filter="http.request"
    ) as cap:
        got = [
            (pkt.tcpcrypt.session_id.replace(":", ""), pkt.http.request_method, pkt.tcpeno.status)
            for pkt in cap
        ]
    assert got == [(sid, "GET", "encrypted") for sid in expected]
    assert len(got) == 3


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt install tshark)")
def test_without_key_log_no_plaintext(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TCPCRYPT_KEYLOG_FILE", "")
    with open_capture(RESUME, display_filter="tcpcrypt.frame") as cap:
        packets = list(cap)
    assert packets
    for pkt in packets:
        assert "session_id" not in pkt.tcpcrypt.field_names
        assert "http" not in [layer.layer_name for layer in pkt.layers]


@pytest.mark.tshark
@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed (apt install tshark)")
def test_filter_on_negotiation() -> None:
    capture = CAPTURES / "fallback-b-conflict.pcap"
    with open_capture(
        capture, display_filter='tcpeno.reason == "tcpeno.fallback.b_conflict"'
    ) as cap:
        statuses = {pkt.tcpeno.status for pkt in cap}
    assert statuses == {"fallback"}
