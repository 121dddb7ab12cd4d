"""Signal analysis for the live tests (tests/test_live_session.py): what the capture of a
`dlsynth play` session is judged by. Unit-tested on synthetic signals in
tests/test_live_analysis.py.

Captures are float32 arrays of frames (1-D) or frames x channels (2-D).
"""

from __future__ import annotations

import math

import numpy as np

A4_HZ = 440.0
FLOOR_DB = -300.0  # the level of exact silence


def key_hz(key: float) -> float:
    """Equal temperament, A4 (key 69) = 440 Hz."""
    return A4_HZ * 2.0 ** ((key - 69) / 12.0)


def cents(hz: float, ref_hz: float) -> float:
    return 1200.0 * math.log2(hz / ref_hz)


def mono_abs(x: np.ndarray) -> np.ndarray:
    """|x|, the largest over channels for a 2-D capture."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    return a.max(axis=1) if a.ndim == 2 else a


def mix(x: np.ndarray) -> np.ndarray:
    """The mean of the channels (a 1-D signal stays as it is)."""
    x = np.asarray(x, dtype=np.float64)
    return x.mean(axis=1) if x.ndim == 2 else x


# ----------------------------------------------------------------------------- pitch
def pitch_near(x: np.ndarray, fs: int, expected_hz: float, search_cents: float = 100.0) -> tuple[float, float]:
    """The frequency of the strongest spectral peak within ``search_cents`` of
    ``expected_hz`` (Hann window, zero padding to at least 8x, parabolic interpolation on
    the log magnitude), and that peak's level in dB relative to the strongest peak of the
    whole spectrum (above 20 Hz). A note an octave off has no strong peak in the band: its
    relative level tells (see `pitch_cents`)."""
    x = mix(x)
    x = x - x.mean()
    n = len(x)
    if n < 64:
        raise ValueError(f"too short to measure a pitch: {n} samples")
    w = np.hanning(n)
    nfft = 1 << int(math.ceil(math.log2(8 * n)))
    spec = np.abs(np.fft.rfft(x * w, nfft))
    df = fs / nfft
    lo = int(math.floor(expected_hz * 2 ** (-search_cents / 1200) / df))
    hi = int(math.ceil(expected_hz * 2 ** (search_cents / 1200) / df))
    lo, hi = max(lo, 1), min(hi, len(spec) - 2)
    k = lo + int(np.argmax(spec[lo : hi + 1]))
    a, b, c = (math.log(max(v, 1e-30)) for v in spec[k - 1 : k + 2])
    denom = a - 2 * b + c
    delta = 0.5 * (a - c) / denom if denom < 0 else 0.0
    hz = (k + delta) * df
    k20 = max(1, int(20 / df))
    top = float(spec[k20:].max())
    rel_db = 20 * math.log10(max(spec[k], 1e-30) / max(top, 1e-30))
    return hz, rel_db


def pitch_cents(x: np.ndarray, fs: int, key: float, search_cents: float = 100.0, min_rel_db: float = -30.0) -> float:
    """The pitch of ``x`` in cents against ``key`` (A4 = 440 Hz); NaN when there is no peak
    within ``search_cents`` of the key at most ``-min_rel_db`` below the spectrum's
    strongest (the note is not there, or not at that pitch)."""
    want = key_hz(key)
    hz, rel = pitch_near(x, fs, want, search_cents)
    if rel < min_rel_db:
        return float("nan")
    return cents(hz, want)


# ----------------------------------------------------------------------------- time
def envelope(x: np.ndarray, hop: int) -> np.ndarray:
    """The largest |x| in each hop of ``hop`` frames (the last partial hop included)."""
    a = mono_abs(x)
    n = -(-len(a) // hop)
    pad = np.zeros(n * hop)
    pad[: len(a)] = a
    return pad.reshape(n, hop).max(axis=1)


def sounding_regions(
    x: np.ndarray, threshold: float, hop: int = 240, min_len: int = 0, bridge: int = 0
) -> list[tuple[int, int]]:
    """Stretches (start, end) in frames where the hop envelope exceeds ``threshold``; gaps
    shorter than ``bridge`` frames are bridged; stretches shorter than ``min_len`` dropped.
    Precise to a hop: for sample-accurate onsets use `onsets_after_silence`."""
    env = envelope(x, hop) > threshold
    padded = np.concatenate([[0], env.astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(padded))
    runs = [[int(a) * hop, min(int(b) * hop, len(x))] for a, b in zip(edges[::2], edges[1::2])]
    merged: list[list[int]] = []
    for r in runs:
        if merged and r[0] - merged[-1][1] < bridge:
            merged[-1][1] = r[1]
        else:
            merged.append(r)
    return [(a, b) for a, b in merged if b - a >= min_len]


def onsets_after_silence(x: np.ndarray, threshold: float, silence: int) -> np.ndarray:
    """Sample-accurate onsets: every frame whose magnitude exceeds ``threshold`` after at
    least ``silence`` frames at or below it (the start of ``x`` does not count as
    silence: a signal sounding from frame 0 has no onset there unless ``silence`` frames
    of quiet come first)."""
    loud = mono_abs(x) > threshold
    idx = np.flatnonzero(loud)
    if len(idx) == 0:
        return idx
    gaps = np.diff(np.concatenate([[-1], idx])) - 1  # quiet frames before each loud one
    gaps[0] = idx[0]  # before the first: from frame 0
    return idx[gaps >= silence]


def first_above(x: np.ndarray, threshold: float, start: int = 0, end: int | None = None) -> int | None:
    """The first frame in [start, end) whose magnitude exceeds ``threshold``, or None."""
    a = mono_abs(x[start:end])
    hit = np.flatnonzero(a > threshold)
    return int(start + hit[0]) if len(hit) else None


def longest_zero_run(x: np.ndarray, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """The longest run of exact 0.0 samples in x[start:end] on any channel, as (length,
    first frame); (0, -1) when there is none."""
    x = np.asarray(x)
    seg = x[start:end]
    chans = seg.T if seg.ndim == 2 else [seg]
    best = (0, -1)
    for c in chans:
        z = np.concatenate([[0], (c == 0).astype(np.int8), [0]])
        edges = np.flatnonzero(np.diff(z))
        if len(edges) == 0:
            continue
        lens = edges[1::2] - edges[::2]
        i = int(np.argmax(lens))
        if lens[i] > best[0]:
            best = (int(lens[i]), int(start + edges[::2][i]))
    return best


def level_db(x: np.ndarray, window: int, hop: int | None = None) -> np.ndarray:
    """RMS level in dBFS (all channels pooled) of each window of ``window`` frames every
    ``hop`` frames (default: non-overlapping); exact silence is FLOOR_DB."""
    x = np.asarray(x, dtype=np.float64)
    sq = (x * x).mean(axis=1) if x.ndim == 2 else x * x
    hop = hop or window
    if len(sq) < window:
        return np.array([])
    c = np.concatenate([[0.0], np.cumsum(sq)])
    starts = np.arange(0, len(sq) - window + 1, hop)
    ms = (c[starts + window] - c[starts]) / window
    ms = np.maximum(ms, 0.0)
    with np.errstate(divide="ignore"):
        db = 10 * np.log10(ms)
    return np.where(ms > 0, db, FLOOR_DB)


def rms_db(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return FLOOR_DB
    ms = float((x * x).mean())
    return 10 * math.log10(ms) if ms > 0 else FLOOR_DB


def release_drop_db(
    x: np.ndarray, release: int, fs: int, within: float = 1.5, ref: float = 0.25, window: float = 0.05
) -> tuple[float, float, float]:
    """How far the level has fallen ``within`` seconds after frame ``release``: (drop in dB,
    the reference level: RMS over the ``ref`` seconds before the release, the level of the
    ``window`` seconds ending ``within`` seconds after it)."""
    r0 = max(0, release - int(ref * fs))
    ref_db = rms_db(x[r0:release])
    end = release + int(within * fs)
    if end > len(x):
        raise ValueError(f"the capture ends {(end - len(x)) / fs:.2f} s too early to judge the release")
    late_db = rms_db(x[end - int(window * fs) : end])
    return ref_db - late_db, ref_db, late_db


# ----------------------------------------------------------------------------- the graph
def cycle_gaps(cyc_frame: np.ndarray, period: int) -> list[tuple[int, int]]:
    """Cycles that did not follow on from the one before: (index, frames between them)
    for every step other than one period (a missed or repeated cycle)."""
    f = np.asarray(cyc_frame, dtype=np.int64)
    d = np.diff(f)
    bad = np.flatnonzero(d != period)
    return [(int(i + 1), int(d[i])) for i in bad]
