"""The frozen dataclasses whose constructor is written out (``init=False``; see
tcpinc_tools.records, "Constructors"): each must do exactly what the generated one would.

From the source: the parameters are the fields in order with the fields' defaults, and the
body sets each field from its own parameter. At run time (in either build, ``make
test-native`` included): the class pickles by position, its instances are still frozen, and
``dataclasses.replace`` and equality behave as for a generated constructor.
"""

from __future__ import annotations

import ast
import copyreg
import dataclasses
import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "tcpinc_tools"


def _is_own_init_dataclass(node: ast.ClassDef) -> bool:
    for deco in node.decorator_list:
        if isinstance(deco, ast.Call) and getattr(deco.func, "id", None) == "dataclass":
            return any(
                kw.arg == "init" and isinstance(kw.value, ast.Constant) and kw.value.value is False
                for kw in deco.keywords
            )
    return False


def _classes() -> list[tuple[str, ast.ClassDef, str]]:
    """(module, class node, source) of every dataclass declared with init=False."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text()
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        for node in ast.parse(source).body:
            if isinstance(node, ast.ClassDef) and _is_own_init_dataclass(node):
                found.append((module, node, source))
    return found


CLASSES = _classes()
IDS = [f"{module}.{node.name}" for module, node, _ in CLASSES]


def test_the_hot_classes_have_a_written_out_constructor() -> None:
    names = {node.name for _, node, _ in CLASSES}
    hot = {"TcpOption", "SynOptionReport", "EnoSuboption", "EnoOption", "EnoOutcome"}
    hot |= {"ResumeOffer", "StreamMark", "Finding", "FlowResult", "FlowSummary", "StreamRecord"}
    hot |= {"EnoResult", "TcpcryptResult", "ResumeOfferSeen", "FrameDigest", "FramePlaintext"}
    hot |= {"Frame", "KeyCandidate", "Reading", "SessionSecrets"}
    assert hot <= names


@pytest.mark.parametrize(("module", "node", "source"), CLASSES, ids=IDS)
def test_parameters_are_the_fields_and_each_is_set_from_its_own(
    module: str, node: ast.ClassDef, source: str
) -> None:
    fields = [s for s in node.body if isinstance(s, ast.AnnAssign)]
    inits = [s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"]
    assert len(inits) == 1, f"{node.name}: init=False needs one written-out __init__"
    init = inits[0]
    args = init.args
    assert not (args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg)
    params = args.args[1:]
    names = [f.target.id for f in fields if isinstance(f.target, ast.Name)]
    assert [p.arg for p in params] == names
    annotations = [ast.get_source_segment(source, f.annotation) for f in fields]
    assert [ast.get_source_segment(source, p.annotation) for p in params if p.annotation] == (
        annotations
    )
    field_defaults = [ast.get_source_segment(source, f.value) for f in fields if f.value]
    assert [ast.get_source_segment(source, d) for d in args.defaults] == field_defaults
    assert len(field_defaults) == sum(1 for f in fields if f.value)
    # the body: object.__setattr__(self, "name", name), field by field, nothing else
    assert [ast.unparse(stmt) for stmt in init.body] == [
        f"object.__setattr__(self, '{name}', {name})" for name in names
    ]


@pytest.mark.parametrize(("module", "node", "source"), CLASSES, ids=IDS)
def test_at_run_time_as_a_generated_constructor(
    module: str, node: ast.ClassDef, source: str
) -> None:
    cls = getattr(importlib.import_module(module), node.name)
    fields = dataclasses.fields(cls)
    signature = inspect.signature(cls)  # compiled: from the class's text signature
    assert list(signature.parameters) == [f.name for f in fields]
    for param, field in zip(signature.parameters.values(), fields, strict=True):
        expected = (
            inspect.Parameter.empty if field.default is dataclasses.MISSING else field.default
        )
        assert param.default == expected, (node.name, field.name)
    assert cls.__dataclass_params__.frozen
    if cls in copyreg.dispatch_table:  # registered: it must reduce by position
        assert "_by_position" in copyreg.dispatch_table[cls].__qualname__


CAPTURES = PACKAGE.parent / "captures"


def _instances() -> dict[type, list[Any]]:
    """Instances of the dataclasses reachable from the analyses (with their frames and keys)
    and flow tables of a few sample captures, by class."""
    from tcpinc_tools.analysis.decrypt import fresh_secrets, readings_for
    from tcpinc_tools.analysis.model import StreamRecord
    from tcpinc_tools.analysis.streaming import analyze_streaming
    from tcpinc_tools.capture import CaptureReader
    from tcpinc_tools.capture.flows import FlowTable
    from tcpinc_tools.keylog import KeyLog
    from tcpinc_tools.wire.constants import AeadId
    from tcpinc_tools.wire.eno import negotiate
    from tcpinc_tools.wire.frames import decode_frame, encode_frame
    from tcpinc_tools.wire.tcp_options import syn_option_report
    from tcpinc_tools.wire.tcpcrypt import decode_resume_suboption

    roots: list[object] = [
        decode_frame(encode_frame(bytes(range(20)), rekey=True)),
        readings_for("rfc", 40, False),
        decode_resume_suboption(bytes(range(17))),  # 9-byte half, 8-byte nonce
    ]
    for name in ("resume", "lossy", "attack-resume-replay", "legacy-resume", "fallback-ill-formed"):
        path = CAPTURES / f"{name}.pcap"
        keys = path.with_suffix(".keys")
        keylog = KeyLog.load(keys) if keys.exists() else None
        records: list[StreamRecord] = []
        result = analyze_streaming(path, keylog=keylog, payload=True, frame_sink=records.append)
        roots += [result.flows, result.summaries, result.findings, records]
        if keylog is not None:
            for summary in result.summaries:
                if summary.n_a is not None and summary.tep is not None and summary.dialect:
                    roots.append(
                        fresh_secrets(
                            keylog,
                            summary.n_a,
                            tep_byte=summary.tep,
                            ciphers=list(AeadId),
                            dialect="rfc" if summary.dialect == "rfc" else "legacy",
                        )
                    )
        table = FlowTable()
        syns = []
        for pkt in CaptureReader(path):
            table.add(pkt)
            if pkt.flags & 0x02:
                syns.append(syn_option_report(pkt.options))
        roots += [[(f.c2s.fin, f.s2c.fin, f.c2s.rst, f.s2c.rst) for f in table.flows], syns]
        enos = [r.eno_options for r in syns]
        if len(enos) >= 2 and enos[0] and enos[1]:
            roots.append(negotiate(enos[0][0].raw, enos[1][0].raw))
    found: dict[type, list[Any]] = {}
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float)):
            continue
        seen.add(id(obj))
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            found.setdefault(type(obj), []).append(obj)
            stack += [getattr(obj, f.name) for f in dataclasses.fields(obj)]
        elif isinstance(obj, (list, tuple)):
            stack += list(obj)
    return found


def test_instances_compare_copy_pickle_and_stay_frozen() -> None:
    import pickle

    instances = _instances()
    classes = {getattr(importlib.import_module(m), n.name) for m, n, _ in CLASSES}
    checked = classes & set(instances)
    assert checked == classes, sorted(c.__name__ for c in classes - checked)
    for cls in checked:
        for obj in instances[cls][:50]:
            assert dataclasses.replace(obj) == obj
            assert pickle.loads(pickle.dumps(obj)) == obj
            values = [getattr(obj, f.name) for f in dataclasses.fields(obj)]
            assert cls(*values) == obj
            assert cls(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}) == obj
            name = dataclasses.fields(obj)[0].name
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(obj, name, getattr(obj, name))
