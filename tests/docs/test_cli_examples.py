"""The command-line examples in docs/ are real: each ```console block is run and must print
what the page shows.

A block is lines ``$ COMMAND`` (run by bash from the repository root, with the venv's
``tcpinc`` first on PATH, stderr into stdout, a 120-column page without colour) each
followed by its output, trailing spaces left out. ``/tmp/`` in a block stands for a fresh
temporary directory. Blocks whose commands name tshark run only where tshark is installed.

After a deliberate change of output, rewrite the pages with
``python -m tests.docs.test_cli_examples`` and review the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ("analyze.md", "decrypt.md")
BLOCK = re.compile(r"```console\n(.*?)```\n", re.S)


def blocks(page: str) -> list[str]:
    return BLOCK.findall((ROOT / "docs" / page).read_text())


def run_block(block: str, tmp: Path) -> str:
    """The block's commands run again: the block as it should read."""
    env = {k: v for k, v in os.environ.items() if k not in ("TCPCRYPT_KEYLOG_FILE", "FORCE_COLOR")}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        COLUMNS="120",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
        TERM="dumb",
    )
    out = []
    for line in block.splitlines():
        if not line.startswith("$ "):
            continue
        command = line[2:]
        proc = subprocess.run(
            ["bash", "-c", command.replace("/tmp/", f"{tmp}/")],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )
        printed = proc.stdout.replace(f"{tmp}/", "/tmp/")
        out.append(f"$ {command}\n" + printed)
    return _rstrip_lines("".join(out))


def _rstrip_lines(text: str) -> str:
    """Without the spaces rich pads table lines with (editors strip them from pages)."""
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


CASES = [(page, i, block) for page in PAGES for i, block in enumerate(blocks(page))]


@pytest.mark.parametrize(("page", "index", "block"), CASES, ids=[f"{p}-{i}" for p, i, _ in CASES])
def test_console_block(page: str, index: int, block: str, tmp_path: Path) -> None:
    if "tshark" in block and shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    assert run_block(block, tmp_path) == _rstrip_lines(block)


def test_each_page_has_examples() -> None:
    for page in PAGES:
        assert len(blocks(page)) >= 3, page


def main() -> None:
    """Rewrite the console blocks of the pages with what the commands print now."""
    for page in PAGES:
        path = ROOT / "docs" / page
        text = path.read_text()
        with tempfile.TemporaryDirectory() as tmp:

            def again(match: re.Match[str], tmp: str = tmp) -> str:
                return "```console\n" + run_block(match.group(1), Path(tmp)) + "```\n"

            path.write_text(BLOCK.sub(again, text))


if __name__ == "__main__":
    main()
