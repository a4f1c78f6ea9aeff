"""tcpcrypt on one connection: key exchange, frames, decryption (RFC 8548 §3.3-§3.8, §4).

:class:`TcpcryptTracker` starts once TCP-ENO enabled encryption with a tcpcrypt TEP. Each
direction is a :class:`~.tcpcrypt_stream.DirectionStream` that delimits the Init message and
the frames; the tracker checks the Init messages (public key validation, the AEAD chosen,
ignored bytes), finds the session's keys in the key log once both Init messages are known
(or at once for a resumed session), opens the frames, and reports what the frames say (FINp,
URGp, reserved bits, data after FINp, tag failures).

Frames delimited before the keys are settled (A's frames captured before B's Init2 was
complete) are held, up to :data:`HOLD_LIMIT` bytes per direction, and opened afterwards.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterable
from typing import Final

from ..crypto.kex import validate_public_key
from ..errors import DecodeError, KeyExchangeError, LocalProtocolError
from ..keylog import KeyLog
from ..wire.constants import (
    CONTROL_CRES,
    CONTROL_REKEY,
    LEGACY_AEAD_TO_RFC,
    AeadId,
    LegacyAeadId,
)
from ..wire.tcpcrypt import Init1, Init2, decode_frame_plaintext, decode_init1, decode_init2
from .decrypt import (
    SessionSecrets,
    StreamDecryptor,
    fresh_secrets,
    readings_for,
    resumed_secrets,
)
from .eno_analysis import Negotiated
from .model import FindingSink, FrameDigest, StreamRecord, TcpcryptResult
from .tcpcrypt_stream import FRAMES, INIT_MESSAGE_MAX, DirectionStream

__all__ = ["DIGEST_FRAMES", "HOLD_LIMIT", "INIT_MESSAGE_MAX", "TcpcryptTracker"]

# Frame bytes held per direction while the keys are not settled (Init2 not seen yet).
HOLD_LIMIT: Final = 1 << 20
# Frames per direction whose digests go into the flow summary (frame-ID reuse checks).
DIGEST_FRAMES: Final = 8
_EARLY_FAILURES: Final = 32
_DIGEST_LEN: Final = 12


def _aead_name(cipher: int, dialect: str) -> str | None:
    try:
        if dialect == "legacy":
            return LEGACY_AEAD_TO_RFC[LegacyAeadId(cipher)].name
        return AeadId(cipher).name
    except (ValueError, KeyError):
        return None


class TcpcryptTracker:
    """tcpcrypt on one connection (see the module doc). ``side`` 0 is the client's stream."""

    def __init__(
        self,
        nego: Negotiated,
        *,
        sink: FindingSink,
        flow_id: int,
        keylog: KeyLog | None,
        payload: bool = False,
        payload_limit: int = 16 << 20,
        frame_sink: Callable[[StreamRecord], None] | None = None,
    ) -> None:
        outcome = nego.outcome
        assert outcome.negotiated_tep is not None and outcome.negotiated_tep_byte is not None
        self.sink = sink
        self.flow_id = flow_id
        self.dialect = nego.dialect
        self.tep = outcome.negotiated_tep
        self.tep_byte = outcome.negotiated_tep_byte
        self.resumed = nego.resumed
        self.keylog = keylog
        self.payload_limit = payload_limit
        self.frame_sink = frame_sink
        self.dirs = tuple(
            DirectionStream(
                index,
                a_side=nego.a_is_client == (index == 0),
                resumed=self.resumed,
                payload=payload,
                sink=sink,
                hooks=self,
            )
            for index in (0, 1)
        )
        self.init1: Init1 | None = None
        self.init2: Init2 | None = None
        self._init_failed = [False, False]
        self.secrets: SessionSecrets | None = None
        self._keys_final = keylog is None
        self._reading_noted = False
        self._transcript = outcome.transcript or b""
        # RFC 8548 §3.5: the same identifier halves and nonces give the same keys.
        self._resume_material = (
            bytes((self.tep_byte,)) + nego.sub_of_a.data + b"|" + nego.sub_of_b.data
            if self.resumed
            else None
        )
        if self.resumed and keylog is not None:
            self._settle_keys(
                resumed_secrets(
                    keylog,
                    dialect=self.dialect,
                    tep_byte=self.tep_byte,
                    sub_of_a=nego.sub_of_a,
                    sub_of_b=nego.sub_of_b,
                )
            )

    # -- input -------------------------------------------------------------------------

    def on_chunks(self, side: int, chunks: Iterable[tuple[int, bytes]], packet: int) -> None:
        """In-order stream bytes of ``side`` (offsets jump over bytes given up)."""
        self.dirs[side].feed(chunks, packet)

    def on_overlap_mismatch(self, side: int, lo: int, hi: int, packet: int) -> None:
        """Retransmitted bytes [lo, hi) differed from the first ones: inside a frame, that is
        two contents for one frame ID under one key (RFC 8548 §3.6)."""
        st = self.dirs[side]
        for start, end in st.recent:
            if start < hi and lo < end:
                self.sink.add(
                    "tcpcrypt.frame_id_reuse",
                    f"{st.name} bytes {lo}-{hi} were sent twice with different content inside "
                    f"the frame at offset {start}",
                    packet=packet,
                    byte_range=(lo, hi),
                    direction=st.direction,
                )
                return

    # -- StreamHooks -------------------------------------------------------------------

    def init_message(self, st: DirectionStream, raw: bytes, offset: int, packet: int) -> None:
        name = "init1" if st.a_side else "init2"
        self._record(st, name, offset=offset, size=len(raw), packet=packet)
        try:
            if st.a_side:
                self.init1 = decode_init1(raw, self.tep, dialect=self.dialect)
                msg: Init1 | Init2 = self.init1
            else:
                self.init2 = decode_init2(raw, self.tep, dialect=self.dialect)
                msg = self.init2
        except DecodeError as exc:
            self.sink.add(exc.expert_id, f"{name}: {exc}", packet=packet)
            self.init_failed(st)
            return
        self._check_init(msg, name, packet)
        self._maybe_settle()

    def init_failed(self, st: DirectionStream) -> None:
        self._init_failed[st.index] = True
        self._maybe_settle()

    def frame(self, st: DirectionStream, offset: int, frame: bytes, packet: int) -> None:
        control = frame[0]
        if control & CONTROL_CRES and "cres" not in st.noted:
            st.noted.add("cres")
            self.sink.add(
                "tcpcrypt.frame.reserved_bits",
                f"{st.name} control 0x{control:02x} at offset {offset}",
                packet=packet,
            )
        if len(st.digests) < DIGEST_FRAMES:
            digest = hashlib.sha256(frame).digest()[:_DIGEST_LEN]
            st.digests.append(FrameDigest("ab" if st.a_side else "ba", offset, digest))
        if not self._keys_final and st.held_bytes + len(frame) <= HOLD_LIMIT:
            st.held.append((offset, st.generation, frame, packet, st.lookahead))
            st.held_bytes += len(frame)
            return
        self._open(
            st,
            frame,
            offset=offset,
            generation=st.generation,
            packet=packet,
            lookahead=st.lookahead,
        )

    def _check_init(self, msg: Init1 | Init2, name: str, packet: int) -> None:
        try:
            # RFC 8548 §5: the public key is validated; a failure aborts (§3.3).
            validate_public_key(self.tep, msg.pubkey, dialect=self.dialect)
        except (KeyExchangeError, LocalProtocolError) as exc:
            self.sink.add("tcpcrypt.invalid_public_key", f"{name}: {exc}", packet=packet)
        if msg.trailing:
            # RFC 8548 §4.1: senders MUST leave the ignored part empty.
            self.sink.add("tcpcrypt.init.trailing", f"{name}: {len(msg.trailing)} bytes")
        if self.init1 is not None and self.init2 is not None:
            cipher = self.init2.cipher
            if cipher not in self.init1.ciphers:
                self.sink.add(
                    "tcpcrypt.cipher_not_offered",
                    f"Init2 chose 0x{cipher:04x}, Init1 offered "
                    f"{', '.join(f'0x{c:04x}' for c in self.init1.ciphers)}",
                    packet=packet,
                )
            elif _aead_name(cipher, self.dialect) is None:
                self.sink.add("tcpcrypt.unknown_aead", f"0x{cipher:04x}", packet=packet)

    # -- frames ----------------------------------------------------------------------------

    def _open(
        self,
        st: DirectionStream,
        frame: bytes,
        *,
        offset: int,
        generation: int,
        packet: int,
        lookahead: int,
    ) -> None:
        dec = st.decryptor
        rekey = bool(frame[0] & CONTROL_REKEY)
        tried = dec is not None and (dec.determined or not dec.gave_up)
        opened = dec.open(offset, generation, frame, lookahead=lookahead) if dec else None
        if opened is None:
            if dec is not None and tried:
                st.failures += 1
                if dec.determined:
                    self._tag_failure(st, offset, generation, packet)
                elif len(st.early_failures) < _EARLY_FAILURES:
                    st.early_failures.append(packet)
            self._record(
                st,
                "frame",
                offset=offset,
                size=len(frame),
                packet=packet,
                generation=generation,
                rekey=rekey,
            )
            return
        plaintext, used = opened
        if used != generation and generation == st.generation:
            st.generation = used  # rekey bits were lost in a gap
        if st.decrypted == 0:
            for early in st.early_failures:
                self._tag_failure(st, None, None, early)
            st.early_failures.clear()
            self._note_reading(st)
        st.decrypted += 1
        try:
            # RFC 8548 §4.2.1: flags ‖ [urgent] ‖ data (LEGACY.md: flags ‖ data).
            body = decode_frame_plaintext(plaintext, dialect=self.dialect)
        except DecodeError as exc:
            self.sink.add(exc.expert_id, f"{st.name} frame at offset {offset}", packet=packet)
            self._record(
                st,
                "frame",
                offset=offset,
                size=len(frame),
                packet=packet,
                generation=used,
                rekey=rekey,
            )
            return
        if st.fin_frame is not None and "after_fin" not in st.noted:
            # RFC 8548 §3.7: FINp is on the sender's last frame and no other.
            st.noted.add("after_fin")
            self.sink.add(
                "tcpcrypt.data_after_finp",
                f"{st.name} frame at offset {offset} after the FINp frame (packet {st.fin_frame})",
                packet=packet,
            )
        if body.fin and st.fin_frame is None:
            st.fin_frame = packet
        if body.urgent is not None:
            st.urgent += 1
        if body.reserved_flags and "fres" not in st.noted:
            st.noted.add("fres")
            self.sink.add(
                "tcpcrypt.plaintext.reserved_bits",
                f"{st.name} flags 0x{body.flags:02x} at offset {offset}",
                packet=packet,
            )
        if st.plaintext is not None and body.data:
            room = self.payload_limit - len(st.plaintext)
            if len(body.data) > room and not st.payload_cut:
                st.payload_cut = True
                self.sink.add("tcpcrypt.payload_truncated", f"{st.name} at {self.payload_limit}")
            st.plaintext += body.data[: max(room, 0)]
        if self.frame_sink is not None:
            self.frame_sink(
                StreamRecord(
                    self.flow_id,
                    st.direction,
                    "frame",
                    offset,
                    len(frame),
                    packet,
                    used,
                    rekey,
                    body,
                )
            )

    def _tag_failure(
        self, st: DirectionStream, offset: int | None, gen: int | None, packet: int
    ) -> None:
        where = f" at offset {offset}, generation {gen}" if offset is not None else ""
        self.sink.add(
            "tcpcrypt.tag_failure",
            f"{st.name} frame{where}",
            packet=packet,
            direction=st.direction,
        )

    def _note_reading(self, st: DirectionStream) -> None:
        dec = st.decryptor
        reading = dec.reading if dec is not None else None
        usual = "stream" if self.dialect == "rfc" else "after_init"
        if reading is None or self.resumed or self._reading_noted or reading.name == usual:
            return
        self._reading_noted = True
        self.sink.add(
            "tcpcrypt.offset_reading",
            f"{st.name} offsets count from the first byte after the Init message "
            if reading.name == "after_init"
            else f"{st.name} offsets count from ISN+1, Init messages included",
        )

    def _record(
        self,
        st: DirectionStream,
        kind: str,
        *,
        offset: int,
        size: int,
        packet: int,
        generation: int = 0,
        rekey: bool = False,
    ) -> None:
        if self.frame_sink is not None:
            self.frame_sink(
                StreamRecord(
                    self.flow_id,
                    st.direction,
                    kind,
                    offset,
                    size,
                    packet,
                    generation,
                    rekey,
                )
            )

    # -- keys ----------------------------------------------------------------------------

    def _maybe_settle(self, *, final: bool = False) -> None:
        if self._keys_final or self.keylog is None:
            return
        a = 0 if self.dirs[0].a_side else 1
        init1_done = self.init1 is not None or self._init_failed[a]
        init2_done = self.init2 is not None or self._init_failed[1 - a]
        if not (final or (init1_done and init2_done)):
            return
        secrets = None
        if self.init1 is not None:
            ciphers = (self.init2.cipher,) if self.init2 is not None else self.init1.ciphers
            secrets = fresh_secrets(
                self.keylog,
                self.init1.n_a,
                tep_byte=self.tep_byte,
                ciphers=ciphers,
                dialect=self.dialect,
            )
            if secrets is None:
                self.sink.add("tcpcrypt.no_key", f"N_A {self.init1.n_a.hex()}")
        self._settle_keys(secrets)

    def _settle_keys(self, secrets: SessionSecrets | None) -> None:
        self._keys_final = True
        self.secrets = secrets
        if secrets is None and self.resumed:
            self.sink.add("tcpcrypt.no_key", "no secret for the resumption identifier")
        if secrets is not None and secrets.half_mismatch:
            self.sink.add(
                "tcpcrypt.resume.mismatch",
                "the identifier halves on the wire are not both from the logged secret",
            )
        for st in self.dirs:
            if secrets is not None:
                candidates = secrets.a_to_b if st.a_side else secrets.b_to_a
                st.decryptor = StreamDecryptor(
                    candidates, readings_for(self.dialect, st.init_len, self.resumed)
                )
            held, st.held = st.held, deque()
            st.held_bytes = 0
            for offset, generation, frame, packet, lookahead in held:
                self._open(
                    st,
                    frame,
                    offset=offset,
                    generation=generation,
                    packet=packet,
                    lookahead=lookahead,
                )

    # -- the end -------------------------------------------------------------------------

    def release(self) -> None:
        """After :meth:`finish` and the last :meth:`result`: drop both streams (they point
        back at this tracker), so reference counting frees the tracker at once."""
        self.dirs = ()

    def finish(self) -> None:
        """End of both streams: what was left unparsed, keys settled with what was seen."""
        for st in self.dirs:
            st.finish()
        self._maybe_settle(final=True)
        determined = [st.decryptor is not None and st.decryptor.determined for st in self.dirs]
        failed = [st for st in self.dirs if st.failures and not determined[st.index]]
        if failed and not any(determined):
            self.sink.add(
                "tcpcrypt.key_mismatch",
                f"no frame authenticates under the logged secret ({sum(s.failures for s in failed)}"
                " frames tried)",
            )
        else:
            for st in failed:
                for packet in st.early_failures:
                    self._tag_failure(st, None, None, packet)
                st.early_failures.clear()

    def fin_state(self, side: int) -> bool | None:
        """Whether ``side``'s TCP FIN was authenticated by a FINp frame: True, False, or
        None when that cannot be told (no keys)."""
        st = self.dirs[side]
        if st.fin_frame is not None:
            return True
        if st.decryptor is not None and st.decryptor.determined:
            return False
        if st.phase == FRAMES and st.frames == 0:
            return False  # no frame at all, so no FINp
        return None

    def result(self, *, fin_authenticated: bool | None = None) -> TcpcryptResult:
        a, b = (self.dirs[0], self.dirs[1]) if self.dirs[0].a_side else self.dirs[::-1]
        decrypted = sum(st.decrypted for st in self.dirs)
        frames = sum(st.frames for st in self.dirs)
        secrets = self.secrets
        session_id = None
        if secrets is not None and (decrypted or not frames):
            session_id = secrets.session_id
        aead = None
        if self.init2 is not None:
            aead = _aead_name(self.init2.cipher, self.dialect)
        else:
            chosen = next(
                (
                    st.decryptor.candidate
                    for st in self.dirs
                    if st.decryptor is not None and st.decryptor.candidate is not None
                ),
                None,
            )
            aead = chosen.keys.aead.name if chosen is not None else None
        reading = next(
            (st.decryptor.reading.name for st in (a, b) if st.decryptor and st.decryptor.reading),
            None,
        )
        return TcpcryptResult(
            aead=aead,
            resumed=self.resumed,
            init1=self.init1 is not None,
            init2=self.init2 is not None,
            session_id=session_id,
            frames_a_to_b=a.frames,
            frames_b_to_a=b.frames,
            rekeys=max(a.generation, b.generation),
            fin_authenticated=fin_authenticated,
            decrypted=decrypted > 0,
            decrypt_failures=sum(st.failures for st in self.dirs),
            plaintext_a_to_b=bytes(a.plaintext) if a.plaintext is not None else None,
            plaintext_b_to_a=bytes(b.plaintext) if b.plaintext is not None else None,
            offset_reading=reading,
            tep=self.tep,
            frames_decrypted=decrypted,
            urgent_frames=a.urgent + b.urgent,
        )

    def key_id(self) -> bytes | None:
        """Equal for two sessions with equal traffic keys (frame-ID reuse across flows), from
        what is on the wire, so the same with or without a key log."""
        if self.init1 is not None and self.init2 is not None:
            # RFC 8548 §3.3: ss[0] = Extract(N_A, eno_transcript | Init1 | Init2 | ES), and ES
            # follows from the public keys in Init1 / Init2: equal inputs, equal keys.
            material = bytes((self.tep_byte,)) + self._transcript + self.init1.raw + self.init2.raw
            return hashlib.sha256(b"init" + material).digest()[:16]
        if self._resume_material is not None:
            return hashlib.sha256(b"resume" + self._resume_material).digest()[:16]
        return None

    def digests(self) -> tuple[FrameDigest, ...]:
        return tuple(d for st in self.dirs for d in st.digests)
