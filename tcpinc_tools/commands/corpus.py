"""The captures/ corpus: one capture and key log per scenario, and the README that lists them.

    python -m tcpinc_tools.commands.corpus captures      # what `make captures` runs

Every scenario of ``tcpinc gen`` is written as ``<name>.pcap`` and ``<name>.keys`` with seed 0,
except ``bulk`` and ``many``, which are kept small (``bulk-256k``, ``many-16``). The README
is generated too: the facts in it (packets, bytes, what each end's stack concluded, the ENO
option of each handshake segment as read back from the capture) cannot go stale, and the
whole directory is byte-for-byte what this module writes (a test checks it).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..capture import CaptureWriter, TcpPacket, read_packets
from ..errors import TcpincError
from ..keylog import KeyLogWriter
from ..sim.scenarios import Summary, generate, get
from ..wire.constants import TcpFlag
from ..wire.tcp_options import is_eno_option, iter_tcp_options
from .gen import reproduce_command

__all__ = ["ENTRIES", "Entry", "Written", "main", "write_corpus", "write_entry"]

SEED: Final = 0


@dataclass(frozen=True, slots=True)
class Entry:
    """One capture of the corpus: file stem, scenario and options, and what to look for."""

    stem: str
    scenario: str
    notes: str
    capture_point: str = "client"
    count: int | None = None
    size: int | None = None


_FRESH: Final = (
    "ENO offers all four tcpcrypt TEPs; B answers with the one named. Init1 (A's nonce, "
    "three AEAD ids, public key) opens the client's stream with PSH on its last segment, "
    "Init2 (the chosen AEAD) the server's. Frames carry the HTTP request and response; each "
    "side's last frame is an empty one with FINp, in the segment with TCP FIN. The key log's "
    "TCPCRYPT_SS_INIT1 line is keyed by N_A as seen in Init1."
)


def _fresh_entries() -> list[Entry]:
    return [
        Entry(f"fresh-{tep}-{aead}", f"fresh-{tep}-{aead}", _FRESH)
        for tep in ("p256", "p521", "x25519", "x448")
        for aead in ("aes128gcm", "aes256gcm", "chacha20poly1305")
    ]


ENTRIES: Final[tuple[Entry, ...]] = (
    *_fresh_entries(),
    Entry(
        "resume",
        "resume",
        "Connection 1 is a fresh X25519 exchange. Connections 2 and 3 resume: the SYN's "
        "suboption is a3 with A's half of resume[i] and an 8-byte nonce, the SYN-ACK's a3 "
        "with B's half and nonce; no Init1/Init2, the first frame at stream offset 0, and the "
        "session ID starts with 0xa3. The key log has an INIT1 line and a RESUME line per "
        "resumption; the RESUME ids are also derivable from the INIT1 secret (ss[1], ss[2]).",
    ),
    Entry(
        "rekey",
        "rekey",
        "The client rekeys halfway through its POST body: a frame with control bit 0 (rekey) "
        "set. The server answers at once with an empty rekey frame, then rekeys again halfway "
        "through its response (generation 2), which the client answers in turn. Decrypting "
        "needs mk[j+1] = CPRF(mk[j], CONST_REKEY, 32) at every rekey bit.",
    ),
    Entry(
        "simultaneous-open",
        "simultaneous-open",
        "Both hosts send a SYN (RFC 8547 Fig. 12); the host on the server side set b = 1, so it "
        "is B and its list (increasing preference) picks X25519. Each SYN-ACK repeats its "
        "host's SYN option byte for byte. Then Init1/Init2 and HTTP as in a normal open.",
    ),
    Entry(
        "urgent",
        "urgent",
        "After the request the client sends urgent data: a frame whose flags have URGp and "
        "whose urgent field points at the last urgent byte (RFC 8548 §3.7). The TCP urgent "
        "pointer is not used for it.",
    ),
    Entry(
        "bulk-256k",
        "bulk",
        "A 256 KiB download (the scenario's default is 4 MiB: tcpinc gen bulk): frames of up "
        "to 64 KiB span many segments; the plaintext is numbered lines of text.",
        size=256 << 10,
    ),
    Entry(
        "lossy",
        "lossy",
        "5% loss, 3% duplication and 5% reordering each way. At the client's interface the "
        "client's retransmissions appear (same bytes at the same sequence numbers: frames are "
        "never re-encrypted), and the server's segments arrive duplicated, out of order or not "
        "at all until retransmitted; SACK blocks in the client's ACKs. A reassembler still "
        "recovers the whole 48 KiB response.",
    ),
    Entry(
        "many-16",
        "many",
        "16 overlapping connections from three clients to three servers (tcpcrypt with every "
        "TEP; TCP-ENO off; P-256 only): several TEPs and AEADs, resumed sessions (a v = 1 "
        "suboption with 17 bytes of data in SYN and SYN-ACK) and fallbacks (no ENO in the "
        "SYN-ACK; a vacuous answer when the client did not offer P-256).",
        count=16,
    ),
    Entry(
        "fallback-no-eno",
        "fallback-no-eno",
        "The server has TCP-ENO disabled: the SYN carries ENO, the SYN-ACK none (RFC 8547 "
        "Fig. 10). Both fall back; the HTTP exchange is in the clear.",
    ),
    Entry(
        "fallback-stripped-syn",
        "fallback-stripped-syn",
        "A middlebox overwrote the SYN's ENO option with NOPs (the run of 01 bytes where "
        "45 06 21 22 24 23 was). The server never saw ENO and answers without it: plain TCP.",
        capture_point="server",
    ),
    Entry(
        "fallback-stripped-synack",
        "fallback-stripped-synack",
        "RFC 8547 Fig. 11: the SYN and SYN-ACK both carry ENO here, but the path back to the "
        "client stripped the SYN-ACK's, so the client's ACK (its first data segment) comes "
        "without ENO; that tells the server ENO failed (§4.6 rule 1). Plain TCP.",
        capture_point="server",
    ),
    Entry(
        "fallback-b-conflict",
        "fallback-b-conflict",
        "A simultaneous open in which neither host set b = 1: both SYNs have the implicit "
        "global suboption 0x00, so there is no host B (RFC 8547 §4.3). The SYN-ACKs carry no "
        "ENO (§4.6 lets a simultaneous opener omit it); plain TCP.",
    ),
    Entry(
        "fallback-no-common-tep",
        "fallback-no-common-tep",
        "The SYN offers X25519 only (45 03 23); the server answers every SYN with a fixed "
        "45 04 01 21 (b = 1, P-256), which RFC 8547 §4.5 permits. No valid TEP: plain TCP.",
    ),
    Entry(
        "fallback-aa-mandatory",
        "fallback-aa-mandatory",
        "The client is in mandatory application-aware mode: its SYN's global suboption is 0x02 "
        "(a = 1). The SYN-ACK has a = 0 (45 04 01 23), so the client disables ENO (§4.2) and "
        "its ACK has no ENO option; plain TCP.",
    ),
    Entry(
        "fallback-vacuous",
        "fallback-vacuous",
        "The client sends a vacuous ENO option (45 02: supported, but no TEP), the server a "
        "vacuous answer with b = 1 (45 03 01): §4.6, plain TCP.",
    ),
    Entry(
        "fallback-ill-formed",
        "fallback-ill-formed",
        "Wrong on purpose: the SYN-ACK's option arrives as 45 05 01 80 23, a length byte (0x80) "
        "followed by a v = 0 TEP byte, which RFC 8547 §4.4 calls ill-formed: the client ignores "
        "it and falls back; plain TCP.",
    ),
    Entry(
        "fallback-multiple-eno",
        "fallback-multiple-eno",
        "Wrong on purpose: the SYN arrives with its ENO option twice; RFC 8547 §4.1 says to "
        "treat that as no ENO, so the SYN-ACK has none; plain TCP.",
        capture_point="server",
    ),
    Entry(
        "attack-bad-tag",
        "attack-bad-tag",
        "Wrong on purpose: one byte inside the response's first frame was flipped on the way. "
        "That frame fails its AEAD tag (the FINp frame after it still opens); the client aborts "
        "with a RST (RFC 8548 §3.6) instead of delivering anything.",
    ),
    Entry(
        "attack-truncation",
        "attack-truncation",
        "Wrong on purpose: the server sent its response in two halves; the segment with the "
        "second half and the FINp frame lost its payload but kept its FIN. The client sees a "
        "TCP FIN with no FINp frame in the stream and aborts (RFC 8548 §3.7): a truncation is "
        "not an end of file.",
    ),
    Entry(
        "attack-rst-injection",
        "attack-rst-injection",
        "Wrong on purpose: right after the first half of the response, a RST from the server's "
        "address with the exact next sequence number. tcpcrypt does not protect TCP headers "
        "(RFC 8548 §8): the client's connection is reset, which it reports as such, not as an "
        "end of stream. The real second half then meets a closed port (RST).",
    ),
    Entry(
        "attack-resume-replay",
        "attack-resume-replay",
        "A fresh session, then a resumed one; 5 s later the resumed session's SYN is replayed "
        "byte for byte (same ports, ISN and resumption suboption). The server's cache has moved "
        "on (ss[i] never secures two connections, RFC 8548 §3.5): its SYN-ACK answers with a "
        "fresh TEP (23, v = 0), and the client's closed port resets.",
    ),
    Entry(
        "attack-plaintext-after-enable",
        "attack-plaintext-after-enable",
        "Wrong on purpose: after ENO enabled encryption, the segment that carried the response "
        "frames arrives with a cleartext HTTP response of the same length instead. It does not "
        "parse as a frame (control 'H', clen 'TT'); the client never delivers it (RFC 8547 "
        "§4.6) and aborts at the FIN.",
    ),
    Entry(
        "attack-tracking",
        "attack-tracking",
        "A fresh session and a resumed one from 192.0.2.1 (2001:db8:c::1), then a clone of that "
        "client (a restored VM snapshot) at 203.0.113.1 re-offers the same resumption "
        "identifier half: one id, two addresses, which links them. The server has no secret "
        "for the clone's address and answers with a fresh TEP; the clone does a full exchange.",
    ),
    Entry(
        "coexist-mptcp-tfo",
        "coexist-mptcp-tfo",
        "SYN 1: MSS, SACK-permitted, timestamps, window scale, ENO (6 bytes), MPTCP "
        "MP_CAPABLE v1 (1e 04 01 01) and an empty TFO cookie request (22 02) in 32 bytes. "
        "SYN 2 offers resumption: its 23-byte ENO option crowds out timestamps, MP_CAPABLE "
        "still fits, the TFO request does not: 40 bytes. The server ignores MPTCP and TFO.",
    ),
    Entry(
        "tls-tep",
        "tls-tep",
        "A draft-era TCP-use-TLS client offers TEP 0x30 only (45 03 30), an id RFC 8547 never "
        "registered. The tcpcrypt server has no TEP in common and answers with a vacuous "
        "option (45 03 01); plain TCP.",
    ),
    Entry(
        "legacy-fresh",
        "legacy-fresh",
        "The tcpcryptd 0.5 dialect: ENO as kind 253 with ExID 45 4e (fd 06 45 4e 22 21, "
        "answered fd 05 45 4e 21: no global suboption), fd 04 45 4e on the ACK, Init1/Init2 "
        "with one-byte cipher ids and uncompressed P-256 keys; frame offsets count from after "
        "Init1/Init2.",
    ),
    Entry(
        "legacy-resume",
        "legacy-resume",
        "The legacy dialect's resumption: the SYN lists the fresh TEPs then a1 with a 9-byte "
        "identifier, the SYN-ACK answers a1 alone; no Init messages; RESUME key log lines "
        "with 9-byte ids.",
    ),
)

_HEADER: Final = """\
# captures/

Sample captures made by `tcpinc gen` (docs/gen.md), each with its key log: the traffic of
two simulated TCP-ENO/tcpcrypt stacks over an in-memory link, as seen at one capture point
(the client's interface unless said otherwise). Seed 0, IPv4, pcap; open them in Wireshark
or read them with `tcpinc_tools.capture`.

Regenerate them all with `make captures`, which runs

    python -m tcpinc_tools.commands.corpus captures

The result is byte-for-byte identical (a test regenerates the directory and compares); this
README is generated with them, so its numbers are always those of the files. Each entry
gives the `tcpinc gen` command for that one capture, the packets and bytes, what each end's
stack concluded, and the ENO option of each handshake segment as read back from the capture.
"""


@dataclass(frozen=True, slots=True)
class Written:
    entry: Entry
    summary: Summary
    capture_bytes: int
    handshakes: tuple[str, ...]


def write_entry(directory: Path, entry: Entry) -> Written:
    """Write ``<stem>.pcap`` and ``<stem>.keys`` for one entry."""
    pcap = directory / f"{entry.stem}.pcap"
    keys = directory / f"{entry.stem}.keys"
    command = reproduce_command(entry.scenario, seed=SEED, count=entry.count, size=entry.size)
    with (
        CaptureWriter(pcap) as writer,
        keys.open("w", encoding="ascii", newline="\n") as key_file,
    ):
        key_file.write(f"# {command}\n")
        summary = generate(
            entry.scenario,
            writer,
            keylog=KeyLogWriter(key_file),
            seed=SEED,
            count=entry.count,
            size=entry.size,
        )
    return Written(entry, summary, pcap.stat().st_size, tuple(_handshakes(pcap)))


def _eno_text(pkt: TcpPacket) -> str:
    enos = [o.raw.hex(" ") for o in iter_tcp_options(pkt.options) if is_eno_option(o)]
    return " + ".join(f"`{e}`" for e in enos) if enos else "no ENO"


def _kind(flags: int) -> str:
    if flags & TcpFlag.SYN:
        return "SYN-ACK" if flags & TcpFlag.ACK else "SYN"
    return "RST" if flags & TcpFlag.RST else "first non-SYN segment"


def _handshakes(path: Path) -> list[str]:
    """Per segment of each handshake (SYNs, SYN-ACKs, each side's first ACK after them):
    packet number, what it is, its ENO option(s)."""
    lines: list[str] = []
    acked: set[tuple[str, int, str, int]] = set()
    for pkt in read_packets(path):
        side = (pkt.src, pkt.sport, pkt.dst, pkt.dport)
        if pkt.flags & TcpFlag.SYN:
            acked.discard(side)
        elif side in acked or not pkt.flags & TcpFlag.ACK or pkt.flags & TcpFlag.RST:
            continue
        else:
            acked.add(side)
        who = f"{pkt.src}:{pkt.sport}"
        lines.append(f"#{pkt.number} {_kind(pkt.flags)} from {who}: {_eno_text(pkt)}")
    return lines


def _readme(written: Sequence[Written]) -> str:
    out = [_HEADER, "\n| capture | scenario | packets | bytes |\n|---|---|---:|---:|\n"]
    for w in written:
        out.append(
            f"| [{w.entry.stem}.pcap](#{w.entry.stem}) | {w.entry.scenario} | "
            f"{w.summary.packets} | {w.capture_bytes} |\n"
        )
    for w in written:
        entry = w.entry
        command = reproduce_command(entry.scenario, seed=SEED, count=entry.count, size=entry.size)
        out.append(f"\n## {entry.stem}\n\n")
        out.append(f"{get(entry.scenario).description}.\n\n")
        out.append(
            f"    {command} -o {entry.stem}.pcap --keylog {entry.stem}.keys\n\n"
            f"Capture point: the {entry.capture_point}'s interface. "
            f"{w.summary.packets} packets, {w.capture_bytes} bytes.\n\n"
            f"{entry.notes}\n\n"
        )
        for end in w.summary.ends:
            role = "client" if end.active else "server"
            out.append(f"- {role} {end.local} (to {end.remote}): {end.result}\n")
        for line in w.handshakes:
            out.append(f"- {line}\n")
    return "".join(out)


def write_corpus(directory: Path) -> list[Written]:
    """Write every entry and the README into ``directory`` (created if need be)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = [write_entry(directory, entry) for entry in ENTRIES]
    (directory / "README.md").write_text(_readme(written), encoding="utf-8", newline="\n")
    return written


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0].startswith("-"):
        sys.stderr.write("usage: python -m tcpinc_tools.commands.corpus DIRECTORY\n")
        return 2
    try:
        written = write_corpus(Path(args[0]))
    except (OSError, TcpincError) as exc:
        sys.stderr.write(f"corpus: {exc}\n")
        return 2
    sys.stdout.write(f"wrote {len(written)} captures, their key logs and README.md in {args[0]}\n")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
