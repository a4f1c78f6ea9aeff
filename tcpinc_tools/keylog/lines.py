"""Key log lines: the labels, what one line holds, parsing and formatting one line
(ARCHITECTURE.md "Key log"; the package doc of :mod:`tcpinc_tools.keylog`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from tcpinc_tools.errors import KeyLogError
from tcpinc_tools.wire.constants import (
    K_LEN,
    LEGACY_RESUME_ID_LEN,
    N_A_LEN,
    RESUME_ID_LEN,
    Dialect,
)

__all__ = [
    "KEYLOG_ENV",
    "LABEL_INIT1",
    "LABEL_RESUME",
    "RESUME_ID_LENS",
    "KeyLogEntry",
    "KeyLogLineError",
    "ResumeMatch",
    "UnknownLabel",
    "check_len",
    "format_init1_line",
    "format_resume_line",
    "parse_line",
]

# The environment variable that names the key log, as browsers honour SSLKEYLOGFILE.
KEYLOG_ENV: Final = "TCPCRYPT_KEYLOG_FILE"
LABEL_INIT1: Final = "TCPCRYPT_SS_INIT1"
LABEL_RESUME: Final = "TCPCRYPT_SS_RESUME"
# Column of the first hex field: the longer label plus two spaces, as in ARCHITECTURE.md.
_LABEL_WIDTH: Final = len(LABEL_RESUME) + 2

_LABEL_RE: Final = re.compile(r"[A-Z][A-Z0-9_]*")  # NSS labels: upper case, digits, _
RESUME_ID_LENS: Final = (RESUME_ID_LEN, LEGACY_RESUME_ID_LEN)

Half = Literal["a", "b"]


@dataclass(frozen=True, slots=True)
class ResumeMatch:
    """The secret for a resumption identifier, found in (or derived from) a key log.

    ``ss`` is the ss[i] that the resumed session uses; ``generation`` counts the ss
    derivations from the logged secret it came from (0: the line itself named this id);
    ``origin`` is that line's N_A (TCPCRYPT_SS_INIT1) or resumption id (TCPCRYPT_SS_RESUME).
    ``half`` says which 9-byte half of an rfc id matched: ``"a"`` (sent by the host that was
    A in the session that created ss[0]), ``"b"``, or None for a whole id and in legacy.
    """

    ss: bytes = field(repr=False)
    generation: int
    origin: bytes
    dialect: Dialect
    half: Half | None = None

    def __repr__(self) -> str:
        return (
            f"ResumeMatch(generation={self.generation}, origin={self.origin.hex()}, "
            f"dialect={self.dialect!r}, half={self.half!r})"
        )


@dataclass(frozen=True, slots=True)
class KeyLogEntry:
    """One secret of a key log: its label, lookup key (N_A or resumption id) and ss."""

    label: str
    key: bytes
    ss: bytes = field(repr=False)
    source: str = "<added>"
    line: int | None = None

    @property
    def dialect(self) -> Dialect | None:
        """``rfc`` (18-byte id) or ``legacy`` (9-byte id) for a RESUME line; None for INIT1."""
        if self.label == LABEL_INIT1:
            return None
        return "rfc" if len(self.key) == RESUME_ID_LEN else "legacy"

    @property
    def where(self) -> str:
        """``source:line``, or the source alone for a secret added by a program."""
        return self.source if self.line is None else f"{self.source}:{self.line}"

    def __repr__(self) -> str:
        return f"KeyLogEntry({self.label}, key={self.key.hex()}, at {self.where})"


class KeyLogLineError(KeyLogError):
    """A key log line that was not used: ``str()`` is ``source:line: reason``."""

    def __init__(self, reason: str, *, line: int, source: str) -> None:
        super().__init__(reason, line=line)
        self.reason = reason
        self.source = source

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}"

    def __reduce__(self) -> tuple[object, ...]:
        # keyword-only arguments: pickle's default (the class and self.args) cannot rebuild it
        return _key_log_line_error, (self.reason, self.line, self.source)


def _key_log_line_error(reason: str, line: int, source: str) -> KeyLogLineError:
    return KeyLogLineError(reason, line=line, source=source)


# --- parsing one line ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnknownLabel:
    label: str


def _hex_field(text: str, name: str, lengths: tuple[int, ...]) -> bytes | str:
    """The bytes of one hex field, or the reason it is not acceptable (never its content)."""
    try:
        value = bytes.fromhex(text)
    except ValueError:
        return f"{name} is not hex (an odd number of digits or a non-hex character)"
    if len(value) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        return f"{name} must be {wanted} bytes, found {len(value)}"
    return value


# ARCHITECTURE.md "Key log format": LABEL, lookup key and ss, separated by spaces or tabs.
def parse_line(text: str) -> KeyLogEntry | UnknownLabel | str | None:
    """One line: an entry, an unknown label, the reason it is malformed, or None (no data)."""
    fields = text.split()
    if not fields or fields[0].startswith("#"):
        return None
    label = fields[0]
    if label not in (LABEL_INIT1, LABEL_RESUME):
        if label.upper() in (LABEL_INIT1, LABEL_RESUME):
            return f"labels are upper case: write {label.upper()}"
        if _LABEL_RE.fullmatch(label) is None:
            return f"not a key log line: expected a label such as {LABEL_INIT1}"
        return UnknownLabel(label)
    key_name = "N_A" if label == LABEL_INIT1 else "the resumption id"
    ss_name = "ss[0]" if label == LABEL_INIT1 else "ss[i]"
    if len(fields) != 3:
        return f"{label} takes 3 fields (label, {key_name}, {ss_name}), found {len(fields)}"
    key = _hex_field(fields[1], key_name, (N_A_LEN,) if label == LABEL_INIT1 else RESUME_ID_LENS)
    if isinstance(key, str):
        return key
    ss = _hex_field(fields[2], ss_name, (K_LEN,))
    if isinstance(ss, str):
        return ss
    return KeyLogEntry(label, key, ss)


def check_len(value: bytes, name: str, lengths: tuple[int, ...]) -> None:
    if len(value) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        raise KeyLogError(f"{name} must be {wanted} bytes, got {len(value)}")


# --- formatting one line -------------------------------------------------------------------


def _format(label: str, key: bytes, ss: bytes) -> str:
    return f"{label:<{_LABEL_WIDTH}}{key.hex()}  {ss.hex()}"


def format_init1_line(n_a: bytes, ss: bytes) -> str:
    """The TCPCRYPT_SS_INIT1 line (no newline) for a fresh session: N_A and ss[0]."""
    check_len(n_a, "N_A", (N_A_LEN,))
    check_len(ss, "ss[0]", (K_LEN,))
    return _format(LABEL_INIT1, n_a, ss)


def format_resume_line(resume_id: bytes, ss: bytes) -> str:
    """The TCPCRYPT_SS_RESUME line (no newline): the id as on the wire and ss[i]."""
    check_len(resume_id, "the resumption id", RESUME_ID_LENS)
    check_len(ss, "ss[i]", (K_LEN,))
    return _format(LABEL_RESUME, resume_id, ss)
