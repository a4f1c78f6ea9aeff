"""The compiled build (setup.py: tcpinc_tools.build.NATIVE_MODULES through mypyc)
against the pure one.

The development .venv is an editable, pure install, so the rest of the suite tests the
sources as they are. These tests build the package as ``pip install .`` does (compiled,
into a temporary directory) and run :mod:`driver` under both builds: every command on every
capture of captures/ (analyze --json --payload with the key log, --jsonl, follow, decrypt),
a split over two processes, and mutated captures. The two outputs must be equal byte for
byte: a compiled module that raised where the interpreter does not (mypyc checks declared
types at run time) would show as an extra finding or a different status.
"""

from __future__ import annotations

import copyreg
import dataclasses
import importlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tcpinc_tools import __version__
from tcpinc_tools.build import NATIVE_MODULES

ROOT = Path(__file__).resolve().parents[3]
DRIVER = Path(__file__).with_name("driver.py")
# Mutated captures analyzed by both builds; the seed makes the run repeatable.
MUTANTS = 120
SEED = 20261127


def native_modules() -> list[str]:
    return list(NATIVE_MODULES)


def python(argv: list[str], *, site: Path | None, cwd: Path, timeout: float = 900) -> str:
    """Run ``python ARGV`` in ``cwd`` with ``site`` first on the path (None: the .venv's
    pure build) and no key log in the environment; its standard output. ``cwd`` is outside
    the repository, so that the source tree is not on the path."""
    drop = ("PYTHONPATH", "TCPINC_PURE", "TCPCRYPT_KEYLOG_FILE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    proc = subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


@pytest.fixture(scope="module")
def native_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package built and installed as a wheel is, into a directory of its own."""
    site = tmp_path_factory.mktemp("native-site")
    pip = ["-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target"]
    python([*pip, str(site), str(ROOT)], site=None, cwd=site)
    return site


def drive(site: Path | None, work: Path) -> dict[str, object]:
    """driver.py's report under the build in ``site`` (None: pure)."""
    work.mkdir()
    argv = [str(DRIVER), str(ROOT / "captures"), str(SEED), str(MUTANTS)]
    report: dict[str, object] = json.loads(python(argv, site=site, cwd=work))
    return report


def test_the_build_compiles_every_listed_module(native_site: Path) -> None:
    suffix = ".cpython-{}{}-".format(*sys.version_info[:2])
    for module in native_modules():
        parent = native_site.joinpath(*module.split(".")[:-1])
        name = module.rsplit(".", 1)[1]
        built = [p.name for p in parent.glob(f"{name}{suffix}*.so")]
        assert built, f"{module} was not compiled"
    # and what is not listed stays Python
    assert not list((native_site / "tcpinc_tools" / "commands").glob("*.so"))


def test_compiled_and_pure_builds_write_the_same_bytes(native_site: Path, tmp_path: Path) -> None:
    pure = drive(None, tmp_path / "pure")
    native = drive(native_site, tmp_path / "native")
    assert pure.pop("flows_module") == ".py"
    assert native.pop("flows_module") == ".so"
    # tcpinc --version says which build runs
    assert pure.pop("version")["stdout"] == f"tcpinc {__version__} (pure Python)\n"  # type: ignore[index]
    assert native.pop("version")["stdout"] == (  # type: ignore[index]
        f"tcpinc {__version__} (compiled: {len(NATIVE_MODULES)} modules with mypyc)\n"
    )
    assert pure.keys() == native.keys()
    captures = len(list((ROOT / "captures").glob("*.pcap")))
    assert len(pure) == 4 * captures + MUTANTS
    for key in pure:
        assert native[key] == pure[key], key
    statuses = [v["status"] for k, v in pure.items() if k.endswith(" analyze")]  # type: ignore[index]
    assert statuses == [0] * captures
    # the mutants reach the error paths: some captures end in a truncated record
    assert any(v["status"] == 2 for k, v in pure.items() if k.startswith("mutant"))  # type: ignore[index]


def test_a_split_over_two_processes_under_the_compiled_build(
    native_site: Path, tmp_path: Path
) -> None:
    capture = ROOT / "captures" / "many-16.pcap"

    def analyze(site: Path | None, jobs: int) -> str:
        argv = ["-m", "tcpinc_tools.cli", "analyze", "--json", "--jobs", str(jobs), str(capture)]
        return python(argv, site=site, cwd=tmp_path, timeout=300)

    assert analyze(native_site, 2) == analyze(None, 1)


def test_every_dataclass_of_a_compiled_module_pickles_through_its_constructor() -> None:
    """A compiled frozen dataclass cannot be unpickled attribute by attribute
    (tcpinc_tools.records): each one in a compiled module must be registered."""
    seen = 0
    for module_name in native_modules():
        module = importlib.import_module(module_name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and dataclasses.is_dataclass(value)
                and value.__module__ == module_name
            ):
                seen += 1
                assert value in copyreg.dispatch_table, f"{module_name}.{value.__qualname__}"
    assert seen >= 30


def test_a_registered_dataclass_round_trips() -> None:
    from tcpinc_tools.analysis.model import Finding, make_finding
    from tcpinc_tools.wire.eno import decode_eno_option

    option = decode_eno_option(bytes.fromhex("450a0183a1aabbccdd22"), syn=True)
    assert pickle.loads(pickle.dumps(option)) == option
    finding = make_finding("tcpeno.vacuous", "x")
    assert isinstance(finding, Finding)
    assert pickle.loads(pickle.dumps(finding)) == finding
