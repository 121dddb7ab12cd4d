"""The DLS2 resonant low-pass, measured on white noise and on an impulse: the cutoff (absolute
pitch) is the -3 dB point at Q 0, the response follows the design, the resonance peak stands
exactly Q dB above the passband, the passband is lowered by Q/2 (so the loudness stays about
constant with Q, as FluidSynth's and SpessaSynth's), Q is clamped to DLS2's 0..22.5 dB, EG2
sweeps the cutoff, and the default (0x7FFFFFFF) leaves the voice unfiltered."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import welch

from dlsynth.dls import constants as C
from dlsynth.dls.model import Loop, Wave, WaveSample
from .enginekit import RATE, abs_cents, art, conn, instrument, region, render, setup, tc

FILTER_TOL_DB = 0.5  # noise spectra, averaged over many segments
NPERSEG = 4096


def noise_wave(seconds: float = 4.0) -> Wave:
    rng = np.random.default_rng(1234)
    n = int(seconds * RATE)
    data = np.round(rng.uniform(-0.5, 0.5, n) * 32767).astype(np.int16)
    # at the engine's rate, unity note 60 played at 60: frame for frame
    return Wave.from_pcm16(data, RATE, WaveSample(unity_note=60, loops=[Loop(0, 0, n)]))


def spectrum(cutoff_hz=None, q_cb=0.0, seconds=3.0):
    conns = []
    if cutoff_hz is not None:
        conns = [conn(C.CONN_DST_FILTER_CUTOFF, abs_cents(cutoff_hz), raw=True), conn(C.CONN_DST_FILTER_Q, q_cb)]
    e, _ = setup(instrument(region(), articulations=[art(*conns)]), [noise_wave()])
    e.note_on(0, 0, 60, 127)
    x = render(e, int(seconds * RATE))[RATE // 10 :, 0].astype(np.float64)
    f, p = welch(x, RATE, nperseg=NPERSEG)
    return f, p


@pytest.fixture(scope="module")
def dry():
    return spectrum(None)


def band_db(f, p, ref, hz, width=0.04):
    half = max(hz * width, 2.5 * RATE / NPERSEG)  # at least a few bins
    m = np.abs(f - hz) <= half
    return 10 * math.log10(p[m].mean() / ref[m].mean())


Q_MAX_CB = 225.0  # DLS2: filter resonance 0..22.5 dB
PEAK_TOL_DB = 0.05  # impulse responses: only float rounding
LOUDNESS_TOL_DB = 2.0  # white noise through any Q against Q 0 (SpessaSynth: within ~1 dB up to 40 dB)


def design(fc, q_cb, freqs):
    """The engine's design: RBJ low-pass whose peak is q_cb/10 dB above DC (Q^2 = P^2 (1 +
    sqrt(1 - 1/P^2)) / 2, P = 10^(q_dB/20), so 0 is Butterworth), the passband gain 1/sqrt(P)."""
    q_cb = min(max(q_cb, 0.0), Q_MAX_CB)
    p2 = 10 ** (q_cb / 100)
    q = math.sqrt(p2 * (1 + math.sqrt(1 - 1 / p2)) / 2)
    gain = 10 ** (-q_cb / 400)
    w0 = 2 * math.pi * fc / RATE
    alpha = math.sin(w0) / (2 * q)
    b = gain * np.array([(1 - math.cos(w0)) / 2, 1 - math.cos(w0), (1 - math.cos(w0)) / 2])
    a = np.array([1 + alpha, -2 * math.cos(w0), 1 - alpha])
    z = np.exp(-1j * 2 * np.pi * np.asarray(freqs) / RATE)
    h = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    return 20 * np.log10(np.abs(h))


@pytest.mark.parametrize("fc", [250.0, 1000.0, 4000.0, 12000.0])
def test_cutoff_is_the_minus_3_db_point(dry, fc):
    f, p = spectrum(fc)
    assert abs(band_db(f, p, dry[1], fc, 0.02) + 3.01) < FILTER_TOL_DB
    # passband flat, stopband falling at 12 dB per octave
    assert abs(band_db(f, p, dry[1], fc / 4)) < FILTER_TOL_DB
    if 2 * fc < 0.4 * RATE:
        assert abs(band_db(f, p, dry[1], 2 * fc, 0.02) - design(fc, 0, [2 * fc])[0]) < FILTER_TOL_DB


@pytest.mark.parametrize("q_cb", [60.0, 120.0, 200.0])
def test_resonance_follows_the_design(dry, q_cb):
    fc = 2000.0
    f, p = spectrum(fc, q_cb)
    for hz in (500.0, 1500.0, 1800.0, 2000.0, 2200.0, 3000.0, 6000.0):
        assert abs(band_db(f, p, dry[1], hz, 0.01) - design(fc, q_cb, [hz])[0]) < FILTER_TOL_DB, hz
    # the passband is lowered by half the resonance
    assert abs(band_db(f, p, dry[1], fc / 8) + q_cb / 20) < FILTER_TOL_DB


def impulse_response(fc, q_cb, n=1 << 15):
    """The voice's filter response: an impulse rendered with the filter, over the same
    impulse rendered without (frame for frame, so the ratio is the filter alone)."""
    data = np.zeros(n, np.int16)
    data[64] = 16384
    wave = Wave.from_pcm16(data, RATE, WaveSample(unity_note=60))

    def run(conns):
        e, _ = setup(instrument(region(), articulations=[art(*conns)]), [wave])
        e.note_on(0, 0, 60, 127)
        return render(e, n)[:, 0].astype(np.float64)

    wet = run([conn(C.CONN_DST_FILTER_CUTOFF, abs_cents(fc), raw=True), conn(C.CONN_DST_FILTER_Q, q_cb)])
    dry_ = run([])
    f = np.fft.rfftfreq(8 * n, 1 / RATE)
    return f, 20 * np.log10(np.abs(np.fft.rfft(wet, 8 * n)) / np.abs(np.fft.rfft(dry_, 8 * n)))


@pytest.mark.parametrize("q_cb", [0.0, 30.0, 100.0, 180.0, 225.0])
@pytest.mark.parametrize("fc", [500.0, 4000.0])
def test_resonance_peak_stands_q_db_above_the_passband(fc, q_cb):
    f, h = impulse_response(fc, q_cb)
    passband = h[1]  # DC
    peak = h[(f > fc / 4) & (f < 2 * fc)].max()
    assert abs(passband + q_cb / 20) < PEAK_TOL_DB  # compensation: -Q/2
    assert abs(peak - passband - q_cb / 10) < PEAK_TOL_DB  # the peak: Q above the passband


@pytest.mark.parametrize("q_cb", [300.0, 960.0, 30000.0])
def test_resonance_is_clamped_to_the_dls2_range(q_cb):
    # DLS2 specifies 0..22.5 dB: more resonance plays as 22.5 dB (sf_spec_test asks for 96 dB)
    f, h = impulse_response(4000.0, q_cb, n=1 << 13)
    f2, h2 = impulse_response(4000.0, Q_MAX_CB, n=1 << 13)
    assert np.array_equal(h, h2)
    f, h = impulse_response(4000.0, -100.0, n=1 << 13)
    f2, h2 = impulse_response(4000.0, 0.0, n=1 << 13)
    assert np.array_equal(h, h2)


@pytest.mark.parametrize("q_cb", [50.0, 100.0, 225.0, 960.0])
def test_loudness_stays_about_constant_with_resonance(dry, q_cb):
    # white noise, cutoff 4 kHz: the compensated resonance keeps the level near Q 0's (it was
    # 11..25 dB above SpessaSynth's at high Q before the compensation)
    f, p0 = spectrum(4000.0, 0.0)
    f, p = spectrum(4000.0, q_cb)
    assert abs(10 * math.log10(p.sum() / p0.sum())) < LOUDNESS_TOL_DB


def test_default_cutoff_leaves_the_voice_unfiltered(dry):
    e, _ = setup(instrument(region()), [noise_wave()])
    e.note_on(0, 0, 60, 127)
    x = render(e, 3 * RATE)[RATE // 10 :, 0].astype(np.float64)
    f, p = welch(x, RATE, nperseg=NPERSEG)
    assert np.allclose(p, dry[1])


def test_eg2_sweeps_the_cutoff():
    # cutoff 500 Hz + 4 octaves of EG2 decaying to 0 over 1 s: bright early, dark late
    a = art(
        conn(C.CONN_DST_FILTER_CUTOFF, abs_cents(500.0), raw=True),
        conn(C.CONN_DST_FILTER_CUTOFF, 4800, src=C.CONN_SRC_EG2),
        conn(C.CONN_DST_EG2_DECAYTIME, tc(1.0), raw=True),
        conn(C.CONN_DST_EG2_SUSTAINLEVEL, 0),
    )
    e, _ = setup(instrument(region(), articulations=[a]), [noise_wave()])
    e.note_on(0, 0, 60, 127)
    x = render(e, 2 * RATE)[:, 0].astype(np.float64)

    def hf_ratio(seg):
        f, p = welch(seg, RATE, nperseg=1024)
        return p[(f > 3000) & (f < 6000)].mean() / p[(f > 100) & (f < 300)].mean()

    early, late = hf_ratio(x[1000 : RATE // 10]), hf_ratio(x[int(1.2 * RATE) :])
    assert early > 0.5 and late < 1e-3
