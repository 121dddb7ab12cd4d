"""The fuzz harness: mutated banks and MIDI files through the three layers a user reaches.

- ``reader``: a mutated bank through ``dls.read`` (lazy, then every instrument's regions)
  and ``dls.describe``: it reads, or raises ``dls.DLSError`` with one line; nothing else,
  within ``READ_SECONDS``.
- ``play``: a mutated bank that reads is downloaded into a `synth.synth.Synth` and every
  instrument is played: keys across the range at velocities 1, 64 and 127, with the
  controllers at their extremes (modulation, volume, pan, expression, sustain, sends,
  pitch bend both ways, channel pressure); the output is finite. Run under AddressSanitizer
  and UBSan (``dev/fuzz.sh --sanitize``) this is the test that the engine never reads or
  writes outside what it owns, whatever a bank says.
- ``cli``: a mutated MIDI file (or a mutated bank with a good song) through
  ``python -m dlsynth render`` as a subprocess, with a memory limit: exit 0 with a
  readable WAV, or exit 2 with one line ``dlsynth render: error: ...``; never a traceback,
  an internal error, a crash, a hang, or a file left behind.

Every case is a fixed function of (layer, seed, case number), so a failure is replayed by
its number, and each failing input is saved in ``FAILURES`` (``--save``) to be copied into
``tests/data/fuzz-regressions/<layer>/``, which `tests/test_fuzz_layers.py` replays on every
run. ``python -m tests.fuzzing --help`` for the long run (``dev/fuzz.sh`` wraps it).
"""

from __future__ import annotations

import argparse
import os
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
REGRESSIONS = DATA / "fuzz-regressions"
FAILURES = Path(os.environ.get("TMPDIR", "/tmp")) / "dlsynth-fuzz-failures"
LAYERS = ("reader", "play", "cli")

READ_SECONDS = 2.0  # one small mutated bank is read (or refused) within this much CPU time
CLI_SECONDS = 60.0  # one render of a mutated small file ends within this
CLI_MEMORY_BYTES = 3 << 30  # address-space limit of a render (bounded memory)
CLI_MAX_LENGTH_S = "120"  # renders stop here: a song's absurd length is its own test
PLAY_RATE = 22050
PLAY_FRAMES = 2048  # frames rendered per played note group
KEYS = (0, 21, 36, 60, 84, 108, 127)
VELOCITIES = (1, 64, 127)
#: (controller, value) pairs sent before the notes: each at an extreme
CONTROLLER_EXTREMES = (
    (1, 127),
    (7, 127),
    (10, 0),
    (11, 127),
    (64, 127),
    (91, 127),
    (93, 127),
    (71, 127),
    (74, 0),
    (1, 0),
    (10, 127),
    (7, 0),
)


def seed_banks() -> list[bytes]:
    from . import riffbuild as rb

    seeds = [p.read_bytes() for p in sorted((DATA / "libgig-generated").glob("*.dls"))]
    seeds += (
        [p.read_bytes() for p in sorted((DATA / "dls").glob("*.dls")) if p.stat().st_size < 2_000_000]
        if (DATA / "dls").is_dir()
        else []
    )
    seeds += (
        [p.read_bytes() for p in sorted((DATA / "sf2").glob("*.sf2")) if p.stat().st_size < 2_000_000]
        if (DATA / "sf2").is_dir()
        else []
    )
    from . import test_sf2_fuzz

    seeds += list(test_sf2_fuzz.SEEDS)  # SoundFont 2 and 3 banks (dls.read takes them too)
    seeds.append(
        rb.simple_bank(
            region_extra=rb.wsmp(loops=[(0, 10, 100)]) + rb.lst(b"lar2", rb.art(b"art2", [(0, 0, 0x206, 0, 5)]))
        )
    )
    seeds.append(rb.simple_bank(level2=False))
    return seeds


def seed_songs() -> list[bytes]:
    out = []
    for p in sorted((DATA / "midi").rglob("*.mid")):
        if p.stat().st_size < 64_000:
            out.append(p.read_bytes())
    return out


def mutate(rng: np.random.Generator, data: bytes) -> bytes:
    """One random change of the kinds that break parsers: bit flips, extreme 32-bit values,
    truncation, a RIFF chunk size nudged, a slice duplicated, a block of garbage, a MIDI
    delta time or length made huge."""
    b = bytearray(data)
    n = len(b)
    if n < 8:
        return bytes(b) + rng.integers(0, 256, 8, dtype=np.uint8).tobytes()
    kind = int(rng.integers(0, 8))
    if kind == 0:
        for _ in range(int(rng.integers(1, 8))):
            i = int(rng.integers(0, n))
            b[i] ^= 1 << int(rng.integers(0, 8))
    elif kind == 1:
        i = int(rng.integers(0, max(1, n - 4)))
        v = int(rng.choice([0, 1, 2, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFF, n, n + 1, n * 2]))
        struct.pack_into("<I", b, i, v)
    elif kind == 2:
        del b[int(rng.integers(0, n)) :]
    elif kind == 3:
        spots = [i for i in range(0, n - 8) if all(32 <= c < 127 for c in b[i : i + 4])]
        if spots:
            i = spots[int(rng.integers(0, len(spots)))]
            old = struct.unpack_from("<I", b, i + 4)[0]
            struct.pack_into("<I", b, i + 4, max(0, old + int(rng.integers(-40, 40))) & 0xFFFFFFFF)
    elif kind == 4:
        i = int(rng.integers(0, n))
        j = min(n, i + int(rng.integers(1, 64)))
        b[i:i] = b[i:j]
    elif kind == 5:
        i = int(rng.integers(0, n))
        b[i : i + 16] = rng.integers(0, 256, 16, dtype=np.uint8).tobytes()
    elif kind == 6:  # a variable-length quantity of four 0xFF-ish bytes (a huge delta or length)
        i = int(rng.integers(0, n))
        b[i : i + 4] = bytes([0x8F, 0xFF, 0xFF, 0x7F])
    else:  # a status byte somewhere
        i = int(rng.integers(0, n))
        b[i] = int(rng.choice([0x80, 0x90, 0xB0, 0xC0, 0xE0, 0xF0, 0xF7, 0xFF]))
    return bytes(b)


def case_input(layer: str, seed: int, case: int, banks: list[bytes], songs: list[bytes]) -> tuple[str, bytes]:
    """The input of one case: ("bank" | "song", bytes), a fixed function of its numbers."""
    rng = np.random.default_rng([seed, LAYERS.index(layer), case])
    if layer == "cli" and case % 4 != 3:
        kind, data = "song", songs[case % len(songs)]
    else:
        kind, data = "bank", banks[case % len(banks)]
    for _ in range(int(rng.integers(1, 4))):
        data = mutate(rng, data)
    return kind, data


# --- the layers ---------------------------------------------------------------------------


def check_reader(data: bytes) -> None:
    from dlsynth import dls
    from dlsynth.dls.describe import describe

    t0 = time.process_time()  # CPU time: a loaded machine's waits are not the reader's
    try:
        col = dls.read(data)
        col.load_all()
        describe(col)
    except dls.DLSError as exc:
        text = str(exc)
        assert text and "\n" not in text, f"DLSError without a one-line message: {text!r}"
        outcome = "refused"
    else:
        outcome = "read"
    took = time.process_time() - t0
    assert took < READ_SECONDS, f"read took {took:.2f} s of CPU"
    return outcome


def check_play(data: bytes) -> None:
    from dlsynth import dls
    from dlsynth.synth.synth import Synth

    try:
        col = dls.read(data)
        col.load_all()
    except dls.DLSError:
        return "refused"
    synth = Synth(PLAY_RATE, voices=64, effects=True)
    try:
        synth.download(col)
        out = np.zeros((PLAY_FRAMES, 2), dtype=np.float32)
        for ins in col.instruments:
            drum = bool(ins.bank & dls.constants.F_INSTRUMENT_DRUMS)
            ch = 9 if drum else 0
            msb, lsb = (ins.bank >> 8) & 0x7F, ins.bank & 0x7F
            msgs = [bytes([0xB0 | ch, 0, msb]), bytes([0xB0 | ch, 32, lsb]), bytes([0xC0 | ch, ins.program & 0x7F])]
            msgs += [bytes([0xB0 | ch, c, v]) for c, v in CONTROLLER_EXTREMES]
            msgs += [bytes([0xE0 | ch, 0x7F, 0x7F]), bytes([0xD0 | ch, 127])]
            for vel in VELOCITIES:
                msgs += [bytes([0x90 | ch, k, vel]) for k in KEYS]
            msgs += [bytes([0xE0 | ch, 0, 0])]
            for m in msgs:
                synth.message(synth.position, 1, m)
            synth.render(out=out)
            assert np.all(np.isfinite(out)), f"non-finite output for {ins.name!r}"
            synth.message(synth.position, 1, bytes([0xB0 | ch, 120, 0]))  # all sound off
            synth.message(synth.position, 1, bytes([0xB0 | ch, 121, 0]))
            synth.render(out=out[:256])
            assert np.all(np.isfinite(out[:256]))
    finally:
        synth.close()
    return "played" if col.instruments else "read"


def check_cli(kind: str, data: bytes, workdir: Path) -> None:
    import resource

    song = DATA / "midi" / "jazz-soft" / "test-c-major-scale.mid"
    args = [sys.executable, "-m", "dlsynth", "render", "--max-length", CLI_MAX_LENGTH_S, "--rate", "22050"]
    if kind == "song":
        src = workdir / "case.mid"
        src.write_bytes(data)
        args += [str(src)]
    else:
        src = workdir / "case.dls"
        src.write_bytes(data)
        args += [str(song), "--bank", str(src)]
    out = workdir / "out.wav"
    args += ["-o", str(out)]

    def limits():
        # (AddressSanitizer reserves terabytes of address space for its shadow: under it the
        # bound is the sanitizer's own, the normal pass keeps this one)
        if os.environ.get("DLSYNTH_UNDER_SANITIZER") != "1":
            resource.setrlimit(resource.RLIMIT_AS, (CLI_MEMORY_BYTES, CLI_MEMORY_BYTES))

    try:
        r = subprocess.run(
            args,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=CLI_SECONDS,
            preexec_fn=limits,
            env={**os.environ, "DLSYNTH_DEBUG": "0"},
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(f"render did not end within {CLI_SECONDS:g} s") from None
    err = r.stderr
    assert "Traceback" not in err and "internal error" not in err, err[-2000:]
    left = [p.name for p in workdir.iterdir() if p.name.endswith(".part")]
    assert not left, f"left behind: {left}"
    if r.returncode == 0:
        import soundfile as sf

        frames = sf.info(str(out)).frames
        assert frames >= 0
        out.unlink()
        outcome = "rendered"
    else:
        outcome = "refused"
        assert r.returncode == 2, f"exit {r.returncode}: {err[-2000:]}"
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dlsynth render: error: "), err[-2000:]
        assert not out.exists()
    src.unlink()
    return outcome


# --- running ------------------------------------------------------------------------------


@dataclass
class Tally:
    cases: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)  # read / refused / played / rendered
    failures: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: float = 0.0


def run_case(layer: str, seed: int, case: int, banks, songs, workdir: Path | None = None) -> tuple[str, str | None]:
    """One case: (its outcome, the failure's text or None when it behaved)."""
    kind, data = case_input(layer, seed, case, banks, songs)
    return run_input(layer, kind, data, workdir)


def run_input(layer: str, kind: str, data: bytes, workdir: Path | None = None) -> tuple[str, str | None]:
    try:
        if layer == "reader":
            return check_reader(data), None
        if layer == "play":
            return check_play(data), None
        with tempfile.TemporaryDirectory(dir=workdir) as d:
            return check_cli(kind, data, Path(d)), None
    except Exception as exc:
        return "failed", f"{exc.__class__.__name__}: {exc}"


def save_failure(layer: str, seed: int, case: int, banks, songs) -> Path:
    kind, data = case_input(layer, seed, case, banks, songs)
    FAILURES.mkdir(parents=True, exist_ok=True)
    path = FAILURES / f"{layer}-{seed}-{case}.{'mid' if kind == 'song' else 'dls'}"
    path.write_bytes(data)
    return path


def _worker(job) -> tuple[dict[str, int], list[tuple[str, int, str]]]:
    layer, seed, start, stop, step = job
    banks, songs = seed_banks(), seed_songs()
    bad = []
    n: dict[str, int] = {}
    for case in range(start, stop, step):
        outcome, why = run_case(layer, seed, case, banks, songs)
        n[outcome] = n.get(outcome, 0) + 1
        if why is not None:
            bad.append((layer, case, why))
            save_failure(layer, seed, case, banks, songs)
    return n, bad


def run(layers: dict[str, int], seed: int, jobs: int, progress=print) -> dict[str, Tally]:
    from concurrent.futures import ProcessPoolExecutor

    out = {}
    for layer, cases in layers.items():
        t0 = time.perf_counter()
        tally = Tally()
        chunk = 2000 if layer == "reader" else (200 if layer == "play" else 20)
        work = [(layer, seed, lo, min(cases, lo + chunk), 1) for lo in range(0, cases, chunk)]
        with ProcessPoolExecutor(max_workers=max(1, jobs)) as ex:
            for n, bad in ex.map(_worker, work):
                tally.cases += sum(n.values())
                for k, v in n.items():
                    tally.outcomes[k] = tally.outcomes.get(k, 0) + v
                tally.failures += bad
                if progress:
                    progress(
                        f"  {layer}: {tally.cases}/{cases} cases, {len(tally.failures)} failures, "
                        f"{time.perf_counter() - t0:.0f} s"
                    )
        tally.seconds = time.perf_counter() - t0
        out[layer] = tally
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzzing", description=__doc__.splitlines()[0])
    ap.add_argument("--reader", type=int, default=0, metavar="N", help="cases for the reader layer")
    ap.add_argument("--play", type=int, default=0, metavar="N", help="cases for the download-and-play layer")
    ap.add_argument("--cli", type=int, default=0, metavar="N", help="cases for the command-line layer")
    ap.add_argument("--seed", type=int, default=1, help="campaign seed (cases are reproducible from it)")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--replay", metavar="LAYER:CASE", help="run one case and print what it did")
    args = ap.parse_args(argv)
    if args.replay:
        layer, case = args.replay.split(":")
        banks, songs = seed_banks(), seed_songs()
        outcome, why = run_case(layer, args.seed, int(case), banks, songs)
        print(f"{layer} case {case}: {outcome}{'' if why is None else ': ' + why}")
        if why is not None:
            print(f"input saved to {save_failure(layer, args.seed, int(case), banks, songs)}")
        return 0 if why is None else 1
    layers = {k: v for k, v in (("reader", args.reader), ("play", args.play), ("cli", args.cli)) if v}
    if not layers:
        ap.error("give a number of cases for at least one layer (--reader N --play N --cli N)")
    results = run(layers, args.seed, args.jobs)
    total = sum(t.cases for t in results.values())
    failed = sum(len(t.failures) for t in results.values())
    for layer, t in results.items():
        print(
            f"{layer:7s} {t.cases:9d} cases  {len(t.failures):4d} failures  {t.seconds:8.0f} s  "
            f"({t.cases / t.seconds if t.seconds else 0:.0f} cases/s; "
            + ", ".join(f"{v} {k}" for k, v in sorted(t.outcomes.items()))
            + ")"
        )
        for _, case, why in t.failures[:20]:
            print(f"    case {case}: {why[:300]}")
    print(f"total   {total:9d} cases  {failed:4d} failures (inputs in {FAILURES})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
