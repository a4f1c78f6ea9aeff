"""Print the line coverage of one package folder from coverage.py's JSON report.

Used by ``make test`` to show the figure the wire layer is held to (>= 95%), and to fail
when it drops below.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

THRESHOLD = 95.0


def main(report: str, folder: str) -> int:
    files = json.loads(Path(report).read_text())["files"]
    covered = total = 0
    for name, entry in files.items():
        if Path(name).as_posix().startswith(folder.rstrip("/") + "/"):
            covered += entry["summary"]["covered_lines"]
            total += entry["summary"]["num_statements"]
    if total == 0:
        print(f"coverage: no statements under {folder}")
        return 1
    pct = 100.0 * covered / total
    print(f"coverage of {folder}: {pct:.1f}% ({covered}/{total} lines; goal {THRESHOLD:.0f}%)")
    return 0 if pct >= THRESHOLD else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
