"""The drum kit: one-shot hits made in the time domain, and the kit's key table."""

from __future__ import annotations

import numpy as np

from .generators import _bandnoise, _formants, _highpass
from .params import BRIGHT_RATE, SAMPLE_RATE

# =========================================================================================
# Drums
# =========================================================================================


def _t_axis(sr, dur):
    n = int(dur * sr)
    return np.arange(n) / sr


def _fade(x: np.ndarray, sr: int, ms: float = 6.0) -> np.ndarray:
    n = min(len(x), int(ms * 1e-3 * sr))
    x = x.copy()
    x[len(x) - n :] *= np.linspace(1.0, 0.0, n)
    return x


def _osc(t, f_hi, f_lo, tau, phase=0.0):
    sr = 1.0 / (t[1] - t[0])
    f = f_lo + (f_hi - f_lo) * np.exp(-t / tau)
    return np.sin(2 * np.pi * np.cumsum(f) / sr + phase)


def _metal(t, freqs, sr, rng, top=None) -> np.ndarray:
    """Band-limited square waves at inharmonic frequencies (the classic cymbal/cowbell source)."""
    top = top or 0.45 * sr
    y = np.zeros_like(t)
    for f in freqs:
        ph = rng.uniform(0, 2 * np.pi)
        for h in range(1, int(top // f) + 1, 2):
            y += np.sin(2 * np.pi * f * h * t + ph * h) / h
    return y


def _d_kick(sr, rng, f_hi=140.0, f_lo=48.0, tau=0.04, dur=0.55, click=0.5, body=0.28):
    t = _t_axis(sr, dur)
    y = _osc(t, f_hi, f_lo, tau) * np.exp(-t / body)
    y += 0.15 * _osc(t, f_hi * 1.6, f_lo * 1.6, tau) * np.exp(-t / 0.05)
    y += click * _bandnoise(rng, len(t), sr, 1500, 7000) * np.exp(-t / 0.004)
    return y * np.minimum(1.0, t / 0.0008)


def _d_snare(sr, rng, tone=(185.0, 330.0), noise_dur=0.16, tone_dur=0.09, dur=0.4, band=(1200.0, 9000.0), mix=0.8):
    t = _t_axis(sr, dur)
    y = (_osc(t, tone[0] * 1.3, tone[0], 0.01) + 0.6 * _osc(t, tone[1] * 1.2, tone[1], 0.01, 1.0)) * np.exp(
        -t / tone_dur
    )
    y += mix * 2.0 * _bandnoise(rng, len(t), sr, band[0], band[1]) * np.exp(-t / noise_dur)
    return y * np.minimum(1.0, t / 0.0005)


def _d_tom(sr, rng, f, dur=0.7):
    t = _t_axis(sr, dur)
    y = _osc(t, f * 1.45, f, 0.05) * np.exp(-t / (dur / 3.5))
    y += 0.25 * _osc(t, f * 2.3, f * 1.6, 0.05, 0.5) * np.exp(-t / 0.06)
    y += 0.35 * _bandnoise(rng, len(t), sr, 300, 5000) * np.exp(-t / 0.015)
    return y * np.minimum(1.0, t / 0.0008)


_HAT_FREQS = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)


def _d_hat(sr, rng, dur, decay, lo=6500.0):
    t = _t_axis(sr, dur)
    metal = _metal(t, _HAT_FREQS, sr, rng)
    raw = 0.6 * metal / (np.std(metal) or 1) + _bandnoise(rng, len(t), sr, lo * 0.8, 16000.0)
    X = np.fft.rfft(raw)
    f = np.fft.rfftfreq(len(raw), 1 / sr)
    y = np.fft.irfft(X * _highpass(np.maximum(f, 1e-9), lo, 3.0), n=len(raw))
    return y * np.exp(-t / decay) * np.minimum(1.0, t / 0.0005)


def _d_cymbal(sr, rng, dur, decay, lo=3000.0, metal_mix=0.5, freqs=_HAT_FREQS, bell=0.0, hi=16000.0, swell=0.0):
    t = _t_axis(sr, dur)
    metal = _metal(t, freqs, sr, rng)
    raw = metal_mix * metal / (np.std(metal) or 1) + _bandnoise(rng, len(t), sr, lo, hi)
    X = np.fft.rfft(raw)
    f = np.fft.rfftfreq(len(raw), 1 / sr)
    y = np.fft.irfft(X * _highpass(np.maximum(f, 1e-9), lo, 2.0), n=len(raw))
    y /= np.std(y) or 1
    env = np.exp(-t / decay) * (1.0 - swell * np.exp(-t / 0.02)) * np.minimum(1.0, t / 0.001)
    y = y * env
    if bell:
        b = sum(
            np.sin(2 * np.pi * fb * t + i) * a
            for i, (fb, a) in enumerate(((820.0, 1.0), (1210.0, 0.6), (1873.0, 0.5), (2540.0, 0.3)))
        )
        y += bell * b * np.exp(-t / (decay * 0.6))
    return y


def _d_clap(sr, rng, dur=0.35):
    t = _t_axis(sr, dur)
    n = _bandnoise(rng, len(t), sr, 900.0, 3500.0)
    env = np.zeros_like(t)
    for i, off in enumerate((0.0, 0.011, 0.021, 0.033)):
        d = t - off
        env += np.where(d >= 0, np.exp(-np.maximum(d, 0) / (0.006 if i < 3 else 0.08)), 0.0)
    return n * env


def _d_side_stick(sr, rng):
    t = _t_axis(sr, 0.12)
    y = 0.8 * np.sin(2 * np.pi * 1750 * t) * np.exp(-t / 0.012) + 0.6 * np.sin(2 * np.pi * 430 * t) * np.exp(-t / 0.02)
    y += 0.8 * _bandnoise(rng, len(t), sr, 2000, 8000) * np.exp(-t / 0.004)
    return y


def _d_modal(sr, rng, modes, dur, noise=0.3, band=(800.0, 6000.0), noise_dur=0.004, sweep=0.0):
    t = _t_axis(sr, dur)
    y = np.zeros_like(t)
    for f, a, d in modes:
        fr = f * (1.0 + sweep * np.exp(-t / 0.02))
        y += a * np.sin(2 * np.pi * np.cumsum(fr) / sr + rng.uniform(0, 6.28)) * np.exp(-t / d)
    y += noise * _bandnoise(rng, len(t), sr, band[0], band[1]) * np.exp(-t / noise_dur)
    return y * np.minimum(1.0, t / 0.0005)


def _d_cowbell(sr, rng):
    t = _t_axis(sr, 0.35)
    m = _metal(t, (562.0, 845.0), sr, rng, top=7000.0)
    X = np.fft.rfft(m)
    f = np.fft.rfftfreq(len(m), 1 / sr)
    y = np.fft.irfft(X * _formants(f, ((700.0, 300.0, 12.0), (2600.0, 800.0, 4.0))), n=len(m))
    return y * (0.3 * np.exp(-t / 0.015) + np.exp(-t / 0.09))


def _d_tambourine(sr, rng):
    t = _t_axis(sr, 0.35)
    jingles = _metal(t, (2420.0, 3310.0, 4780.0, 5900.0), sr, rng)
    y = 0.4 * jingles / np.std(jingles) + _bandnoise(rng, len(t), sr, 5000, 14000)
    env = np.exp(-t / 0.09) * (1 + 0.6 * np.exp(-(((t - 0.025) / 0.01) ** 2)))
    return y * env * np.minimum(1.0, t / 0.001)


def _d_shaker(sr, rng, dur, lo, hi, attack):
    t = _t_axis(sr, dur)
    env = (t / attack) * np.exp(1 - t / attack)
    return _bandnoise(rng, len(t), sr, lo, hi) * env


def _d_vibraslap(sr, rng):
    t = _t_axis(sr, 0.9)
    rattle = np.zeros_like(t)
    for i in range(30):
        c = 0.005 + i / 34.0
        rattle += np.exp(-np.maximum(t - c, 0) / 0.004) * (t >= c) * np.exp(-c / 0.3)
    return _bandnoise(rng, len(t), sr, 1500, 7000) * rattle + 0.3 * np.sin(2 * np.pi * 3100 * t) * rattle


def _d_whistle(sr, rng, dur):
    t = _t_axis(sr, dur)
    f = 2350.0 * (1.0 + 0.035 * np.sign(np.sin(2 * np.pi * 28 * t)))
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.1 * _bandnoise(rng, len(t), sr, 2000, 6000)
    env = np.minimum(1.0, t / 0.01) * np.minimum(1.0, (t[-1] - t) / 0.03)
    return y * env


def _d_guiro(sr, rng, dur, rate):
    t = _t_axis(sr, dur)
    ph = (t * rate) % 1.0
    scrape = np.exp(-ph / 0.15)
    env = np.minimum(1.0, t / 0.01) * np.minimum(1.0, (t[-1] - t) / 0.02)
    return _bandnoise(rng, len(t), sr, 1800, 7000) * scrape * env


def _d_cuica(sr, rng, dur, f_start, f_end):
    t = _t_axis(sr, dur)
    f = f_start + (f_end - f_start) * np.minimum(1.0, t / (dur * 0.7))
    y = np.sin(2 * np.pi * np.cumsum(f) / sr) + 0.3 * np.sin(4 * np.pi * np.cumsum(f) / sr)
    env = np.minimum(1.0, t / 0.01) * np.exp(-t / (dur * 0.5))
    return y * env


def _d_triangle(sr, rng, dur, decay):
    t = _t_axis(sr, dur)
    modes = ((1330.0, 0.6), (3990.0, 1.0), (5320.0, 0.5), (6650.0, 0.7), (9320.0, 0.4), (11960.0, 0.3))
    y = sum(
        a * np.sin(2 * np.pi * f * t + i) * np.exp(-t / (decay * (1.0 - 0.04 * i))) for i, (f, a) in enumerate(modes)
    )
    y += 0.2 * _bandnoise(rng, len(t), sr, 4000, 12000) * np.exp(-t / 0.003)
    return y * np.minimum(1.0, t / 0.0003)


# key -> (builder, sample rate, pan %, release s)
def _drum_table():
    S, B = SAMPLE_RATE, BRIGHT_RATE
    return {
        35: (lambda sr, r: _d_kick(sr, r, 120.0, 42.0, 0.05, 0.6, 0.35, 0.32), S, 0, 0.6),
        36: (lambda sr, r: _d_kick(sr, r, 160.0, 52.0, 0.035, 0.5, 0.6, 0.24), S, 0, 0.5),
        37: (_d_side_stick, S, -5, 0.15),
        38: (lambda sr, r: _d_snare(sr, r), S, 3, 0.4),
        39: (lambda sr, r: _d_clap(sr, r), S, -8, 0.4),
        40: (lambda sr, r: _d_snare(sr, r, (220.0, 410.0), 0.11, 0.06, 0.3, (2000.0, 11000.0), 1.0), S, 3, 0.3),
        41: (lambda sr, r: _d_tom(sr, r, 70.0, 0.9), S, 30, 0.9),
        42: (lambda sr, r: _d_hat(sr, r, 0.15, 0.035), B, -25, 0.15),
        43: (lambda sr, r: _d_tom(sr, r, 85.0, 0.85), S, 22, 0.85),
        44: (lambda sr, r: _d_hat(sr, r, 0.2, 0.05, 5000.0), B, -25, 0.2),
        45: (lambda sr, r: _d_tom(sr, r, 100.0, 0.8), S, 10, 0.8),
        46: (lambda sr, r: _d_hat(sr, r, 0.8, 0.25), B, -25, 0.8),
        47: (lambda sr, r: _d_tom(sr, r, 120.0, 0.75), S, 0, 0.75),
        48: (lambda sr, r: _d_tom(sr, r, 142.0, 0.7), S, -10, 0.7),
        49: (lambda sr, r: _d_cymbal(sr, r, 1.6, 0.55, swell=0.4), B, -30, 1.6),
        50: (lambda sr, r: _d_tom(sr, r, 168.0, 0.65), S, -20, 0.65),
        51: (
            lambda sr, r: _d_cymbal(
                sr, r, 1.4, 0.45, lo=4500.0, metal_mix=1.2, bell=0.3, freqs=(312.0, 457.0, 598.0, 733.0, 905.0, 1187.0)
            ),
            B,
            30,
            1.4,
        ),
        52: (
            lambda sr, r: _d_cymbal(
                sr, r, 1.5, 0.45, lo=2000.0, hi=9000.0, metal_mix=1.0, freqs=(263.0, 391.0, 530.0, 641.0, 857.0, 1020.0)
            ),
            B,
            35,
            1.5,
        ),
        53: (lambda sr, r: _d_cymbal(sr, r, 1.1, 0.4, lo=5000.0, metal_mix=0.4, bell=3.0), B, 30, 1.1),
        54: (_d_tambourine, B, -15, 0.35),
        55: (lambda sr, r: _d_cymbal(sr, r, 1.0, 0.3, lo=4000.0, swell=0.2), B, -20, 1.0),
        56: (_d_cowbell, S, -15, 0.35),
        57: (
            lambda sr, r: _d_cymbal(
                sr, r, 1.6, 0.6, lo=2600.0, swell=0.4, freqs=(233.0, 347.0, 412.0, 575.0, 611.0, 880.0)
            ),
            B,
            25,
            1.6,
        ),
        58: (_d_vibraslap, S, 20, 0.9),
        59: (
            lambda sr, r: _d_cymbal(
                sr, r, 1.4, 0.45, lo=5000.0, metal_mix=1.0, bell=0.25, freqs=(298.0, 421.0, 566.0, 702.0, 951.0, 1263.0)
            ),
            B,
            35,
            1.4,
        ),
        60: (lambda sr, r: _d_modal(sr, r, ((420.0, 1.0, 0.06), (780.0, 0.3, 0.03)), 0.3, sweep=0.15), S, 25, 0.3),
        61: (lambda sr, r: _d_modal(sr, r, ((290.0, 1.0, 0.08), (560.0, 0.3, 0.04)), 0.35, sweep=0.15), S, 20, 0.35),
        62: (
            lambda sr, r: _d_modal(sr, r, ((330.0, 1.0, 0.03), (650.0, 0.3, 0.02)), 0.2, noise=0.6, noise_dur=0.008),
            S,
            -25,
            0.2,
        ),
        63: (lambda sr, r: _d_modal(sr, r, ((330.0, 1.0, 0.14), (520.0, 0.3, 0.05)), 0.5, sweep=0.1), S, -25, 0.5),
        64: (lambda sr, r: _d_modal(sr, r, ((220.0, 1.0, 0.16), (360.0, 0.3, 0.06)), 0.55, sweep=0.1), S, -15, 0.55),
        65: (
            lambda sr, r: _d_modal(
                sr, r, ((520.0, 1.0, 0.12), (1150.0, 0.4, 0.1), (2430.0, 0.25, 0.08)), 0.5, noise=0.6, noise_dur=0.01
            ),
            S,
            15,
            0.5,
        ),
        66: (
            lambda sr, r: _d_modal(
                sr, r, ((380.0, 1.0, 0.14), (870.0, 0.4, 0.1), (1900.0, 0.25, 0.08)), 0.55, noise=0.6, noise_dur=0.01
            ),
            S,
            5,
            0.55,
        ),
        67: (
            lambda sr, r: _d_modal(
                sr, r, ((910.0, 1.0, 0.12), (2070.0, 0.5, 0.06), (3730.0, 0.3, 0.04)), 0.5, noise=0.2
            ),
            S,
            -20,
            0.5,
        ),
        68: (
            lambda sr, r: _d_modal(
                sr, r, ((640.0, 1.0, 0.14), (1450.0, 0.5, 0.07), (2620.0, 0.3, 0.05)), 0.55, noise=0.2
            ),
            S,
            -25,
            0.55,
        ),
        69: (lambda sr, r: _d_shaker(sr, r, 0.2, 3500.0, 11000.0, 0.02), B, 20, 0.2),
        70: (lambda sr, r: _d_shaker(sr, r, 0.12, 5000.0, 13000.0, 0.01), B, 25, 0.12),
        71: (lambda sr, r: _d_whistle(sr, r, 0.18), S, 35, 0.1),
        72: (lambda sr, r: _d_whistle(sr, r, 0.6), S, 35, 0.1),
        73: (lambda sr, r: _d_guiro(sr, r, 0.12, 45.0), S, -30, 0.1),
        74: (lambda sr, r: _d_guiro(sr, r, 0.45, 38.0), S, -30, 0.1),
        75: (lambda sr, r: _d_modal(sr, r, ((2500.0, 1.0, 0.03), (6800.0, 0.2, 0.01)), 0.15, noise=0.2), S, 20, 0.15),
        76: (lambda sr, r: _d_modal(sr, r, ((1850.0, 1.0, 0.025), (4400.0, 0.3, 0.01)), 0.15, noise=0.3), S, 15, 0.15),
        77: (lambda sr, r: _d_modal(sr, r, ((1250.0, 1.0, 0.03), (3100.0, 0.3, 0.012)), 0.15, noise=0.3), S, 10, 0.15),
        78: (lambda sr, r: _d_cuica(sr, r, 0.22, 420.0, 600.0), S, -20, 0.1),
        79: (lambda sr, r: _d_cuica(sr, r, 0.45, 720.0, 380.0), S, -20, 0.2),
        80: (lambda sr, r: _d_triangle(sr, r, 0.2, 0.04), B, 30, 0.1),
        81: (lambda sr, r: _d_triangle(sr, r, 1.8, 0.6), B, 30, 1.4),
    }
