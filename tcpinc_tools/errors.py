"""The project's one error family.

Strict decoders (``wire``) raise :class:`DecodeError` subclasses and nothing else; the
analysis layer turns them into findings. Each error carries an ``expert_id`` from the one
vocabulary shared by the Python findings, the JSON output and the Lua dissector
(``tcpeno.…``, ``tcpcrypt.…``): a class default that a raiser may narrow per instance.
"""

from __future__ import annotations

__all__ = [
    "CaptureError",
    "DecodeError",
    "DecryptionError",
    "EncodeError",
    "KeyExchangeError",
    "KeyLogError",
    "LocalProtocolError",
    "MalformedError",
    "RemoteProtocolError",
    "TcpincError",
    "TruncatedError",
]


class TcpincError(Exception):
    """Base of every error this package raises on purpose."""


class DecodeError(TcpincError):
    """Bytes that do not decode.

    ``offset`` is the byte offset (into the buffer the decoder was given) where decoding
    failed, ``field`` names the field being read, and ``expert_id`` the finding it maps to.
    """

    expert_id: str = "tcpinc.decode_error"

    def __init__(
        self,
        message: str,
        *,
        offset: int | None = None,
        field: str | None = None,
        expert_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.field = field
        if expert_id is not None:
            # Narrow the class default for this instance (the rule that was broken).
            self.expert_id = expert_id

    def __str__(self) -> str:
        where = []
        if self.field is not None:
            where.append(f"field {self.field}")
        if self.offset is not None:
            where.append(f"offset {self.offset}")
        return f"{self.message} ({', '.join(where)})" if where else self.message


class TruncatedError(DecodeError):
    """The bytes end before the structure does."""

    expert_id: str = "tcpinc.truncated"


class MalformedError(DecodeError):
    """The bytes are all there but break a rule of the format."""

    expert_id: str = "tcpinc.malformed"


class EncodeError(TcpincError):
    """A value that cannot be put on the wire (a field out of range, too long an option)."""


class DecryptionError(TcpincError):
    """An AEAD open failed: wrong key, wrong nonce or a tampered frame."""


class KeyExchangeError(TcpincError):
    """A key agreement that must abort: an invalid public key, an all-zero shared secret."""


class KeyLogError(TcpincError):
    """A key log that cannot be used: unreadable, or a malformed line (with its number)."""

    def __init__(self, message: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


class LocalProtocolError(TcpincError):
    """The caller used a state machine wrongly (h11's split: our side's fault)."""


class RemoteProtocolError(TcpincError):
    """The peer broke the protocol. State machines report this as an event, not a raise."""


class CaptureError(TcpincError):
    """A capture file that cannot be read on (missing, not a capture, truncated, corrupt)
    or cannot be written.

    ``offset`` is the byte offset in the file where the problem is (None when the file could
    not be opened at all); the message already names the file and the offset, in one line
    fit for a command line's stderr.
    """

    def __init__(self, message: str, *, offset: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


class NoSessionError(LocalProtocolError):
    """A session ID (or a name made from it) was asked for while there is none: TCP-ENO has
    not negotiated yet, fell back, or the TEP has no keys yet (RFC 8547 §5.1: an error,
    never an empty value)."""


__all__ += ["NoSessionError"]
