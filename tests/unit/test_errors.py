"""The error family: hierarchy and the expert id carried by decode errors."""

from __future__ import annotations

import pytest

from tcpinc_tools import errors


def test_hierarchy() -> None:
    assert issubclass(errors.DecodeError, errors.TcpincError)
    assert issubclass(errors.TruncatedError, errors.DecodeError)
    assert issubclass(errors.MalformedError, errors.DecodeError)
    for cls in (
        errors.EncodeError,
        errors.DecryptionError,
        errors.KeyLogError,
        errors.KeyExchangeError,
        errors.LocalProtocolError,
        errors.RemoteProtocolError,
    ):
        assert issubclass(cls, errors.TcpincError)
        assert not issubclass(cls, errors.DecodeError)


def test_expert_id_class_default_and_instance_override() -> None:
    assert errors.DecodeError.expert_id == "tcpinc.decode_error"
    assert errors.TruncatedError.expert_id == "tcpinc.truncated"
    assert errors.MalformedError.expert_id == "tcpinc.malformed"
    err = errors.MalformedError("bad", offset=3, field="len", expert_id="tcpeno.x")
    assert err.expert_id == "tcpeno.x"
    assert errors.MalformedError.expert_id == "tcpinc.malformed"  # class default untouched
    assert (err.offset, err.field, err.message) == (3, "len", "bad")
    assert str(err) == "bad (field len, offset 3)"
    assert str(errors.DecodeError("plain")) == "plain"


def test_keylog_error_line() -> None:
    err = errors.KeyLogError("bad hex", line=7)
    assert err.line == 7
    assert str(err) == "line 7: bad hex"
    assert str(errors.KeyLogError("no such file")) == "no such file"
    with pytest.raises(errors.TcpincError):
        raise err
