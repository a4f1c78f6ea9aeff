"""The tcpcrypt key log: session secrets in an NSS-shaped text file (ARCHITECTURE.md "Key log").

One secret per line; comments (``#``) and blank lines are ignored::

    TCPCRYPT_SS_INIT1   <N_A, hex>            <ss[0], hex>
    TCPCRYPT_SS_RESUME  <resumption id, hex>  <ss[i], hex>

:class:`KeyLog` reads such files leniently: a malformed line becomes a :class:`KeyLogLineError`
in ``.errors`` (with its line number) and the other lines are still used; an unknown label is
noted in ``.notes`` and skipped. From a secret it also derives the later secrets of the same
chain, ss[i+1] = CPRF(ss[i], CONST_NEXTK, 32), and their resumption identifiers, so that a
resumed session decrypts with no line of its own. :class:`KeyLogWriter` appends lines to a file
it creates with mode 0600 and flushes after each one.

Secrets never appear in ``repr()`` or ``str()`` of anything defined here.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, TextIO

from tcpinc_tools.crypto import schedule
from tcpinc_tools.errors import KeyLogError
from tcpinc_tools.wire.constants import (
    K_LEN,
    LEGACY_RESUME_ID_LEN,
    N_A_LEN,
    RESUME_HALF_LEN,
    RESUME_ID_LEN,
    Dialect,
)

__all__ = [
    "KEYLOG_ENV",
    "LABEL_INIT1",
    "LABEL_RESUME",
    "MAX_CHAIN",
    "KeyLog",
    "KeyLogEntry",
    "KeyLogLineError",
    "KeyLogWriter",
    "ResumeMatch",
    "format_init1_line",
    "format_resume_line",
]

# The environment variable that names the key log, as browsers honour SSLKEYLOGFILE.
KEYLOG_ENV: Final = "TCPCRYPT_KEYLOG_FILE"
LABEL_INIT1: Final = "TCPCRYPT_SS_INIT1"
LABEL_RESUME: Final = "TCPCRYPT_SS_RESUME"
# Column of the first hex field: the longer label plus two spaces, as in ARCHITECTURE.md.
_LABEL_WIDTH: Final = len(LABEL_RESUME) + 2

# How many secrets past a logged one the reader derives. Each resumption consumes one ss[i]
# (RFC 8548 §3.5: ss[i] never secures two connections, and the proposer takes the lowest unused
# i), so generation i is the i-th resumption since the logged secret with no line of its own.
# 64 outlasts any realistic run of such resumptions, while a lookup that misses costs at most
# 64 x 3 HMACs per logged secret, once: every derived id stays indexed afterwards.
MAX_CHAIN: Final = 64

_LABEL_RE: Final = re.compile(r"[A-Z][A-Z0-9_]*")  # NSS labels: upper case, digits, _
_RESUME_ID_LENS: Final = (RESUME_ID_LEN, LEGACY_RESUME_ID_LEN)

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
class _Unknown:
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
def _parse_line(text: str) -> KeyLogEntry | _Unknown | str | None:
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
        return _Unknown(label)
    key_name = "N_A" if label == LABEL_INIT1 else "the resumption id"
    ss_name = "ss[0]" if label == LABEL_INIT1 else "ss[i]"
    if len(fields) != 3:
        return f"{label} takes 3 fields (label, {key_name}, {ss_name}), found {len(fields)}"
    key = _hex_field(fields[1], key_name, (N_A_LEN,) if label == LABEL_INIT1 else _RESUME_ID_LENS)
    if isinstance(key, str):
        return key
    ss = _hex_field(fields[2], ss_name, (K_LEN,))
    if isinstance(ss, str):
        return ss
    return KeyLogEntry(label, key, ss)


def _check_len(value: bytes, name: str, lengths: tuple[int, ...]) -> None:
    if len(value) not in lengths:
        wanted = " or ".join(str(n) for n in lengths)
        raise KeyLogError(f"{name} must be {wanted} bytes, got {len(value)}")


# --- the reader -----------------------------------------------------------------------------


@dataclass(slots=True)
class _Chain:
    """A logged secret and how far its derived generations are indexed."""

    entry: KeyLogEntry
    dialects: tuple[Dialect, ...]
    ss: bytes = field(repr=False)
    generation: int = 0


@dataclass(slots=True)
class _FileState:
    """What has been read of one key log file, for :meth:`KeyLog.refresh`."""

    path: Path
    offset: int = 0  # bytes consumed: always the end of a complete ("\n"-terminated) line
    lineno: int = 0  # lines consumed
    identity: tuple[int, int] | None = None  # (st_dev, st_ino) when last read
    tail_errors: list[KeyLogError] = field(default_factory=list)  # of the unterminated last line


class KeyLog:
    """Session secrets from one or more key logs, indexed for the analyzer's lookups."""

    def __init__(self) -> None:
        self.errors: list[KeyLogError] = []
        self.notes: list[str] = []
        self._sources: list[str] = []
        self._init1: dict[bytes, KeyLogEntry] = {}
        self._resume: dict[bytes, KeyLogEntry] = {}
        self._unknown_labels: set[str] = set()
        self._files: list[_FileState] = []
        # The resumption index: 18-byte rfc ids, 9-byte rfc halves (A's and B's), legacy ids.
        self._full: dict[bytes, ResumeMatch] = {}
        self._half: dict[bytes, ResumeMatch] = {}
        self._legacy: dict[bytes, ResumeMatch] = {}
        self._chains: list[_Chain] = []  # indexed down to generation self._depth
        self._pending: list[_Chain] = []  # added since the last lookup, not indexed yet
        self._depth = 0

    # -- construction ----------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, *, source: str = "<string>") -> KeyLog:
        """A key log from its text; ``source`` names it in errors and notes."""
        log = cls()
        log._sources.append(source)
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        for lineno, line in enumerate(lines, start=1):
            log._take_line(line, lineno, source)
        return log

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> KeyLog:
        """A key log read from ``path``; raises :class:`KeyLogError` if it cannot be read."""
        log = cls()
        state = _FileState(Path(path))
        log._sources.append(str(state.path))
        log._files.append(state)
        log._read(state)
        return log

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyLog | None:
        """The key log named by TCPCRYPT_KEYLOG_FILE, or None when it is unset or empty."""
        path = (os.environ if environ is None else environ).get(KEYLOG_ENV)
        return cls.load(path) if path else None

    def refresh(self) -> int:
        """Read what was appended to the files since the last read; returns new secrets."""
        return sum(self._read(state) for state in self._files)

    def add_init1(self, n_a: bytes, ss: bytes, *, source: str = "<added>") -> bool:
        """Add ss[0] of the session whose Init1 carried ``n_a``; False if already known."""
        _check_len(n_a, "N_A", (N_A_LEN,))
        _check_len(ss, "ss[0]", (K_LEN,))
        return self._add(KeyLogEntry(LABEL_INIT1, n_a, ss, source))

    def add_resume(self, resume_id: bytes, ss: bytes, *, source: str = "<added>") -> bool:
        """Add ss[i] of a resumed session (18-byte rfc id or 9-byte legacy id)."""
        _check_len(resume_id, "the resumption id", _RESUME_ID_LENS)
        _check_len(ss, "ss[i]", (K_LEN,))
        return self._add(KeyLogEntry(LABEL_RESUME, resume_id, ss, source))

    def merge(self, other: KeyLog) -> None:
        """Take in another log's secrets, errors, notes and files (refreshed with this one)."""
        if other is self:
            return
        for entry in other:
            try:
                self._add(entry, check=False)
            except KeyLogError as exc:
                self.errors.append(_line_error(str(exc), entry))
        self.errors.extend(other.errors)
        self.notes.extend(other.notes)
        self._unknown_labels |= other._unknown_labels
        self._sources.extend(other._sources)
        self._files.extend(replace(s, tail_errors=list(s.tail_errors)) for s in other._files)

    # -- lookups ---------------------------------------------------------------------------

    def ss_for_init1(self, n_a: bytes) -> bytes | None:
        """ss[0] of the session whose Init1 carried the nonce ``n_a``."""
        entry = self._init1.get(n_a)
        return None if entry is None else entry.ss

    def ss_for_resume(
        self, resume_id: bytes, *, dialect: Dialect | None = None
    ) -> ResumeMatch | None:
        """The secret for a resumption identifier as seen on the wire.

        ``resume_id`` is an 18-byte rfc resume[i], one 9-byte half of it (a SYN may be all
        an analyzer sees), or a 9-byte legacy identifier; ``dialect`` narrows a 9-byte lookup.
        """
        size = len(resume_id)
        if size != RESUME_HALF_LEN and (size != RESUME_ID_LEN or dialect == "legacy"):
            return None
        self._index_pending()
        while True:
            match = self._find(resume_id, dialect)
            if match is not None or self._depth >= MAX_CHAIN:
                return match
            # Deepen every chain by one generation: hits on early resumptions stay cheap.
            self._depth += 1
            for chain in self._chains:
                self._extend(chain, self._depth)

    def __iter__(self) -> Iterator[KeyLogEntry]:
        yield from self._init1.values()
        yield from self._resume.values()

    def __len__(self) -> int:
        return len(self._init1) + len(self._resume)

    @property
    def sources(self) -> tuple[str, ...]:
        """The files (and texts) this log was read from, in order."""
        return tuple(self._sources)

    def __repr__(self) -> str:
        return (
            f"KeyLog(sources={self._sources!r}, init1={len(self._init1)}, "
            f"resume={len(self._resume)}, errors={len(self.errors)}, notes={len(self.notes)})"
        )

    # -- reading ---------------------------------------------------------------------------

    def _read(self, state: _FileState) -> int:
        shown = repr(str(state.path))
        try:
            with state.path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                identity = (info.st_dev, info.st_ino)
                if state.identity is not None and (
                    identity != state.identity or info.st_size < state.offset
                ):
                    self.notes.append(f"{state.path}: replaced or truncated; read from its start")
                    state.offset = state.lineno = 0
                state.identity = identity
                if stat.S_ISREG(info.st_mode):
                    handle.seek(state.offset)
                elif state.offset:
                    # A pipe (`--keylog <(cat a.keys b.keys)`) cannot seek: a later read
                    # sees only what was written since, so it starts where the last stopped.
                    state.offset = 0
                data = handle.read()
        except OSError as exc:
            raise KeyLogError(f"cannot read key log {shown}: {exc.strerror or exc}") from None
        if b"\0" in data:
            raise KeyLogError(f"{shown} is not a key log: it holds binary data")
        for error in state.tail_errors:  # the unterminated last line is read again below
            self.errors.remove(error)
        state.tail_errors.clear()
        *complete, tail = data.split(b"\n")
        added = 0
        for raw in complete:
            state.lineno += 1
            added += self._take_line(raw.decode("utf-8", "replace"), state.lineno, str(state.path))
        state.offset += len(data) - len(tail)
        if tail:
            # A line still being written: use it now, but read it again next time (secrets are
            # taken once; its errors are replaced by those of the next reading).
            before = len(self.errors)
            added += self._take_line(
                tail.decode("utf-8", "replace"), state.lineno + 1, str(state.path)
            )
            state.tail_errors.extend(self.errors[before:])
        return added

    def _take_line(self, text: str, lineno: int, source: str) -> int:
        """Use one line; returns 1 if it added a secret."""
        if lineno == 1:
            text = text.removeprefix("\ufeff")  # a byte order mark left by an editor
        parsed = _parse_line(text)
        if isinstance(parsed, str):
            self.errors.append(KeyLogLineError(parsed, line=lineno, source=source))
            return 0
        if isinstance(parsed, _Unknown):
            if parsed.label not in self._unknown_labels:
                self._unknown_labels.add(parsed.label)
                self.notes.append(
                    f"{source}:{lineno}: unknown label {parsed.label} ignored (and on later lines)"
                )
            return 0
        if parsed is None:
            return 0
        entry = replace(parsed, source=source, line=lineno)
        try:
            return int(self._add(entry))
        except KeyLogError as exc:
            self.errors.append(_line_error(str(exc), entry))
            return 0

    def _add(self, entry: KeyLogEntry, *, check: bool = True) -> bool:
        table = self._init1 if entry.label == LABEL_INIT1 else self._resume
        known = table.get(entry.key)
        if known is not None:
            if known.ss == entry.ss:
                return False
            what = "N_A" if entry.label == LABEL_INIT1 else "resumption id"
            raise KeyLogError(
                f"the same {what} as {known.where} with another secret; the first one is used"
            )
        table[entry.key] = entry
        if entry.label == LABEL_INIT1:
            dialects: tuple[Dialect, ...] = ("rfc", "legacy")  # the label does not say which
        else:
            dialect: Dialect = "rfc" if len(entry.key) == RESUME_ID_LEN else "legacy"
            dialects = (dialect,)
            if check and _resume_id(entry.ss, dialect) != entry.key:
                # Still looked up as written: the id on the wire is what the analyzer has.
                self.notes.append(
                    f"{entry.where}: the resumption id does not follow from ss[i] "
                    f"(RFC 8548 §3.5 resume[i] for rfc, the session ID prefix for legacy)"
                )
        self._pending.append(_Chain(entry, dialects, entry.ss))
        return True

    # -- the resumption index --------------------------------------------------------------

    def _index_pending(self) -> None:
        for chain in self._pending:
            if chain.entry.label == LABEL_RESUME:
                self._index(chain, chain.entry.key)
            self._extend(chain, self._depth)
            self._chains.append(chain)
        self._pending.clear()

    def _extend(self, chain: _Chain, depth: int) -> None:
        while chain.generation < depth:
            # RFC 8548 §3.3: ss[i] = CPRF(ss[i-1], CONST_NEXTK, K_LEN).
            chain.ss = schedule.next_ss(chain.ss)
            chain.generation += 1
            for dialect in chain.dialects:
                self._index(chain, _resume_id(chain.ss, dialect))

    def _index(self, chain: _Chain, rid: bytes) -> None:
        origin, generation, ss = chain.entry.key, chain.generation, chain.ss
        if len(rid) == RESUME_ID_LEN:
            # RFC 8548 §3.5 Fig. 2 / Fig. 3: A sends resume[i]{0..8}, B resume[i]{9..17}.
            _put(self._full, rid, ResumeMatch(ss, generation, origin, "rfc"))
            _put(self._half, rid[:RESUME_HALF_LEN], ResumeMatch(ss, generation, origin, "rfc", "a"))
            _put(self._half, rid[RESUME_HALF_LEN:], ResumeMatch(ss, generation, origin, "rfc", "b"))
        else:
            _put(self._legacy, rid, ResumeMatch(ss, generation, origin, "legacy"))

    def _find(self, resume_id: bytes, dialect: Dialect | None) -> ResumeMatch | None:
        if len(resume_id) == RESUME_ID_LEN:
            return self._full.get(resume_id)
        match = None if dialect == "legacy" else self._half.get(resume_id)
        if match is None and dialect != "rfc":
            match = self._legacy.get(resume_id)
        return match


def _resume_id(ss: bytes, dialect: Dialect) -> bytes:
    # RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME, 18); LEGACY.md "Resumption": the
    # 9 bytes after the TEP byte of the session ID, Expand(ss[i], 0x02).
    return schedule.resume_id(ss) if dialect == "rfc" else schedule.legacy_resume_id(ss)


def _put(table: dict[bytes, ResumeMatch], key: bytes, match: ResumeMatch) -> None:
    """Index ``match``; of two secrets that give one id, the fewer derivations win."""
    known = table.get(key)
    if known is None or match.generation < known.generation:
        table[key] = match


def _line_error(reason: str, entry: KeyLogEntry) -> KeyLogError:
    if entry.line is None:
        return KeyLogError(f"{entry.source}: {reason}")
    return KeyLogLineError(reason, line=entry.line, source=entry.source)


# --- the writer -----------------------------------------------------------------------------


def _format(label: str, key: bytes, ss: bytes) -> str:
    return f"{label:<{_LABEL_WIDTH}}{key.hex()}  {ss.hex()}"


def format_init1_line(n_a: bytes, ss: bytes) -> str:
    """The TCPCRYPT_SS_INIT1 line (no newline) for a fresh session: N_A and ss[0]."""
    _check_len(n_a, "N_A", (N_A_LEN,))
    _check_len(ss, "ss[0]", (K_LEN,))
    return _format(LABEL_INIT1, n_a, ss)


def format_resume_line(resume_id: bytes, ss: bytes) -> str:
    """The TCPCRYPT_SS_RESUME line (no newline): the id as on the wire and ss[i]."""
    _check_len(resume_id, "the resumption id", _RESUME_ID_LENS)
    _check_len(ss, "ss[i]", (K_LEN,))
    return _format(LABEL_RESUME, resume_id, ss)


def _open_for_append(path: Path) -> tuple[TextIO, bool]:
    """The file opened for appending (created 0600), and whether it lacks a final newline."""
    shown = repr(str(path))
    try:
        # Created owner-only; an existing file keeps its mode (O_CREAT's mode applies to new).
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise KeyLogError(f"cannot open key log {shown}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    unterminated = False
    if stat.S_ISREG(info.st_mode) and info.st_size > 0:
        try:
            with path.open("rb") as handle:
                handle.seek(info.st_size - 1)
                unterminated = handle.read(1) != b"\n"
        except OSError:
            unterminated = False  # write-only file: nothing to repair that we can see
    return os.fdopen(fd, "a", encoding="ascii", newline="\n"), unterminated


class KeyLogWriter:
    """Appends secrets to a key log, one flushed line at a time.

    ``target`` is a path (the file is created with mode 0600 and closed by :meth:`close`) or a
    text file object already open, which the caller owns and closes (aioquic's style).
    """

    def __init__(self, target: str | os.PathLike[str] | TextIO) -> None:
        self._closed = False
        if isinstance(target, str | os.PathLike):
            self.name = str(target)
            self._file, unterminated = _open_for_append(Path(target))
            self._owned = True
            if unterminated:  # someone left a last line without its newline: end it first
                self._write("")
        else:
            self.name = str(getattr(target, "name", "<stream>"))
            self._file = target
            self._owned = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KeyLogWriter | None:
        """A writer for TCPCRYPT_KEYLOG_FILE, or None when it is unset or empty."""
        path = (os.environ if environ is None else environ).get(KEYLOG_ENV)
        return cls(path) if path else None

    def write_init1(self, n_a: bytes, ss: bytes) -> None:
        """Log ss[0] of a fresh session under its N_A."""
        self._write(format_init1_line(n_a, ss))

    def write_resume(self, resume_id: bytes, ss: bytes) -> None:
        """Log ss[i] of a resumed session under its resumption id as on the wire."""
        self._write(format_resume_line(resume_id, ss))

    def _write(self, line: str) -> None:
        if self._closed:
            raise KeyLogError(f"key log {self.name!r} is closed")
        try:
            self._file.write(line + "\n")
            self._file.flush()
        except (OSError, ValueError) as exc:
            raise KeyLogError(f"cannot write key log {self.name!r}: {exc}") from None

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Close the file if this writer opened it; a file passed in stays open."""
        if self._closed:
            return
        self._closed = True
        if self._owned:
            try:
                self._file.close()
            except OSError as exc:
                raise KeyLogError(f"cannot close key log {self.name!r}: {exc}") from None

    def __enter__(self) -> KeyLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KeyLogWriter({self.name!r}, closed={self._closed})"
