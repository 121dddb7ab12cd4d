"""Start-up: what ``dlsynth render`` pays before and around its first block.

    python benchmarks/startup.py [--runs 7] [--json]

A one-note song (written here with mido) rendered with FluidR3_GM as DLS (built by
benchmarks/bank_load.py when missing), as a user runs it, ``--runs`` times:

* imports: the sum of the self times ``python -X importtime`` gives for the whole command
  (every module the job imports, NumPy included), best and median, against the issue's
  target of 0.15 s; and the ten modules that cost the most (self time, median run);
* the whole command's wall time beside ``fluidsynth -F`` rendering the same song from the
  SF2 (the fixed cost of each, which dominates a short song's ratio), and their ratio.
"""

from __future__ import annotations

import dlsynth.numpy_env  # noqa: F401  (first: one OpenBLAS thread, as the command runs)

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bank_load  # noqa: E402
import peers  # noqa: E402

TARGET_IMPORT_S = 0.15  # issue "Fast and lean ...": imports of `render` <= 0.15 s
RATE = 48000  # Hz, both synths (as render_speed.py)


def one_note_song(path: Path) -> None:
    import mido

    mid = mido.MidiFile()
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.Message("note_on", note=60, velocity=100, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=48))
    mid.save(str(path))


def import_times(stderr: str) -> dict[str, float]:
    """Module -> self seconds, from `-X importtime` lines ("import time: self | cumulative | name")."""
    out = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        fields = line[len("import time:") :].split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():
            out[fields[2].strip()] = int(fields[0]) / 1e6
    return out


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    return time.perf_counter() - t0, r


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    a = ap.parse_args(argv)
    try:
        bank = bank_load.ensure_bank(bank_load.DEFAULT_SF2, bank_load.DEFAULT_DLS, rebuild=False)
    except bank_load.BenchError as exc:
        raise SystemExit(f"startup: {exc}") from None
    fluid = shutil.which("fluidsynth") and peers.FLUID_R3_SF2.exists()
    with tempfile.TemporaryDirectory(prefix="dlsynth-startup-") as work:
        song = Path(work) / "one-note.mid"
        one_note_song(song)
        render = [sys.executable, "-m", "dlsynth", "render", str(song), "--bank", str(bank)]
        render += ["-o", str(Path(work) / "out.wav"), "--rate", str(RATE), "--no-effects", "-q"]
        imports, walls, fluid_walls, per_module = [], [], [], []
        for _ in range(a.runs):
            _, r = timed([sys.executable, "-X", "importtime", *render[1:]])
            if r.returncode != 0:
                raise SystemExit(f"startup: dlsynth render failed: {r.stderr.strip().splitlines()[-1:]}")
            mods = import_times(r.stderr)
            imports.append(sum(mods.values()))
            per_module.append(mods)
            walls.append(timed(render)[0])
            if fluid:
                cmd = peers.fluidsynth_command(peers.FLUID_R3_SF2, song, Path(work) / "f.wav", rate=RATE, effects=False)
                fluid_walls.append(timed(cmd)[0])
    med = sorted(range(len(imports)), key=lambda i: imports[i])[len(imports) // 2]
    top = sorted(per_module[med].items(), key=lambda kv: -kv[1])[:10]
    res = {
        "bank": str(bank),
        "runs": a.runs,
        "imports_s": {"best": min(imports), "median": statistics.median(imports)},
        "top_modules_s": dict(top),
        "dlsynth_wall_s": {"best": min(walls), "median": statistics.median(walls)},
        "fluidsynth_wall_s": {"best": min(fluid_walls), "median": statistics.median(fluid_walls)}
        if fluid_walls
        else None,
        "target_import_s": TARGET_IMPORT_S,
    }
    res["imports_meet_target"] = res["imports_s"]["median"] <= TARGET_IMPORT_S
    if fluid_walls:
        res["wall_ratio"] = res["dlsynth_wall_s"]["median"] / res["fluidsynth_wall_s"]["median"]
    if a.json:
        print(json.dumps(res, indent=1))
        return 0
    print(f"dlsynth render of a one-note song with {bank.name}, {a.runs} runs")
    print(
        f"imports (sum of -X importtime self times): best {min(imports):.3f} s, median {res['imports_s']['median']:.3f} s"
    )
    print("  costliest modules (self time, median run):")
    for name, s in top:
        print(f"    {s * 1e3:6.1f} ms  {name}")
    line = f"whole command: dlsynth median {res['dlsynth_wall_s']['median']:.3f} s"
    if fluid_walls:
        line += f", fluidsynth -F median {res['fluidsynth_wall_s']['median']:.3f} s, ratio {res['wall_ratio']:.2f}"
    print(line)
    print(
        f"target: imports <= {TARGET_IMPORT_S} s: {'meets' if res['imports_meet_target'] else 'MISSES'}"
        f" ({res['imports_s']['median']:.3f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
