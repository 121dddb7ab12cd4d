"""Figures that say how close two renders of the same music sound: level, loudness curve,
brightness and harmony, for a render under test against a reference render.

Used by benchmarks/fidelity.py (dlsynth against FluidSynth) and by tests. NumPy only.

Both renders are float arrays of shape (frames, channels) (mono is taken as one channel) at
the same rate. :func:`compare` aligns them by onset, then cuts both into 100 ms frames and
reports, for the render under test minus the reference:

* ``loudness_correlation``: Pearson correlation of the two 100 ms level curves (RMS in dB) over
  the frames where either is sounding: 1.0 when the two rise and fall together, whatever the
  constant gain between them;
* ``level_diff_db``: the median, over frames where both are sounding, of the level difference;
* ``centroid_diff_semitones``: the median over frames where both are sounding of
  12 * log2(centroid_test / centroid_ref), the spectral centroid (power-weighted mean
  frequency, 20 Hz to Nyquist) of each frame: a render that is brighter (a filter more open,
  a different sample) or pitched higher shows a positive figure;
* ``chroma_similarity``: cosine similarity of the two time-averaged 12-bin chroma vectors
  (STFT power folded onto pitch classes); ``chroma_similarity_framewise``: the median of the
  per-frame cosine similarities. Octave errors do not show here; wrong notes do.

A frame is *sounding* when its level is within :data:`SOUNDING_RANGE_DB` of the loudest frame
of that render and above :data:`FLOOR_DB`, so the gain between the renders does not decide
which frames count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FRAME_S = 0.100  # analysis frame: 100 ms, no overlap
FFT_SIZE = 8192  # each frame zero-padded to this for the spectrum (5.9 Hz bins at 48 kHz)
FLOOR_DB = -100.0  # dBFS: a frame this quiet or quieter is silence
SOUNDING_RANGE_DB = 50.0  # a frame more than this under the render's loudest frame is silence
CENTROID_LOW_HZ = 20.0  # spectral centroid over 20 Hz .. Nyquist
CHROMA_FFT_SIZE = 16384  # chroma from a longer Hann window (341 ms at 48 kHz) centred on each
# frame: a 100 ms window's main lobe (+-20 Hz) spans a semitone below ~340 Hz; this one's
# (+-5.9 Hz) only below ~100 Hz
CHROMA_LOW_HZ = 27.5  # chroma over A0 .. CHROMA_HIGH_HZ (above, partials blur the classes)
CHROMA_HIGH_HZ = 5000.0
ALIGN_SECONDS = 10.0  # onset alignment looks at the first seconds of each render
ALIGN_MAX_LAG_S = 0.25  # and at most this lag either way
ALIGN_HOP_S = 0.001  # envelope resolution for the alignment: 1 ms


def as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x[:, None] if x.ndim == 1 else x


def mono(x: np.ndarray) -> np.ndarray:
    return as_2d(x).mean(axis=1)


# --------------------------------------------------------------------------- alignment


def level_envelope(x: np.ndarray, rate: int, seconds: float = ALIGN_SECONDS, hop_s: float = ALIGN_HOP_S) -> np.ndarray:
    """The first `seconds` of `x` as a level curve, one value per `hop_s`: RMS in dB re the
    curve's peak, clipped at -SOUNDING_RANGE_DB, mean removed. In dB, so a constant gain
    between renders does not change it and every note's rise out of the floor counts alike;
    clipped, so the renders' different noise floors and release tails do not decide the lag.
    (Correlating only the rises, a derivative, was found to lock onto attack shapes: 14 ms off
    on a sweep of single piano notes where the renders' first samples are 1 ms apart.)"""
    hop = max(1, int(round(hop_s * rate)))
    m = mono(x)[: int(seconds * rate)]
    n = len(m) // hop
    if n < 2:
        return np.zeros(0)
    env = np.sqrt((m[: n * hop] ** 2).reshape(n, hop).mean(axis=1))
    peak = env.max()
    if peak <= 0:
        return np.zeros(n)
    db = 20 * np.log10(np.maximum(env / peak, 10 ** (-SOUNDING_RANGE_DB / 20)))
    return db - db.mean()


def onset_lag(
    ref: np.ndarray,
    test: np.ndarray,
    rate: int,
    seconds: float = ALIGN_SECONDS,
    max_lag_s: float = ALIGN_MAX_LAG_S,
    hop_s: float = ALIGN_HOP_S,
) -> int:
    """How many frames `test` is late against `ref` (negative: early): the lag within
    +-`max_lag_s` that maximises the mean product of their level envelopes over the overlap.
    Resolution `hop_s`."""
    a = level_envelope(ref, rate, seconds, hop_s)
    b = level_envelope(test, rate, seconds, hop_s)
    n = min(len(a), len(b))
    if n < 2 or not a[:n].any() or not b[:n].any():
        return 0
    a, b = a[:n], b[:n]
    hop = max(1, int(round(hop_s * rate)))
    max_lag = min(int(round(max_lag_s / hop_s)), n // 2)
    best, best_lag = -np.inf, 0
    for lag in range(-max_lag, max_lag + 1):  # at most a few hundred dot products
        if lag >= 0:
            v = float(np.dot(a[: n - lag], b[lag:])) / (n - lag)
        else:
            v = float(np.dot(a[-lag:], b[: n + lag])) / (n + lag)
        if v > best:
            best, best_lag = v, lag
    return best_lag * hop


def align(ref: np.ndarray, test: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """`ref` and `test` cut so that `test` (late by `lag` frames) lines up with `ref`, and the
    shorter one padded with silence to the longer one's length."""
    ref, test = as_2d(ref), as_2d(test)
    if lag > 0:
        test = test[lag:]
    elif lag < 0:
        ref = ref[-lag:]
    ch = max(ref.shape[1], test.shape[1])
    ref = np.broadcast_to(ref, (len(ref), ch)) if ref.shape[1] != ch else ref
    test = np.broadcast_to(test, (len(test), ch)) if test.shape[1] != ch else test
    n = max(len(ref), len(test))
    return pad_frames(ref, n), pad_frames(test, n)


def pad_frames(x: np.ndarray, n: int) -> np.ndarray:
    if len(x) >= n:
        return np.asarray(x[:n])
    return np.concatenate([x, np.zeros((n - len(x), x.shape[1]))])


# --------------------------------------------------------------------------- per-frame features


@dataclass
class Frames:
    """Per-100 ms-frame features of one render."""

    level_db: np.ndarray  # RMS over all channels, dBFS, floored at FLOOR_DB
    centroid_hz: np.ndarray  # spectral centroid of the mono mix (NaN where silent)
    chroma: np.ndarray  # (frames, 12) pitch-class power, C = 0
    frame: int  # samples per frame


def chroma_map(rate: int, n_fft: int = CHROMA_FFT_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """FFT bins in the chroma range and the pitch class (C = 0) of each."""
    f = np.fft.rfftfreq(n_fft, 1.0 / rate)
    bins = np.nonzero((f >= CHROMA_LOW_HZ) & (f <= CHROMA_HIGH_HZ))[0]
    midi = 69 + 12 * np.log2(f[bins] / 440.0)
    return bins, np.mod(np.round(midi).astype(int), 12)


def frame_features(
    x: np.ndarray, rate: int, frame_s: float = FRAME_S, n_fft: int = FFT_SIZE, chunk: int = 128
) -> Frames:
    """Level, centroid and chroma of each `frame_s` frame of `x` (no overlap; the last partial
    frame is dropped). The centroid's spectrum is of the frame's Hann-windowed mono mix,
    zero-padded to `n_fft`; the chroma's, of a CHROMA_FFT_SIZE Hann window centred on the frame
    (the signal taken as silent beyond its ends)."""
    x = as_2d(x)
    frame = int(round(frame_s * rate))
    if frame > n_fft:
        raise ValueError(f"frame of {frame} samples is longer than the FFT ({n_fft})")
    n = len(x) // frame
    ms = (x[: n * frame] ** 2).mean(axis=1).reshape(n, frame).mean(axis=1) if n else np.zeros(0)
    level = np.maximum(10 * np.log10(np.maximum(ms, 1e-30)), FLOOR_DB)
    m = mono(x)[: n * frame].reshape(n, frame)
    win = np.hanning(frame)
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    cmask = freqs >= CENTROID_LOW_HZ
    cbins, pcs = chroma_map(rate)
    fold = np.zeros((len(cbins), 12))
    fold[np.arange(len(cbins)), pcs] = 1.0
    half = (CHROMA_FFT_SIZE - frame) // 2
    padded = np.concatenate([np.zeros(half), m.reshape(-1), np.zeros(CHROMA_FFT_SIZE)])
    cwin = np.hanning(CHROMA_FFT_SIZE)
    centroid = np.full(n, np.nan)
    chroma = np.zeros((n, 12))
    for s in range(0, n, chunk):  # bounded memory: `chunk` spectra at a time
        p = np.abs(np.fft.rfft(m[s : s + chunk] * win, n=n_fft, axis=1)) ** 2
        tot = p[:, cmask].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            c = (p[:, cmask] * freqs[cmask]).sum(axis=1) / tot
        centroid[s : s + chunk] = np.where(tot > 0, c, np.nan)
        idx = np.arange(s, min(n, s + chunk))[:, None] * frame + np.arange(CHROMA_FFT_SIZE)[None, :]
        pc = np.abs(np.fft.rfft(padded[idx] * cwin, axis=1)[:, cbins]) ** 2
        chroma[s : s + chunk] = pc @ fold
    return Frames(level, centroid, chroma, frame)


def sounding(level_db: np.ndarray) -> np.ndarray:
    """Frames within SOUNDING_RANGE_DB of the loudest frame and above FLOOR_DB."""
    if len(level_db) == 0:
        return np.zeros(0, dtype=bool)
    return (level_db > FLOOR_DB) & (level_db >= level_db.max() - SOUNDING_RANGE_DB)


def cosine(a: np.ndarray, b: np.ndarray) -> float | None:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na <= 0 or nb <= 0:
        return None
    return float(np.dot(a, b) / (na * nb))


# --------------------------------------------------------------------------- comparison


@dataclass
class Comparison:
    """The figures for one pair of renders (test minus reference); None where undefined."""

    lag_s: float
    frames: int
    frames_sounding_either: int
    frames_sounding_both: int
    loudness_correlation: float | None
    level_diff_db: float | None
    centroid_diff_semitones: float | None
    chroma_similarity: float | None
    chroma_similarity_framewise: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def compare_frames(ref: Frames, test: Frames, lag_s: float = 0.0) -> Comparison:
    n = min(len(ref.level_db), len(test.level_db))
    la, lb = ref.level_db[:n], test.level_db[:n]
    sa, sb = sounding(la), sounding(lb)
    either, both = sa | sb, sa & sb
    corr = None
    if either.sum() >= 3 and np.std(la[either]) > 0 and np.std(lb[either]) > 0:
        corr = float(np.corrcoef(la[either], lb[either])[0, 1])
    level = float(np.median(lb[both] - la[both])) if both.any() else None
    ca, cb = ref.centroid_hz[:n], test.centroid_hz[:n]
    ok = both & np.isfinite(ca) & np.isfinite(cb) & (ca > 0) & (cb > 0)
    cent = float(np.median(12 * np.log2(cb[ok] / ca[ok]))) if ok.any() else None
    ha, hb = ref.chroma[:n], test.chroma[:n]
    chroma_avg = cosine(ha[either].sum(axis=0), hb[either].sum(axis=0)) if either.any() else None
    fw = None
    if both.any():
        na = np.linalg.norm(ha[both], axis=1)
        nb = np.linalg.norm(hb[both], axis=1)
        good = (na > 0) & (nb > 0)
        if good.any():
            sims = (ha[both][good] * hb[both][good]).sum(axis=1) / (na[good] * nb[good])
            fw = float(np.median(sims))
    return Comparison(
        lag_s=float(lag_s),
        frames=int(n),
        frames_sounding_either=int(either.sum()),
        frames_sounding_both=int(both.sum()),
        loudness_correlation=corr,
        level_diff_db=level,
        centroid_diff_semitones=cent,
        chroma_similarity=chroma_avg,
        chroma_similarity_framewise=fw,
    )


def compare(ref: np.ndarray, test: np.ndarray, rate: int, align_onsets: bool = True) -> Comparison:
    """All the figures for `test` against `ref` (same rate), after onset alignment."""
    lag = onset_lag(ref, test, rate) if align_onsets else 0
    a, b = align(ref, test, lag)
    return compare_frames(frame_features(a, rate), frame_features(b, rate), lag / rate)


def segment_figures(ref: np.ndarray, test: np.ndarray, rate: int, start_s: float, end_s: float) -> dict:
    """Level difference (dB) and centroid difference (semitones) of test against ref over one
    stretch of already aligned renders, taken as a whole (one spectrum per 100 ms frame,
    power-summed): for a short note, where a per-frame median has too few frames."""
    a0, a1 = int(round(start_s * rate)), int(round(end_s * rate))
    ra, rb = as_2d(ref)[a0:a1], as_2d(test)[a0:a1]
    out: dict = {"ref_level_db": None, "test_level_db": None, "level_diff_db": None, "centroid_diff_semitones": None}
    if len(ra) == 0 or len(rb) == 0:
        return out
    la = 10 * np.log10(max(float((ra**2).mean()), 1e-30))
    lb = 10 * np.log10(max(float((rb**2).mean()), 1e-30))
    out["ref_level_db"], out["test_level_db"] = float(max(la, FLOOR_DB)), float(max(lb, FLOOR_DB))
    if la > FLOOR_DB and lb > FLOOR_DB:
        out["level_diff_db"] = float(lb - la)
    ca, cb = _power_centroid(ra, rate), _power_centroid(rb, rate)
    if ca and cb:
        out["centroid_diff_semitones"] = float(12 * np.log2(cb / ca))
    return out


def _power_centroid(x: np.ndarray, rate: int, frame_s: float = FRAME_S, n_fft: int = FFT_SIZE) -> float | None:
    """Spectral centroid of the power spectrum summed over the 100 ms frames of `x`."""
    frame = int(round(frame_s * rate))
    m = mono(x)
    n = len(m) // frame
    if n == 0:
        return None
    p = (np.abs(np.fft.rfft(m[: n * frame].reshape(n, frame) * np.hanning(frame), n=n_fft, axis=1)) ** 2).sum(axis=0)
    f = np.fft.rfftfreq(n_fft, 1.0 / rate)
    k = f >= CENTROID_LOW_HZ
    tot = p[k].sum()
    return float((p[k] * f[k]).sum() / tot) if tot > 0 else None
