"""Sequence-number arithmetic: 32-bit on the wire, unbounded inside the state machine.

RFC 9293 §3.4: sequence numbers live in the space 0 .. 2**32 - 1 and every comparison is
made modulo 2**32. :class:`~tcpinc_tools.protocol.tcp.TcpConnection` keeps its sequence
variables as plain integers that never wrap (the ISN plus a byte count) and converts at
the wire boundary: :func:`seq_unwrap` places a received 32-bit value next to a reference
(the closest integer congruent to it modulo 2**32), :func:`seq_wire` folds back. Inside,
ordinary ``<`` then means what the RFC's modular comparisons mean.
"""

from __future__ import annotations

from typing import Final

__all__ = ["SEQ_MASK", "SEQ_MOD", "seq_diff", "seq_lt", "seq_unwrap", "seq_wire"]

SEQ_MOD: Final = 1 << 32
SEQ_MASK: Final = SEQ_MOD - 1
_HALF: Final = 1 << 31


# RFC 9293 §3.4 (and RFC 1982 §3.2): a - b as a signed distance, modulo 2**32.
def seq_diff(a: int, b: int) -> int:
    """How far ``a`` is after ``b`` (negative: before), both read modulo 2**32."""
    d = (a - b) & SEQ_MASK
    return d - SEQ_MOD if d >= _HALF else d


# RFC 9293 §3.4: "<" on sequence numbers is a comparison modulo 2**32.
def seq_lt(a: int, b: int) -> bool:
    """``a`` comes before ``b`` in sequence space (both 32-bit wire values)."""
    return seq_diff(a, b) < 0


def seq_unwrap(wire: int, reference: int) -> int:
    """The unbounded sequence number congruent to ``wire`` that is closest to ``reference``."""
    return reference + seq_diff(wire, reference)


def seq_wire(value: int) -> int:
    """The 32-bit wire form of an unbounded sequence number."""
    return value & SEQ_MASK
