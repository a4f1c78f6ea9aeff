"""Runs the tool on a corpus and prints one JSON object of everything it wrote.

    python driver.py CAPTURES_DIR SEED MUTANTS      (in an empty working directory)

Run twice by test_native.py: once on the pure build, once on the compiled one (the
package found first on the path); the two outputs must be equal byte for byte. Not a test
module itself: it imports only the package's public command line.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import sys
from pathlib import Path


def run(argv: list[str]) -> dict[str, object]:
    """``tcpinc ARGV`` in this process: its status, standard output and error."""
    from tcpinc_tools.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse
            status = int(exc.code or 0)
    return {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}


def mutant(data: bytes, rng: random.Random) -> bytes:
    """The capture with a few bytes past its header changed, or cut short."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        pos = rng.randrange(24, len(buf))
        buf[pos] = rng.randrange(256)
    if rng.random() < 0.2:
        del buf[rng.randrange(24, len(buf)) :]
    return bytes(buf)


def main() -> int:
    corpus = Path(sys.argv[1])
    seed, mutants = int(sys.argv[2]), int(sys.argv[3])
    import tcpinc_tools.capture.flows as probe

    report: dict[str, object] = {
        "flows_module": Path(probe.__file__ or "").suffix,
        "version": run(["--version"]),
    }
    for capture in sorted(corpus.glob("*.pcap")):
        keys = capture.with_suffix(".keys")
        name = capture.stem
        report[f"{name} analyze"] = run(
            ["analyze", "--json", "--payload", "--keylog", str(keys), str(capture)]
        )
        report[f"{name} jsonl"] = run(["analyze", "--jsonl", str(capture)])
        report[f"{name} follow"] = run(["follow", "--keylog", str(keys), str(capture)])
        out = Path(f"{name}.decrypted.pcap")  # relative: the output names it
        decrypt = run(["decrypt", "--keylog", str(keys), "-o", str(out), str(capture)])
        decrypt["output"] = hashlib.sha256(out.read_bytes()).hexdigest() if out.exists() else None
        report[f"{name} decrypt"] = decrypt
    rng = random.Random(seed)
    captures = sorted(corpus.glob("*.pcap"))
    for i in range(mutants):
        capture = rng.choice(captures)
        target = Path(f"mutant-{i}.pcap")
        target.write_bytes(mutant(capture.read_bytes(), rng))
        keys = str(capture.with_suffix(".keys"))
        report[f"mutant {i} of {capture.stem}"] = run(
            ["analyze", "--json", "--keylog", keys, str(target)]
        )
    json.dump(report, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
