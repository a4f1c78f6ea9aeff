"""Captures: pcap / pcapng reading and writing, and TCP flows with reassembly.

This layer imports ``errors`` and ``wire`` only (ARCHITECTURE.md "Layers"); ``protocol``,
``analysis`` and ``cli`` sit above it.
"""

from __future__ import annotations

from .checksum import internet_checksum, tcp_checksum
from .flows import Direction, Flow, FlowAnomaly, FlowLimits, FlowTable, FlowUpdate
from .packet import CaptureStats, TcpPacket
from .reader import CaptureReader, read_packets
from .stream import Stream
from .writer import CaptureWriter

__all__ = [
    "CaptureReader",
    "CaptureStats",
    "CaptureWriter",
    "Direction",
    "Flow",
    "FlowAnomaly",
    "FlowLimits",
    "FlowTable",
    "FlowUpdate",
    "Stream",
    "TcpPacket",
    "internet_checksum",
    "read_packets",
    "tcp_checksum",
]
