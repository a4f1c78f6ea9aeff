"""The committed captures/ are what the generator writes now, byte for byte; the same seed
gives the same bytes, another seed other bytes; --ipv6 and --pcapng read back too."""

from __future__ import annotations

from pathlib import Path

import pytest

from tcpinc_tools.cli import main
from tcpinc_tools.commands.corpus import ENTRIES, Written
from tcpinc_tools.commands.corpus import main as corpus_main
from tcpinc_tools.keylog import KeyLog
from tcpinc_tools.sim.scenarios import names

from .readback import assert_clean_close, decrypt_fresh, plaintext, read_flows

Corpus = tuple[Path, dict[str, Written]]
COMMITTED = Path(__file__).resolve().parents[2] / "captures"


def test_every_scenario_has_a_corpus_entry() -> None:
    assert sorted(e.scenario for e in ENTRIES) == sorted(names())
    assert len({e.stem for e in ENTRIES}) == len(ENTRIES)
    small = {e.scenario: e.stem for e in ENTRIES if e.count or e.size}
    assert small == {"bulk": "bulk-256k", "many": "many-16"}


def test_committed_corpus_is_what_the_generator_writes(corpus: Corpus) -> None:
    fresh_dir, _ = corpus
    regenerated = sorted(p.name for p in fresh_dir.iterdir())
    committed = sorted(p.name for p in COMMITTED.iterdir())
    assert regenerated == committed, "run `make captures` and commit the result"
    for name in regenerated:
        assert (fresh_dir / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def gen(tmp: Path, scenario: str, *extra: str) -> tuple[bytes, bytes]:
    tmp.mkdir(exist_ok=True)
    out, keys = tmp / f"{scenario}.out", tmp / f"{scenario}.keys"
    assert main(["gen", scenario, "-o", str(out), "--keylog", str(keys), *extra]) == 0
    return out.read_bytes(), keys.read_bytes()


@pytest.mark.parametrize("scenario", ["resume", "lossy", "many", "attack-tracking"])
def test_same_seed_same_bytes(tmp_path: Path, scenario: str) -> None:
    extra = ["--count", "6"] if scenario == "many" else []
    one = gen(tmp_path / "a", scenario, "--seed", "7", *extra)
    two = gen(tmp_path / "b", scenario, "--seed", "7", *extra)
    assert one == two
    other = gen(tmp_path / "c", scenario, "--seed", "8", *extra)
    assert other[0] != one[0] and other[1] != one[1]


def test_ipv6_pcapng_reads_back_and_decrypts(tmp_path: Path) -> None:
    capture, keys = tmp_path / "v6.pcapng", tmp_path / "v6.keys"
    args = ["gen", "fresh-x448-aes256gcm", "-o", str(capture), "--keylog", str(keys)]
    assert main([*args, "--ipv6", "--pcapng"]) == 0
    assert capture.read_bytes()[:4] == bytes.fromhex("0a0d0d0a")  # pcapng section header
    (view,) = read_flows(capture)
    assert view.client[0] == "2001:db8:c::1" and view.server == ("2001:db8:5::1", 80)
    c2s, s2c, session_id = decrypt_fresh(view, KeyLog.load(keys))
    assert session_id[0] == 0x24
    assert plaintext(c2s).startswith(b"GET /fresh-x448-aes256gcm HTTP/1.1")
    assert_clean_close(view, c2s, s2c)


def test_bulk_size_option(tmp_path: Path) -> None:
    capture, keys = gen(tmp_path, "bulk", "--size", "64k")
    (view,) = read_flows(tmp_path / "bulk.out")
    _, s2c, _ = decrypt_fresh(view, KeyLog.load(tmp_path / "bulk.keys"))
    head, _, body = plaintext(s2c).partition(b"\r\n\r\n")
    assert b"Content-Length: 65536\r\n" in head and len(body) == 64 << 10
    assert len(capture) > 64 << 10 and keys.startswith(b"# tcpinc gen bulk --seed 0 --size 65536\n")


def test_corpus_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert corpus_main([]) == 2 and corpus_main(["--help"]) == 2
    assert "usage: python -m tcpinc_tools.commands.corpus DIRECTORY" in capsys.readouterr().err
    target = tmp_path / "out"
    assert corpus_main([str(target)]) == 0
    assert (
        capsys.readouterr().out
        == f"wrote {len(ENTRIES)} captures, their key logs and README.md in {target}\n"
    )
    assert (target / "README.md").read_bytes() == (COMMITTED / "README.md").read_bytes()
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert corpus_main([str(blocked / "x")]) == 2
    assert capsys.readouterr().err.startswith("corpus: ")
