#!/usr/bin/env python3
"""Render fidelity: dlsynth against FluidSynth on real songs, and preset by preset.

For each General MIDI bank given (an SF2 file; defaults FluidR3_GM.sf2 and TimGM6mb.sf2), every
song of the set (tests/data/midi/SONGS.md: symphony, orchestra, piano, game and pop songs
written by others) is rendered, 48 kHz float WAV, reverb and chorus off, polyphony 256 in both,
each synth at its own default interpolation (FluidSynth 4th order, dlsynth cubic), by

* FluidSynth on the SF2: ``fluidsynth -ni -q -F out.wav -r 48000 -R 0 -C 0 -g 1.0 -O float``;
* dlsynth: ``python -m dlsynth render SONG --bank BANK -o out.wav --no-effects --rate 48000
  --format float --gain 0``, run with PYTHONPATH set to the dlsynth checkout (``--dlsynth-root``,
  default the repository this script is in). BANK is the same SF2 where that checkout reads SF2
  (a one-note render tells); otherwise a DLS conversion of it: ``--dlsynth-bank`` (one per
  ``--bank``, in order), else one made with spessasynth_core under benchmarks/cache/ (as
  benchmarks/bank_load.py does). The report says which.

The figures (benchmarks/audiometrics.py, dlsynth minus FluidSynth, after onset alignment, per
100 ms frame) and their targets:

* loudness correlation of the two level curves: >= 0.98;
* median level difference, after the gain offset below: within +-1 dB;
* median spectral-centroid difference: within +-0.5 semitone;
* chroma similarity (time-averaged 12-bin chroma, cosine): >= 0.99; the frame-wise median is
  printed beside it;
* render wall time of each, and their ratio dlsynth / FluidSynth (lower is faster); this is
  also the speed benchmark's song set. Cached renders keep the wall time they were made in.

Gain offset: the two synths' master levels differ by a constant (their gain laws differ:
FluidSynth at -g 1.0 against dlsynth at 0 dB). ONE offset per bank is taken out of every level
difference: by default (``--offset auto``) the median over the songs of the per-song median
level difference, printed as measured; ``--offset DB`` fixes it instead.

SpessaSynth (unless ``--no-spessa``; spessasynth_core in node, benchmarks/spessa_peer.py) plays
each song twice more: from the DLS conversion that the dlsynth checkout writes of the SF2
(``python -m dlsynth convert``) and from the SF2 itself. Three more tables per bank, with the
same targets: SpessaSynth reading dlsynth's DLS against FluidSynth reading the SF2 (the
issue's requirement: the files dlsynth writes are right for other synths too; one gain
offset, SpessaSynth's master level against FluidSynth's, taken out as above); SpessaSynth's
DLS reading against its own SF2 reading (no offset: what differs is what the DLS file says,
or how SpessaSynth reads DLS); and, for reference, SpessaSynth's SF2 reading against
FluidSynth's (no DLS involved: where the first table fails the same way, the two synths
differ, not the file). benchmarks/SPESSASYNTH_DLS.md has the measured figures and, cause by
cause, what was wrong in dlsynth's DLS writer and what SpessaSynth's DLS reader does.

``--sweep``: for every preset of the SF2 in bank 0 (programs 0-127) and bank 128 (drum kits), a
MIDI file made on the fly (all presets in one file, one after the other) plays keys 36, 60 and
84 at velocities 40 and 110 (drum kits: every GM percussion key 35-81 at velocity 100); both
synths render it; each note's level and spectral centroid are compared, and every preset whose
median note is more than 3 dB (after the offset) or 1 semitone of centroid from FluidSynth is
listed, with its worst note (drum kits: every such key). Each listed preset carries its cause
where one is measured:

* "known: resonance (FluidSynth -3 dB)": dlsynth follows the SF2 2.04 / DLS2 rule, the filter
  resonance (initialFilterQ, cB) is the height of the resonant peak above the DC gain, as
  SpessaSynth does; FluidSynth takes 3.01 dB off every Q, so its peaks are 3 dB lower
  (the SoundFont spec test, test 10: +2.0 dB, tests/data/sf-spec-test/README.md). The rule
  is kept. The sweep renders dlsynth a second time with the bank's every resonance lowered by
  3.01 dB (benchmarks/resonance_bank.py); a preset that is off against FluidSynth but not in
  that render is marked so (the criterion is measured, no list of presets).

With SpessaSynth, the sweep is played by it too, from the SF2 and from dlsynth's DLS, and the
presets whose median note differs by more than 0.5 dB or 0.25 semitone are listed, each
marked with a known cause where the DLS has a construct SpessaSynth's DLS reader takes
otherwise than its SF2 reader (a static gain above 0 dB; a key-number-to-pitch connection).

Renders are cached by content hash (MIDI bytes, bank, options, the synth's version or the
dlsynth checkout's code) under benchmarks/cache/fidelity/ (git-ignored), so re-runs are fast;
``--no-cache`` renders again (to time the synths). Songs are rendered one at a time.

Usage::

    python benchmarks/fidelity.py [--bank X.sf2 ...] [--dlsynth-bank X.dls ...] [--sweep]
        [--songs SUBSTRING ...] [--offset auto|DB] [--json OUT.json] [--dlsynth-root DIR]
        [--no-spessa] [--no-songs]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import audiometrics as M  # noqa: E402
import peers  # noqa: E402
import spessa_peer as SP  # noqa: E402

CACHE = HERE / "cache" / "fidelity"
SONG_DIR = REPO / "tests" / "data" / "midi"
RATE = 48000
VOICES = 256  # both synths' default polyphony
FLUID_GAIN = 1.0
DLSYNTH_GAIN_DB = 0.0
DEFAULT_BANKS = [peers.FLUID_R3_SF2, peers.TIMGM_SF2]

# Targets (dlsynth against FluidSynth, per song).
TARGET_CORRELATION = 0.98
TARGET_LEVEL_DB = 1.0
TARGET_CENTROID_SEMITONES = 0.5
TARGET_CHROMA = 0.99
# Sweep: a preset is listed when its median note is off by more than these.
SWEEP_LEVEL_DB = 3.0
SWEEP_CENTROID_SEMITONES = 1.0
SWEEP_KEYS = (36, 60, 84)
SWEEP_VELOCITIES = (40, 110)
SWEEP_DRUM_KEYS = tuple(range(35, 82))  # GM percussion map
SWEEP_DRUM_VELOCITY = 100
SWEEP_NOTE_S = 0.6  # melodic note held this long, then SWEEP_GAP_S of release before the next
SWEEP_GAP_S = 0.4
SWEEP_DRUM_NOTE_S = 0.3
SWEEP_DRUM_GAP_S = 0.2
SWEEP_PRESET_GAP_S = 0.5  # after each preset: all sound off, then this much silence
SWEEP_MEASURE_TAIL_S = 0.2  # a note is measured from its note-on to this long after its note-off
SWEEP_LEAD_S = 0.5  # silence before the first note

# The songs, under tests/data/midi/ (authors, sources, licenses: SONGS.md there).
SONGS = [
    ("mutopia/gossec-symphony2-mvt1.mid", "symphony movement"),
    ("mutopia/mozart-magicflute-march.mid", "orchestra"),
    ("mutopia/grieg-mountain-king-piano.mid", "piano"),
    ("mutopia/grieg-anitras-dance.mid", "strings"),
    ("dmidiplayer/mozart_diesirae.mid", "orchestra and choir"),
    ("freedoom/d_e1m1.mid", "game: rock band, drums"),
    ("freedoom/d_e2m1.mid", "game: pitch bends, mod wheel"),
    ("freedoom/d_map24.mid", "game: heavy pitch bends"),
    ("freedoom/d_map26.mid", "game: mod wheel sweeps"),
    ("openmsx/tttheme2.mid", "game: pop, drums, bends"),
    ("openmsx/keep_on_rolling.mid", "game: pop/rock, drums"),
    ("openmsx/be_sharp_bw_redfarn.mid", "boogie combo, drums"),
]


class FidelityError(RuntimeError):
    pass


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- hashing


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """Content hash of a file; for big files (banks) memoized by path, size and mtime."""
    st = path.stat()
    memo_path = CACHE / "file-hashes.json"
    memo = json.loads(memo_path.read_text()) if memo_path.is_file() else {}
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    if key in memo:
        return memo[key]
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    memo[key] = h.hexdigest()
    CACHE.mkdir(parents=True, exist_ok=True)
    memo_path.write_text(json.dumps(memo, indent=0))
    return memo[key]


CODE_DIRS = ("dls", "gmbank", "synth", "native", "sink", "apps")
CODE_SUFFIXES = (".py", ".c", ".h", ".so", ".cdef")


def code_hash(root: Path) -> str:
    """Hash of the dlsynth checkout's code (sources and built extension) that a render runs."""
    h = hashlib.sha256()
    for d in CODE_DIRS:
        for p in sorted((root / d).rglob("*")):
            if p.is_file() and p.suffix in CODE_SUFFIXES and "__pycache__" not in p.parts:
                h.update(str(p.relative_to(root)).encode())
                h.update(p.read_bytes())
    return h.hexdigest()


_fluid_version: str | None = None
use_cache = True  # False with --no-cache


def fluidsynth_version() -> str:
    global _fluid_version
    if _fluid_version is None:
        try:
            p = subprocess.run(["fluidsynth", "--version"], capture_output=True, text=True)
        except FileNotFoundError:
            raise FidelityError("fluidsynth is not installed (apt-get install fluidsynth)") from None
        _fluid_version = (p.stdout.strip().splitlines() or ["?"])[0]
    return _fluid_version


# --------------------------------------------------------------------------- rendering


@dataclass
class Render:
    wav: Path
    wall_s: float
    cached: bool
    info: dict = field(default_factory=dict)


@dataclass
class Dlsynth:
    """How dlsynth is run: interpreter, checkout, and the bank it is given for one SF2."""

    python: str
    root: Path
    code: str


def cached_render(key: dict, make) -> Render:
    """The render named by `key` from the cache, or made by `make(out_path) -> info` and kept."""
    digest = sha256_bytes(json.dumps(key, sort_keys=True).encode())
    wav = CACHE / f"{digest}.wav"
    meta = CACHE / f"{digest}.json"
    if use_cache and wav.is_file() and meta.is_file():
        info = json.loads(meta.read_text())
        return Render(wav, info["wall_s"], True, info)
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = wav.with_suffix(".tmp.wav")
    t0 = time.perf_counter()
    info = make(tmp) or {}
    info["wall_s"] = time.perf_counter() - t0
    info["key"] = key
    os.replace(tmp, wav)
    meta.write_text(json.dumps(info, indent=1))
    return Render(wav, info["wall_s"], False, info)


def render_fluidsynth(midi: Path, sf2: Path, gain: float) -> Render:
    key = {
        "synth": "fluidsynth",
        "version": fluidsynth_version(),
        "midi": file_sha256(midi),
        "bank": file_sha256(sf2),
        "rate": RATE,
        "gain": gain,
        "voices": VOICES,
        "effects": False,
    }

    def make(out: Path) -> dict:
        cmd = peers.fluidsynth_command(
            sf2, midi, out, rate=RATE, effects=False, gain=gain, voices=VOICES, sample_format="float"
        )
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0 or not out.is_file():
            raise FidelityError(f"fluidsynth failed on {midi.name}: {p.stderr.strip()[-500:]}")
        return {"cmd": cmd}

    return cached_render(key, make)


def dlsynth_env(d: Dlsynth) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(d.root)
    return env


def render_dlsynth(midi: Path, bank: Path, d: Dlsynth, gain_db: float) -> Render:
    key = {
        "synth": "dlsynth",
        "code": d.code,
        "python": d.python,
        "midi": file_sha256(midi),
        "bank": file_sha256(bank),
        "rate": RATE,
        "gain_db": gain_db,
        "voices": VOICES,
        "effects": False,
    }

    def make(out: Path) -> dict:
        cmd = [
            d.python,
            "-m",
            "dlsynth",
            "render",
            str(midi),
            "--bank",
            str(bank),
            "-o",
            str(out),
            "--no-effects",
            "--rate",
            str(RATE),
            "--format",
            "float",
            "--gain",
            str(gain_db),
            "--voices",
            str(VOICES),
            "-j",
            "1",
            "-q",
            "--json",
        ]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=d.root, env=dlsynth_env(d))
        if p.returncode != 0 or not out.is_file():
            raise FidelityError(f"dlsynth failed on {midi.name}: {p.stderr.strip()[-500:]}")
        info: dict = {"cmd": cmd}
        try:
            info["summary"] = json.loads(p.stdout)
        except ValueError:
            pass
        return info

    return cached_render(key, make)


_spessa_version: str | None = None


def spessa_version() -> str:
    global _spessa_version
    if _spessa_version is None:
        try:
            _spessa_version = SP.version()
        except SP.SpessaError as e:
            raise FidelityError(str(e)) from None
    return _spessa_version


def render_spessasynth(midi: Path, bank: Path) -> Render:
    """SpessaSynth's render of `midi` with `bank` (the SF2 or a DLS), effects off."""
    key = {
        "synth": "spessasynth",
        "version": spessa_version(),
        "script": SP.script_hash(),
        "midi": file_sha256(midi),
        "bank": file_sha256(bank),
        "rate": RATE,
        "voices": VOICES,
        "effects": False,
    }

    def make(out: Path) -> dict:
        try:
            return SP.run_render(bank, midi, out, RATE, VOICES)
        except SP.SpessaError as e:
            raise FidelityError(str(e)) from None

    return cached_render(key, make)


def dlsynth_conversion(sf2: Path, d: Dlsynth) -> Path:
    """The checkout's own DLS conversion of `sf2` (``python -m dlsynth convert``), cached by the
    SF2's and the code's hashes; an older conversion of the same SF2 is removed."""
    out = CACHE / f"{sf2.stem}.dlsynth-{file_sha256(sf2)[:10]}-{d.code[:10]}.dls"
    if out.is_file():
        return out
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(f"{sf2.stem}.dlsynth-*.dls"):
        old.unlink()
    log(f"  converting {sf2.name} to DLS with the dlsynth checkout ...")
    tmp = out.with_suffix(".tmp.dls")
    p = subprocess.run(
        SP.convert_command(d.python, sf2, tmp), capture_output=True, text=True, cwd=d.root, env=dlsynth_env(d)
    )
    if p.returncode != 0 or not tmp.is_file():
        raise FidelityError(f"dlsynth convert {sf2.name} failed: {p.stderr.strip()[-300:]}")
    os.replace(tmp, out)
    return out


def read_wav(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != RATE:
        raise FidelityError(f"{path}: {sr} Hz, expected {RATE}")
    return x.astype(np.float64)


# --------------------------------------------------------------------------- which bank dlsynth gets


def one_note_midi(path: Path) -> None:
    import mido

    mf = mido.MidiFile(ticks_per_beat=480)
    tr = mido.MidiTrack()
    tr += [
        mido.Message("note_on", note=60, velocity=100, time=0),
        mido.Message("note_off", note=60, velocity=0, time=240),
    ]
    mf.tracks.append(tr)
    mf.save(str(path))


def dlsynth_reads(bank: Path, d: Dlsynth) -> tuple[bool, str]:
    """Whether the dlsynth checkout renders with `bank` as given (an SF2 here), and its error."""
    memo_path = CACHE / "reads.json"
    memo = json.loads(memo_path.read_text()) if memo_path.is_file() else {}
    key = f"{d.code}|{file_sha256(bank)}"
    if key in memo:
        return memo[key]["ok"], memo[key]["error"]
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "one.mid"
        one_note_midi(mid)
        cmd = [
            d.python,
            "-m",
            "dlsynth",
            "render",
            str(mid),
            "--bank",
            str(bank),
            "-o",
            str(Path(tmp) / "one.wav"),
            "--no-effects",
            "-q",
            "-j",
            "1",
        ]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=d.root, env=dlsynth_env(d))
    ok = p.returncode == 0
    err = "" if ok else (p.stderr.strip().splitlines() or ["?"])[-1]
    memo[key] = {"ok": ok, "error": err}
    CACHE.mkdir(parents=True, exist_ok=True)
    memo_path.write_text(json.dumps(memo, indent=1))
    return ok, err


def dlsynth_bank_for(sf2: Path, given: Path | None, d: Dlsynth) -> tuple[Path, str]:
    """The bank dlsynth renders with in place of `sf2`, and a sentence saying why."""
    ok, err = dlsynth_reads(sf2, d)
    if ok:
        return sf2, "dlsynth reads the SF2 itself"
    if given is not None:
        if not given.is_file():
            raise FidelityError(f"--dlsynth-bank {given}: no such file")
        return given, f"dlsynth cannot read the SF2 ({err}); using the DLS conversion {given}"
    import bank_load

    dls_path = HERE / "cache" / (sf2.stem + ".dls")
    try:
        bank_load.ensure_bank(sf2, dls_path, rebuild=False)
    except bank_load.BenchError as e:
        raise FidelityError(f"dlsynth cannot read {sf2} and converting it failed: {e}") from None
    return dls_path, f"dlsynth cannot read the SF2 ({err}); using its spessasynth_core conversion {dls_path}"


# --------------------------------------------------------------------------- songs


def song_row(name: str, kind: str, c: M.Comparison, fl: Render, dl: Render) -> dict:
    row = {
        "song": name,
        "kind": kind,
        **c.as_dict(),
        "fluidsynth_wall_s": fl.wall_s,
        "dlsynth_wall_s": dl.wall_s,
        "speed_ratio": dl.wall_s / fl.wall_s if fl.wall_s > 0 else None,
        "cached": fl.cached or dl.cached,
        "raw_level_diff_db": c.level_diff_db,
    }
    summary = dl.info.get("summary") or {}
    if isinstance(summary, list):
        summary = summary[0] if summary else {}
    for k in ("seconds", "peak_voices", "voices_stolen", "notes_dropped", "missing", "warnings"):
        if k in summary:
            row[f"dlsynth_{k}"] = summary[k]
    return row


def judge(row: dict) -> dict:
    return judge_figures(row)


def resolve_offset(spec: str, diffs: list[float]) -> tuple[float, str]:
    if spec != "auto":
        return float(spec), f"fixed by --offset: {float(spec):+.2f} dB"
    if not diffs:
        return 0.0, "no level differences measured: 0 dB"
    off = float(np.median(diffs))
    return off, (
        f"median over {len(diffs)} songs of the per-song median level difference "
        f"(dlsynth at {DLSYNTH_GAIN_DB:+g} dB minus FluidSynth at -g {FLUID_GAIN:g}): {off:+.2f} dB"
    )


def spessa_offset(spec: str, rows: list[dict]) -> tuple[float, str]:
    """The one gain offset between SpessaSynth (gain 1) and FluidSynth (-g 1.0), as
    `resolve_offset` takes dlsynth's."""
    diffs = [
        r["spessa_vs_fluidsynth"]["raw_level_diff_db"]
        for r in rows
        if r["spessa_vs_fluidsynth"]["raw_level_diff_db"] is not None
    ]
    if spec != "auto":
        return float(spec), f"fixed by --offset: {float(spec):+.2f} dB"
    if not diffs:
        return 0.0, "no level differences measured: 0 dB"
    off = float(np.median(diffs))
    return off, (
        f"median over {len(diffs)} songs of the per-song median level difference "
        f"(SpessaSynth at gain 1 minus FluidSynth at -g {FLUID_GAIN:g}): {off:+.2f} dB"
    )


def run_songs(songs, sf2: Path, dl_bank: Path, d: Dlsynth, spessa_dls: Path | None = None) -> list[dict]:
    """Per song: dlsynth against FluidSynth; with `spessa_dls` (dlsynth's DLS conversion of
    the SF2) also SpessaSynth reading that DLS against FluidSynth reading the SF2
    (row["spessa_vs_fluidsynth"]) and against SpessaSynth reading the SF2
    (row["spessa_dls_vs_sf2"])."""
    rows = []
    for rel, kind in songs:
        midi = SONG_DIR / rel
        log(f"  {rel}: FluidSynth ...")
        fl = render_fluidsynth(midi, sf2, FLUID_GAIN)
        log(f"  {rel}: dlsynth ...")
        dl = render_dlsynth(midi, dl_bank, d, DLSYNTH_GAIN_DB)
        ref = read_wav(fl.wav)
        c = M.compare(ref, read_wav(dl.wav), RATE)
        row = song_row(rel, kind, c, fl, dl)
        if spessa_dls is not None:
            log(f"  {rel}: SpessaSynth (dlsynth's DLS, the SF2) ...")
            sp_dls = read_wav(render_spessasynth(midi, spessa_dls).wav)
            sp_sf2 = read_wav(render_spessasynth(midi, sf2).wav)
            vs_fl = M.compare(ref, sp_dls, RATE).as_dict()
            vs_fl["raw_level_diff_db"] = vs_fl["level_diff_db"]
            row["spessa_vs_fluidsynth"] = vs_fl
            row["spessa_dls_vs_sf2"] = M.compare(sp_sf2, sp_dls, RATE).as_dict()
            own = M.compare(ref, sp_sf2, RATE).as_dict()  # the synths apart, no DLS involved
            own["raw_level_diff_db"] = own["level_diff_db"]
            row["spessa_sf2_vs_fluidsynth"] = own
            del sp_dls, sp_sf2
        rows.append(row)
    return rows


def judge_figures(fig: dict) -> dict:
    """`fig` (a Comparison's dict) with "pass" (each target) and "all_pass" added."""
    ok = {
        "loudness_correlation": fig["loudness_correlation"] is not None
        and fig["loudness_correlation"] >= TARGET_CORRELATION,
        "level_diff_db": fig["level_diff_db"] is not None and abs(fig["level_diff_db"]) <= TARGET_LEVEL_DB,
        "centroid_diff_semitones": fig["centroid_diff_semitones"] is not None
        and abs(fig["centroid_diff_semitones"]) <= TARGET_CENTROID_SEMITONES,
        "chroma_similarity": fig["chroma_similarity"] is not None and fig["chroma_similarity"] >= TARGET_CHROMA,
    }
    fig["pass"] = ok
    fig["all_pass"] = all(ok.values())
    return fig


def print_peer_songs(title: str, rows: list[dict], field_name: str, offset_note: str) -> None:
    """One table of per-song figures held in row[field_name] (judged by `judge_figures`)."""
    print(f"\n== {title}")
    print(f"   gain offset taken out of each level difference: {offset_note}")
    print(
        f"   {'song':36s} {'corr':>6s}      {'level dB':>8s}      {'centroid st':>11s}      "
        f"{'chroma':>6s} {'(frames)':>8s}      {'lag ms':>6s}"
    )
    figs = [r[field_name] for r in rows]
    for r, f in zip(rows, figs):
        p = f["pass"]
        print(
            f"   {r['song']:36s} {fmt(f['loudness_correlation'], '6.3f')} {mark(p['loudness_correlation'])} "
            f"{fmt(f['level_diff_db'], '+8.2f')} {mark(p['level_diff_db'])} "
            f"{fmt(f['centroid_diff_semitones'], '+11.2f')} {mark(p['centroid_diff_semitones'])} "
            f"{fmt(f['chroma_similarity'], '6.4f')} {fmt(f['chroma_similarity_framewise'], '8.4f')} "
            f"{mark(p['chroma_similarity'])} {f['lag_s'] * 1000:6.1f}"
        )
    print(f"   {sum(f['all_pass'] for f in figs)}/{len(figs)} songs pass every target")


def fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def mark(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_songs(bank_label: str, rows: list[dict], offset_note: str) -> None:
    print(f"\n== {bank_label}: songs (dlsynth minus FluidSynth)")
    print(f"   gain offset taken out of each level difference: {offset_note}")
    print(
        f"   targets: loudness corr >= {TARGET_CORRELATION}, |level| <= {TARGET_LEVEL_DB} dB, "
        f"|centroid| <= {TARGET_CENTROID_SEMITONES} st, chroma >= {TARGET_CHROMA}"
    )
    head = (
        f"   {'song':36s} {'corr':>6s}      {'level dB':>8s}      {'centroid st':>11s}      "
        f"{'chroma':>6s} {'(frames)':>8s}      {'lag ms':>6s} {'fluid s':>7s} {'dlsynth s':>9s} {'ratio':>5s}"
    )
    print(head)
    for r in rows:
        p = r["pass"]
        print(
            f"   {r['song']:36s} {fmt(r['loudness_correlation'], '6.3f')} {mark(p['loudness_correlation'])} "
            f"{fmt(r['level_diff_db'], '+8.2f')} {mark(p['level_diff_db'])} "
            f"{fmt(r['centroid_diff_semitones'], '+11.2f')} {mark(p['centroid_diff_semitones'])} "
            f"{fmt(r['chroma_similarity'], '6.4f')} {fmt(r['chroma_similarity_framewise'], '8.4f')} "
            f"{mark(p['chroma_similarity'])} {r['lag_s'] * 1000:6.1f} {r['fluidsynth_wall_s']:7.2f} "
            f"{r['dlsynth_wall_s']:9.2f} {fmt(r['speed_ratio'], '5.2f')}" + (" (cached)" if r["cached"] else "")
        )
    n_pass = sum(r["all_pass"] for r in rows)
    tf = sum(r["fluidsynth_wall_s"] for r in rows)
    td = sum(r["dlsynth_wall_s"] for r in rows)
    print(
        f"   {n_pass}/{len(rows)} songs pass every target; wall time FluidSynth {tf:.1f} s, "
        f"dlsynth {td:.1f} s, ratio {td / tf if tf else float('nan'):.2f}"
    )


# --------------------------------------------------------------------------- preset sweep


def sf2_presets(path: Path) -> list[tuple[int, int, str]]:
    """(bank, program, name) of every preset header in an SF2 file (pdta/phdr), EOP left out."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise FidelityError(f"{path}: not a SoundFont 2 file")
    off, end = 12, len(data)
    while off + 8 <= end:
        cid, size = data[off : off + 4], struct.unpack_from("<I", data, off + 4)[0]
        if cid == b"LIST" and data[off + 8 : off + 12] == b"pdta":
            sub, sub_end = off + 12, off + 8 + size
            while sub + 8 <= sub_end:
                sid, ssize = data[sub : sub + 4], struct.unpack_from("<I", data, sub + 4)[0]
                if sid == b"phdr":
                    out = []
                    for r in range(sub + 8, sub + 8 + ssize - 38, 38):  # the last record is EOP
                        name = data[r : r + 20].split(b"\0")[0].decode("latin-1").strip()
                        prog, bank = struct.unpack_from("<HH", data, r + 20)
                        out.append((bank, prog, name))
                    return out
                sub += 8 + ssize + (ssize & 1)
        off += 8 + size + (size & 1)
    raise FidelityError(f"{path}: no pdta/phdr chunk")


@dataclass
class SweepNote:
    bank: int
    program: int
    name: str
    key: int
    velocity: int
    on_s: float
    off_s: float


def sweep_midi(presets: list[tuple[int, int, str]], path: Path) -> list[SweepNote]:
    """One MIDI file playing every preset in turn; returns the notes with their times."""
    import mido

    tpb, tempo = 480, 500000  # 960 ticks a second
    ticks = lambda s: int(round(s * tpb * 1e6 / tempo))  # noqa: E731
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)
    notes: list[SweepNote] = []
    t = SWEEP_LEAD_S
    for bank, prog, name in presets:
        drums = bank == 128
        ch = 9 if drums else 0
        setup = [
            mido.Message("control_change", channel=ch, control=0, value=0 if drums else bank),
            mido.Message("control_change", channel=ch, control=32, value=0),
            mido.Message("program_change", channel=ch, program=prog),
        ]
        for i, m in enumerate(setup):
            events.append((ticks(t - 0.2), i, m))
        plan = (
            [(k, SWEEP_DRUM_VELOCITY) for k in SWEEP_DRUM_KEYS]
            if drums
            else [(k, v) for k in SWEEP_KEYS for v in SWEEP_VELOCITIES]
        )
        hold, gap = (SWEEP_DRUM_NOTE_S, SWEEP_DRUM_GAP_S) if drums else (SWEEP_NOTE_S, SWEEP_GAP_S)
        for key, vel in plan:
            on, off = ticks(t), ticks(t + hold)
            events.append((on, 10, mido.Message("note_on", channel=ch, note=key, velocity=vel)))
            events.append((off, 5, mido.Message("note_off", channel=ch, note=key, velocity=0)))
            notes.append(SweepNote(bank, prog, name, key, vel, on * tempo / tpb / 1e6, off * tempo / tpb / 1e6))
            t += hold + gap
        events.append((ticks(t), 6, mido.Message("control_change", channel=ch, control=120, value=0)))
        events.append((ticks(t), 7, mido.Message("control_change", channel=ch, control=121, value=0)))
        t += SWEEP_PRESET_GAP_S
    events.sort(key=lambda e: (e[0], e[1]))
    mf = mido.MidiFile(ticks_per_beat=tpb)
    tr = mido.MidiTrack()
    tr.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    now = 0
    for tick, _, m in events:
        tr.append(m.copy(time=tick - now))
        now = tick
    tr.append(mido.MetaMessage("end_of_track", time=ticks(0.5)))
    mf.tracks.append(tr)
    mf.save(str(path))
    return notes


def sweep_plan(sf2: Path) -> tuple[Path, list[SweepNote]]:
    presets = [p for p in sf2_presets(sf2) if p[0] == 0 or p[0] == 128]
    presets.sort(key=lambda p: (p[0], p[1]))
    CACHE.mkdir(parents=True, exist_ok=True)
    midi = CACHE / f"sweep-{file_sha256(sf2)[:16]}.mid"
    notes = sweep_midi(presets, midi)
    return midi, notes


def note_figures(ref: Render, test: Render, notes: list[SweepNote]) -> tuple[list[dict], float]:
    """Each sweep note's level and centroid figures, test minus ref, after onset alignment;
    and the lag (s)."""
    a, b = read_wav(ref.wav), read_wav(test.wav)
    lag = M.onset_lag(a, b, RATE)
    a, b = M.align(a, b, lag)
    out = []
    for n in notes:
        s = M.segment_figures(a, b, RATE, n.on_s, n.off_s + SWEEP_MEASURE_TAIL_S)
        out.append(
            {
                "bank": n.bank,
                "program": n.program,
                "name": n.name,
                "key": n.key,
                "velocity": n.velocity,
                "on_s": n.on_s,
                **s,
            }
        )
    return out, lag / RATE


def run_sweep(sf2: Path, dl_bank: Path, d: Dlsynth) -> tuple[list[dict], float]:
    midi, notes = sweep_plan(sf2)
    log(f"  sweep: {len(notes)} notes, {notes[-1].off_s:.0f} s: FluidSynth ...")
    fl = render_fluidsynth(midi, sf2, FLUID_GAIN)
    log("  sweep: dlsynth ...")
    dl = render_dlsynth(midi, dl_bank, d, DLSYNTH_GAIN_DB)
    return note_figures(fl, dl, notes)


def resonance_bank(sf2: Path, d: Dlsynth) -> Path:
    """`sf2` with every filter resonance 3.01 dB lower (benchmarks/resonance_bank.py), as a
    DLS the checkout writes; cached by the SF2's and the code's hashes."""
    out = CACHE / f"{sf2.stem}.q-3dB-{file_sha256(sf2)[:10]}-{d.code[:10]}.dls"
    if out.is_file():
        return out
    for old in CACHE.glob(f"{sf2.stem}.q-3dB-*.dls"):
        old.unlink()
    log(f"  sweep: {sf2.name} with every resonance 3.01 dB lower ...")
    tmp = out.with_suffix(".tmp.dls")
    p = subprocess.run(
        [d.python, str(HERE / "resonance_bank.py"), str(sf2), str(tmp)],
        capture_output=True,
        text=True,
        cwd=d.root,
        env=dlsynth_env(d),
    )
    if p.returncode != 0 or not tmp.is_file():
        raise FidelityError(f"resonance_bank.py failed on {sf2.name}: {p.stderr.strip()[-300:]}")
    os.replace(tmp, out)
    return out


def mark_resonance(rows: list[dict], sf2: Path, d: Dlsynth, offset_db: float) -> None:
    """Measured, not listed: a preset (drum key) that is off against FluidSynth but not when
    dlsynth renders it with every resonance 3.01 dB lower (FluidSynth's Q) is marked known:
    the difference is FluidSynth's lower resonant peak. (A preset without resonance renders
    the same both times, so it cannot be marked.)"""
    if not any(r["off"] for r in rows):
        return
    midi, notes = sweep_plan(sf2)
    fl = render_fluidsynth(midi, sf2, FLUID_GAIN)
    log("  sweep: dlsynth with FluidSynth's resonance ...")
    dq = render_dlsynth(midi, resonance_bank(sf2, d), d, DLSYNTH_GAIN_DB)
    q_notes, _ = note_figures(fl, dq, notes)
    adjusted = {(r["bank"], r["program"], r["key"]): r for r in sweep_report(q_notes, offset_db)}
    for r in rows:
        q = adjusted.get((r["bank"], r["program"], r["key"]))
        if r["off"] and q is not None and not q["off"]:
            r["known"] = "resonance (FluidSynth -3 dB)"
            r["with_fluidsynth_resonance"] = {
                "level_diff_db": q["level_diff_db"],
                "centroid_diff_semitones": q["centroid_diff_semitones"],
            }


# SpessaSynth reading dlsynth's DLS against SpessaSynth reading the SF2: the same synth, so
# tighter limits than against FluidSynth.
SPESSA_SWEEP_LEVEL_DB = 0.5
SPESSA_SWEEP_CENTROID_SEMITONES = 0.25
SPESSA_KNOWN = {
    "positive_gain": "SpessaSynth clamps a DLS gain above 0 dB when it loads the bank (an SF2 "
    "preset's negative attenuation); its SF2 reader clamps after the modulators",
    "key_to_pitch": "SpessaSynth reads a key-number-to-pitch connection (scale tuning) also as key-number-to-hold",
}


def run_spessa_sweep(sf2: Path, spessa_dls: Path, d: Dlsynth) -> tuple[list[dict], float]:
    """The sweep played by SpessaSynth from the SF2 (ref) and from dlsynth's DLS (test); the
    presets that differ, each with a known cause where the DLS has one of the constructs
    SpessaSynth's DLS reader is known to take otherwise (spessa_peer.dls_properties)."""
    midi, notes = sweep_plan(sf2)
    log("  sweep: SpessaSynth (the SF2, dlsynth's DLS) ...")
    ref = render_spessasynth(midi, sf2)
    test = render_spessasynth(midi, spessa_dls)
    figs, lag_s = note_figures(ref, test, notes)
    rows = sweep_report(figs, 0.0, SPESSA_SWEEP_LEVEL_DB, SPESSA_SWEEP_CENTROID_SEMITONES)
    if any(r["off"] for r in rows):
        try:
            props = SP.dls_properties(spessa_dls, dlsynth_env(d), d.python, d.root)
        except SP.SpessaError as e:
            raise FidelityError(str(e)) from None
        for r in rows:
            p = props.get((r["bank"], r["program"]), {})
            causes = [SPESSA_KNOWN[k] for k in SPESSA_KNOWN if p.get(k)]
            if r["off"] and causes:
                r["known"] = "; ".join(causes)
    return rows, lag_s


def sweep_report(
    notes: list[dict], offset_db: float, level_db: float = SWEEP_LEVEL_DB, centroid_st: float = SWEEP_CENTROID_SEMITONES
) -> list[dict]:
    """Per preset (melodic) or per key (drum kits): the figures and whether it is off (its
    median note more than `level_db` or `centroid_st` away, or a note silent in one)."""
    groups: dict[tuple, list[dict]] = {}
    for n in notes:
        k = (n["bank"], n["program"], n["key"]) if n["bank"] == 128 else (n["bank"], n["program"])
        groups.setdefault(k, []).append(n)
    rows = []
    for k, ns in groups.items():
        lv = [n["level_diff_db"] - offset_db for n in ns if n["level_diff_db"] is not None]
        ce = [n["centroid_diff_semitones"] for n in ns if n["centroid_diff_semitones"] is not None]
        silent_dl = sum(1 for n in ns if n["ref_level_db"] > M.FLOOR_DB and n["test_level_db"] <= M.FLOOR_DB)
        silent_fl = sum(1 for n in ns if n["ref_level_db"] <= M.FLOOR_DB and n["test_level_db"] > M.FLOOR_DB)
        level = float(np.median(lv)) if lv else None
        cent = float(np.median(ce)) if ce else None

        def badness(n):
            if n["level_diff_db"] is None:  # silent in one (worst) or in both (nothing to compare)
                return np.inf if max(n["ref_level_db"], n["test_level_db"]) > M.FLOOR_DB else 0.0
            lvl = abs(n["level_diff_db"] - offset_db) / level_db
            cen = abs(n["centroid_diff_semitones"] or 0.0) / centroid_st
            return max(lvl, cen)

        worst = max(ns, key=badness)
        off = (
            silent_dl > 0
            or silent_fl > 0
            or (level is not None and abs(level) > level_db)
            or (cent is not None and abs(cent) > centroid_st)
        )
        rows.append(
            {
                "bank": k[0],
                "program": k[1],
                "key": k[2] if len(k) > 2 else None,
                "name": ns[0]["name"],
                "notes": len(ns),
                "level_diff_db": level,
                "centroid_diff_semitones": cent,
                "silent_in_dlsynth": silent_dl,
                "silent_in_fluidsynth": silent_fl,
                "off": off,
                "worst_note": {
                    "key": worst["key"],
                    "velocity": worst["velocity"],
                    "level_diff_db": None if worst["level_diff_db"] is None else worst["level_diff_db"] - offset_db,
                    "centroid_diff_semitones": worst["centroid_diff_semitones"],
                },
            }
        )
    rows.sort(key=lambda r: (r["bank"], r["program"], r["key"] or 0))
    return rows


def print_sweep(
    bank_label: str,
    rows: list[dict],
    offset_note: str,
    lag_s: float,
    title: str = "dlsynth minus FluidSynth",
    level_db: float = SWEEP_LEVEL_DB,
    centroid_st: float = SWEEP_CENTROID_SEMITONES,
    test: str = "dlsynth",
    ref: str = "FluidSynth",
) -> None:
    """The presets (and drum keys) that are off, each with its known cause where one was
    measured or found (row["known"]). Drum keys whose figures are the same in several kits
    (kits sharing the same instrument in both renders) are printed once, with the list of
    kits."""
    off = [r for r in rows if r["off"]]
    print(
        f"\n== {bank_label}: preset sweep ({title}, per note from note-on to "
        f"{SWEEP_MEASURE_TAIL_S} s after note-off; lag {lag_s * 1000:.1f} ms)"
    )
    print(f"   gain offset: {offset_note}")
    n_mel = sum(1 for r in rows if r["bank"] != 128)
    n_kit = len({r["program"] for r in rows if r["bank"] == 128})
    known = sum(1 for r in off if r.get("known"))
    print(
        f"   {len(off)} of {len(rows)} ({n_mel} melodic presets, {len(rows) - n_mel} drum keys in {n_kit} kits) "
        f"more than {level_db} dB or {centroid_st} semitone away, or silent in one; "
        f"{known} of them with a known cause, {len(off) - known} unexplained:"
    )
    print(f"   {'bank:prog key':14s} {'name':22s} {'level dB':>8s} {'centroid st':>11s}  worst note")
    printed: dict[tuple, list] = {}
    for r in off:
        w = r["worst_note"]
        extra = ""
        if r["silent_in_dlsynth"]:
            extra += f" silent in {test} ({r['silent_in_dlsynth']}/{r['notes']} notes)"
        if r["silent_in_fluidsynth"]:
            extra += f" silent in {ref} ({r['silent_in_fluidsynth']}/{r['notes']} notes)"
        if r.get("known"):
            extra += f"  [known: {r['known']}]"
        figures = (
            f"{fmt(r['level_diff_db'], '+8.1f')} {fmt(r['centroid_diff_semitones'], '+11.2f')}  "
            f"key {w['key']} vel {w['velocity']}: {fmt(w['level_diff_db'], '+.1f')} dB, "
            f"{fmt(w['centroid_diff_semitones'], '+.2f')} st{extra}"
        )
        if r["bank"] == 128:
            printed.setdefault((r["key"], figures), []).append(r)
            continue
        print(f"   {r['bank']}:{r['program']:<12d} {r['name'][:22]:22s} {figures}")
    for (key, figures), rs in sorted(printed.items(), key=lambda kv: (kv[0][0], kv[1][0]["program"])):
        kits = ",".join(str(r["program"]) for r in rs)
        names = rs[0]["name"] if len(rs) == 1 else f"{rs[0]['name']} and {len(rs) - 1} more"
        print(f"   {'128 k' + str(key):14s} {names[:22]:22s} {figures}  [kits {kits}]")


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    global use_cache
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--bank",
        action="append",
        type=Path,
        metavar="X.sf2",
        help="SF2 bank (repeatable; default FluidR3_GM.sf2 and TimGM6mb.sf2)",
    )
    ap.add_argument(
        "--dlsynth-bank",
        action="append",
        type=Path,
        default=[],
        metavar="X.dls",
        help="DLS conversion of each --bank, in order, for dlsynth while it cannot read SF2",
    )
    ap.add_argument(
        "--dlsynth-root", type=Path, default=REPO, help="dlsynth checkout to render with (default: this repository)"
    )
    ap.add_argument("--python", default=sys.executable, help="interpreter for dlsynth (default: this one)")
    ap.add_argument("--songs", nargs="*", metavar="SUBSTRING", help="only songs whose path contains one of these")
    ap.add_argument("--no-songs", action="store_true", help="skip the songs (with --sweep)")
    ap.add_argument("--sweep", action="store_true", help="also run the per-preset sweep")
    ap.add_argument(
        "--no-spessa", action="store_true", help="leave out SpessaSynth (reading dlsynth's DLS conversion of each bank)"
    )
    ap.add_argument("--offset", default="auto", help="gain offset in dB taken out of level differences, or auto")
    ap.add_argument("--no-cache", action="store_true", help="render again even where a cached render exists")
    ap.add_argument("--json", type=Path, metavar="OUT.json", help="write every figure to this file")
    args = ap.parse_args(argv)
    use_cache = not args.no_cache
    banks = args.bank or DEFAULT_BANKS
    if len(args.dlsynth_bank) > len(banks):
        ap.error("more --dlsynth-bank than --bank")
    songs = SONGS
    if args.songs:
        songs = [s for s in SONGS if any(sub in s[0] for sub in args.songs)]
        if not songs:
            ap.error("no song matches --songs")
    root = args.dlsynth_root.resolve()
    if not (root / "apps" / "cli.py").is_file():
        ap.error(f"--dlsynth-root {root}: not a dlsynth checkout (no apps/cli.py)")
    d = Dlsynth(python=args.python, root=root, code=code_hash(root))
    report: dict = {
        "rate": RATE,
        "voices": VOICES,
        "fluidsynth": fluidsynth_version(),
        "fluidsynth_gain": FLUID_GAIN,
        "dlsynth_gain_db": DLSYNTH_GAIN_DB,
        "dlsynth_root": str(root),
        "dlsynth_code": d.code,
        "targets": {
            "loudness_correlation": TARGET_CORRELATION,
            "level_db": TARGET_LEVEL_DB,
            "centroid_semitones": TARGET_CENTROID_SEMITONES,
            "chroma": TARGET_CHROMA,
            "sweep_level_db": SWEEP_LEVEL_DB,
            "sweep_centroid_semitones": SWEEP_CENTROID_SEMITONES,
        },
        "banks": [],
    }
    try:
        for i, sf2 in enumerate(banks):
            if not sf2.is_file():
                raise FidelityError(f"{sf2}: no such bank")
            given = args.dlsynth_bank[i] if i < len(args.dlsynth_bank) else None
            dl_bank, why = dlsynth_bank_for(sf2, given, d)
            label = sf2.name if dl_bank == sf2 else f"{sf2.name} (dlsynth: {dl_bank.name})"
            log(f"{sf2.name}: {why}")
            print(f"\n{sf2}: FluidSynth renders it; {why}.")
            entry: dict = {"sf2": str(sf2), "dlsynth_bank": str(dl_bank), "dlsynth_bank_note": why}
            offset = None
            spessa_dls = None if args.no_spessa else dlsynth_conversion(sf2, d)
            if spessa_dls is not None:
                entry["spessasynth"] = {"version": spessa_version(), "dls": str(spessa_dls)}
            if not args.no_songs:
                rows = run_songs(songs, sf2, dl_bank, d, spessa_dls)
                offset, note = resolve_offset(
                    args.offset, [r["raw_level_diff_db"] for r in rows if r["raw_level_diff_db"] is not None]
                )
                for r in rows:
                    if r["raw_level_diff_db"] is not None:
                        r["level_diff_db"] = r["raw_level_diff_db"] - offset
                    judge(r)
                print_songs(label, rows, note)
                entry.update({"offset_db": offset, "offset_note": note, "songs": rows})
                if spessa_dls is not None:
                    sp_off, sp_note = spessa_offset(args.offset, rows)
                    for r in rows:
                        for name in ("spessa_vs_fluidsynth", "spessa_sf2_vs_fluidsynth"):
                            f = r[name]
                            if f["raw_level_diff_db"] is not None:
                                f["level_diff_db"] = f["raw_level_diff_db"] - sp_off
                            judge_figures(f)
                        judge_figures(r["spessa_dls_vs_sf2"])
                    print_peer_songs(
                        f"{sf2.name}: SpessaSynth {spessa_version()} reading dlsynth's DLS "
                        f"({spessa_dls.name}) minus FluidSynth reading the SF2",
                        rows,
                        "spessa_vs_fluidsynth",
                        sp_note,
                    )
                    print_peer_songs(
                        f"{sf2.name}: SpessaSynth reading dlsynth's DLS minus SpessaSynth reading the SF2",
                        rows,
                        "spessa_dls_vs_sf2",
                        "none (the same synth)",
                    )
                    print_peer_songs(
                        f"{sf2.name}: (for reference, no DLS involved) SpessaSynth reading the SF2 "
                        "minus FluidSynth reading it",
                        rows,
                        "spessa_sf2_vs_fluidsynth",
                        f"the same as above: {sp_off:+.2f} dB",
                    )
                    entry["spessasynth"].update({"offset_db": sp_off, "offset_note": sp_note})
            if args.sweep:
                notes, lag_s = run_sweep(sf2, dl_bank, d)
                if offset is None:
                    offset, note = resolve_offset(args.offset, [])
                    if args.offset == "auto":
                        lv = [n["level_diff_db"] for n in notes if n["level_diff_db"] is not None]
                        offset = float(np.median(lv)) if lv else 0.0
                        note = f"median over the sweep's {len(lv)} notes (no songs run): {offset:+.2f} dB"
                rows = sweep_report(notes, offset)
                mark_resonance(rows, sf2, d, offset)
                print_sweep(label, rows, note, lag_s)
                entry["sweep"] = {"lag_s": lag_s, "offset_db": offset, "presets": rows, "notes": notes}
                if spessa_dls is not None:
                    sp_rows, sp_lag = run_spessa_sweep(sf2, spessa_dls, d)
                    print_sweep(
                        sf2.name,
                        sp_rows,
                        "none (the same synth)",
                        sp_lag,
                        title="SpessaSynth reading dlsynth's DLS minus SpessaSynth reading the SF2",
                        level_db=SPESSA_SWEEP_LEVEL_DB,
                        centroid_st=SPESSA_SWEEP_CENTROID_SEMITONES,
                        test="SpessaSynth from the DLS",
                        ref="SpessaSynth from the SF2",
                    )
                    entry["spessasynth"]["sweep"] = {"lag_s": sp_lag, "presets": sp_rows}
            report["banks"].append(entry)
    except FidelityError as e:
        print(f"fidelity: error: {e}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
