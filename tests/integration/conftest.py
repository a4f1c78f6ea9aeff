"""One generation of the whole corpus per test session, shared by the tests/integration files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpinc_tools.commands.corpus import Written, write_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Written]]:
    """The corpus written into a fresh directory: (directory, written entries by stem)."""
    directory = tmp_path_factory.mktemp("captures")
    written = write_corpus(directory)
    return directory, {w.entry.stem: w for w in written}
