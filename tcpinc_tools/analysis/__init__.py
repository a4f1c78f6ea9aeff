"""Capture analysis: TCP-ENO negotiation, tcpcrypt messages and frames, decryption with a key
log, findings (ARCHITECTURE.md "analysis").

This layer imports ``capture``, ``keylog``, ``crypto``, ``wire`` and ``errors``; never
``textual``, ``rich``, ``endpoint``, ``tui`` or ``cli``.
"""

from __future__ import annotations

from .analyzer import Analyzer, analyze_capture
from .cross import cross_connection_findings
from .model import (
    AnalysisResult,
    CaptureInfo,
    CrossFinding,
    EnoResult,
    Finding,
    FlowResult,
    FlowSummary,
    StreamRecord,
    TcpcryptResult,
)
from .registry import FIELDS, REGISTRY, FieldSpec, FindingSpec, Group, Severity, lookup
from .report import JsonReport, flow_to_json, to_json_document

__all__ = [
    "FIELDS",
    "REGISTRY",
    "AnalysisResult",
    "Analyzer",
    "CaptureInfo",
    "CrossFinding",
    "EnoResult",
    "FieldSpec",
    "Finding",
    "FindingSpec",
    "FlowResult",
    "FlowSummary",
    "Group",
    "JsonReport",
    "Severity",
    "StreamRecord",
    "TcpcryptResult",
    "analyze_capture",
    "cross_connection_findings",
    "flow_to_json",
    "lookup",
    "to_json_document",
]
