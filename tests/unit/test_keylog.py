"""The key log (ARCHITECTURE.md "Key log format"): writer, lenient reader, ss chaining.

Expected resumption ids and ss chains are computed here by hand with hmac/hashlib from the
RFC formulas, never by the code under test: CPRF = HKDF-Expand-SHA256 (RFC 8548 §3.1), whose
first block is T(1) = HMAC-SHA256(K, info | 0x01); every output used here is at most 32 bytes,
so T(1) is all of it.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import pickle
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tcpinc_tools import keylog as keylog_module
from tcpinc_tools.crypto import schedule
from tcpinc_tools.errors import KeyLogError
from tcpinc_tools.keylog import (
    KEYLOG_ENV,
    LABEL_INIT1,
    LABEL_RESUME,
    MAX_CHAIN,
    KeyLog,
    KeyLogEntry,
    KeyLogLineError,
    KeyLogWriter,
    ResumeMatch,
    format_init1_line,
    format_resume_line,
)
from tests.support import fuzz_settings, property_settings

# --- independent derivations (RFC 8548 §3.1, §3.3, §3.5; LEGACY.md) ----------------------


def t1(key: bytes, info: bytes) -> bytes:
    """HKDF-Expand-SHA256 first block: T(1) = HMAC-SHA256(K, T(0) | info | 0x01), T(0) = ''."""
    return hmac.new(key, info + b"\x01", hashlib.sha256).digest()


def hand_next_ss(ss: bytes) -> bytes:
    # RFC 8548 §3.3: ss[i] = CPRF(ss[i-1], CONST_NEXTK = 0x01, 32).
    return t1(ss, b"\x01")


def hand_resume_id(ss: bytes) -> bytes:
    # RFC 8548 §3.5: resume[i] = CPRF(ss[i], CONST_RESUME = 0x06, 18).
    return t1(ss, b"\x06")[:18]


def hand_legacy_id(ss: bytes) -> bytes:
    # LEGACY.md: the 9 bytes after the TEP byte of the session ID, Expand(ss[i], 0x02, 32).
    return t1(ss, b"\x02")[:9]


def hand_chain(ss0: bytes, n: int) -> list[bytes]:
    """[ss[0], ss[1], ..., ss[n]]."""
    chain = [ss0]
    for _ in range(n):
        chain.append(hand_next_ss(chain[-1]))
    return chain


N_A = bytes(range(0x00, 0x20))
SS0 = bytes(range(0x20, 0x40))
N_A_HEX = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
SS0_HEX = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
SS_X = bytes(range(0x40, 0x60))
SS_X_HEX = "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"


def secret_free(text: str, *secrets: bytes) -> bool:
    return all(s.hex() not in text.lower() for s in secrets)


# --- formatting and the writer ---------------------------------------------------------------


def test_format_lines_spelled_out() -> None:
    assert format_init1_line(N_A, SS0) == f"TCPCRYPT_SS_INIT1   {N_A_HEX}  {SS0_HEX}"
    rid = bytes.fromhex("a0a1a2a3a4a5a6a7a8b0b1b2b3b4b5b6b7b8")
    assert format_resume_line(rid, SS_X) == (
        f"TCPCRYPT_SS_RESUME  a0a1a2a3a4a5a6a7a8b0b1b2b3b4b5b6b7b8  {SS_X_HEX}"
    )
    assert format_resume_line(bytes.fromhex("c0c1c2c3c4c5c6c7c8"), SS_X) == (
        f"TCPCRYPT_SS_RESUME  c0c1c2c3c4c5c6c7c8  {SS_X_HEX}"
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: format_init1_line(N_A[:31], SS0), "N_A must be 32 bytes, got 31"),
        (lambda: format_init1_line(N_A, SS0 + b"\0"), "ss[0] must be 32 bytes, got 33"),
        (lambda: format_resume_line(b"\1" * 10, SS0), "must be 18 or 9 bytes, got 10"),
        (lambda: format_resume_line(b"\1" * 18, SS0[:16]), "ss[i] must be 32 bytes, got 16"),
    ],
)
def test_format_rejects_wrong_lengths(call: Callable[[], str], message: str) -> None:
    with pytest.raises(KeyLogError, match=message.replace("[", r"\[").replace("]", r"\]")):
        call()


def test_writer_reader_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "keys.log"
    rfc_id, legacy_id = bytes.fromhex("11" * 18), bytes.fromhex("22" * 9)
    with KeyLogWriter(path) as writer:
        writer.write_init1(N_A, SS0)
        writer.write_resume(rfc_id, SS_X)
        writer.write_resume(legacy_id, SS0)
    assert writer.closed
    assert path.read_text() == (
        f"TCPCRYPT_SS_INIT1   {N_A_HEX}  {SS0_HEX}\n"
        f"TCPCRYPT_SS_RESUME  {'11' * 18}  {SS_X_HEX}\n"
        f"TCPCRYPT_SS_RESUME  {'22' * 9}  {SS0_HEX}\n"
    )
    log = KeyLog.load(path)
    assert len(log) == 3 and log.errors == []
    assert log.ss_for_init1(N_A) == SS0
    assert log.ss_for_resume(rfc_id) == ResumeMatch(SS_X, 0, rfc_id, "rfc")
    assert log.ss_for_resume(legacy_id) == ResumeMatch(SS0, 0, legacy_id, "legacy")
    assert [(e.label, e.key, e.ss, e.line) for e in log] == [
        (LABEL_INIT1, N_A, SS0, 1),
        (LABEL_RESUME, rfc_id, SS_X, 2),
        (LABEL_RESUME, legacy_id, SS0, 3),
    ]
    assert [e.dialect for e in log] == [None, "rfc", "legacy"]
    assert log.sources == (str(path),)


def test_writer_creates_file_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "new.keys"
    old_umask = os.umask(0)  # even with a permissive umask the file is owner-only
    try:
        with KeyLogWriter(path) as writer:
            writer.write_init1(N_A, SS0)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_writer_appends_to_existing_file_and_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "old.keys"
    path.write_text("# written by hand\n")
    path.chmod(0o640)
    with KeyLogWriter(str(path)) as writer:
        writer.write_init1(N_A, SS0)
    with KeyLogWriter(path) as writer:
        writer.write_resume(b"\x33" * 9, SS_X)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert path.read_text().splitlines() == [
        "# written by hand",
        f"TCPCRYPT_SS_INIT1   {N_A_HEX}  {SS0_HEX}",
        f"TCPCRYPT_SS_RESUME  {'33' * 9}  {SS_X_HEX}",
    ]


def test_writer_flushes_each_line(tmp_path: Path) -> None:
    path = tmp_path / "live.keys"
    writer = KeyLogWriter(path)
    with path.open() as other:  # another handle, as the TUI would have
        assert other.read() == ""
        writer.write_init1(N_A, SS0)
        assert other.read() == f"TCPCRYPT_SS_INIT1   {N_A_HEX}  {SS0_HEX}\n"
        writer.write_resume(b"\x44" * 18, SS_X)
        assert other.read() == f"TCPCRYPT_SS_RESUME  {'44' * 18}  {SS_X_HEX}\n"
    writer.close()
    writer.close()  # twice is harmless
    with pytest.raises(KeyLogError, match="is closed"):
        writer.write_init1(N_A, SS0)


def test_writer_ends_an_unterminated_last_line_first(tmp_path: Path) -> None:
    path = tmp_path / "cut.keys"
    path.write_text(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX[:10]}")  # a writer died mid-line
    with KeyLogWriter(path) as writer:
        writer.write_resume(b"\x55" * 9, SS_X)
    log = KeyLog.load(path)
    assert [str(e) for e in log.errors] == [
        f"{path}:1: ss[0] must be 32 bytes, found 5",
    ]
    assert log.ss_for_resume(b"\x55" * 9) == ResumeMatch(SS_X, 0, b"\x55" * 9, "legacy")


def test_a_bad_line_error_crosses_a_process_boundary() -> None:
    """Worker processes (--jobs, --dask) send key log errors back pickled."""
    error = KeyLogLineError("ss[0] must be 32 bytes, found 5", line=7, source="x.keys")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is KeyLogLineError
    assert str(again) == "x.keys:7: ss[0] must be 32 bytes, found 5"
    assert (again.reason, again.line, again.source) == (error.reason, 7, "x.keys")


def test_writer_cannot_read_back_the_last_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wo.keys"
    path.write_text("# no newline at the end")

    def refuse(*args: object, **kwargs: object) -> io.BytesIO:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with KeyLogWriter(path) as writer:  # a write-only file: append as it is
        writer.write_init1(N_A, SS0)
    monkeypatch.undo()
    assert path.read_text() == f"# no newline at the endTCPCRYPT_SS_INIT1   {N_A_HEX}  {SS0_HEX}\n"


def test_writer_to_an_open_text_stream() -> None:
    stream = io.StringIO()
    with KeyLogWriter(stream) as writer:
        writer.write_init1(N_A, SS0)
        assert writer.name == "<stream>"
    assert not stream.closed  # the caller owns it (aioquic style)
    assert stream.getvalue() == f"TCPCRYPT_SS_INIT1   {N_A_HEX}  {SS0_HEX}\n"
    assert KeyLog.parse(stream.getvalue()).ss_for_init1(N_A) == SS0


def test_writer_to_a_file_object_the_caller_opened(tmp_path: Path) -> None:
    path = tmp_path / "mine.keys"
    with path.open("w") as handle:
        writer = KeyLogWriter(handle)
        writer.write_resume(b"\x66" * 18, SS_X)
        assert path.read_text() == f"TCPCRYPT_SS_RESUME  {'66' * 18}  {SS_X_HEX}\n"
        writer.close()
        assert not handle.closed
        assert writer.name == str(path)
    stale = KeyLogWriter(handle)  # closed by its owner: a clear error, not ValueError
    with pytest.raises(KeyLogError, match="cannot write key log"):
        stale.write_init1(N_A, SS0)


def test_writer_open_and_write_failures(tmp_path: Path) -> None:
    with pytest.raises(KeyLogError, match=r"cannot open key log .*No such file or directory"):
        KeyLogWriter(tmp_path / "missing-dir" / "keys.log")
    writer = KeyLogWriter("/dev/full")  # every write fails with ENOSPC
    with pytest.raises(KeyLogError, match="cannot write key log '/dev/full'"):
        writer.write_init1(N_A, SS0)
    with pytest.raises(KeyLogError, match="cannot close key log '/dev/full'"):
        writer.close()  # the buffered line cannot be flushed either
    assert writer.closed


def test_writer_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "env.keys"
    monkeypatch.setenv(KEYLOG_ENV, str(path))
    writer = KeyLogWriter.from_env()
    assert writer is not None
    with writer:
        writer.write_init1(N_A, SS0)
    log = KeyLog.from_env()
    assert log is not None and log.ss_for_init1(N_A) == SS0
    monkeypatch.setenv(KEYLOG_ENV, "")
    assert KeyLogWriter.from_env() is None and KeyLog.from_env() is None
    monkeypatch.delenv(KEYLOG_ENV)
    assert KeyLogWriter.from_env() is None and KeyLog.from_env() is None
    explicit = KeyLog.from_env({KEYLOG_ENV: str(path)})
    assert explicit is not None and len(explicit) == 1
    assert KeyLogWriter.from_env({}) is None


def test_from_env_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyLogError, match="cannot read key log"):
        KeyLog.from_env({KEYLOG_ENV: str(tmp_path / "nope.keys")})


# --- the reader: syntax ----------------------------------------------------------------------


def test_comments_blank_lines_case_tabs_crlf_and_bom() -> None:
    rid = hand_resume_id(SS_X)
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(rid.hex()))
    text = (
        "\ufeff# a comment\n"
        "\n"
        "   \t  \n"
        "   # an indented comment\n"
        f"TCPCRYPT_SS_INIT1\t{N_A_HEX.upper()}\t\t{SS0_HEX[:32].upper()}{SS0_HEX[32:]}\r\n"
        f"  TCPCRYPT_SS_RESUME \t {mixed}    {SS_X_HEX}  \n"
    )
    log = KeyLog.parse(text, source="mixed.keys")
    assert log.errors == [] and log.notes == []
    assert log.ss_for_init1(N_A) == SS0
    assert log.ss_for_resume(rid) == ResumeMatch(SS_X, 0, rid, "rfc")
    assert [e.line for e in log] == [5, 6]
    assert log.sources == ("mixed.keys",)


def test_text_without_final_newline_and_empty_text() -> None:
    assert KeyLog.parse(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}").ss_for_init1(N_A) == SS0
    empty = KeyLog.parse("")
    assert len(empty) == 0 and empty.errors == [] and empty.ss_for_init1(N_A) is None


MALFORMED = [
    (
        f"TCPCRYPT_SS_INIT1 {N_A_HEX}",
        "TCPCRYPT_SS_INIT1 takes 3 fields (label, N_A, ss[0]), found 2",
    ),
    (
        f"TCPCRYPT_SS_RESUME {'11' * 18} {SS0_HEX} extra",
        "TCPCRYPT_SS_RESUME takes 3 fields (label, the resumption id, ss[i]), found 4",
    ),
    (f"TCPCRYPT_SS_INIT1 {N_A_HEX[:-1]}g {SS0_HEX}", "N_A is not hex"),
    (f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX[:-1]}", "ss[0] is not hex"),
    (f"TCPCRYPT_SS_INIT1 0x{N_A_HEX[2:]} {SS0_HEX}", "N_A is not hex"),
    (f"TCPCRYPT_SS_INIT1 {N_A_HEX[:-2]} {SS0_HEX}", "N_A must be 32 bytes, found 31"),
    (f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}00", "ss[0] must be 32 bytes, found 33"),
    (
        f"TCPCRYPT_SS_RESUME {'11' * 10} {SS0_HEX}",
        "the resumption id must be 18 or 9 bytes, found 10",
    ),
    (f"TCPCRYPT_SS_RESUME {'11' * 18} {SS0_HEX[:62]}", "ss[i] must be 32 bytes, found 31"),
    (f"TCPCRYPT_SS_RESUME {'1é' * 9} {SS0_HEX}", "the resumption id is not hex"),
    (f"tcpcrypt_ss_init1 {N_A_HEX} {SS0_HEX}", "labels are upper case: write TCPCRYPT_SS_INIT1"),
    (f"{N_A_HEX} {SS0_HEX}", "not a key log line: expected a label such as TCPCRYPT_SS_INIT1"),
]


@pytest.mark.parametrize(("line", "reason"), MALFORMED)
def test_each_malformed_line_is_reported_with_its_number(line: str, reason: str) -> None:
    good_resume = hand_resume_id(SS_X)
    text = (
        "# header\n"
        f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n"
        f"{line}\n"
        f"TCPCRYPT_SS_RESUME {good_resume.hex()} {SS_X_HEX}\n"
    )
    log = KeyLog.parse(text, source="bad.keys")
    assert len(log.errors) == 1
    error = log.errors[0]
    assert isinstance(error, KeyLogLineError) and isinstance(error, KeyLogError)
    assert error.line == 3 and error.source == "bad.keys"
    assert error.reason.startswith(reason)
    assert str(error) == f"bad.keys:3: {error.reason}"
    assert secret_free(str(error), SS0, SS_X)
    # the good lines around it still work
    assert log.ss_for_init1(N_A) == SS0
    assert log.ss_for_resume(good_resume) == ResumeMatch(SS_X, 0, good_resume, "rfc")
    assert log.notes == []


def test_all_malformed_lines_at_once_keep_their_numbers() -> None:
    text = "\n".join(line for line, _ in MALFORMED) + f"\nTCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n"
    log = KeyLog.parse(text)
    assert [e.line for e in log.errors] == list(range(1, len(MALFORMED) + 1))
    assert log.ss_for_init1(N_A) == SS0


def test_conflicting_secret_for_one_key_keeps_the_first() -> None:
    text = (
        f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n"
        f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n"  # an identical repeat is silent
        f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS_X_HEX}\n"
    )
    log = KeyLog.parse(text, source="dup.keys")
    assert len(log) == 1 and log.ss_for_init1(N_A) == SS0
    assert [str(e) for e in log.errors] == [
        "dup.keys:3: the same N_A as dup.keys:1 with another secret; the first one is used"
    ]
    assert secret_free(str(log.errors[0]), SS0, SS_X)


def test_unknown_labels_are_noted_once_and_skipped() -> None:
    text = (
        "CLIENT_RANDOM 00 11\n"
        f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n"
        "TCPCRYPT_SS_FUTURE any number of fields here\n"
        "CLIENT_RANDOM 22 33\n"
    )
    log = KeyLog.parse(text, source="f.keys")
    assert log.errors == [] and len(log) == 1
    assert log.notes == [
        "f.keys:1: unknown label CLIENT_RANDOM ignored (and on later lines)",
        "f.keys:3: unknown label TCPCRYPT_SS_FUTURE ignored (and on later lines)",
    ]


def test_resume_line_whose_id_does_not_follow_from_its_secret_is_noted() -> None:
    rid = b"\x77" * 18  # not resume_id(SS_X): say, an implementation with CONST_RESUME 0x05
    log = KeyLog.parse(f"TCPCRYPT_SS_RESUME {rid.hex()} {SS_X_HEX}\n", source="n.keys")
    assert log.errors == []
    assert len(log.notes) == 1 and log.notes[0].startswith("n.keys:1: the resumption id does not")
    assert log.ss_for_resume(rid) == ResumeMatch(SS_X, 0, rid, "rfc")  # still used as written


# --- the reader: chaining --------------------------------------------------------------------


def test_init1_chain_gives_resume_ids_of_generations_1_2_3() -> None:
    log = KeyLog.parse(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n")
    ss = hand_chain(SS0, 3)
    for i in (1, 2, 3):
        rid = hand_resume_id(ss[i])
        assert log.ss_for_resume(rid) == ResumeMatch(ss[i], i, N_A, "rfc")
        assert log.ss_for_resume(rid[:9]) == ResumeMatch(ss[i], i, N_A, "rfc", "a")
        assert log.ss_for_resume(rid[9:]) == ResumeMatch(ss[i], i, N_A, "rfc", "b")
        legacy = hand_legacy_id(ss[i])
        assert log.ss_for_resume(legacy) == ResumeMatch(ss[i], i, N_A, "legacy")
    # ss[0] secured the fresh session itself: its own id names no resumption
    assert log.ss_for_resume(hand_resume_id(SS0)) is None
    assert log.ss_for_resume(hand_legacy_id(SS0)) is None


def test_chain_spelled_out_for_generation_1() -> None:
    # The same derivation written out once more without helpers, from the formulas.
    ss1 = hmac.new(SS0, bytes([0x01, 0x01]), hashlib.sha256).digest()
    rid1 = hmac.new(ss1, bytes([0x06, 0x01]), hashlib.sha256).digest()[:18]
    match = KeyLog.parse(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}").ss_for_resume(rid1)
    assert match is not None and match.ss == ss1 and match.generation == 1


def test_resume_line_chains_further() -> None:
    ss = hand_chain(SS_X, 4)  # the log names ss[i] = SS_X; ss[i+1..] follow from it
    rid = hand_resume_id(SS_X)
    log = KeyLog.parse(f"TCPCRYPT_SS_RESUME {rid.hex()} {SS_X_HEX}\n")
    assert log.notes == []
    assert log.ss_for_resume(rid) == ResumeMatch(SS_X, 0, rid, "rfc")
    assert log.ss_for_resume(rid[:9]) == ResumeMatch(SS_X, 0, rid, "rfc", "a")
    for k in (1, 2, 4):
        assert log.ss_for_resume(hand_resume_id(ss[k])) == ResumeMatch(ss[k], k, rid, "rfc")
    # an rfc line chains rfc ids only
    assert log.ss_for_resume(hand_legacy_id(ss[1])) is None


def test_legacy_resume_line_chains_legacy_ids() -> None:
    ss = hand_chain(SS_X, 2)
    lid = hand_legacy_id(SS_X)
    log = KeyLog.parse(f"TCPCRYPT_SS_RESUME {lid.hex()} {SS_X_HEX}\n")
    assert log.notes == []
    assert log.ss_for_resume(lid) == ResumeMatch(SS_X, 0, lid, "legacy")
    assert log.ss_for_resume(hand_legacy_id(ss[2])) == ResumeMatch(ss[2], 2, lid, "legacy")
    assert log.ss_for_resume(hand_resume_id(ss[1])) is None


def test_explicit_line_wins_over_a_derived_generation() -> None:
    ss = hand_chain(SS0, 2)
    rid2 = hand_resume_id(ss[2])
    text = f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\nTCPCRYPT_SS_RESUME {rid2.hex()} {ss[2].hex()}\n"
    log = KeyLog.parse(text)
    assert log.ss_for_resume(rid2) == ResumeMatch(ss[2], 0, rid2, "rfc")
    ss3 = hand_next_ss(ss[2])
    assert log.ss_for_resume(hand_resume_id(ss3)) == ResumeMatch(ss3, 1, rid2, "rfc")


def test_dialect_narrows_a_lookup() -> None:
    log = KeyLog.parse(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n")
    ss1 = hand_next_ss(SS0)
    rid, lid = hand_resume_id(ss1), hand_legacy_id(ss1)
    assert log.ss_for_resume(rid, dialect="rfc") is not None
    assert log.ss_for_resume(rid, dialect="legacy") is None
    assert log.ss_for_resume(rid[:9], dialect="legacy") is None
    assert log.ss_for_resume(rid[:9], dialect="rfc") == ResumeMatch(ss1, 1, N_A, "rfc", "a")
    assert log.ss_for_resume(lid, dialect="rfc") is None
    assert log.ss_for_resume(lid, dialect="legacy") == ResumeMatch(ss1, 1, N_A, "legacy")
    assert log.ss_for_resume(b"\x00" * 10) is None
    assert log.ss_for_resume(b"") is None


def test_chain_is_bounded_by_max_chain() -> None:
    ss = hand_chain(SS0, MAX_CHAIN + 1)
    log = KeyLog.parse(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n")
    last = log.ss_for_resume(hand_resume_id(ss[MAX_CHAIN]))
    assert last == ResumeMatch(ss[MAX_CHAIN], MAX_CHAIN, N_A, "rfc")
    assert log.ss_for_resume(hand_resume_id(ss[MAX_CHAIN + 1])) is None


def test_lookups_are_index_hits_built_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"next_ss": 0, "resume_id": 0, "legacy_resume_id": 0}
    for name in calls:
        real = getattr(schedule, name)

        def counted(ss: bytes, _real: Callable[[bytes], bytes] = real, _name: str = name) -> bytes:
            calls[_name] += 1
            return _real(ss)

        monkeypatch.setattr(schedule, name, counted)
    secrets = [SS0, b"\x01" * 32, b"\x02" * 32]
    logs = [
        KeyLog.parse(f"TCPCRYPT_SS_INIT1 {bytes([n]).hex() * 32} {ss.hex()}")
        for n, ss in enumerate(secrets)
    ]
    assert sum(calls.values()) == 0  # nothing derived before the first resumption lookup
    log = logs[0]
    for other in logs[1:]:
        log.merge(other)
    ss = hand_chain(SS0, 3)
    assert log.ss_for_resume(hand_resume_id(ss[1])) is not None
    assert calls["next_ss"] == 3  # one generation of each of the three chains
    assert log.ss_for_resume(hand_resume_id(ss[1])) is not None
    assert log.ss_for_resume(hand_resume_id(ss[1])[9:]) is not None
    assert calls["next_ss"] == 3  # hits: no HMAC at all
    assert log.ss_for_resume(b"\x99" * 18) is None  # a miss builds the whole bounded index
    assert calls == dict.fromkeys(calls, 3 * MAX_CHAIN)
    assert log.ss_for_resume(b"\x98" * 9) is None
    assert log.ss_for_resume(hand_legacy_id(ss[3])) is not None
    assert calls["next_ss"] == 3 * MAX_CHAIN  # misses and hits now are dict lookups
    # a secret added later catches up to the built depth at the next lookup, once
    log.add_init1(b"\x07" * 32, SS_X)
    assert log.ss_for_resume(hand_resume_id(hand_chain(SS_X, 5)[5])) is not None
    assert calls["next_ss"] == 4 * MAX_CHAIN


# --- the reader: files, refresh, merge, add --------------------------------------------------


def test_missing_unreadable_and_binary_files(tmp_path: Path) -> None:
    missing = tmp_path / "missing.keys"
    with pytest.raises(KeyLogError) as info:
        KeyLog.load(missing)
    assert str(info.value) == f"cannot read key log {str(missing)!r}: No such file or directory"
    with pytest.raises(KeyLogError, match=r"cannot read key log .*[Ii]s a directory"):
        KeyLog.load(tmp_path)
    binary = tmp_path / "capture.pcap"
    binary.write_bytes(bytes.fromhex("d4c3b2a102000400") + b"\0" * 16)
    with pytest.raises(KeyLogError, match="is not a key log: it holds binary data"):
        KeyLog.load(binary)


def test_undecodable_bytes_make_one_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.keys"
    path.write_bytes(
        b"# caf\xe9 comment\n"
        + f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n".encode()
        + b"TCPCRYPT_SS_RESUME \xff\xfe "
        + SS_X_HEX.encode()
        + b"\n"
    )
    log = KeyLog.load(path)
    assert [e.line for e in log.errors] == [3]
    assert "the resumption id is not hex" in str(log.errors[0])
    assert log.ss_for_init1(N_A) == SS0


def test_refresh_reads_appended_lines(tmp_path: Path) -> None:
    path = tmp_path / "grow.keys"
    writer = KeyLogWriter(path)
    writer.write_init1(N_A, SS0)
    log = KeyLog.load(path)
    assert len(log) == 1 and log.refresh() == 0
    rid = hand_resume_id(SS_X)
    writer.write_resume(rid, SS_X)
    with path.open("a") as handle:
        handle.write("TCPCRYPT_SS_INIT1 zz zz\n")
    assert log.refresh() == 1
    assert log.ss_for_resume(rid) == ResumeMatch(SS_X, 0, rid, "rfc")
    assert [(e.line, e.reason) for e in log.errors if isinstance(e, KeyLogLineError)] == [
        (3, "N_A is not hex (an odd number of digits or a non-hex character)")
    ]
    assert log.refresh() == 0
    writer.close()


def test_refresh_rereads_a_line_still_being_written(tmp_path: Path) -> None:
    path = tmp_path / "partial.keys"
    line = f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n"
    path.write_text("# start\n" + line[:40])
    log = KeyLog.load(path)
    assert [(e.line, str(e)) for e in log.errors] == [
        (2, f"{path}:2: TCPCRYPT_SS_INIT1 takes 3 fields (label, N_A, ss[0]), found 2")
    ]
    with path.open("a") as handle:
        handle.write(line[40:100])
    assert log.refresh() == 0
    assert [e.line for e in log.errors] == [2]  # replaced, not repeated
    with path.open("a") as handle:
        handle.write(line[100:])
    assert log.refresh() == 1
    assert log.errors == [] and log.ss_for_init1(N_A) == SS0
    with path.open("a") as handle:
        handle.write("bad line\n")
    log.refresh()
    assert [e.line for e in log.errors] == [3]


def test_refresh_with_a_complete_but_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "noeol.keys"
    path.write_text(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}")
    log = KeyLog.load(path)
    assert len(log) == 1 and log.errors == []  # used at once
    rid = hand_resume_id(SS_X)
    with KeyLogWriter(path) as writer:
        writer.write_resume(rid, SS_X)
    assert log.refresh() == 1  # the first line is read again, silently
    with path.open("a") as handle:
        handle.write("x\n")
    log.refresh()
    assert log.errors[0].line == 3 and len(log) == 2


def test_refresh_after_the_file_was_replaced(tmp_path: Path) -> None:
    path = tmp_path / "rot.keys"
    path.write_text(f"# first\nTCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\n")
    log = KeyLog.load(path)
    path.write_text("x\n")  # truncated: shorter than what was read
    log.refresh()
    assert log.notes == [f"{path}: replaced or truncated; read from its start"]
    assert [e.line for e in log.errors] == [1]
    assert log.ss_for_init1(N_A) == SS0  # secrets once known stay known
    path.unlink()
    with pytest.raises(KeyLogError, match="No such file or directory"):
        log.refresh()


def test_refresh_of_parsed_text_is_a_no_op() -> None:
    assert KeyLog.parse(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}").refresh() == 0


def test_merge_combines_logs_and_their_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.keys", tmp_path / "b.keys"
    first.write_text(f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS0_HEX}\nbad\n")
    rid = hand_resume_id(SS_X)
    second.write_text(
        f"TCPCRYPT_SS_RESUME {rid.hex()} {SS_X_HEX}\n"
        f"TCPCRYPT_SS_INIT1 {N_A_HEX} {SS_X_HEX}\n"  # conflicts with a.keys once merged
        "NEW_LABEL x\n"
    )
    log, other = KeyLog.load(first), KeyLog.load(second)
    log.merge(other)
    log.merge(log)  # merging a log into itself changes nothing
    assert len(log) == 2 and log.sources == (str(first), str(second))
    assert log.ss_for_init1(N_A) == SS0
    assert log.ss_for_resume(rid) == ResumeMatch(SS_X, 0, rid, "rfc")
    assert [str(e) for e in log.errors] == [
        f"{first}:2: not a key log line: expected a label such as TCPCRYPT_SS_INIT1",
        f"{second}:2: the same N_A as {first}:1 with another secret; the first one is used",
    ]
    assert log.notes == [f"{second}:3: unknown label NEW_LABEL ignored (and on later lines)"]
    # both files are refreshed through the merged log
    with KeyLogWriter(second) as writer:
        writer.write_resume(b"\x12" * 9, SS0)
    assert log.refresh() == 1
    assert log.ss_for_resume(b"\x12" * 9) is not None


def test_add_and_merge_of_added_secrets() -> None:
    log = KeyLog()
    assert log.add_init1(N_A, SS0) is True
    assert log.add_init1(N_A, SS0) is False
    with pytest.raises(KeyLogError, match="the same N_A as <added> with another secret"):
        log.add_init1(N_A, SS_X)
    with pytest.raises(KeyLogError, match="N_A must be 32 bytes, got 3"):
        log.add_init1(b"abc", SS0)
    with pytest.raises(KeyLogError, match=r"ss\[i\] must be 32 bytes"):
        log.add_resume(b"\x01" * 9, b"")
    lid = hand_legacy_id(SS_X)
    assert log.add_resume(lid, SS_X, source="endpoint") is True
    assert log.notes == []
    other = KeyLog()
    other.add_init1(N_A, SS_X, source="elsewhere")
    log.merge(other)
    assert [str(e) for e in log.errors] == [
        "elsewhere: the same N_A as <added> with another secret; the first one is used"
    ]
    assert log.ss_for_resume(lid) == ResumeMatch(SS_X, 0, lid, "legacy")


# --- secrets stay out of repr / str ------------------------------------------------------------


def test_no_secret_in_repr_or_str(tmp_path: Path) -> None:
    path = tmp_path / "r.keys"
    with KeyLogWriter(path) as writer:
        writer.write_init1(N_A, SS0)
        text = repr(writer)
    assert text == f"KeyLogWriter({str(path)!r}, closed=False)"
    log = KeyLog.load(path)
    ss1 = hand_next_ss(SS0)
    match = log.ss_for_resume(hand_resume_id(ss1))
    assert match is not None
    entry = next(iter(log))
    shown = [repr(log), str(log), repr(match), str(match), repr(entry), str(entry)]
    for text in shown:
        assert secret_free(text, SS0, ss1), text
    assert repr(log) == f"KeyLog(sources=[{str(path)!r}], init1=1, resume=0, errors=0, notes=0)"
    assert repr(match) == (f"ResumeMatch(generation=1, origin={N_A_HEX}, dialect='rfc', half=None)")
    assert repr(entry) == f"KeyLogEntry(TCPCRYPT_SS_INIT1, key={N_A_HEX}, at {path}:1)"
    assert KeyLogEntry(LABEL_INIT1, N_A, SS0).where == "<added>"


def test_the_example_in_docs_keylog_md() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "keylog.md").read_text()
    block = doc.split("## An example", 1)[1].split("```", 2)[1]
    log = KeyLog.parse(block, source="docs/keylog.md")
    assert log.errors == [] and log.notes == [] and len(log) == 4
    (init_a, init_b), (resume_a, resume_b) = [
        [e for e in log if e.label == label] for label in (LABEL_INIT1, LABEL_RESUME)
    ]
    # line 2 is ss[2] of line 1 (rfc); line 4 is ss[1] of line 3 (legacy)
    assert resume_a.ss == hand_chain(init_a.ss, 2)[2]
    assert resume_a.key == hand_resume_id(resume_a.ss)
    assert resume_b.ss == hand_next_ss(init_b.ss)
    assert resume_b.key == hand_legacy_id(resume_b.ss)
    assert block.strip().splitlines() == [
        format_init1_line(init_a.key, init_a.ss),
        format_resume_line(resume_a.key, resume_a.ss),
        format_init1_line(init_b.key, init_b.ss),
        format_resume_line(resume_b.key, resume_b.ss),
    ]


# --- properties and the decoder contract -----------------------------------------------------


@property_settings
@given(
    n_a=st.binary(min_size=32, max_size=32),
    rid=st.one_of(st.binary(min_size=18, max_size=18), st.binary(min_size=9, max_size=9)),
    ss=st.binary(min_size=32, max_size=32),
)
def test_format_parse_round_trip(n_a: bytes, rid: bytes, ss: bytes) -> None:
    text = format_init1_line(n_a, ss) + "\n" + format_resume_line(rid, ss) + "\n"
    log = KeyLog.parse(text)
    assert log.errors == []
    assert [(e.label, e.key, e.ss) for e in log] == [
        (LABEL_INIT1, n_a, ss),
        (LABEL_RESUME, rid, ss),
    ]


_LINE_PARTS = st.one_of(
    st.sampled_from([LABEL_INIT1, LABEL_RESUME, "#", "X_Y", "\t", " ", "\r", N_A_HEX, "11" * 9]),
    st.text(max_size=70),
)


@fuzz_settings
@given(st.lists(st.lists(_LINE_PARTS, max_size=5).map(" ".join), max_size=8).map("\n".join))
def test_parse_never_raises(text: str) -> None:
    log = KeyLog.parse(text)
    lines = text.split("\n")
    for error in log.errors:
        assert isinstance(error, KeyLogLineError)
        assert 1 <= (error.line or 0) <= len(lines)
    for entry in log:
        assert len(entry.ss) == 32 and len(entry.key) in (32, 18, 9)


@fuzz_settings
@given(st.binary(max_size=300), st.binary(max_size=100))
def test_load_and_refresh_give_a_log_or_keylogerror(
    tmp_path_factory: pytest.TempPathFactory, first: bytes, appended: bytes
) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.keys"
    path.write_bytes(first)
    try:
        log = KeyLog.load(path)
        with path.open("ab") as handle:
            handle.write(appended)
        log.refresh()
    except KeyLogError:
        assert b"\0" in first + appended
        return
    assert all(isinstance(e, KeyLogError) for e in log.errors)
    assert b"\0" not in first + appended


def test_module_surface() -> None:
    assert keylog_module.KEYLOG_ENV == "TCPCRYPT_KEYLOG_FILE"
    assert (LABEL_INIT1, LABEL_RESUME) == ("TCPCRYPT_SS_INIT1", "TCPCRYPT_SS_RESUME")
    assert set(keylog_module.__all__) >= {"KeyLog", "KeyLogWriter", "ResumeMatch", "MAX_CHAIN"}


def test_load_from_a_pipe(tmp_path: Path) -> None:
    """`--keylog <(cat a.keys)` hands over a FIFO, which cannot seek."""
    fifo = tmp_path / "keys.fifo"
    os.mkfifo(fifo)
    n_a, ss = bytes(range(32)), bytes(range(32, 64))
    line = f"TCPCRYPT_SS_INIT1 {n_a.hex()} {ss.hex()}\n"

    def writer() -> None:
        with fifo.open("w") as out:
            out.write(line)

    thread = threading.Thread(target=writer)
    thread.start()
    log = KeyLog.load(fifo)
    thread.join()
    assert log.ss_for_init1(n_a) == ss
    assert log.errors == []
