#!/usr/bin/env python3
"""Render speed: ``dlsynth render`` against ``fluidsynth -F`` (and SpessaSynth) in the same run.

The song is the dense two-minute sixteen-channel General MIDI file from
``make_dense_midi.py`` (benchmarks/cache/dense-2min.mid, built when missing). The bank is
FluidR3_GM: the SF2 original for FluidSynth, its DLS conversion by spessasynth_core
(benchmarks/cache/FluidR3_GM.dls, built by bank_load.py's functions when missing) for
dlsynth and SpessaSynth. Settings made comparable:

* 48 kHz, reverb and chorus off (``--no-effects``; ``-R 0 -C 0``; spessa ``effectsEnabled``
  false);
* 4-point interpolation: dlsynth ``--interpolation cubic`` (its default); FluidSynth
  ``interp 4`` given in a ``-f`` command file (also its default; 2.3 has no setting for it);
  SpessaSynth hermite (its default);
* a polyphony limit no voice is stolen under (``--voices`` / ``synth.polyphony`` /
  ``voiceCap``, default 1024);
* 16-bit PCM WAV for dlsynth and FluidSynth (their defaults); SpessaSynth writes float.

Timed, best of ``--runs`` (default 3), the renderers run in turn within each round:

* the whole command, wall clock: ``dlsynth render ...`` and ``fluidsynth -ni -F ...`` and
  ``node spessa_render.mjs ...``, each loading its bank from the page cache (warm);
* dlsynth in this process: ``dls.read`` of the bank, then ``render_file`` alone;
* SpessaSynth's own timing of its render loop (without bank parse).

Realtime factors are the song's length (from the MIDI file) over the time. The target from
issue 5: dlsynth's whole command takes at most half of FluidSynth's (ratio <= 0.5).

Usage::

    python benchmarks/render_speed.py [--runs 3] [--voices 1024] [--no-spessa] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import bank_load  # noqa: E402  (benchmarks/bank_load.py: builds the DLS conversion)
import make_dense_midi  # noqa: E402

SF2 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
DLS = bank_load.DEFAULT_DLS
SPESSA_RENDER = HERE / "spessa_render.mjs"
RATE = 48000
TARGET_RATIO = 0.5


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def dlsynth_command() -> list[str]:
    """The dlsynth command: the repo's .venv if there is one, else the installed one."""
    venv = REPO / ".venv" / "bin" / "dlsynth"
    if venv.is_file():
        return [str(venv)]
    found = shutil.which("dlsynth")
    if found:
        return [found]
    return [sys.executable, "-m", "apps.cli"]


def song_seconds(midi: Path) -> float:
    import mido

    return float(mido.MidiFile(str(midi)).length)


def wav_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO), **kw)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall, proc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="dlsynth render vs fluidsynth -F (and SpessaSynth) on a dense GM file")
    ap.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--voices", type=int, default=1024, help="polyphony limit for every renderer (default 1024)")
    ap.add_argument("--midi", type=Path, default=make_dense_midi.DENSE_MIDI)
    ap.add_argument("--no-spessa", action="store_true", help="skip SpessaSynth")
    ap.add_argument("--no-inprocess", action="store_true", help="skip the in-process render_file timing")
    ap.add_argument("--keep", action="store_true", help="keep the rendered WAVs (in benchmarks/out/speed/)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = ap.parse_args(argv)

    midi = a.midi
    if midi == make_dense_midi.DENSE_MIDI:
        make_dense_midi.ensure_dense_midi()
    if not SF2.is_file():
        raise SystemExit(f"{SF2} missing: apt-get install fluid-soundfont-gm")
    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth missing: apt-get install fluidsynth")
    spessa = not a.no_spessa
    try:
        bank_load.ensure_bank(SF2, DLS, rebuild=False)
    except bank_load.BenchError as exc:
        if not DLS.is_file():
            raise SystemExit(f"cannot build {DLS}: {exc}")
        log(f"SpessaSynth unavailable ({exc}); skipping it")
        spessa = False

    length = song_seconds(midi)
    if a.keep:
        outdir = HERE / "out" / "speed"
        outdir.mkdir(parents=True, exist_ok=True)
        tmpctx = None
    else:
        tmpctx = tempfile.TemporaryDirectory(prefix="dlsynth-speed-")
        outdir = Path(tmpctx.name)

    cfg = outdir / "fluid-interp4.cfg"
    cfg.write_text("interp 4\n")
    cmds = {
        "dlsynth": dlsynth_command() + [
            "render", str(midi), "-o", str(outdir / "dlsynth.wav"), "--bank", str(DLS), "--no-effects",
            "--rate", str(RATE), "--interpolation", "cubic", "--voices", str(a.voices), "--json"],
        "fluidsynth": [
            "fluidsynth", "-ni", "-q", "-F", str(outdir / "fluidsynth.wav"), "-f", str(cfg), "-r", str(RATE),
            "-R", "0", "-C", "0", "-g", "0.2", "-o", f"synth.polyphony={a.voices}", "-O", "s16",
            str(SF2), str(midi)],
    }
    if spessa:
        cmds["spessasynth"] = ["node", str(SPESSA_RENDER), str(DLS), str(midi), str(outdir / "spessasynth.wav"),
                               "--rate", str(RATE), "--effects", "0", "--voices", str(a.voices)]

    # Warm the page cache for everyone: read both banks once.
    for p in (SF2, DLS):
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass

    walls: dict[str, list[float]] = {k: [] for k in cmds}
    extra: dict[str, dict] = {}
    inproc_load: list[float] = []
    inproc_render: list[float] = []
    banks = None
    for r in range(a.runs):
        for name, cmd in cmds.items():
            wall, proc = timed(cmd)
            walls[name].append(wall)
            log(f"run {r + 1}/{a.runs} {name:12s} {wall:7.2f} s")
            if name == "dlsynth":
                summary = json.loads(proc.stdout)[0]
                extra["dlsynth"] = {k: summary[k] for k in ("seconds", "wall_seconds", "peak_voices", "average_voices",
                                                            "notes_dropped", "voices_stolen", "peak_dbfs", "clipped")}
            elif name == "spessasynth":
                info = json.loads(proc.stdout.strip().splitlines()[-1])
                prev = extra.get("spessasynth", {}).get("render_s_best", float("inf"))
                extra["spessasynth"] = {"render_s_best": min(prev, info["render_s"]),
                                        "bank_parse_s": info["bank_parse_s"], "seconds": info["seconds"],
                                        "peak_voices": info["peak_voices"]}
        if not a.no_inprocess:
            import dls
            from apps.render import render_file

            t0 = time.perf_counter()
            banks = [dls.read(str(DLS))]
            inproc_load.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            render_file(str(midi), str(outdir / "dlsynth-inproc.wav"), banks, rate=RATE, effects=False,
                              interpolation="cubic", voices=a.voices)
            inproc_render.append(time.perf_counter() - t0)
            log(f"run {r + 1}/{a.runs} {'in-process':12s} load {inproc_load[-1]:.2f} s, "
                f"render_file {inproc_render[-1]:.2f} s")
            del banks

    out_lengths = {}
    for name in cmds:
        p = outdir / f"{name}.wav"
        out_lengths[name] = wav_seconds(p) if p.is_file() else None

    best = {k: min(v) for k, v in walls.items()}
    result = {
        "midi": str(midi),
        "song_seconds": length,
        "rate": RATE,
        "runs": a.runs,
        "voices": a.voices,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "commands": {k: " ".join(v) for k, v in cmds.items()},
        "wall_seconds": walls,
        "best_seconds": best,
        "realtime_factor": {k: length / v for k, v in best.items()},
        "output_seconds": out_lengths,
        "ratio_dlsynth_over_fluidsynth": best["dlsynth"] / best["fluidsynth"],
        "target_ratio": TARGET_RATIO,
        "details": extra,
    }
    if "spessasynth" in best:
        result["ratio_dlsynth_over_spessasynth"] = best["dlsynth"] / best["spessasynth"]
    if inproc_render:
        result["in_process"] = {
            "bank_load_best_s": min(inproc_load),
            "render_file_best_s": min(inproc_render),
            "render_file_realtime_factor": length / min(inproc_render),
            "ratio_render_file_over_fluidsynth_command": min(inproc_render) / best["fluidsynth"],
        }
    result["meets_target"] = result["ratio_dlsynth_over_fluidsynth"] <= TARGET_RATIO

    if a.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{midi.name}: {length:.1f} s of music, {RATE} Hz, effects off, voices {a.voices}, best of {a.runs}")
        print(f"{'renderer':14s} {'best s':>8s} {'x realtime':>11s} {'output s':>9s}")
        for k in cmds:
            print(f"{k:14s} {best[k]:8.2f} {length / best[k]:11.1f} {out_lengths[k] or 0:9.1f}")
        if inproc_render:
            ip = result["in_process"]
            print(f"{'render_file':14s} {ip['render_file_best_s']:8.2f} {ip['render_file_realtime_factor']:11.1f}"
                  f"   (in process; dls.read {ip['bank_load_best_s']:.2f} s before it)")
        if "spessasynth" in extra:
            print(f"spessasynth render loop alone: {extra['spessasynth']['render_s_best']:.2f} s "
                  f"(bank parse {extra['spessasynth']['bank_parse_s']:.2f} s)")
        verdict = "meets" if result["meets_target"] else "MISSES"
        print(f"ratio dlsynth/fluidsynth (whole commands): {result['ratio_dlsynth_over_fluidsynth']:.3f} "
              f"({verdict} the target <= {TARGET_RATIO})")
        if "ratio_dlsynth_over_spessasynth" in result:
            print(f"ratio dlsynth/spessasynth (whole commands): {result['ratio_dlsynth_over_spessasynth']:.3f}")
        d = extra.get("dlsynth", {})
        if d:
            print(f"dlsynth: peak voices {d['peak_voices']}, stolen {d['voices_stolen']}, "
                  f"dropped {d['notes_dropped']}, peak {d['peak_dbfs']:.1f} dBFS")
        if a.keep:
            print(f"WAVs kept in {outdir}")
    if tmpctx is not None:
        tmpctx.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
