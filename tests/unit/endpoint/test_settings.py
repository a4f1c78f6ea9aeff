"""Endpoint settings without a network: TEP / AEAD names, the stack configuration they make,
the impairment spec, the report line, and the commands' argument handling."""

from __future__ import annotations

import pytest

from tcpinc_tools.cli import main
from tcpinc_tools.endpoint import EndpointError, EndpointSettings, parse_aeads, parse_teps
from tcpinc_tools.endpoint.impair import Impairment, parse_impairment
from tcpinc_tools.endpoint.lab import SCENARIOS
from tcpinc_tools.endpoint.report import FIELDS, parse_report
from tcpinc_tools.endpoint.services import pattern
from tcpinc_tools.errors import LocalProtocolError
from tcpinc_tools.wire.constants import AeadId, TepId


def test_tep_names() -> None:
    assert parse_teps("x25519, p256") == (0x23, 0x21)
    assert parse_teps("0x22,TCPCRYPT_ECDHE_Curve448,curve25519") == (0x22, 0x24, 0x23)
    with pytest.raises(EndpointError, match="unknown TEP 'rot13'"):
        parse_teps("rot13")
    with pytest.raises(EndpointError, match="empty"):
        parse_teps(" , ")


def test_aead_names() -> None:
    assert parse_aeads("aes128gcm,chacha20poly1305") == (
        AeadId.AEAD_AES_128_GCM,
        AeadId.AEAD_CHACHA20_POLY1305,
    )
    assert parse_aeads("0x0002,AEAD_AES_128_GCM") == (
        AeadId.AEAD_AES_256_GCM,
        AeadId.AEAD_AES_128_GCM,
    )
    with pytest.raises(EndpointError, match="unknown AEAD"):
        parse_aeads("des")


def test_settings_make_the_stack_configuration() -> None:
    config = EndpointSettings(
        teps=(TepId.TCPCRYPT_ECDHE_Curve448,),
        aeads=(AeadId.AEAD_AES_128_GCM, AeadId.AEAD_AES_256_GCM),
        require_encryption=True,
        require_aware=True,
        role_b=True,
        resume=False,
    ).config()
    assert config.tcpcrypt.teps == (0x24,)
    assert config.tcpcrypt.aconf == config.tcpcrypt.bconf  # B's order defaults to --aead
    assert not (config.tcpcrypt.resume or config.tcpcrypt.accept_resumption)
    assert config.eno.tep_mandatory and config.eno.aa_mandatory and config.eno.b
    order = EndpointSettings(aead_order=(AeadId.AEAD_CHACHA20_POLY1305,)).config()
    assert order.tcpcrypt.bconf == (AeadId.AEAD_CHACHA20_POLY1305,)


def test_legacy_settings_keep_what_tcpcryptd_has() -> None:
    config = EndpointSettings(dialect="legacy").config()
    assert config.eno.dialect == "legacy"
    assert set(config.tcpcrypt.teps) == {0x21, 0x22}
    assert AeadId.AEAD_CHACHA20_POLY1305 not in config.tcpcrypt.aconf
    with pytest.raises(EndpointError, match="legacy dialect needs"):
        EndpointSettings(dialect="legacy", teps=(0x23,)).config()
    with pytest.raises(LocalProtocolError):
        EndpointSettings(dialect="legacy", role_b=True).config()


def test_impairment_spec() -> None:
    spec = parse_impairment("loss=10%,duplicate=0.05,reorder=25%,delay=0.01,seed=3")
    assert spec == Impairment(loss=0.1, duplicate=0.05, reorder=0.25, delay=0.01, seed=3)
    with pytest.raises(EndpointError, match="bad impairment"):
        parse_impairment("jitter=5")
    with pytest.raises(EndpointError, match=r"outside 0\.\.1"):
        parse_impairment("loss=120%")


def test_impairment_scheduler() -> None:
    frame = b"frame"
    assert Impairment(loss=1.0).scheduler()(frame, 1.0) == []
    assert Impairment(duplicate=1.0).scheduler()(frame, 1.0) == [(1.0, frame), (1.0, frame)]
    assert Impairment(reorder=1.0, delay=0.5).scheduler()(frame, 1.0) == [(1.5, frame)]
    one, two = Impairment(loss=0.5, seed=9).scheduler(), Impairment(loss=0.5, seed=9).scheduler()
    assert [one(frame, 0.0) for _ in range(50)] == [two(frame, 0.0) for _ in range(50)]


def test_report_lines() -> None:
    line = (
        "peer=10.201.0.1:50112 role=B outcome=encrypted reason=- tep=TCPCRYPT_ECDHE_Curve25519 "
        "aead=AEAD_AES_128_GCM session_id=23ab rekeys=0 sent=5 received=5"
    )
    report = parse_report(line)
    assert report is not None and tuple(report) == FIELDS
    assert report["outcome"] == "encrypted" and report["sent"] == "5"
    assert parse_report("listening on 10.201.0.2:7") is None


def test_pattern() -> None:
    data = pattern(600)
    assert len(data) == 600 and data[:3] == b"\x00\x01\x02" and data[251] == 0


def test_lab_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list(SCENARIOS)
    assert lines[0].startswith("fresh-p256-aes128gcm ")


def test_lab_needs_scenario_and_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lab", "bulk"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "tcpinc lab: error: needs SCENARIO and -o OUT.pcap (see --help)"
    ]


def test_endpoint_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["endpoint", "listen", "--iface", "x", "--addr", "10.0.0.1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "tcpinc endpoint listen: error: the following arguments are required: --port "
        "(see tcpinc endpoint listen --help)"
    ]
    with pytest.raises(SystemExit):
        main(["endpoint", "connect", "1.2.3.4:5", "--iface", "x", "--addr", "y", "--aead", "des"])
    assert "unknown AEAD 'des'" in capsys.readouterr().err
