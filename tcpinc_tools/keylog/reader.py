"""The key log reader: :class:`KeyLog` (the package doc of :mod:`tcpinc_tools.keylog`)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Final

from tcpinc_tools.crypto import schedule
from tcpinc_tools.errors import KeyLogError
from tcpinc_tools.wire.constants import K_LEN, N_A_LEN, RESUME_HALF_LEN, RESUME_ID_LEN, Dialect

from .lines import (
    KEYLOG_ENV,
    LABEL_INIT1,
    LABEL_RESUME,
    RESUME_ID_LENS,
    KeyLogEntry,
    KeyLogLineError,
    ResumeMatch,
    UnknownLabel,
    check_len,
    parse_line,
)

__all__ = ["MAX_CHAIN", "KeyLog"]

# How many secrets past a logged one the reader derives. Each resumption consumes one ss[i]
# (RFC 8548 §3.5: ss[i] never secures two connections, and the proposer takes the lowest unused
# i), so generation i is the i-th resumption since the logged secret with no line of its own.
# 64 outlasts any realistic run of such resumptions, while a lookup that misses costs at most
# 64 x 3 HMACs per logged secret, once: every derived id stays indexed afterwards.
MAX_CHAIN: Final = 64


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
        check_len(n_a, "N_A", (N_A_LEN,))
        check_len(ss, "ss[0]", (K_LEN,))
        return self._add(KeyLogEntry(LABEL_INIT1, n_a, ss, source))

    def add_resume(self, resume_id: bytes, ss: bytes, *, source: str = "<added>") -> bool:
        """Add ss[i] of a resumed session (18-byte rfc id or 9-byte legacy id)."""
        check_len(resume_id, "the resumption id", RESUME_ID_LENS)
        check_len(ss, "ss[i]", (K_LEN,))
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
        parsed = parse_line(text)
        if isinstance(parsed, str):
            self.errors.append(KeyLogLineError(parsed, line=lineno, source=source))
            return 0
        if isinstance(parsed, UnknownLabel):
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
