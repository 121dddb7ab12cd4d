"""The waveform generators: keyframed spectra on the loop's frequency grid, the melodic timbre
generators (harmonic, piano, pluck, modal, FM, noise, bird) and the one-shot effects."""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .params import DECAY_FLOOR, MIN_LOOP_FRAMES, TAIL_FRAMES


def _rng(*key) -> np.random.Generator:
    """A generator seeded from a stable hash of ``key`` (never Python's salted hash())."""
    return np.random.default_rng([0x444C5300, zlib.crc32("|".join(map(str, key)).encode("utf-8"))])


# =========================================================================================
# The partial engine: keyframed spectra on the loop's frequency grid
# =========================================================================================


@dataclass
class _Ctx:
    """What a timbre generator gets: the exact fundamental and the grid it must stay on."""

    f0: float  # exact fundamental of the loop (Hz); a harmonic h lies on bin h * k
    sr: int
    length: int  # loop length in frames
    fmax: float  # highest partial allowed
    times: np.ndarray  # keyframe times (s), shape (K,)
    rng: np.random.Generator
    root: int

    @property
    def df(self) -> float:
        return self.sr / self.length


@dataclass
class _Parts:
    """Partials (frequency Hz, amplitude per keyframe, phase) plus optional extras."""

    freqs: list = field(default_factory=list)
    amps: list = field(default_factory=list)
    phases: list = field(default_factory=list)
    transient: np.ndarray | None = None  # time-domain attack noise, must end inside the attack
    post: Callable[[np.ndarray], np.ndarray] | None = None  # memoryless shaper (run oversampled)
    loop_post: Callable[[np.ndarray, "_Ctx"], np.ndarray] | None = None  # periodic time-domain change

    def add(self, freqs, amps, phases) -> None:
        freqs = np.atleast_1d(np.asarray(freqs, dtype=float))
        amps = np.asarray(amps, dtype=float)
        if amps.ndim == 1:
            amps = amps[:, None]
        self.freqs.append(freqs)
        self.amps.append(np.broadcast_to(amps, (len(freqs), amps.shape[1])))
        self.phases.append(np.broadcast_to(np.asarray(phases, dtype=float), freqs.shape))


def _keyframes(attack: float) -> np.ndarray:
    if attack <= 0.0:
        return np.zeros(1)
    n = int(np.clip(round(4 + 3 * math.log2(1 + attack / 0.02)), 5, 12))
    return np.concatenate(([0.0, 0.002], np.geomspace(0.008, attack, n)))


def _grid(f0: float, sr: int, loop_s: float, pitched: bool, k_mult: int) -> tuple[int, int]:
    """Cycles k and loop length L with k * sr / L as close to f0 as L allows."""
    if not pitched:
        return 0, max(MIN_LOOP_FRAMES, int(round(loop_s * sr)))
    k = max(k_mult, k_mult * int(round(f0 * loop_s / k_mult)))
    if k * sr / f0 < MIN_LOOP_FRAMES:
        k = k_mult * int(math.ceil(MIN_LOOP_FRAMES * f0 / sr / k_mult))
    return k, int(round(k * sr / f0))


def _spectrum_frames(ctx: _Ctx, parts: _Parts) -> np.ndarray:
    """Complex half-spectra (K, L//2+1) holding every partial at its grid bin."""
    L, K = ctx.length, len(ctx.times)
    half = L // 2
    spec = np.zeros((K, half + 1), dtype=complex)
    for freqs, amps, phases in zip(parts.freqs, parts.amps, parts.phases):
        bins = np.rint(freqs / ctx.df).astype(np.int64)
        ok = (bins >= 1) & (bins < half) & (freqs <= ctx.fmax)
        if not ok.any():
            continue
        vals = amps[ok] * np.exp(1j * phases[ok])[:, None]  # (P, K)
        kk = np.broadcast_to(np.arange(K), vals.shape)
        bb = np.broadcast_to(bins[ok][:, None], vals.shape)
        np.add.at(spec, (kk.ravel(), bb.ravel()), vals.ravel())
    return spec


def _apply_post(ctx: _Ctx, spec: np.ndarray, post) -> np.ndarray:
    """Run a memoryless shaper on each frame at 4x oversampling, then band-limit again."""
    L = ctx.length
    half = L // 2
    over = 4 * L
    big = np.zeros((spec.shape[0], over // 2 + 1), dtype=complex)
    big[:, : half + 1] = spec
    x = np.fft.irfft(big * (over / 2), n=over, axis=1)
    peak = np.max(np.abs(x)) or 1.0
    y = post(x / peak)
    out = np.fft.rfft(y, axis=1)[:, : half + 1] / (over / 2)
    freqs = np.arange(half + 1) * ctx.df
    out[:, (freqs > ctx.fmax) | (freqs == 0)] = 0.0
    out[:, half:] = 0.0
    return out


def _render_looped(ctx: _Ctx, parts: _Parts) -> tuple[np.ndarray, int]:
    """The sample (float) and its loop start; the loop is ctx.length frames long."""
    L, times = ctx.length, ctx.times
    K = len(times)
    spec = _spectrum_frames(ctx, parts)
    if parts.post is not None:
        spec = _apply_post(ctx, spec, parts.post)
    if K > 1:
        spec[0] = 0.0  # fade in over the first keyframe (2 ms): no click at the note's start
    frames = np.fft.irfft(spec * (L / 2), n=L, axis=1)
    if parts.loop_post is not None:
        frames = parts.loop_post(frames, ctx)
    last = frames[-1]
    up = np.flatnonzero((np.roll(last, 1) < 0) & (last >= 0))
    if K == 1:
        # No attack: start the sample (and the loop) at an upward zero crossing.
        shift = int(up[0]) if len(up) else 0
        frames = np.roll(frames, -shift, axis=1)
        y = np.tile(frames[0], 2)[: L + TAIL_FRAMES]
        return y, 0
    n_att = int(round(times[-1] * ctx.sr))
    idx = np.arange(n_att + 1, n_att + 1 + L)
    cand = idx[np.isin(idx % L, up)] if len(up) else idx[:1]
    start = int(cand[0]) if len(cand) else n_att + 1
    total = start + L + TAIL_FRAMES
    n = np.arange(total)
    t = n / ctx.sr
    j = np.clip(np.searchsorted(times, t, side="right") - 1, 0, K - 2)
    w = np.clip((t - times[j]) / (times[j + 1] - times[j]), 0.0, 1.0)
    col = n % L
    y = (1.0 - w) * frames[j, col] + w * frames[j + 1, col]
    if parts.transient is not None:
        tr = np.asarray(parts.transient, dtype=float)[: max(0, n_att - 1)]
        if len(tr):
            fade = min(len(tr), int(0.004 * ctx.sr))
            tr = tr.copy()
            tr[len(tr) - fade :] *= np.linspace(1.0, 0.0, fade)
            y[: len(tr)] += tr
    return y, start


# --- small spectral helpers -------------------------------------------------------------


def _formants(f: np.ndarray, formants) -> np.ndarray:
    """Linear gain of a sum of Gaussian bumps (centre Hz, width Hz, gain dB)."""
    g = np.zeros_like(f, dtype=float)
    for fc, bw, gdb in formants:
        g += gdb * np.exp(-0.5 * ((f - fc) / bw) ** 2)
    return 10.0 ** (g / 20.0)


def _lowpass(f, fc, order=2.0):
    return 1.0 / np.sqrt(1.0 + (f / fc) ** (2 * order))


def _highpass(f, fc, order=1.0):
    x = (f / fc) ** (2 * order)
    return np.sqrt(x / (1.0 + x))


def _harmonics(ctx: _Ctx, limit: float | None = None) -> np.ndarray:
    top = min(ctx.fmax, limit or ctx.fmax)
    return np.arange(1, max(1, int(top // ctx.f0)) + 1, dtype=float)


def _noise_band(ctx: _Ctx, parts: _Parts, lo: float, hi: float, level, tilt_db_oct: float = 0.0, rms_ref: float = 1.0):
    """Add a band of noise (every grid bin between lo and hi, random phase) of RMS ``level``."""
    b0 = max(1, int(math.ceil(lo / ctx.df)))
    b1 = min(ctx.length // 2 - 1, int(min(hi, ctx.fmax) / ctx.df))
    if b1 < b0:
        return
    f = np.arange(b0, b1 + 1) * ctx.df
    mag = ctx.rng.rayleigh(1.0, len(f)) * (f / max(lo, 1.0)) ** (tilt_db_oct / 6.02)
    mag *= math.sqrt(2.0) / math.sqrt(np.sum(mag**2))
    level = np.broadcast_to(np.asarray(level, dtype=float), ctx.times.shape)
    parts.add(f, np.outer(mag, level) * rms_ref, ctx.rng.uniform(0, 2 * np.pi, len(f)))


def _burst(ctx: _Ctx, lo: float, hi: float, dur: float, level: float, attack: float = 0.0005) -> np.ndarray:
    """A band-passed noise burst with an exponential decay (for attack transients)."""
    n = max(16, int(dur * 4 * ctx.sr))
    x = _bandnoise(ctx.rng, n, ctx.sr, lo, hi)
    t = np.arange(n) / ctx.sr
    env = np.exp(-t / dur) * np.minimum(1.0, t / max(attack, 1e-6))
    x *= env
    return level * x / (np.max(np.abs(x)) or 1.0)


def _bandnoise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, order: float = 2.0) -> np.ndarray:
    """White noise shaped by a smooth band-pass in the frequency domain (unit RMS)."""
    x = rng.standard_normal(n)
    X = np.fft.rfft(x)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    g = np.ones_like(f)
    if lo > 0:
        g *= _highpass(np.maximum(f, 1e-9), lo, order)
    if hi < sr / 2:
        g *= _lowpass(f, hi, order)
    y = np.fft.irfft(X * g, n=n)
    return y / (np.sqrt(np.mean(y**2)) or 1.0)


def _bessel_j(n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Bessel functions J_n(x) for integer orders n (N,) and arguments x (K,): shape (N, K)."""
    tau = (np.arange(96) + 0.5) * (np.pi / 96)
    return np.cos(n[:, None, None] * tau - x[None, :, None] * np.sin(tau)).mean(axis=2)


# =========================================================================================
# Timbre generators (melodic). Each takes the context and keyword parameters.
# =========================================================================================


def _copy_fundamental_scale(ctx: _Ctx, detune) -> list[float]:
    """Per chorus copy, a factor for its fundamental so that copies landing on one grid bin
    never outweigh the true fundamental (the loop's pitch stays where the note is)."""
    base = round(ctx.f0 / ctx.df)
    totals: dict[int, float] = {}
    offs = []
    for cents, level in detune:
        off = round(ctx.f0 * 2.0 ** (cents / 1200.0) / ctx.df) - base
        offs.append(off)
        if off:
            totals[off] = totals.get(off, 0.0) + level
    return [min(1.0, 0.8 / totals[o]) if o else 1.0 for o in offs]


@dataclass(frozen=True)
class Harmonic:
    """A harmonic timbre (`_g_harmonic`): the partials h = 1, 2, ... of the note, shaped.

    Amplitudes: ``slope`` (h ** -slope), ``even`` (weight of the even harmonics), or ``amps``
    (given outright). Spectral shape: ``formants`` ((Hz, bandwidth Hz, dB) peaks),
    ``lowpass`` / ``highpass`` (Hz, None: none) of ``lp_order``. Copies: ``detune``
    ((cents, level) chorus copies), ``sub`` / ``fifth`` (levels of an octave below and a
    fifth above), ``extra`` ((frequency ratio, level) partials: drawbars, octaves), ``perc``
    ((harmonic, level, time constant s) a decaying part on one harmonic). Time: ``bright``
    (upper harmonics start louder, settling with ``bright_tau`` s), ``swell`` (they start
    softer, blooming with ``swell_tau`` s), ``decay`` (upper harmonics die away, per second
    per kHz, down to ``decay_floor``). Noise and transients: ``breath`` (level of a noise
    band ``breath_band`` Hz tilted ``breath_tilt`` dB/octave), ``chiff`` (a burst in
    ``chiff_band`` Hz at the start), ``click`` (a 3 ms burst). ``drive``: soft clipping.
    """

    slope: float = 1.0
    even: float = 1.0
    amps: tuple | None = None
    formants: tuple = ()
    lowpass: float | None = None
    lp_order: float = 2.0
    highpass: float | None = None
    detune: tuple = ()
    breath: float = 0.0
    breath_band: tuple = (400.0, 7000.0)
    breath_tilt: float = -3.0
    bright: float = 0.0
    bright_tau: float = 0.08
    swell: float = 0.0
    swell_tau: float = 0.06
    decay: float = 0.0
    decay_floor: float = 0.0
    sub: float = 0.0
    fifth: float = 0.0
    drive: float = 0.0
    chiff: float = 0.0
    chiff_band: tuple = (1500.0, 7000.0)
    click: float = 0.0
    extra: tuple = ()
    perc: tuple | None = None


def _g_harmonic(ctx: _Ctx, spec: Harmonic):
    """Harmonic spectrum: h**-slope, even-harmonic weight, formants, filters, chorus copies.

    bright: upper harmonics start louder and settle (hammers, picks); swell: they start softer
    and bloom (brass, bowed strings); decay: upper harmonics die away faster (per second per kHz).
    sub/fifth: add an octave below / a fifth above (the timbre's k is even for these).
    extra: (ratio, amplitude) partials added to the harmonic series (organ drawbars, octaves).
    perc: (harmonic, amplitude, time constant) an extra decaying part on one harmonic (the
    percussion tab of a drawbar organ).
    """
    slope, even, amps, formants, lowpass, lp_order, highpass = (
        spec.slope,
        spec.even,
        spec.amps,
        spec.formants,
        spec.lowpass,
        spec.lp_order,
        spec.highpass,
    )
    detune, breath, breath_band, breath_tilt = spec.detune, spec.breath, spec.breath_band, spec.breath_tilt
    bright, bright_tau, swell, swell_tau = spec.bright, spec.bright_tau, spec.swell, spec.swell_tau
    decay, decay_floor, sub, fifth, drive = spec.decay, spec.decay_floor, spec.sub, spec.fifth, spec.drive
    chiff, chiff_band, click, extra, perc = spec.chiff, spec.chiff_band, spec.click, spec.extra, spec.perc
    h = _harmonics(ctx)
    f = h * ctx.f0
    a = h ** (-float(slope))
    a[1::2] *= even
    if amps is not None:
        given = np.asarray(amps, dtype=float)
        a = np.zeros_like(h)
        m = min(len(given), len(h))
        a[:m] = given[:m]
    shape = _formants(f, formants)
    if lowpass:
        shape *= _lowpass(f, lowpass, lp_order)
    if highpass:
        shape *= _highpass(f, highpass)
    a = a * shape
    t = ctx.times[None, :]
    fk = (f / 1000.0)[:, None]
    env = np.ones((len(h), len(ctx.times)))
    if bright:
        env *= 1.0 + bright * np.sqrt(fk) * np.exp(-t / bright_tau)
    if swell:
        env *= 1.0 - swell * np.minimum(1.0, fk / 2.0) * np.exp(-t / swell_tau)
    if decay:
        env *= decay_floor + (1.0 - decay_floor) * np.exp(-t * decay * fk)
    phases = ctx.rng.uniform(0, 2 * np.pi, len(h))
    amp = a[:, None] * env
    if perc is not None and perc[0] <= len(h):
        ph, level, tau = perc
        amp[ph - 1] += level * np.exp(-ctx.times / tau)
    parts = _Parts()
    parts.add(f, amp, phases)
    fund_scale = _copy_fundamental_scale(ctx, detune)
    for (cents, level), fs in zip(detune, fund_scale):
        amp = level * a[:, None] * env
        amp[0] *= fs
        parts.add(f * 2.0 ** (cents / 1200.0), amp, phases)
    for ratio, level in extra:
        parts.add([ratio * ctx.f0], np.full((1, len(ctx.times)), level), ctx.rng.uniform(0, 2 * np.pi, 1))
    if sub:
        hs = _harmonics(ctx)[: max(1, len(h) // 2)]
        fs = (hs - 0.5) * ctx.f0  # odd harmonics of the octave below: a square-ish sub
        parts.add(fs, sub * (2 * hs - 1.0) ** -1.0, ctx.rng.uniform(0, 2 * np.pi, len(hs)))
    if fifth:
        fifth_f = f * 1.5
        parts.add(fifth_f, fifth * a[:, None] * env, ctx.rng.uniform(0, 2 * np.pi, len(h)))
    ref = float(np.max(a)) or 1.0
    if breath:
        _noise_band(ctx, parts, breath_band[0], breath_band[1], breath, breath_tilt, rms_ref=ref)
    if drive:
        d = float(drive)
        parts.post = lambda x: np.tanh(d * x) / np.tanh(d)
    if chiff or click:
        tr = np.zeros(int(ctx.times[-1] * ctx.sr))
        if chiff:
            b = _burst(ctx, chiff_band[0], chiff_band[1], 0.025, chiff * ref, attack=0.004)
            tr[: min(len(tr), len(b))] += b[: len(tr)]
        if click:
            b = _burst(ctx, 800.0, 9000.0, 0.003, click * ref)
            tr[: min(len(tr), len(b))] += b[: len(tr)]
        parts.transient = tr
    return parts


def _g_piano(
    ctx: _Ctx,
    *,
    stretch=1.5e-4,
    strike=1 / 8,
    lowpass=3500.0,
    decay=0.9,
    detune=0.7,
    hammer=0.25,
    strings=3,
    bright=0.6,
):
    """Piano: stretched partials (B grows up the keyboard), strike-position nulls, two-stage decay."""
    B = stretch * 2.0 ** ((ctx.root - 60) / 18.0)
    h = _harmonics(ctx)
    f = h * ctx.f0 * np.sqrt(1.0 + B * h * h) / math.sqrt(1.0 + B)
    ok = f <= ctx.fmax
    h, f = h[ok], f[ok]
    a = h**-0.9 * (0.15 + np.abs(np.sin(np.pi * h * strike))) * _lowpass(f, lowpass, 1.5)
    a *= 1.0 + 0.7 * np.exp(-0.5 * ((f - 1.0 * ctx.f0) / (ctx.f0 * 0.5)) ** 2)
    t = ctx.times[None, :]
    fk = (f / 1000.0)[:, None]
    # Prompt sound (fast, brighter) over a slower aftersound.
    env = 0.35 * np.exp(-t * decay * (1.0 + 4.0 * fk)) + 0.65 * np.exp(-t * decay * 0.25 * (1.0 + fk))
    env *= 1.0 + bright * np.sqrt(fk) * np.exp(-t / 0.03)
    phases = ctx.rng.uniform(0, 2 * np.pi, len(h))
    parts = _Parts()
    offsets = {1: (0.0,), 2: (0.0, detune), 3: (0.0, -detune, detune * 0.8)}[strings]
    for i, cents in enumerate(offsets):
        lev = 1.0 if i == 0 else 0.8
        parts.add(f * 2.0 ** (cents / 1200.0), lev * a[:, None] * env, phases + 0.3 * i)
    if hammer:
        parts.transient = _burst(ctx, 60.0, 2500.0, 0.012, hammer * float(np.max(a)) * 2.0, attack=0.001)
    return parts


def _decay_floor(ratio: np.ndarray) -> np.ndarray:
    """How far (linear) a partial may decay inside the sample: -30 dB for the fundamental,
    lower for higher partials. The rest of the decay is EG1's job, so loops never sink into
    the 16-bit noise floor."""
    return DECAY_FLOOR * np.maximum(ratio, 1.0) ** -1.5


def _g_pluck(
    ctx: _Ctx,
    *,
    brightness=9000.0,
    loss=1.2,
    pos=0.18,
    pickup=None,
    randomness=0.35,
    formants=(),
    lowpass=None,
    highpass=None,
    drive=0.0,
    detune=(),
    pick=0.0,
    pick_band=(1500.0, 9000.0),
    slope=0.9,
    sustain_floor=0.0,
):
    """Karplus-Strong style string: each harmonic loses |cos(pi f / B)| per period (the KS
    averaging filter at a virtual loop rate B) on top of a base loss (per second); the initial
    spectrum has the pluck position's nulls and KS-like random magnitudes."""
    # The virtual loop rate scales with the note, so the decay pattern (in harmonic numbers)
    # is alike over the keyboard while higher notes still die sooner; ``brightness`` is its
    # value for a 110 Hz string.
    rate_b = brightness * ctx.f0 / 110.0
    h = _harmonics(ctx, limit=rate_b / 2 * 0.98)
    f = h * ctx.f0
    a = h**-slope * (0.08 + np.abs(np.sin(np.pi * h * pos)))
    a *= 1.0 - randomness + randomness * ctx.rng.rayleigh(0.8, len(h))
    if pickup:
        a *= 0.1 + np.abs(np.sin(np.pi * h * pickup))
    a *= _formants(f, formants)
    if lowpass:
        a *= _lowpass(f, lowpass, 2.0)
    if highpass:
        a *= _highpass(f, highpass)
    per_period = np.abs(np.cos(np.pi * f / rate_b))
    rate = loss + (-ctx.f0 * np.log(np.maximum(per_period, 1e-6)))
    t = ctx.times[None, :]
    env = sustain_floor + (1.0 - sustain_floor) * np.exp(-t * rate[:, None])
    env = np.maximum(env, _decay_floor(h)[:, None])
    phases = ctx.rng.uniform(0, 2 * np.pi, len(h))
    parts = _Parts()
    parts.add(f, a[:, None] * env, phases)
    for cents, level in detune:
        parts.add(f * 2.0 ** (cents / 1200.0), level * a[:, None] * env, phases + 1.0)
    if drive:
        d = float(drive)
        parts.post = lambda x: np.tanh(d * x) / np.tanh(d)
    if pick:
        parts.transient = _burst(ctx, pick_band[0], pick_band[1], 0.004, pick * float(np.max(a)))
    return parts


def _g_modal(ctx: _Ctx, *, modes, strike=0.0, strike_band=(500.0, 6000.0), strike_dur=0.006, detune=()):
    """Struck bars, bells, membranes: (ratio, amplitude, decay per second) modes."""
    ratios = np.array([m[0] for m in modes], dtype=float)
    amps = np.array([m[1] for m in modes], dtype=float)
    rates = np.array([m[2] for m in modes], dtype=float)
    f = ratios * ctx.f0
    ok = f <= ctx.fmax
    env = np.exp(-ctx.times[None, :] * rates[ok][:, None])
    env = np.maximum(env, _decay_floor(ratios[ok])[:, None])
    phases = ctx.rng.uniform(0, 2 * np.pi, int(ok.sum()))
    parts = _Parts()
    parts.add(f[ok], amps[ok][:, None] * env, phases)
    for cents, level in detune:
        parts.add(f[ok] * 2.0 ** (cents / 1200.0), level * amps[ok][:, None] * env, phases + 2.0)
    if strike:
        parts.transient = _burst(ctx, strike_band[0], strike_band[1], strike_dur, strike * float(amps.max()))
    return parts


def _g_fm(ctx: _Ctx, *, ops, detune=(), strike=0.0, strike_band=(1000.0, 8000.0), pad=None):
    """FM-ish tones: each op is (carrier ratio, modulator ratio, index at 0, index at rest,
    index time constant, level, amplitude decay per second). Sidebands at c + n m with J_n(I)."""
    parts = _Parts()
    t = ctx.times
    for c, m, i0, i1, tau, level, dec in ops:
        index = i1 + (i0 - i1) * np.exp(-t / tau)
        nmax = int(math.ceil(max(i0, i1) + 4))
        n = np.arange(-nmax, nmax + 1)
        amp = _bessel_j(n, index) * level * np.exp(-t * dec)[None, :]
        ratio = c + n * m
        sign = np.where(ratio < 0, -1.0, 1.0)
        keep = np.abs(ratio) > 1e-9
        f = np.abs(ratio[keep]) * ctx.f0
        parts.add(f, amp[keep] * sign[keep][:, None], np.full(len(f), -np.pi / 2))
        for cents, lev in detune:
            parts.add(f * 2.0 ** (cents / 1200.0), lev * amp[keep] * sign[keep][:, None], np.full(len(f), 0.4))
    if pad is not None:
        sub = _g_harmonic(ctx, Harmonic(**pad))
        for fr, am, ph in zip(sub.freqs, sub.amps, sub.phases):
            parts.add(fr, am, ph)
    if strike:
        parts.transient = _burst(ctx, strike_band[0], strike_band[1], 0.004, strike)
    return parts


def _g_noise(ctx: _Ctx, *, bands, am=None, tones=()):
    """Unpitched loops: bands of noise (lo, hi, level, tilt), optional periodic AM.

    am(frames, ctx) returns the frames with a loop-periodic envelope applied."""
    parts = _Parts()
    for lo, hi, level, tilt in bands:
        _noise_band(ctx, parts, lo, hi, level, tilt)
    for ratio, level in tones:
        parts.add([ratio * ctx.f0], [[level] * len(ctx.times)], [0.0])
    parts.loop_post = am
    return parts


def _periodic_env(ctx: _Ctx, cycles: int, shape: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """An envelope with a whole number of cycles per loop (phase 0..1 mapped by shape)."""
    ph = (np.arange(ctx.length) * cycles / ctx.length) % 1.0
    return shape(ph)


def _am_seashore(frames, ctx):
    ph = np.arange(ctx.length) / ctx.length
    env = 0.25 + 0.75 * (0.5 - 0.5 * np.cos(2 * np.pi * ph)) ** 1.5
    env *= 1.0 + 0.15 * np.sin(2 * np.pi * 3 * ph + 1.0)
    return frames * env


def _am_helicopter(frames, ctx):
    env = _periodic_env(ctx, int(round(11.0 * ctx.length / ctx.sr)), lambda p: 0.15 + np.exp(-p * 9.0))
    return frames * env


def _am_applause(frames, ctx):
    rng = np.random.default_rng(1234)
    n = ctx.length
    env = np.full(n, 0.35)
    t = np.arange(n)
    for _ in range(int(n / ctx.sr * 60)):
        c = rng.integers(0, n)
        d = (t - c) % n
        env += rng.uniform(0.4, 1.0) * np.exp(-d / (0.012 * ctx.sr)) * (d < 0.08 * ctx.sr)
    return frames * env


def _am_telephone(frames, ctx):
    cycles = int(round(16.0 * ctx.length / ctx.sr))
    return frames * _periodic_env(ctx, cycles, lambda p: 0.5 + 0.5 * np.tanh(6 * np.sin(2 * np.pi * p)))


def _am_breath(frames, ctx):
    return frames * _periodic_env(ctx, 1, lambda p: 0.7 + 0.3 * np.sin(2 * np.pi * p) ** 2)


def _g_bird(ctx: _Ctx):
    """Chirps (sines swept up and down) placed on a loop-periodic time line."""
    parts = _Parts()
    n = ctx.length
    x = np.zeros(n)
    t = np.arange(n) / ctx.sr
    rng = ctx.rng
    base = min(ctx.f0 * 16.0, ctx.fmax / 2.0)
    for start, dur, sweep in (
        (0.05, 0.07, 1.6),
        (0.16, 0.05, 1.4),
        (0.24, 0.05, 1.5),
        (0.5, 0.12, 0.7),
        (0.72, 0.06, 1.8),
    ):
        if start + dur > t[-1]:
            continue
        m = (t >= start) & (t < start + dur)
        u = (t[m] - start) / dur
        fr = base * (1.0 + (sweep - 1.0) * np.sin(np.pi * u)) * (1.0 + 0.04 * np.sin(2 * np.pi * 35 * t[m]))
        ph = 2 * np.pi * np.cumsum(fr) / ctx.sr + rng.uniform(0, 6.28)
        x[m] += np.sin(ph) * np.sin(np.pi * u) ** 2
    parts.loop_post = lambda frames, c: np.broadcast_to(x, frames.shape).copy()
    parts.add([ctx.f0], [[1e-6] * len(ctx.times)], [0.0])
    return parts


# --- one-shot melodic waves (no loop) ---------------------------------------------------


def _o_orchestra_hit(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    n = int(0.9 * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    for ratio, lev in ((1.0, 1.0), (2.0, 0.7), (1.5, 0.6), (1.26, 0.45), (0.5, 0.5), (3.0, 0.3)):
        fr = f0 * ratio
        for h in range(1, int(min(9000, sr * 0.45) // fr) + 1):
            y += lev * h**-1.0 * np.exp(-t * (3.0 + h * 0.6)) * np.sin(2 * np.pi * fr * h * t + rng.uniform(0, 6.28))
    noise = _bandnoise(rng, n, sr, 300, 6000) * np.exp(-t / 0.05) * 0.3
    env = np.minimum(1.0, t / 0.004) * np.exp(-t / 0.25)
    return (y / (np.max(np.abs(y)) or 1) + noise) * env


def _o_sweep_drum(sr: int, f0: float, rng: np.random.Generator, dur=0.7, sweep=1.8, tau=0.06, noise=0.15) -> np.ndarray:
    n = int(dur * sr)
    t = np.arange(n) / sr
    fr = f0 * (1.0 + (sweep - 1.0) * np.exp(-t / tau))
    y = np.sin(2 * np.pi * np.cumsum(fr) / sr) + 0.2 * np.sin(2 * np.pi * np.cumsum(fr * 2.1) / sr) * np.exp(-t / 0.05)
    y *= np.exp(-t / (dur / 4))
    y += noise * _bandnoise(rng, n, sr, 200, 5000) * np.exp(-t / 0.02)
    return y * np.minimum(1.0, t / 0.001)


def _o_synth_drum(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    return _o_sweep_drum(sr, f0, rng, dur=0.7, sweep=2.5, tau=0.09, noise=0.05)


def _o_fret_noise(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    n = int(0.35 * sr)
    t = np.arange(n) / sr
    y = np.zeros(n)
    base = _bandnoise(rng, n, sr, f0 * 4, f0 * 16)
    env = np.exp(-(((t - 0.12) / 0.06) ** 2))
    y += base * env
    scr = np.sin(2 * np.pi * np.cumsum(f0 * 6 * (1 + 0.5 * t / t[-1])) / sr)
    y += 0.4 * scr * env * (0.5 + 0.5 * np.sin(2 * np.pi * 60 * t))
    return y


def _o_gunshot(sr: int, f0: float, rng: np.random.Generator) -> np.ndarray:
    n = int(1.2 * sr)
    t = np.arange(n) / sr
    crack = _bandnoise(rng, n, sr, 500, 9000) * np.exp(-t / 0.012)
    body = _bandnoise(rng, n, sr, 40, 1200) * np.exp(-t / 0.18) * 0.7
    boom = np.sin(2 * np.pi * np.cumsum(f0 * 0.5 * (1 + 2 * np.exp(-t / 0.03))) / sr) * np.exp(-t / 0.2)
    return (crack + body + 0.6 * boom) * np.minimum(1.0, t / 0.0005)
