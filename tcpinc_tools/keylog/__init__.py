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

from .lines import (
    KEYLOG_ENV,
    LABEL_INIT1,
    LABEL_RESUME,
    KeyLogEntry,
    KeyLogLineError,
    ResumeMatch,
    format_init1_line,
    format_resume_line,
)
from .reader import MAX_CHAIN, KeyLog
from .writer import KeyLogWriter

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
