"""The one line the endpoint prints per connection, and its reader.

    peer=10.201.0.1:50112 role=B outcome=encrypted reason=- tep=TCPCRYPT_ECDHE_Curve25519
    aead=AEAD_AES_128_GCM session_id=23a4...(33 bytes) rekeys=0 sent=5 received=5

(one line). ``role`` is our TCP-ENO role (A or B) once ENO negotiated one; ``outcome``
one of encrypted, resumed, fallback, plain, aborted, open; ``reason`` the abort reason or
the TCP-ENO fallback reason (a finding id), ``-`` when there is none; ``rekeys`` the
highest tcpcrypt key generation seen either way; ``sent`` and ``received`` count
application bytes.
"""

from __future__ import annotations

from typing import Final

from .conn import TcpincSocket

__all__ = ["FIELDS", "parse_report", "report_line"]

FIELDS: Final = (
    "peer",
    "role",
    "outcome",
    "reason",
    "tep",
    "aead",
    "session_id",
    "rekeys",
    "sent",
    "received",
)


def report_line(sock: TcpincSocket) -> str:
    encryption = sock.encryption
    values = {
        "peer": sock.peer_text,
        "role": sock.role.name if sock.role is not None else "-",
        "outcome": sock.outcome,
        "reason": sock.reason or "-",
        "tep": sock.tep_name or "-",
        "aead": sock.aead_name or "-",
        "session_id": encryption.session_id.hex() if encryption is not None else "-",
        "rekeys": str(sock.generation),
        "sent": str(sock.bytes_sent),
        "received": str(sock.bytes_received),
    }
    return " ".join(f"{name}={values[name].replace(' ', '_')}" for name in FIELDS)


def parse_report(line: str) -> dict[str, str] | None:
    """The fields of a report line, or None if ``line`` is not one."""
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    return fields if set(FIELDS) <= fields.keys() else None
