#!/usr/bin/env python3
"""Sound compared with the peers: dlsynth against SpessaSynth (and FluidSynth) on a set of files.

Each MIDI file is rendered, reverb and chorus off, 48 kHz, float WAV, by

* dlsynth (``apps.render.render_file`` in this process) with a DLS bank;
* SpessaSynth (``spessasynth_core`` in node, benchmarks/spessa_render.mjs) with the SAME DLS
  bank: the primary peer;
* FluidSynth with the SF2 original, where the DLS bank is the conversion of FluidR3_GM.sf2:
  a second opinion (the figures against it are in the JSON too; its curve is on the plot).

Master gains: each renderer at unity (dlsynth ``--gain 0``, SpessaSynth gain 1, FluidSynth
``-g 1``), so a level difference is about how the bank is read and voiced, not about the
headroom each one leaves by default. dlsynth's default is -12 dB (``synth.DEFAULT_GAIN_DB``):
at its defaults a user hears it that much lower than the figures here. ``--dlsynth-gain``
changes it.

Figures per file (dlsynth minus peer):

* loudness: K-weighted (ITU-R BS.1770 pre-filter and high-pass) mean square of both channels
  in dB, per 1 s window (and per 100 ms for the finer correlation); windows where both are
  under the gate (-70 dB) are left out; Pearson correlation of the two curves, the median
  and 10th/90th percentiles of the level difference, and the worst seconds with the
  channels/programs sounding in them (from the MIDI file);
* onsets: spectral-flux peaks (1024-point window, 128-frame hop, log magnitude, on each
  render normalised to its own RMS so the level does not decide what is an onset), matched
  one-to-one within 10 ms; the fraction of the peer's onsets dlsynth has (recall), of
  dlsynth's the peer has (precision), their mean, and the median time offset of matches;
  the peer's unmatched onsets are listed with the notes that start near them; and, as a check
  on the detector, the fraction of the MIDI file's note-on times each render shows an onset at;
* note segments, for files that play one thing at a time (the GM sound sweep, the spec test):
  each group of overlapping notes is compared on its level while held and for up to 1 s after
  (release), and on its spectral centroid (a note at the wrong pitch shows up here); segments
  off the file's median by more than 4 dB held, 10 dB release or 600 cents are listed with
  channel, program, keys and velocities.

Writes benchmarks/out/compare.json and benchmarks/out/compare-<file>.png (curves side by
side and their difference). Needs matplotlib (benchmarks only; not a package dependency).

Usage::

    python benchmarks/compare_peers.py [--files A.mid ...] [--no-fluidsynth] [--dlsynth-gain DB]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import bank_load  # noqa: E402
import make_dense_midi  # noqa: E402
import peers  # noqa: E402

OUT = HERE / "out"
RENDERS = OUT / "renders"
SF2 = peers.FLUID_R3_SF2
GM_DLS = bank_load.DEFAULT_DLS
SPEC_DLS = REPO / "tests/data/sf-spec-test/sf_spec_test.dls"
SPESSA_RENDER = HERE / "spessa_render.mjs"
RATE = 48000
VOICES = 1024
GATE_DB = -70.0
FLOOR_DB = -120.0
ONSET_TOL = 0.010  # seconds
ONSET_DELTA = 0.15  # flux peak must exceed its +-100 ms mean by this (flux scaled to its 99.5th percentile)
MIDI_ONSET_TOL = 0.015  # seconds, for onsets checked against the MIDI file's note-on times
SEG_HELD_FLAG_DB = 4.0  # a note segment differing this much more than the file's median is listed
SEG_RELEASE_FLAG_DB = 10.0  # likewise for its release (after the last note-off)
SEG_CENTROID_FLAG_CENTS = 600.0  # likewise for the spectral centroid (a wrong pitch shows here)
WORST_N = 6  # worst seconds listed per file
DIFF_FLAG_DB = 6.0  # seconds differing more than this are listed
MAX_PRINTED_FLAGS = 25  # per file, on the terminal (all are in the JSON)

JAZZ = REPO / "tests/data/midi/jazz-soft"
DEFAULT_SET = [
    (make_dense_midi.DENSE_MIDI, GM_DLS),
    (JAZZ / "test-all-gm-sounds.mid", GM_DLS),
    (JAZZ / "test-multichannel-chords-0.mid", GM_DLS),
    (JAZZ / "test-multichannel-chords-1.mid", GM_DLS),
    (JAZZ / "test-multichannel-chords-2.mid", GM_DLS),
    (JAZZ / "test-multichannel-chords-3.mid", GM_DLS),
    (JAZZ / "test-c-major-scale.mid", GM_DLS),
    (JAZZ / "test-control-40-damper.mid", GM_DLS),
    (REPO / "tests/data/midi/sf-spec-test/sf_spec_test.mid", SPEC_DLS),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ rendering


_bank_cache: dict[str, list] = {}


def render_dlsynth(midi: Path, bank: Path, out: Path, gain_db: float) -> dict:
    from dlsynth import dls
    from dlsynth.apps.render import render_file

    key = str(bank)
    if key not in _bank_cache:
        _bank_cache[key] = [dls.read(key)]
    t0 = time.perf_counter()
    res = render_file(
        str(midi),
        str(out),
        _bank_cache[key],
        rate=RATE,
        fmt="float",
        effects=False,
        interpolation="cubic",
        voices=VOICES,
        gain_db=gain_db,
    )
    return {
        "seconds": res.seconds,
        "wall_s": time.perf_counter() - t0,
        "peak_voices": res.peak_voices,
        "voices_stolen": res.voices_stolen,
        "notes_dropped": res.notes_dropped,
        "missing": res.missing,
        "warnings": res.warnings,
    }


def render_spessa(midi: Path, bank: Path, out: Path) -> dict:
    cmd = [
        "node",
        str(SPESSA_RENDER),
        str(bank),
        str(midi),
        str(out),
        "--rate",
        str(RATE),
        "--effects",
        "0",
        "--voices",
        str(VOICES),
        "--block",
        "32",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"spessa_render failed on {midi}:\n{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def render_fluidsynth(midi: Path, out: Path) -> dict:
    cfg = peers.fluidsynth_cubic_config(RENDERS)
    cmd = peers.fluidsynth_command(
        SF2, midi, out, rate=RATE, effects=False, gain="1.0", voices=VOICES, sample_format="float", config=cfg
    )
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"fluidsynth failed on {midi}:\n{p.stderr[-2000:]}")
    return {"wall_s": time.perf_counter() - t0}


def read_wav(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != RATE:
        raise RuntimeError(f"{path}: {sr} Hz, expected {RATE}")
    if x.shape[1] == 1:
        x = np.repeat(x, 2, axis=1)
    return x[:, :2]


# ------------------------------------------------------------------------------ analysis


def k_weighting(rate: int):
    """The two BS.1770 K-weighting biquads (high shelf, then high-pass), designed for `rate`."""
    # Shelf: +4 dB above ~1.7 kHz.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf_b = np.array([(vh + vb * k / q + k * k), 2 * (k * k - vh), (vh - vb * k / q + k * k)]) / a0
    shelf_a = np.array([a0, 2 * (k * k - 1), 1 - k / q + k * k]) / a0
    # High-pass at ~38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    hp_b = np.array([1.0, -2.0, 1.0])
    hp_a = np.array([a0, 2 * (k * k - 1), 1 - k / q + k * k]) / a0
    return (shelf_b, shelf_a), (hp_b, hp_a)


def loudness_curve(y: np.ndarray, win: float) -> np.ndarray:
    """Mean square of both channels of the K-weighted `y` per window of `win` seconds, in dB."""
    n = int(round(win * RATE))
    m = len(y) // n * n
    p = (y[:m] ** 2).sum(axis=1).reshape(-1, n).mean(axis=1)  # sum of channels, as BS.1770
    if len(y) > m:  # the last, partial window
        p = np.append(p, (y[m:] ** 2).sum(axis=1).mean())
    return np.maximum(10 * np.log10(np.maximum(p, 1e-30)), FLOOR_DB)


def pad_to(a: np.ndarray, n: int) -> np.ndarray:
    if len(a) >= n:
        return a[:n]
    return np.concatenate([a, np.full(n - len(a), FLOOR_DB)])


def compare_curves(a: np.ndarray, b: np.ndarray) -> dict:
    n = max(len(a), len(b))
    a, b = pad_to(a, n), pad_to(b, n)
    keep = (a > GATE_DB) | (b > GATE_DB)
    out = {"windows": int(n), "windows_above_gate": int(keep.sum())}
    if keep.sum() >= 3 and np.std(a[keep]) > 0 and np.std(b[keep]) > 0:
        out["correlation"] = float(np.corrcoef(a[keep], b[keep])[0, 1])
    else:
        out["correlation"] = None
    if keep.any():
        d = a[keep] - b[keep]
        out["median_diff_db"] = float(np.median(d))
        out["p10_diff_db"] = float(np.percentile(d, 10))
        out["p90_diff_db"] = float(np.percentile(d, 90))
    return out


def spectral_flux_onsets(x: np.ndarray, n_fft: int = 1024, hop: int = 128) -> np.ndarray:
    """Onset times (s) from half-wave-rectified log-magnitude spectral flux peaks."""
    from scipy.ndimage import maximum_filter1d, uniform_filter1d

    mono = x.mean(axis=1).astype(np.float64)
    rms = np.sqrt(np.mean(mono**2))
    if rms <= 0:
        return np.zeros(0)
    mono = mono / rms
    mono = np.concatenate([np.zeros(n_fft // 2), mono, np.zeros(n_fft)])
    nfr = (len(mono) - n_fft) // hop + 1
    window = np.hanning(n_fft)
    flux = np.zeros(nfr)
    prev = None
    chunk = 4096
    for s in range(0, nfr, chunk):
        idx = np.arange(s, min(nfr, s + chunk))[:, None] * hop + np.arange(n_fft)[None, :]
        mag = np.log1p(10.0 * np.abs(np.fft.rfft(mono[idx] * window, axis=1)))
        if prev is None:
            d = np.diff(mag, axis=0, prepend=mag[:1])
        else:
            d = np.diff(np.vstack([prev, mag]), axis=0)
        flux[s : s + len(mag)] = np.maximum(d, 0).sum(axis=1)
        prev = mag[-1:]
    # Adaptive threshold: a local mean over +-100 ms plus a fraction of the flux's spread.
    scale = np.percentile(flux, 99.5) or 1.0
    f = flux / scale
    local = uniform_filter1d(f, size=int(0.2 * RATE / hop) | 1)
    thresh = local + ONSET_DELTA
    peak = (f == maximum_filter1d(f, size=int(0.03 * RATE / hop) | 1)) & (f > thresh)
    frames = np.nonzero(peak)[0]
    return frames * hop / RATE  # frame start = window centre minus n_fft/2 of padding


def match_onsets(a: np.ndarray, b: np.ndarray, tol: float = ONSET_TOL):
    """Greedy one-to-one matching of sorted onset lists by closeness; returns index pairs."""
    pairs = []
    if len(a) == 0 or len(b) == 0:
        return pairs
    cand = []
    j0 = 0
    for i, t in enumerate(a):
        while j0 < len(b) and b[j0] < t - tol:
            j0 += 1
        j = j0
        while j < len(b) and b[j] <= t + tol:
            cand.append((abs(b[j] - t), i, j))
            j += 1
    cand.sort()
    used_a, used_b = set(), set()
    for _d, i, j in cand:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            pairs.append((i, j))
    return pairs


def compare_onsets(a: np.ndarray, b: np.ndarray) -> dict:
    pairs = match_onsets(a, b)
    m = len(pairs)
    offs = [a[i] - b[j] for i, j in pairs]
    rec = m / len(b) if len(b) else None
    prec = m / len(a) if len(a) else None
    return {
        "n_dlsynth": int(len(a)),
        "n_peer": int(len(b)),
        "matched": m,
        "recall": rec,
        "precision": prec,
        "agreement": (rec + prec) / 2 if rec is not None and prec is not None else None,
        "median_offset_ms": float(np.median(offs) * 1000) if offs else None,
        "unmatched_peer": [float(b[j]) for j in sorted(set(range(len(b))) - {j for _, j in pairs})],
        "unmatched_dlsynth": [float(a[i]) for i in sorted(set(range(len(a))) - {i for i, _ in pairs})],
    }


# ------------------------------------------------------------------------------ MIDI notes


GM_NAMES = None


def midi_notes(path: Path):
    """Notes as (start s, end s, channel 1-16, bank, program, key, velocity), via mido."""
    import mido

    mf = mido.MidiFile(str(path))
    t = 0.0
    prog = [0] * 16
    bank = [0] * 16
    on: dict[tuple[int, int], tuple[float, int]] = {}
    notes = []
    for msg in mf:
        t += msg.time
        if msg.is_meta or not hasattr(msg, "channel"):
            continue
        c = msg.channel
        if msg.type == "program_change":
            prog[c] = msg.program
        elif msg.type == "control_change" and msg.control == 0:
            bank[c] = msg.value
        elif msg.type == "note_on" and msg.velocity > 0:
            on[(c, msg.note)] = (t, msg.velocity, bank[c], prog[c])
        elif msg.type in ("note_off", "note_on"):
            st = on.pop((c, msg.note), None)
            if st:
                notes.append((st[0], t, c + 1, st[2], st[3], msg.note, st[1]))
    for (c, k), st in on.items():
        notes.append((st[0], t, c + 1, st[2], st[3], k, st[1]))
    notes.sort()
    return notes


def who(notes, t0: float, t1: float) -> list[str]:
    """Channels and programs with a note sounding in [t0, t1)."""
    found = {}
    for s, e, ch, bank, prog, key, vel in notes:
        if s < t1 and e > t0:
            label = f"ch{ch} drums" if ch == 10 else f"ch{ch} bank{bank} prog{prog}"
            found.setdefault(label, set()).add(key)
    return [f"{k} keys {sorted(v)[:6]}" for k, v in sorted(found.items())]


def starting_near(notes, t: float, tol: float = 0.03) -> list[str]:
    out = []
    for s, e, ch, bank, prog, key, vel in notes:
        if abs(s - t) <= tol:
            out.append(f"ch{ch} {'drums' if ch == 10 else f'prog{prog}'} key{key} vel{vel} at {s:.3f}s")
    return out


def note_segments(notes):
    """Groups of notes whose sounding intervals overlap (chained), in time order.

    Each: (start, end of the last note-off, time the next group starts or None, notes).
    A file that plays one thing at a time (a sound sweep, a test sequence) gives one segment
    per test; a song gives a few long ones, which are not useful and are skipped."""
    segs = []
    for n in notes:
        if segs and n[0] < segs[-1][1]:
            segs[-1][1] = max(segs[-1][1], n[1])
            segs[-1][2].append(n)
        else:
            segs.append([n[0], n[1], [n]])
    out = []
    for i, (s0, e0, ns) in enumerate(segs):
        nxt = segs[i + 1][0] if i + 1 < len(segs) else None
        out.append((s0, e0, nxt, ns))
    return out


def segment_level(y: np.ndarray, t0: float, t1: float) -> float:
    """Level in dB of the K-weighted `y` between two times."""
    a, b = int(round(t0 * RATE)), int(round(t1 * RATE))
    seg = y[a:b]
    if len(seg) == 0:
        return FLOOR_DB
    return max(FLOOR_DB, float(10 * np.log10(max((seg**2).sum(axis=1).mean(), 1e-30))))


def k_filtered(x: np.ndarray) -> np.ndarray:
    from scipy.signal import lfilter

    (b1, a1), (b2, a2) = k_weighting(RATE)
    return lfilter(b2, a2, lfilter(b1, a1, x.astype(np.float64), axis=0), axis=0)


def log_centroid(x: np.ndarray, t0: float, t1: float) -> float | None:
    """Power-weighted mean of log2(frequency) over 20 Hz..Nyquist between two times (mono mix):
    a crude "where is the sound" figure; two renders of the same note should agree within a
    few hundred cents unless one plays at the wrong pitch or through a very different filter."""
    seg = x[int(round(t0 * RATE)) : int(round(t1 * RATE))].mean(axis=1)
    n = 1 << 14
    if len(seg) < n // 4:
        return None
    if len(seg) < n:
        seg = np.pad(seg, (0, n - len(seg)))
    w = np.hanning(n)
    p = np.zeros(n // 2 + 1)
    for i in range(0, len(seg) - n + 1, n // 2):
        p += np.abs(np.fft.rfft(seg[i : i + n] * w)) ** 2
    f = np.arange(len(p)) * RATE / n
    m = f > 20
    tot = p[m].sum()
    if tot <= 1e-20:
        return None
    return float((np.log2(f[m]) * p[m]).sum() / tot)


def compare_segments(notes, kw: dict, peer: str, median_diff: float, audio: dict | None = None) -> dict:
    segs = note_segments(notes)
    if len(segs) < 3:
        return {"segments": len(segs), "flagged": []}
    flagged = []
    diffs = []
    for s0, e0, nxt, ns in segs:
        rel_end = min(e0 + 1.0, nxt) if nxt is not None else e0 + 1.0
        held = {k: segment_level(kw[k], s0, e0) for k in ("dlsynth", peer)}
        rel = {k: segment_level(kw[k], e0, rel_end) for k in ("dlsynth", peer)} if rel_end > e0 + 0.05 else None
        label = sorted({(n[2], n[4]) for n in ns})
        keys = sorted({n[5] for n in ns})
        vels = sorted({n[6] for n in ns})
        dh = held["dlsynth"] - held[peer]
        if max(held.values()) > GATE_DB:
            diffs.append(dh)
        item = {
            "start": round(s0, 3),
            "end": round(e0, 3),
            "what": ", ".join(f"ch{c} {'drums' if c == 10 else f'prog{p}'}" for c, p in label),
            "keys": keys[:8],
            "velocities": vels[:4],
            "held_db": {k: round(v, 1) for k, v in held.items()},
            "held_diff_db": round(dh, 1),
        }
        flag = max(held.values()) > GATE_DB and abs(dh - median_diff) > SEG_HELD_FLAG_DB
        if audio is not None and max(held.values()) > GATE_DB:
            ca, cb = log_centroid(audio["dlsynth"], s0, e0), log_centroid(audio[peer], s0, e0)
            if ca is not None and cb is not None:
                item["centroid_diff_cents"] = round((ca - cb) * 1200)
                flag = flag or abs(ca - cb) * 1200 > SEG_CENTROID_FLAG_CENTS
        if rel is not None:
            dr = rel["dlsynth"] - rel[peer]
            item["release_db"] = {k: round(v, 1) for k, v in rel.items()}
            item["release_diff_db"] = round(dr, 1)
            flag = flag or (max(rel.values()) > GATE_DB + 10 and abs(dr - median_diff) > SEG_RELEASE_FLAG_DB)
        if flag:
            flagged.append(item)
    return {
        "segments": len(segs),
        "held_diff_median_db": float(np.median(diffs)) if diffs else None,
        "flagged_count": len(flagged),
        "flagged": flagged,
    }


def midi_onset_recall(onsets: np.ndarray, notes) -> float | None:
    """Fraction of the file's distinct note-on times (15 ms apart or more) near an onset found in the audio."""
    times = []
    for n in notes:
        if not times or n[0] - times[-1] > MIDI_ONSET_TOL:
            times.append(n[0])
    if not times:
        return None
    return len(match_onsets(np.asarray(times), onsets, MIDI_ONSET_TOL)) / len(times)


# ------------------------------------------------------------------------------ plotting


def plot_file(name: str, curves: dict, fine: dict, diff_label: str, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [2.2, 1]})
    style = {
        "dlsynth": dict(color="tab:blue", lw=1.6),
        "spessasynth": dict(color="tab:orange", lw=1.6),
        "fluidsynth": dict(color="tab:green", lw=1.0, ls="--"),
    }
    for k, c in curves.items():
        t = np.arange(len(c) + 1)
        ax1.stairs(c, t, label=f"{k} (1 s)", baseline=None, **style[k])
        if k in fine:
            tf = np.arange(len(fine[k])) * 0.1 + 0.05
            ax1.plot(tf, fine[k], alpha=0.25, lw=0.6, color=style[k]["color"])
    lo = min(float(np.min(np.where(c > GATE_DB, c, np.inf), initial=0)) for c in curves.values())
    hi = max(float(np.max(c)) for c in curves.values())
    ax1.set_ylim(max(GATE_DB, lo - 6), hi + 4)
    ax1.set_ylabel("K-weighted level, dB")
    ax1.set_title(name + "  (faint: 100 ms windows)")
    ax1.legend(loc="lower left", fontsize=8)
    ax1.grid(alpha=0.3)
    a, b = curves["dlsynth"], curves["spessasynth"]
    n = max(len(a), len(b))
    a, b = pad_to(a, n), pad_to(b, n)
    keep = (a > GATE_DB) | (b > GATE_DB)
    d = np.where(keep, a - b, np.nan)
    ax2.stairs(d, np.arange(n + 1), color="tab:purple", baseline=None, label="dlsynth - spessasynth")
    if "fluidsynth" in curves:
        f = pad_to(curves["fluidsynth"], n)
        ax2.stairs(
            np.where(keep, a - f, np.nan),
            np.arange(n + 1),
            color="tab:green",
            ls="--",
            lw=0.8,
            baseline=None,
            label="dlsynth - fluidsynth",
        )
    ax2.axhspan(-3, 3, color="grey", alpha=0.15)
    ax2.axhline(0, color="k", lw=0.5)
    last = max((int(np.nonzero(c > GATE_DB)[0][-1]) if (c > GATE_DB).any() else 0) for c in curves.values())
    ax2.set_xlim(-0.5, last + 2)
    ax2.set_ylabel("difference, dB")
    ax2.set_xlabel("time, s")
    ax2.legend(loc="lower left", fontsize=8)
    ax2.grid(alpha=0.3)
    ax2.set_title(diff_label, fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=90)
    plt.close(fig)


# ------------------------------------------------------------------------------ main


def analyse(midi: Path, bank: Path, gain_db: float, use_fluid: bool) -> dict:
    stem = midi.stem
    res = {
        "midi": str(midi.relative_to(REPO)) if midi.is_relative_to(REPO) else str(midi),
        "bank": str(bank.relative_to(REPO)) if bank.is_relative_to(REPO) else str(bank),
    }
    paths = {"dlsynth": RENDERS / f"{stem}.dlsynth.wav", "spessasynth": RENDERS / f"{stem}.spessasynth.wav"}
    log(f"{stem}: dlsynth ...")
    res["dlsynth_render"] = render_dlsynth(midi, bank, paths["dlsynth"], gain_db)
    log(f"{stem}: spessasynth ...")
    res["spessasynth_render"] = render_spessa(midi, bank, paths["spessasynth"])
    if use_fluid:
        paths["fluidsynth"] = RENDERS / f"{stem}.fluidsynth.wav"
        log(f"{stem}: fluidsynth ...")
        res["fluidsynth_render"] = render_fluidsynth(midi, paths["fluidsynth"])
    audio = {k: read_wav(p) for k, p in paths.items()}
    res["peak_dbfs"] = {k: float(20 * np.log10(max(np.abs(x).max(), 1e-12))) for k, x in audio.items()}
    res["length_s"] = {k: len(x) / RATE for k, x in audio.items()}
    kw = {k: k_filtered(x) for k, x in audio.items()}
    curves = {k: loudness_curve(y, 1.0) for k, y in kw.items()}
    fine = {k: loudness_curve(y, 0.1) for k, y in kw.items()}
    onsets = {k: spectral_flux_onsets(x) for k, x in audio.items()}
    notes = midi_notes(midi)
    res["midi_onset_recall"] = {k: midi_onset_recall(o, notes) for k, o in onsets.items()}

    for peer in [k for k in audio if k != "dlsynth"]:
        c = compare_curves(curves["dlsynth"], curves[peer])
        c["correlation_100ms"] = compare_curves(fine["dlsynth"], fine[peer])["correlation"]
        o = compare_onsets(onsets["dlsynth"], onsets[peer])
        entry = {"loudness": c, "onsets": {k: v for k, v in o.items() if not k.startswith("unmatched")}}
        # Worst seconds, with what sounds in them.
        n = max(len(curves["dlsynth"]), len(curves[peer]))
        a, b = pad_to(curves["dlsynth"], n), pad_to(curves[peer], n)
        keep = (a > GATE_DB) | (b > GATE_DB)
        med = c.get("median_diff_db", 0.0)
        dev = np.where(keep, (a - b) - med, 0.0)
        order = np.argsort(-np.abs(dev))[:WORST_N]
        entry["worst_seconds"] = [
            {
                "second": int(s),
                "dlsynth_db": round(float(a[s]), 1),
                "peer_db": round(float(b[s]), 1),
                "diff_db": round(float(a[s] - b[s]), 1),
                "diff_from_median_db": round(float(dev[s]), 1),
                "sounding": who(notes, float(s), float(s + 1)),
            }
            for s in order
            if keep[s] and abs(dev[s]) > 0
        ]
        entry["seconds_over_6db_from_median"] = [int(s) for s in np.nonzero(np.abs(dev) > DIFF_FLAG_DB)[0]]
        entry["unmatched_peer_onsets"] = [
            {"t": round(t, 3), "notes_starting_near": starting_near(notes, t)[:6]} for t in o["unmatched_peer"][:12]
        ]
        entry["unmatched_peer_onsets_total"] = len(o["unmatched_peer"])
        entry["unmatched_dlsynth_onsets"] = [round(t, 3) for t in o["unmatched_dlsynth"][:20]]
        entry["unmatched_dlsynth_onsets_total"] = len(o["unmatched_dlsynth"])
        entry["note_segments"] = compare_segments(notes, kw, peer, c.get("median_diff_db", 0.0), audio)
        res[f"vs_{peer}"] = entry

    vs = res["vs_spessasynth"]
    lab = (
        f"vs SpessaSynth: r={vs['loudness']['correlation'] if vs['loudness']['correlation'] is not None else float('nan'):.3f}, "
        f"median diff {vs['loudness'].get('median_diff_db', float('nan')):+.1f} dB, "
        f"onsets matched {vs['onsets']['agreement'] if vs['onsets']['agreement'] is not None else float('nan'):.0%}"
        f" (dlsynth gain {gain_db:+g} dB; peers at unity)"
    )
    png = OUT / f"compare-{stem}.png"
    plot_file(f"{stem}  [{bank.name}]", curves, fine, lab, png)
    res["png"] = str(png.relative_to(REPO))
    res["curves_1s_db"] = {k: [round(float(v), 2) for v in c] for k, c in curves.items()}
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="dlsynth vs SpessaSynth (and FluidSynth): loudness and onsets")
    ap.add_argument(
        "--files",
        nargs="*",
        type=Path,
        help="MIDI files (with the FluidR3 DLS bank, or "
        "sf_spec_test.dls for sf_spec_test.mid); default: the standard set",
    )
    ap.add_argument(
        "--dlsynth-gain",
        type=float,
        default=0.0,
        help="dlsynth master gain in dB (default 0: unity, like the peers; dlsynth's own default is -12)",
    )
    ap.add_argument("--no-fluidsynth", action="store_true", help="no FluidSynth second opinion")
    ap.add_argument("--json", action="store_true", help="also print the summary JSON to stdout")
    a = ap.parse_args(argv)

    make_dense_midi.ensure_dense_midi()
    bank_load.ensure_bank(SF2, GM_DLS, rebuild=False)
    if a.files:
        todo = [(f.resolve(), SPEC_DLS if f.name == "sf_spec_test.mid" else GM_DLS) for f in a.files]
    else:
        todo = DEFAULT_SET
    use_fluid = not a.no_fluidsynth and shutil.which("fluidsynth") is not None and SF2.is_file()
    RENDERS.mkdir(parents=True, exist_ok=True)

    from dlsynth.synth.synth import DEFAULT_GAIN_DB

    report = {
        "peer": "SpessaSynth (spessasynth_core, same DLS bank); FluidSynth with the SF2 original as a second opinion",
        "rate": RATE,
        "effects": False,
        "voices": VOICES,
        "dlsynth_gain_db": a.dlsynth_gain,
        "dlsynth_default_gain_db": DEFAULT_GAIN_DB,
        "peer_gains": {"spessasynth": 1.0, "fluidsynth": 1.0},
        "gate_db": GATE_DB,
        "onset_tolerance_ms": ONSET_TOL * 1000,
        "files": {},
    }
    for midi, bank in todo:
        fluid_here = use_fluid and bank == GM_DLS
        report["files"][midi.stem] = analyse(midi, bank, a.dlsynth_gain, fluid_here)

    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "compare.json").write_text(json.dumps(report, indent=1))

    print(
        f"{'file':34s} {'peer':12s} {'corr 1s':>7s} {'100ms':>6s} {'median dB':>9s} {'p10..p90 dB':>13s} "
        f"{'onsets':>7s} {'recall':>6s} {'prec':>5s} {'offs ms':>7s} {'flags':>5s}"
    )
    for stem, r in report["files"].items():
        for peer in ("spessasynth", "fluidsynth"):
            v = r.get(f"vs_{peer}")
            if not v:
                continue
            L, Ons = v["loudness"], v["onsets"]

            def f(x, fmt):
                return format(x, fmt) if x is not None else "-"

            print(
                f"{stem[:34]:34s} {peer:12s} {f(L['correlation'], '7.3f')} {f(L['correlation_100ms'], '6.3f')} "
                f"{f(L.get('median_diff_db'), '+9.1f')} "
                f"{f(L.get('p10_diff_db'), '+6.1f')}..{f(L.get('p90_diff_db'), '+5.1f')} "
                f"{f(Ons['agreement'], '7.0%')} {f(Ons['recall'], '6.0%')} {f(Ons['precision'], '5.0%')} "
                f"{f(Ons['median_offset_ms'], '+7.2f')} {v['note_segments'].get('flagged_count', '-'):>5}"
            )
    print("flags: note segments off the median (see note_segments.flagged in the JSON)")
    for stem, r in report["files"].items():
        v = r["vs_spessasynth"]["note_segments"]
        for it in v.get("flagged", [])[:MAX_PRINTED_FLAGS]:
            bits = [f"held {it['held_diff_db']:+.1f} dB"]
            if "release_diff_db" in it:
                bits.append(f"release {it['release_diff_db']:+.1f} dB")
            if "centroid_diff_cents" in it:
                bits.append(f"centroid {it['centroid_diff_cents']:+d} c")
            print(
                f"  {stem} {it['start']:.2f}-{it['end']:.2f}s {it['what']} keys {it['keys'][:4]} "
                f"vel {it['velocities'][:3]}: " + ", ".join(bits)
            )
        if v.get("flagged_count", 0) > MAX_PRINTED_FLAGS:
            print(f"  {stem}: {v['flagged_count'] - MAX_PRINTED_FLAGS} more")
    print(f"wrote {OUT / 'compare.json'} and {OUT}/compare-*.png (dlsynth gain {a.dlsynth_gain:+g} dB, peers at unity)")
    if a.json:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
