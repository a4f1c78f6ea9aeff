"""The key log writer: :class:`KeyLogWriter` appends lines to a file it creates with mode
0600 and flushes after each one (the package doc of :mod:`tcpinc_tools.keylog`)."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TextIO

from tcpinc_tools.errors import KeyLogError

from .lines import KEYLOG_ENV, format_init1_line, format_resume_line

__all__ = ["KeyLogWriter"]


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
