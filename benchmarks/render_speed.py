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

Before anything is timed the package's bytecode caches are brought up to date
(``bank_load.warm_bytecode``), as an installed package has them.

Realtime factors are the song's length (from the MIDI file) over the time. The target from
issue 5: dlsynth's whole command takes at most half of FluidSynth's (ratio <= 0.5).

``--songs``: the twelve real songs of tests/data/midi/SONGS.md and the dense file, each
rendered by the whole commands, as a user runs them (start-up and bank load included),
``dlsynth render SONG --bank FluidR3_GM.dls -o OUT --no-effects -q`` and
``fluidsynth -ni -q -F OUT -r 48000 -R 0 -C 0 FluidR3_GM.sf2 SONG`` (both with their default
interpolation and polyphony), in turn, best of ``--runs``; per song both wall times and the
ratio (and the ratio of their CPU times, user + system, which other load on the machine
disturbs less), then the median ratio. Targets (issue "Fast and lean with big banks and short songs"): each
real song <= 0.33, their median <= 0.25, the dense file <= 0.3. Also, in this process, what
``dls.read`` of the DLS bank and the first download of the instruments a song plays take
(target: ready to render in <= 0.1 s). ``--effects`` runs both with their reverb and
chorus on at their defaults instead (what a user gets without options; not the targets').

``--many N``: N short songs (the first 4 to 12 seconds of the real songs, transposed so that
no two are alike; written to a scratch folder) rendered by one
``dlsynth render -o DIR/ *.mid -j J`` (each worker opens the bank once) against a shell loop
of ``fluidsynth -F`` over the same files, and against fluidsynth run J at a time (as
``xargs -P J`` would): files per second of each, and the ratios.

Usage::

    python benchmarks/render_speed.py [--runs 3] [--voices 1024] [--no-spessa] [--json]
    python benchmarks/render_speed.py --songs [--runs 3] [--json]
    python benchmarks/render_speed.py --many 100 [--jobs J] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
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
import peers  # noqa: E402

SF2 = peers.FLUID_R3_SF2
DLS = bank_load.DEFAULT_DLS
SPESSA_RENDER = HERE / "spessa_render.mjs"
RATE = 48000
TARGET_RATIO = 0.5
SONG_DIRS = ("mutopia", "dmidiplayer", "freedoom", "openmsx")  # the real songs of tests/data/midi/SONGS.md
TARGET_SONG_RATIO = 0.33  # each real song, whole commands
TARGET_MEDIAN_RATIO = 0.25  # their median
TARGET_DENSE_RATIO = 0.3  # the dense two-minute file, whole commands
TARGET_READY_SECONDS = 0.1  # dls.read and the first download of what a song plays


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def dlsynth_command() -> list[str]:
    """The dlsynth command of this checkout: the repo's .venv entry point if there is one,
    else this Python running the checkout's `python -m dlsynth` (run from the repository's root)."""
    venv = REPO / ".venv" / "bin" / "dlsynth"
    if venv.is_file():
        return [str(venv)]
    return [sys.executable, "-m", "dlsynth"]


def song_seconds(midi: Path) -> float:
    import mido

    return float(mido.MidiFile(str(midi)).length)


def wav_seconds(path: Path) -> float:
    import soundfile as sf

    info = sf.info(str(path))
    return info.frames / info.samplerate


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


#: CPU seconds (user + system) of the last command `timed` ran, its children included
last_cpu_seconds = 0.0


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    global last_cpu_seconds
    c0 = _children_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO), env=_env(), **kw)
    wall = time.perf_counter() - t0
    last_cpu_seconds = _children_cpu() - c0
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
    ap.add_argument("--songs", action="store_true", help="the twelve real songs and the dense file, whole commands")
    ap.add_argument(
        "--many", type=int, metavar="N", help="N short songs: one dlsynth -j command against a fluidsynth shell loop"
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="-j for --many (default: cores)")
    ap.add_argument(
        "--effects",
        action="store_true",
        help="with --songs: reverb and chorus on in both, at their defaults (what a user gets without options; "
        "the targets are for effects off)",
    )
    a = ap.parse_args(argv)
    if a.songs or a.many:
        check_peers()
        warm_banks()
        result = run_songs(a) if a.songs else run_many(a)
        if a.json:
            print(json.dumps(result, indent=2))
        return 0

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
    bank_load.warm_bytecode()

    length = song_seconds(midi)
    if a.keep:
        outdir = HERE / "out" / "speed"
        outdir.mkdir(parents=True, exist_ok=True)
        tmpctx = None
    else:
        tmpctx = tempfile.TemporaryDirectory(prefix="dlsynth-speed-")
        outdir = Path(tmpctx.name)

    cfg = peers.fluidsynth_cubic_config(outdir)
    cmds = {
        "dlsynth": dlsynth_command()
        + [
            "render",
            str(midi),
            "-o",
            str(outdir / "dlsynth.wav"),
            "--bank",
            str(DLS),
            "--no-effects",
            "--rate",
            str(RATE),
            "--interpolation",
            "cubic",
            "--voices",
            str(a.voices),
            "--json",
        ],
        "fluidsynth": peers.fluidsynth_command(
            SF2,
            midi,
            outdir / "fluidsynth.wav",
            rate=RATE,
            effects=False,
            gain="0.2",
            voices=a.voices,
            sample_format="s16",
            config=cfg,
        ),
    }
    if spessa:
        cmds["spessasynth"] = [
            "node",
            str(SPESSA_RENDER),
            str(DLS),
            str(midi),
            str(outdir / "spessasynth.wav"),
            "--rate",
            str(RATE),
            "--effects",
            "0",
            "--voices",
            str(a.voices),
        ]

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
                extra["dlsynth"] = {
                    k: summary[k]
                    for k in (
                        "seconds",
                        "wall_seconds",
                        "peak_voices",
                        "average_voices",
                        "notes_dropped",
                        "voices_stolen",
                        "peak_dbfs",
                        "clipped",
                    )
                }
            elif name == "spessasynth":
                info = json.loads(proc.stdout.strip().splitlines()[-1])
                prev = extra.get("spessasynth", {}).get("render_s_best", float("inf"))
                extra["spessasynth"] = {
                    "render_s_best": min(prev, info["render_s"]),
                    "bank_parse_s": info["bank_parse_s"],
                    "seconds": info["seconds"],
                    "peak_voices": info["peak_voices"],
                }
        if not a.no_inprocess:
            from dlsynth import dls
            from dlsynth.apps.render import render_file

            t0 = time.perf_counter()
            banks = [dls.read(str(DLS))]
            inproc_load.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            render_file(
                str(midi),
                str(outdir / "dlsynth-inproc.wav"),
                banks,
                rate=RATE,
                effects=False,
                interpolation="cubic",
                voices=a.voices,
            )
            inproc_render.append(time.perf_counter() - t0)
            log(
                f"run {r + 1}/{a.runs} {'in-process':12s} load {inproc_load[-1]:.2f} s, "
                f"render_file {inproc_render[-1]:.2f} s"
            )
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
            print(
                f"{'render_file':14s} {ip['render_file_best_s']:8.2f} {ip['render_file_realtime_factor']:11.1f}"
                f"   (in process; dls.read {ip['bank_load_best_s']:.2f} s before it)"
            )
        if "spessasynth" in extra:
            print(
                f"spessasynth render loop alone: {extra['spessasynth']['render_s_best']:.2f} s "
                f"(bank parse {extra['spessasynth']['bank_parse_s']:.2f} s)"
            )
        verdict = "meets" if result["meets_target"] else "MISSES"
        print(
            f"ratio dlsynth/fluidsynth (whole commands): {result['ratio_dlsynth_over_fluidsynth']:.3f} "
            f"({verdict} the target <= {TARGET_RATIO})"
        )
        if "ratio_dlsynth_over_spessasynth" in result:
            print(f"ratio dlsynth/spessasynth (whole commands): {result['ratio_dlsynth_over_spessasynth']:.3f}")
        d = extra.get("dlsynth", {})
        if d:
            print(
                f"dlsynth: peak voices {d['peak_voices']}, stolen {d['voices_stolen']}, "
                f"dropped {d['notes_dropped']}, peak {d['peak_dbfs']:.1f} dBFS"
            )
        if a.keep:
            print(f"WAVs kept in {outdir}")
    if tmpctx is not None:
        tmpctx.cleanup()
    return 0


def check_peers() -> None:
    if not SF2.is_file():
        raise SystemExit(f"{SF2} missing: apt-get install fluid-soundfont-gm")
    if shutil.which("fluidsynth") is None:
        raise SystemExit("fluidsynth missing: apt-get install fluidsynth")
    try:
        bank_load.ensure_bank(SF2, DLS, rebuild=False)
    except bank_load.BenchError as exc:
        if not DLS.is_file():
            raise SystemExit(f"cannot build {DLS}: {exc}")
    bank_load.warm_bytecode()


def warm_banks() -> None:
    """Both banks in the page cache: every command loads its bank warm."""
    for p in (SF2, DLS):
        with open(p, "rb") as f:
            while f.read(1 << 24):
                pass


def song_files() -> list[Path]:
    data = REPO / "tests" / "data" / "midi"
    return [p for d in SONG_DIRS for p in sorted((data / d).glob("*.mid"))]


def fluid_cmd(midi: Path, out: Path, effects: bool = False) -> list[str]:
    return peers.fluidsynth_command(SF2, midi, out, rate=RATE, effects=effects)


def dlsynth_render_cmd(inputs: list[Path], out: Path, *extra: str, effects: bool = False) -> list[str]:
    return dlsynth_command() + [
        "render",
        *map(str, inputs),
        "--bank",
        str(DLS),
        "-o",
        str(out),
        *([] if effects else ["--no-effects"]),
        "-q",
        *extra,
    ]


def ready_seconds(midi: Path, runs: int) -> dict:
    """In this process: dls.read of the DLS bank, and the first download (Synth.prepare) of
    the instruments the song plays, best of runs each; without the cyclic garbage collector,
    as the command runs them."""
    import gc

    from dlsynth import dls
    from dlsynth.synth.filesource import pack_messages
    from dlsynth.smf.reader import read_midi
    from dlsynth.synth.synth import Synth

    song = read_midi(str(midi))
    _times, groups, data, offsets, lengths = pack_messages(song.events)
    best_read = best_prep = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    for _ in range(runs):
        t0 = time.perf_counter()
        bank = dls.read(str(DLS))
        t1 = time.perf_counter()
        synth = Synth(RATE, channel_groups=max([1, *song.channel_groups]), effects=False)
        synth.download(bank, lazy=True)
        synth.prepare_messages(groups, data, offsets, lengths)
        t2 = time.perf_counter()
        synth.close()
        best_read, best_prep = min(best_read, t1 - t0), min(best_prep, t2 - t1)
        del bank, synth
        gc.collect()  # (untimed)
    if gc_was_enabled:
        gc.enable()
    return {"read_s": best_read, "prepare_s": best_prep, "ready_s": best_read + best_prep}


def run_songs(a) -> dict:
    songs = song_files() + [make_dense_midi.ensure_dense_midi()]
    rows = []
    with tempfile.TemporaryDirectory(prefix="dlsynth-songs-") as tmp:
        out = Path(tmp)
        for midi in songs:
            fl, dl, fc, dc = [], [], [], []
            for _ in range(a.runs):
                fl.append(timed(fluid_cmd(midi, out / "f.wav", a.effects))[0])
                fc.append(last_cpu_seconds)
                dl.append(timed(dlsynth_render_cmd([midi], out / "d.wav", effects=a.effects))[0])
                dc.append(last_cpu_seconds)
            row = {
                "song": str(midi.relative_to(REPO)) if midi.is_relative_to(REPO) else str(midi),
                "seconds": wav_seconds(out / "d.wav"),
                "fluidsynth_s": min(fl),
                "dlsynth_s": min(dl),
                "ratio": min(dl) / min(fl),
                "fluidsynth_cpu_s": min(fc),
                "dlsynth_cpu_s": min(dc),
                "cpu_ratio": min(dc) / min(fc),
                "dense": midi == make_dense_midi.DENSE_MIDI,
                **ready_seconds(midi, a.runs),
            }
            rows.append(row)
            log(
                f"{Path(row['song']).name:32s} fluidsynth {row['fluidsynth_s']:6.2f} s  dlsynth {row['dlsynth_s']:6.2f} s"
                f"  ratio {row['ratio']:.3f}  (ready {row['ready_s'] * 1e3:.0f} ms)"
            )
    real = [r for r in rows if not r["dense"]]
    dense = [r for r in rows if r["dense"]]
    median = statistics.median(r["ratio"] for r in real)
    result = {
        "bank_dls": str(DLS),
        "bank_sf2": str(SF2),
        "runs": a.runs,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "commands": {
            "dlsynth": " ".join(dlsynth_render_cmd([Path("SONG.mid")], Path("OUT.wav"), effects=a.effects)),
            "fluidsynth": " ".join(fluid_cmd(Path("SONG.mid"), Path("OUT.wav"), a.effects)),
        },
        "songs": rows,
        "median_ratio": median,
        "median_cpu_ratio": statistics.median(r["cpu_ratio"] for r in real),
        "targets": {
            "each": TARGET_SONG_RATIO,
            "median": TARGET_MEDIAN_RATIO,
            "dense": TARGET_DENSE_RATIO,
            "ready_s": TARGET_READY_SECONDS,
        },
        "meets": {
            "each": all(r["ratio"] <= TARGET_SONG_RATIO for r in real),
            "median": median <= TARGET_MEDIAN_RATIO,
            "dense": all(r["ratio"] <= TARGET_DENSE_RATIO for r in dense),
            "ready": all(r["ready_s"] <= TARGET_READY_SECONDS for r in rows),
        },
    }
    if not a.json:
        print(f"whole commands, best of {a.runs}; dlsynth: {result['commands']['dlsynth']}")
        print(
            f"{'song':34s} {'audio s':>7s} {'fluid s':>8s} {'dlsynth s':>9s} {'ratio':>6s}  {'cpu ratio':>9s}  "
            f"{'read ms':>7s} {'prep ms':>7s}"
        )
        for r in rows:
            flag = "" if r["ratio"] <= (TARGET_DENSE_RATIO if r["dense"] else TARGET_SONG_RATIO) else "  over"
            print(
                f"{Path(r['song']).name:34s} {r['seconds']:7.1f} {r['fluidsynth_s']:8.2f} {r['dlsynth_s']:9.2f} "
                f"{r['ratio']:6.3f}  {r['cpu_ratio']:9.3f}  {r['read_s'] * 1e3:7.1f} {r['prepare_s'] * 1e3:7.1f}{flag}"
            )
        m = result["meets"]
        print(f"median CPU-time ratio (real songs): {result['median_cpu_ratio']:.3f}")
        print(
            f"median ratio (real songs): {median:.3f} (target <= {TARGET_MEDIAN_RATIO}: {'meets' if m['median'] else 'MISSES'})"
        )
        print(
            f"each real song <= {TARGET_SONG_RATIO}: {'meets' if m['each'] else 'MISSES'}; dense <= "
            f"{TARGET_DENSE_RATIO}: {'meets' if m['dense'] else 'MISSES'}; ready <= {TARGET_READY_SECONDS * 1e3:.0f} ms: "
            f"{'meets' if m['ready'] else 'MISSES'}"
        )
    return result


def make_short_songs(folder: Path, n: int) -> list[Path]:
    """n short songs: the first 4 to 12 seconds of the real songs, each transposed by a
    different number of semitones (drums left alone), with a final all-notes-off."""
    import mido

    sources = song_files()
    out = []
    for i in range(n):
        src = mido.MidiFile(str(sources[i % len(sources)]))
        seconds = 4 + (i * 7) % 9
        shift = (i // len(sources)) % 12 - 6
        merged, now, events = mido.merge_tracks(src.tracks), 0.0, []
        tempo = 500000
        tick_total = 0
        for msg in merged:
            if msg.time:
                now += mido.tick2second(msg.time, src.ticks_per_beat, tempo)
            tick_total += msg.time
            if now > seconds:
                break
            if msg.type == "set_tempo":
                tempo = msg.tempo
            if msg.type in ("note_on", "note_off") and msg.channel != 9:
                msg = msg.copy(note=min(127, max(0, msg.note + shift)))
            events.append((tick_total, msg))
        track = mido.MidiTrack()
        last = 0
        for tick, msg in events:
            if msg.is_meta and msg.type == "end_of_track":
                continue
            track.append(msg.copy(time=tick - last))
            last = tick
        for ch in range(16):
            track.append(mido.Message("control_change", channel=ch, control=123, value=0, time=0))
        mf = mido.MidiFile(type=0, ticks_per_beat=src.ticks_per_beat)
        mf.tracks.append(track)
        p = folder / f"short{i:03d}.mid"
        mf.save(str(p))
        out.append(p)
    return out


def fluid_parallel(files: list[Path], outdir: Path, jobs: int) -> float:
    """Wall time of fluidsynth -F over the files, `jobs` processes at a time (as xargs -P)."""
    from concurrent.futures import ThreadPoolExecutor

    def one(f: Path) -> None:
        timed(fluid_cmd(f, outdir / (f.stem + ".wav")), timeout=600)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as ex:
        list(ex.map(one, files))
    return time.perf_counter() - t0


def run_many(a) -> dict:
    n, jobs = a.many, max(1, a.jobs)
    with tempfile.TemporaryDirectory(prefix="dlsynth-many-") as tmp:
        root = Path(tmp)
        (root / "mid").mkdir()
        files = make_short_songs(root / "mid", n)
        audio = 0.0
        best: dict[str, float] = {}
        for r in range(a.runs):
            for name in ("dlsynth", "fluidsynth_loop", "fluidsynth_parallel"):
                outdir = root / name
                shutil.rmtree(outdir, ignore_errors=True)
                outdir.mkdir()
                if name == "dlsynth":
                    cmd = dlsynth_render_cmd(files, outdir, "-j", str(jobs))  # a folder: -o DIR
                else:
                    cmd = [
                        "sh",
                        "-c",
                        'for f in "$@"; do fluidsynth -ni -q -F "$0/$(basename "$f" .mid).wav" '
                        f'-r {RATE} -R 0 -C 0 "{SF2}" "$f" || exit 1; done',
                        str(outdir),
                        *map(str, files),
                    ]
                if name == "fluidsynth_parallel":
                    wall = fluid_parallel(files, outdir, jobs)
                else:
                    wall = timed(cmd, timeout=3600)[0]
                made = sorted(outdir.glob("*.wav"))
                if len(made) != n:
                    raise RuntimeError(f"{name}: {len(made)} of {n} files written")
                if name == "dlsynth" and not audio:
                    audio = sum(wav_seconds(p) for p in made)
                best[name] = min(best.get(name, float("inf")), wall)
                log(f"run {r + 1}/{a.runs} {name:20s} {wall:7.2f} s  {n / wall:6.1f} files/s")
    fps = {k: n / v for k, v in best.items()}
    result = {
        "files": n,
        "jobs": jobs,
        "runs": a.runs,
        "audio_seconds": audio,
        "best_seconds": best,
        "files_per_second": fps,
        "ratio_files_per_second_dlsynth_over_fluidsynth_loop": fps["dlsynth"] / fps["fluidsynth_loop"],
        "ratio_files_per_second_dlsynth_over_fluidsynth_parallel": fps["dlsynth"] / fps["fluidsynth_parallel"],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    if not a.json:
        print(f"{n} short songs ({audio:.0f} s of audio in all), best of {a.runs}; dlsynth -j {jobs}")
        for k in best:
            print(f"{k:22s} {best[k]:7.2f} s  {fps[k]:6.1f} files/s")
        print(
            f"files per second, dlsynth over a fluidsynth shell loop: "
            f"{result['ratio_files_per_second_dlsynth_over_fluidsynth_loop']:.2f}x; over fluidsynth {jobs} at a time: "
            f"{result['ratio_files_per_second_dlsynth_over_fluidsynth_parallel']:.2f}x"
        )
    return result


if __name__ == "__main__":
    sys.exit(main())
