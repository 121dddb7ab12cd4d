"""Built-in reverb and chorus (native/effects.c, driven through tests/effectskit.py).

Everything is checked by measured properties of the output against NumPy references:
reverb time from the Schroeder energy-decay curve of the impulse response, stereo
correlation, spectra, and the chorus delay by cross-correlation. Tolerances are named.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import signal

from dlsynth.native import ffi, lib
from tests.effectskit import (
    CHORUS_SINE,
    CHORUS_TRIANGLE,
    FLUID_CHORUS_DEFAULT,
    FLUID_REVERB_DEFAULT,
    Chorus,
    Reverb,
    room_size_for_rt60,
    rt60_for_room_size,
)

SR = 44100

# Measured RT60 (T30 fit, -5 .. -35 dB of the energy-decay curve) against the design value.
RT60_REL_TOL = 0.08
# With damping 0 the decay must be the same in a low and a high band (the interpolation in
# the loop must not add damping of its own).
RT60_BAND_RATIO_TOL = 0.10
# With damping 1 the high band must decay at least this much faster than the low band.
DAMPED_HIGH_LOW_MAX_RATIO = 0.5
# Full-scale noise for 10 s, worst case (room 1, no damping, full level): stays below this.
REVERB_PEAK_BOUND = 16.0
# After the input stops, the tail must fall below this level (dBFS) ...
TAIL_FLOOR_DB = -120.0
# ... and processing a silent tail may cost at most this many times a noisy run.
SILENT_TAIL_TIME_FACTOR = 3.0
# Late tail of the longest room: share of its power in the strongest 1% of FFT bins. A
# dense, mode-free tail has exponential bin statistics (about 0.056); a static FDN without
# the delay modulation rings at about 0.26 here.
TAIL_TOP_BINS_MAX_SHARE = 0.12
# Stereo: |correlation| of left and right at width 1.
DECORRELATED_MAX_ABS_CORR = 0.10
IR_TAIL_MAX_ABS_CORR = 0.20
CORR_TOL = 0.10
# Steady-state wet level for white noise against a Freeverb estimate at the same settings.
FREEVERB_LEVEL_TOL_DB = 3.0
# Chorus: delay measured by cross-correlation against the documented LFO trajectory.
CHORUS_DELAY_TOL_MS = 0.15
CHORUS_LEVEL_TOL_DB = 1.5

BLOCK_SIZES = (1, 63, 64, 65, 8193)


# ----------------------------------------------------------------------------------------
# helpers


def impulse(n: int) -> np.ndarray:
    x = np.zeros(n, np.float32)
    x[0] = 1.0
    return x


def noise(seconds: float, seed: int = 1, sr: int = SR, amplitude: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (amplitude * rng.uniform(-1.0, 1.0, int(seconds * sr))).astype(np.float32)


def rt60_from_ir(h: np.ndarray, sr: int = SR, lo_db: float = -5.0, hi_db: float = -35.0) -> float:
    """RT60 from the Schroeder backward-integrated energy decay (T30 extrapolated)."""
    e = np.cumsum((h.astype(np.float64) ** 2)[::-1])[::-1]
    edc = 10.0 * np.log10(e / e[0] + 1e-300)
    i0 = int(np.argmax(edc <= lo_db))
    i1 = int(np.argmax(edc <= hi_db))
    assert i1 > i0 > 0, "impulse response too short for a T30 fit"
    t = np.arange(i0, i1) / sr
    slope = np.polyfit(t, edc[i0:i1], 1)[0]  # dB per second
    return -60.0 / slope


def reverb_ir(seconds: float, sr: int = SR, **params) -> np.ndarray:
    r = Reverb(sr)
    r.set(**params)
    return r.process(impulse(int(seconds * sr)))


def band(x: np.ndarray, lo: float, hi: float, sr: int = SR) -> np.ndarray:
    sos = signal.butter(4, [lo, hi], "bandpass", fs=sr, output="sos")
    return signal.sosfilt(sos, x.astype(np.float64))


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(np.float64), b.astype(np.float64))[0, 1])


def run_blocks(new, free, process, x: np.ndarray, block: int) -> np.ndarray:
    """Process x through a fresh C object in fixed blocks (straight through lib, so block
    size 1 stays fast); the output buffers start non-zero to check that process adds."""
    obj = ffi.gc(new(float(SR)), free)
    out = np.full((2, x.size), 0.25, np.float32)
    pin = ffi.cast("float *", ffi.from_buffer(x))
    pl = ffi.cast("float *", ffi.from_buffer(out[0]))
    pr = ffi.cast("float *", ffi.from_buffer(out[1]))
    for start in range(0, x.size, block):
        n = min(block, x.size - start)
        process(obj, pin + start, pl + start, pr + start, n)
    return out


# ----------------------------------------------------------------------------------------
# reverb: decay


def test_room_size_mapping_is_freeverb_like():
    # FluidSynth/Freeverb: 0.7 s at room 0, 12.5 s at room 1, concave in between.
    assert rt60_for_room_size(0.0) == pytest.approx(0.71, abs=0.01)
    assert rt60_for_room_size(1.0) == pytest.approx(12.5, rel=0.01)
    assert rt60_for_room_size(0.5) < (rt60_for_room_size(0.0) + rt60_for_room_size(1.0)) / 2
    for room in (0.0, 0.2, 0.5, 0.9, 1.0):
        assert room_size_for_rt60(rt60_for_room_size(room)) == pytest.approx(room, abs=1e-9)
    r = Reverb(SR)
    assert r.params == FLUID_REVERB_DEFAULT
    assert r.rt60[0] == pytest.approx(rt60_for_room_size(0.2), rel=1e-9)


def test_rt60_matches_design_and_grows_with_room_size():
    measured = []
    for room in (0.0, 0.2, 0.5, 0.8, 1.0):
        design = rt60_for_room_size(room)
        out = reverb_ir(max(3.0, 0.8 * design), room_size=room, damping=0.0, width=1.0, level=1.0)
        for ch in (0, 1):
            t60 = rt60_from_ir(out[ch])
            assert t60 == pytest.approx(design, rel=RT60_REL_TOL), (room, ch)
        measured.append(rt60_from_ir(out[0]))
    assert all(b > a for a, b in zip(measured, measured[1:])), measured
    # the FluidSynth default room (0.2) is a small hall, not a cathedral
    assert 0.6 < measured[1] < 1.5


@pytest.mark.parametrize("sr", [22050, 48000, 96000])
def test_rt60_independent_of_sample_rate(sr):
    out = reverb_ir(3.0, sr=sr, room_size=0.5, damping=0.0, width=1.0, level=1.0)
    assert rt60_from_ir(out[0], sr=sr) == pytest.approx(rt60_for_room_size(0.5), rel=RT60_REL_TOL)


def test_damping_shortens_high_frequency_decay():
    def band_rt60s(damping):
        out = reverb_ir(3.0, room_size=0.5, damping=damping, width=1.0, level=1.0)
        return rt60_from_ir(band(out[0], 250, 1000)), rt60_from_ir(band(out[0], 6000, 12000))

    lo, hi = band_rt60s(0.0)
    assert hi / lo == pytest.approx(1.0, abs=RT60_BAND_RATIO_TOL), (lo, hi)
    lo_d, hi_d = band_rt60s(1.0)
    assert hi_d / lo_d < DAMPED_HIGH_LOW_MAX_RATIO, (lo_d, hi_d)
    assert lo_d == pytest.approx(lo, rel=0.1)  # the low band is barely touched


def test_late_tail_does_not_ring():
    out = reverb_ir(4.7, room_size=1.0, damping=0.0, width=1.0, level=1.0)
    n = 1 << 16
    seg = out[0, 3 * SR : 3 * SR + n].astype(np.float64) * np.hanning(n)
    s = (np.abs(np.fft.rfft(seg)) ** 2)[100:20000]  # about 70 Hz .. 13 kHz
    top = np.sort(s)[::-1][: s.size // 100]
    assert top.sum() / s.sum() < TAIL_TOP_BINS_MAX_SHARE


# ----------------------------------------------------------------------------------------
# reverb: robustness


@pytest.mark.parametrize(
    "params",
    [dict(), dict(room_size=1.0, damping=0.0, width=1.0, level=1.0), dict(room_size=1.0, damping=1.0, width=0.0)],
    ids=["default", "largest", "largest-damped-mono"],
)
def test_full_scale_noise_stays_bounded(params):
    r = Reverb(SR)
    r.set(**params)
    out = r.process(noise(10.0))
    assert np.all(np.isfinite(out))
    assert np.abs(out).max() < REVERB_PEAK_BOUND


def _subnormal_count(x: np.ndarray) -> int:
    return int(np.count_nonzero((x != 0) & (np.abs(x) < np.finfo(np.float32).tiny)))


def test_silent_tail_decays_to_zero_without_denormal_stall():
    block = 512
    r = Reverb(SR)
    r.process(noise(1.0))
    tail = np.zeros((2, (12 * SR // block) * block), np.float32)
    silence = np.zeros(block, np.float32)
    for start in range(0, tail.shape[1], block):
        r.process(silence, out=tail[:, start : start + block])
    assert np.all(np.isfinite(tail))
    assert _subnormal_count(tail) == 0
    peak_db = 20 * np.log10(float(np.abs(tail[:, -SR:]).max()) + 1e-300)
    assert peak_db < TAIL_FLOOR_DB
    # the tail is truncated to true silence, not left ringing at a tiny level
    assert not np.any(tail[:, -2 * SR :])

    # Cost of a silent tail (including the stretch where an unflushed tail would be
    # subnormal) against the same length of noise, block by block like an engine.
    def timed(feed, prime):
        best = float("inf")
        for _ in range(3):
            rv = Reverb(SR)
            rv.process(prime)
            out = np.zeros((2, block), np.float32)
            t0 = time.perf_counter()
            for start in range(0, feed.size, block):
                chunk = feed[start : start + block]
                rv.process(chunk, out=out[:, : chunk.size])
            best = min(best, time.perf_counter() - t0)
        return best

    burst = noise(1.0, seed=2)
    t_silent = timed(np.zeros(10 * SR, np.float32), burst)
    t_noise = timed(noise(10.0, seed=3), burst)
    assert t_silent < SILENT_TAIL_TIME_FACTOR * t_noise, (t_silent, t_noise)


def test_nonfinite_input_does_not_poison_the_state():
    x = noise(0.5)
    x[100] = np.nan
    x[200] = np.inf
    out = Reverb(SR).process(x)
    assert np.all(np.isfinite(out))
    out_c = Chorus(SR).process(x)
    assert np.all(np.isfinite(out_c))


def test_reverb_is_deterministic_and_reset_restores_initial_state():
    x = np.concatenate([noise(0.5), np.zeros(SR, np.float32)])
    a = Reverb(SR).process(x)
    r = Reverb(SR)
    b = r.process(x)
    assert np.array_equal(a, b)
    r.process(noise(0.3, seed=9))
    r.reset()
    assert np.array_equal(r.process(x), a)


def _has_avx2() -> bool:
    return bool(lib.eng_simd_available() & (1 << lib.ENG_SIMD_AVX2))


@pytest.mark.parametrize("sr", [22050, 44100, 96000])
@pytest.mark.parametrize("room,damping", [(0.2, 0.0), (0.9, 0.7)])
def test_reverb_avx2_and_scalar_loops_give_the_same_bits(sr, room, damping):
    """The AVX2 loop (eight lines in one vector) is the scalar loop, bit for bit: bursts,
    silences long enough for the idle path, hot and quiet inputs, at several rates."""
    x = np.concatenate([noise(0.4, sr=sr), np.zeros(3 * sr, np.float32), noise(0.2, seed=3, sr=sr, amplitude=1e-3)])
    outs = []
    for avx2 in (True, False):
        r = Reverb(sr)
        r.set(room_size=room, damping=damping)
        r.avx2 = avx2
        assert r.avx2 == (avx2 and _has_avx2())
        outs.append(r.process(x))
    assert np.any(outs[0] != 0)
    assert np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize("sr", [22050, 44100, 96000])
@pytest.mark.parametrize("voices,depth_ms,lfo", [(3, 8.0, 0), (7, 0.5, 1), (1, 40.0, 0)])
def test_chorus_avx2_and_scalar_taps_give_the_same_bits(sr, voices, depth_ms, lfo):
    """The AVX2 tap read (a vector load, or a gathered one where the ring wraps) is the
    scalar read, bit for bit; a long run makes every tap position wrap the ring."""
    x = noise(2.0, seed=8, sr=sr)
    outs = []
    for avx2 in (True, False):
        c = Chorus(sr)
        c.set(voices=voices, depth_ms=depth_ms, type=lfo)
        c.avx2 = avx2
        assert c.avx2 == (avx2 and _has_avx2())
        outs.append(c.process(x))
    assert np.any(outs[0] != 0)
    assert np.array_equal(outs[0], outs[1])


@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_reverb_block_size_independence(block):
    # Burst, a silence long enough for the tail to reach exact zero (so the idle fast path
    # runs), a second burst, a short silence. Room 0 (0.7 s) keeps the run short.
    x = np.concatenate(
        [noise(0.3), np.zeros(int(5.0 * SR), np.float32), noise(0.2, seed=5), np.zeros(SR // 2, np.float32)]
    )

    def new(sr):
        p = lib.fx_reverb_new(sr)
        lib.fx_reverb_set(p, 0.0, 0.3, 1.0, 0.9)
        return p

    whole = run_blocks(new, lib.fx_reverb_free, lib.fx_reverb_process, x, x.size)
    assert np.any(whole[:, -SR // 2 :] != 0.25)  # the second burst did come out
    assert np.array_equal(run_blocks(new, lib.fx_reverb_free, lib.fx_reverb_process, x, block), whole)


# ----------------------------------------------------------------------------------------
# reverb: stereo and level


def test_reverb_left_right_decorrelated():
    x = noise(6.0, seed=4)
    r = Reverb(SR)
    r.set(width=1.0)
    out = r.process(x)
    assert abs(corr(out[0, SR:], out[1, SR:])) < DECORRELATED_MAX_ABS_CORR
    ir = reverb_ir(2.0, width=1.0)
    start = int(0.05 * SR)
    assert abs(corr(ir[0, start:], ir[1, start:])) < IR_TAIL_MAX_ABS_CORR
    # width mixes the two decorrelated outputs: wet1 = (1+w)/2, wet2 = (1-w)/2
    for width in (0.0, 0.5):
        r = Reverb(SR)
        r.set(width=width)
        o = r.process(x)
        w1, w2 = (1 + width) / 2, (1 - width) / 2
        expected = 2 * w1 * w2 / (w1 * w1 + w2 * w2)
        assert corr(o[0, SR:], o[1, SR:]) == pytest.approx(expected, abs=CORR_TOL)


def test_reverb_level_scales_and_process_adds():
    x = noise(1.0)
    full = Reverb(SR)
    full.set(level=1.0)
    half = Reverb(SR)
    half.set(level=0.5)
    a = full.process(x)
    b = half.process(x)
    np.testing.assert_allclose(b, 0.5 * a, rtol=1e-5, atol=1e-7)
    silent = Reverb(SR)
    silent.set(level=0.0)
    assert not np.any(silent.process(x))
    # process adds into out
    base = np.full((2, x.size), 0.125, np.float32)
    out = base.copy()
    res = Reverb(SR).process(x, out=out)
    assert res is out
    np.testing.assert_allclose(out - base, Reverb(SR).process(x), atol=1e-6)


def test_reverb_level_close_to_freeverb():
    # Freeverb: 8 combs fed 0.015 x (2 x mono), output x3, width mix; steady-state power of
    # a comb with feedback g for white noise is in^2 / (1 - g^2).
    x = np.random.default_rng(7).standard_normal(12 * SR).astype(np.float32)
    out = Reverb(SR).process(x)[:, 4 * SR :]
    p = FLUID_REVERB_DEFAULT
    g = 0.7 + 0.28 * p.room_size
    wet1, wet2 = 3 * p.level * (1 + p.width) / 2, 3 * p.level * (1 - p.width) / 2
    freeverb_power = (wet1**2 + wet2**2) * 8 * 0.03**2 / (1 - g * g)
    for ch in (0, 1):
        db = 10 * np.log10(np.mean(out[ch].astype(np.float64) ** 2) / freeverb_power)
        assert abs(db) < FREEVERB_LEVEL_TOL_DB


# ----------------------------------------------------------------------------------------
# Python boundary


@pytest.mark.parametrize("cls", [Reverb, Chorus])
def test_boundary_checks(cls):
    fx = cls(SR)
    with pytest.raises(TypeError):
        fx.process(np.zeros(16, np.float64))
    with pytest.raises(ValueError):
        fx.process(np.zeros((2, 16), np.float32))
    with pytest.raises(ValueError):
        fx.process(np.zeros(16, np.float32), out=np.zeros((2, 15), np.float32))
    with pytest.raises(ValueError):
        fx.process(np.zeros(16, np.float32), out=np.zeros((16, 2), np.float32).T)
    with pytest.raises(ValueError):
        cls(100.0)
    assert fx.process(np.zeros(0, np.float32)).shape == (2, 0)
    # a strided input is accepted (copied once) and gives the same result
    x = noise(0.2)
    strided = np.repeat(x, 2)[::2]
    assert np.array_equal(cls(SR).process(strided), cls(SR).process(x))
    # separate left/right buffers
    left = np.zeros(x.size, np.float32)
    right = np.zeros(x.size, np.float32)
    cls(SR).process_into(x, left, right)
    assert np.array_equal(np.stack([left, right]), cls(SR).process(x))


# ----------------------------------------------------------------------------------------
# chorus


def _sine(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.sin(2 * np.pi * freq * t).astype(np.float32)


def _power_spectrum(x: np.ndarray):
    s = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(x.size))) ** 2
    return np.fft.rfftfreq(x.size, 1 / SR), s


def test_chorus_defaults_are_fluidsynths():
    c = Chorus(SR)
    assert c.params == FLUID_CHORUS_DEFAULT
    assert (c.params.voices, c.params.level, c.params.speed_hz, c.params.depth_ms) == (3, 2.0, 0.3, 8.0)
    assert c.delay_range_ms == pytest.approx((2.0, 10.0))
    c.set(depth_ms=1000.0)  # clamped to the line's capacity
    assert c.delay_range_ms == pytest.approx((2.0, 258.0))


@pytest.mark.parametrize("lfo", [CHORUS_SINE, CHORUS_TRIANGLE])
def test_chorus_modulated_delay_spreads_a_sine(lfo):
    f0, speed, depth_ms = 1000.0, 1.0, 8.0
    x = _sine(f0, 9.0)

    def spectrum(depth):
        c = Chorus(SR)
        c.set(voices=1, level=1.0, speed_hz=speed, depth_ms=depth, type=lfo)
        return _power_spectrum(c.process(x)[0, SR:])

    f, s = spectrum(0.0)  # a plain delay: all energy stays on the line
    near = np.abs(f - f0) <= 2.0
    assert 1 - s[near].sum() / s.sum() < 1e-6
    f, s = spectrum(depth_ms)
    assert 1 - s[near].sum() / s.sum() > 0.5  # the line is spread into sidebands
    # Doppler: delay slope times f0 bounds the deviation (sine: pi d f; triangle: 2 d f)
    slope = (np.pi if lfo == CHORUS_SINE else 2.0) * depth_ms * 1e-3 * speed
    dev = f0 * slope
    inside = np.abs(f - f0) <= dev + 5.0
    assert s[inside].sum() / s.sum() > 0.99
    if lfo == CHORUS_TRIANGLE:  # a constant slope gives two lines at f0 +- dev
        sides = (np.abs(f - f0 - dev) <= 2.0) | (np.abs(f - f0 + dev) <= 2.0)
        assert s[sides].sum() / s.sum() > 0.8


@pytest.mark.parametrize("lfo", [CHORUS_SINE, CHORUS_TRIANGLE])
def test_chorus_delay_follows_lfo_within_configured_range(lfo):
    speed, depth_ms = 0.5, 8.0
    c = Chorus(SR)
    c.set(voices=1, level=1.0, speed_hz=speed, depth_ms=depth_ms, type=lfo)
    lo_ms, hi_ms = c.delay_range_ms
    x = np.random.default_rng(3).standard_normal(4 * SR).astype(np.float32)
    y = c.process(x)[0].astype(np.float64)
    win, max_lag = 512, int(np.ceil(hi_ms * 1e-3 * SR)) + 8
    lags, times = [], []
    for st in range(max_lag, x.size - win, 1500):
        seg = y[st : st + win]
        cc = np.array([np.dot(seg, x[st - lag : st - lag + win]) for lag in range(max_lag)])
        k = int(np.argmax(cc))
        a, b, d = cc[k - 1], cc[k], cc[k + 1]
        lags.append((k + 0.5 * (a - d) / (a - 2 * b + d)) / SR * 1e3)
        times.append((st + win / 2) / SR)
    lags, times = np.array(lags), np.array(times)
    assert lags.min() > lo_ms - CHORUS_DELAY_TOL_MS and lags.max() < hi_ms + CHORUS_DELAY_TOL_MS
    assert lags.max() - lags.min() > 0.9 * depth_ms  # the whole range is swept
    # documented trajectory: delay = min + depth (1 + lfo(speed t)) / 2, LFO starting at 0
    ph = (speed * times) % 1.0
    lfo_v = np.sin(2 * np.pi * ph) if lfo == CHORUS_SINE else 1 - 4 * np.abs(((ph + 0.25) % 1.0) - 0.5)
    predicted = lo_ms + depth_ms * (1 + lfo_v) / 2
    assert np.abs(lags - predicted).max() < CHORUS_DELAY_TOL_MS


@pytest.mark.parametrize("voices", [1, 3, 8])
def test_chorus_level_normalised_and_stereo(voices):
    level = 0.8
    c = Chorus(SR)
    c.set(voices=voices, level=level, speed_hz=0.3, depth_ms=8.0)
    x = np.random.default_rng(5).standard_normal(3 * SR).astype(np.float32)
    out = c.process(x)[:, SR:].astype(np.float64)
    ratio_db = 10 * np.log10((out**2).sum() / (x[SR:].astype(np.float64) ** 2).sum() / level**2)
    assert abs(ratio_db) < CHORUS_LEVEL_TOL_DB
    if voices > 1:  # voices are spread across the stereo field
        assert corr(out[0], out[1]) < 0.9
    else:
        assert np.array_equal(out[0], out[1])


def test_chorus_zero_voices_is_silent():
    c = Chorus(SR)
    c.set(voices=0)
    assert not np.any(c.process(noise(0.2)))


def test_chorus_is_deterministic_and_reset_restores_initial_state():
    x = noise(1.0)
    a = Chorus(SR).process(x)
    c = Chorus(SR)
    assert np.array_equal(c.process(x), a)
    c.process(noise(0.3, seed=8))
    c.reset()
    assert np.array_equal(c.process(x), a)


@pytest.mark.parametrize("block", BLOCK_SIZES)
def test_chorus_block_size_independence(block):
    # The silence is longer than the line, so the idle fast path runs in between.
    x = np.concatenate([noise(0.3), np.zeros(SR, np.float32), noise(0.2, seed=6), np.zeros(SR // 2, np.float32)])

    def new(sr):
        p = lib.fx_chorus_new(sr)
        lib.fx_chorus_set(p, 4, 1.0, 1.3, 12.0, CHORUS_TRIANGLE)
        return p

    whole = run_blocks(new, lib.fx_chorus_free, lib.fx_chorus_process, x, x.size)
    assert np.array_equal(run_blocks(new, lib.fx_chorus_free, lib.fx_chorus_process, x, block), whole)
