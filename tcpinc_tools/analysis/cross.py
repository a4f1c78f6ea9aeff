"""Findings about several connections, computed over flow summaries (no packets).

:func:`cross_connection_findings` takes :class:`~.model.FlowSummary` objects from one capture
or from many (tag them with distinct ``capture`` values) and reports:

- ``tcpcrypt.resume.replay``: one resumption identifier offered in two SYNs (RFC 8548 §3.5:
  ss[i] secures one connection, and a proposer never repeats an i);
- ``tcpcrypt.resume.tracking``: one identifier offered from two addresses, or a resumed
  session whose secret (by the key log) comes from a session between other addresses: the
  identifier, sent in clear, links the host across its addresses;
- ``tcpcrypt.resume.other_server``: resumption offered to a server other than the original
  session's peer (a server farm sharing secrets, or a misdirected cache);
- ``tcpcrypt.nonce_reuse`` / ``tcpcrypt.pubkey_reuse``: an N_A, N_B or public key seen in
  two sessions (RFC 8548 §3.3, §8: fresh randomness per session; weak boot-time entropy);
- ``tcpcrypt.frame_id_reuse``: two sessions with equal keys whose frames at one offset differ
  (RFC 8548 §3.6: one frame ID, two contents, one key).

Each finding is reported on the later flow (by first timestamp) and names the earlier one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from .model import CrossFinding, FlowRef, FlowSummary, make_finding

__all__ = ["cross_connection_findings"]

_MAX_PER_KIND: Final = 1000  # findings of one kind kept (a capture of one host rebooting
# over and over must not give a list per flow pair)


def _where(s: FlowSummary) -> str:
    return f"flow {s.flow}" if s.capture == 0 else f"flow {s.flow} of capture {s.capture}"


class _Out:
    def __init__(self) -> None:
        self.items: list[CrossFinding] = []
        self._seen: set[tuple[str, FlowRef, bytes]] = set()
        self._count: dict[str, int] = {}

    def add(
        self, finding_id: str, subject: FlowSummary, other: FlowSummary, detail: str, key: bytes
    ) -> None:
        mark = (finding_id, subject.ref, key)
        if mark in self._seen or self._count.get(finding_id, 0) >= _MAX_PER_KIND:
            return
        self._seen.add(mark)
        self._count[finding_id] = self._count.get(finding_id, 0) + 1
        packet = subject.offer.packet if subject.offer is not None else subject.first_packet
        finding = make_finding(finding_id, detail, packet=packet, flow=subject.flow)
        self.items.append(CrossFinding(finding, subject.ref, (other.ref,)))


def cross_connection_findings(summaries: Iterable[FlowSummary]) -> list[CrossFinding]:
    """The cross-connection findings among ``summaries`` (see the module doc)."""
    ordered = sorted(summaries, key=lambda s: (s.first_ts, s.capture, s.first_packet, s.flow))
    out = _Out()
    _resumption(ordered, out)
    _origins(ordered, out)
    _reuse(ordered, out)
    _frames(ordered, out)
    return out.items


def _resumption(ordered: list[FlowSummary], out: _Out) -> None:
    first: dict[tuple[str | None, int, bytes], FlowSummary] = {}
    for s in ordered:
        offer = s.offer
        if offer is None:
            continue
        key = (s.dialect, offer.tep, offer.half)
        earlier = first.setdefault(key, s)
        if earlier is s:
            continue
        assert earlier.offer is not None
        half = offer.half.hex()
        out.add(
            "tcpcrypt.resume.replay",
            s,
            earlier,
            f"identifier {half} from {offer.offerer} was offered before in {_where(earlier)}",
            offer.half,
        )
        if offer.offerer != earlier.offer.offerer:
            out.add(
                "tcpcrypt.resume.tracking",
                s,
                earlier,
                f"identifier {half} offered by {offer.offerer} and by {earlier.offer.offerer} "
                f"({_where(earlier)})",
                offer.half,
            )
        if offer.peer != earlier.offer.peer:
            out.add(
                "tcpcrypt.resume.other_server",
                s,
                earlier,
                f"identifier {half} offered to {offer.peer}, before to {earlier.offer.peer} "
                f"({_where(earlier)})",
                offer.half,
            )


def _origins(ordered: list[FlowSummary], out: _Out) -> None:
    """Resumed sessions whose secret the key log traced to an earlier fresh session."""
    fresh: dict[bytes, FlowSummary] = {}
    for s in ordered:
        if not s.resumed and s.n_a is not None:
            fresh.setdefault(s.n_a, s)
    for s in ordered:
        if not s.resumed or s.origin is None:
            continue
        original = fresh.get(s.origin)
        if original is None or original is s:
            continue
        offerer = s.offer.offerer if s.offer is not None else s.client[0]
        peer = s.offer.peer if s.offer is not None else s.server[0]
        ends = (original.client[0], original.server[0])
        if offerer not in ends:
            out.add(
                "tcpcrypt.resume.tracking",
                s,
                original,
                f"resumed by {offerer} with the secret of {_where(original)} between {ends[0]}"
                f" and {ends[1]}",
                s.origin,
            )
            continue
        original_peer = ends[1] if offerer == ends[0] else ends[0]
        if peer != original_peer:
            out.add(
                "tcpcrypt.resume.other_server",
                s,
                original,
                f"{offerer} resumed with {peer} the session it had with {original_peer} "
                f"({_where(original)})",
                s.origin,
            )


def _reuse(ordered: list[FlowSummary], out: _Out) -> None:
    nonces: dict[bytes, FlowSummary] = {}
    keys: dict[bytes, FlowSummary] = {}
    for s in ordered:
        for name, nonce in (("N_A", s.n_a), ("N_B", s.n_b)):
            if nonce is None:
                continue
            earlier = nonces.setdefault(nonce, s)
            if earlier is not s:
                out.add(
                    "tcpcrypt.nonce_reuse",
                    s,
                    earlier,
                    f"{name} {nonce.hex()} also in {_where(earlier)}",
                    nonce,
                )
        for name, pub in (("Pub_A", s.pub_a), ("Pub_B", s.pub_b)):
            if pub is None:
                continue
            earlier = keys.setdefault(pub, s)
            if earlier is not s or (name == "Pub_B" and s.pub_a == pub):
                out.add(
                    "tcpcrypt.pubkey_reuse",
                    s,
                    earlier,
                    f"{name} (digest {pub.hex()}) also in {_where(earlier)}"
                    if earlier is not s
                    else "Pub_A and Pub_B are the same key",
                    pub,
                )


def _frames(ordered: list[FlowSummary], out: _Out) -> None:
    seen: dict[tuple[bytes, str, int], tuple[bytes, FlowSummary]] = {}
    for s in ordered:
        if s.key_id is None:
            continue
        for frame in s.frames:
            key = (s.key_id, frame.direction, frame.offset)
            known = seen.setdefault(key, (frame.digest, s))
            digest, earlier = known
            if earlier is not s and digest != frame.digest:
                out.add(
                    "tcpcrypt.frame_id_reuse",
                    s,
                    earlier,
                    f"the same keys as {_where(earlier)}, a different frame at offset "
                    f"{frame.offset} ({frame.direction})",
                    s.key_id,
                )
