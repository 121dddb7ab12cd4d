"""Engine pitch, measured by FFT: key, unity note, fine tune, pitch wheel and RPN tunings,
vibrato; all within PITCH_TOL_CENTS."""

from __future__ import annotations

import numpy as np
import pytest

from dls import constants as C
from dls.model import WaveSample
from .test_engine_support import (
    F0, PITCH_TOL_CENTS, RATE, art, cents, conn, instrument, peak_freq, region, render, setup, sine_wave, tc,
)

SETTLE = 4800  # frames skipped before measuring
MEASURE = RATE  # one second


def measure(e, frames: int = MEASURE) -> float:
    out = render(e, SETTLE + frames)
    return peak_freq(out[SETTLE:, 0])


@pytest.mark.parametrize("interp", ["linear", "cubic", "sinc"])
@pytest.mark.parametrize("key", [33, 57, 69, 76, 93, 108])
def test_key_and_unity_note(interp, key):
    e, _ = setup(instrument(region()), [sine_wave(unity=69)], interpolation=interp)
    e.note_on(0, 0, key, 100)
    expected = F0 * 2 ** ((key - 69) / 12)
    assert abs(cents(measure(e), expected)) < PITCH_TOL_CENTS


@pytest.mark.parametrize("fine", [-50, -13, 7, 49])
def test_fine_tune_from_wave_and_region(fine):
    # the wave's wsmp, then a region wsmp that overrides it
    e, _ = setup(instrument(region()), [sine_wave(unity=60, fine=fine)])
    e.note_on(0, 0, 60, 100)
    assert abs(cents(measure(e), F0 * 2 ** (fine / 1200))) < PITCH_TOL_CENTS
    ws = WaveSample(unity_note=72, fine_tune=-fine, loops=sine_wave().wave_sample.loops)
    e, _ = setup(instrument(region(wave_sample=ws)), [sine_wave(unity=60, fine=fine)])
    e.note_on(0, 0, 60, 100)
    assert abs(cents(measure(e), F0 * 2 ** ((-1200 - fine) / 1200))) < PITCH_TOL_CENTS


@pytest.mark.parametrize("bend, range_cents", [(0, 200), (16383, 200), (4096, 200), (0, 700), (12288, 1200),
                                               (8192, 1200)])
def test_pitch_wheel_times_rpn0(bend, range_cents):
    e, _ = setup(instrument(region()), [sine_wave()])
    e.bend_range(0, 0, range_cents)
    e.pitch_bend(0, 0, bend)
    e.note_on(0, 0, 69, 100)
    expected = F0 * 2 ** ((bend - 8192) / 8192 * range_cents / 1200)
    assert abs(cents(measure(e), expected)) < PITCH_TOL_CENTS


def test_pitch_bend_applies_to_a_sounding_note_at_its_frame():
    e, _ = setup(instrument(region()), [sine_wave()])
    e.note_on(0, 0, 69, 100)
    e.pitch_bend(RATE, 0, 16383)
    out = render(e, 2 * RATE + SETTLE)
    assert abs(cents(peak_freq(out[SETTLE:RATE, 0]), F0)) < PITCH_TOL_CENTS
    up = F0 * 2 ** (8191 / 8192 * 200 / 1200)
    assert abs(cents(peak_freq(out[RATE + SETTLE:, 0]), up)) < PITCH_TOL_CENTS


@pytest.mark.parametrize("fine, coarse", [(50, 0), (-100, 0), (0, 12), (0, -7), (25, 3)])
def test_rpn_fine_and_coarse_tune(fine, coarse):
    e, _ = setup(instrument(region()), [sine_wave()])
    e.fine_tune(0, 0, fine)
    e.coarse_tune(0, 0, coarse)
    e.note_on(0, 0, 69, 100)
    assert abs(cents(measure(e), F0 * 2 ** ((coarse * 100 + fine) / 1200))) < PITCH_TOL_CENTS


def test_pitch_connection_and_key_scaling():
    # a static +37 cents and key-to-pitch halved: 50 cents per key (replacing the default
    # 12800); the unity note still subtracts 100 cents per key
    a = art(conn(C.CONN_DST_PITCH, 37), conn(C.CONN_DST_PITCH, 6400, src=C.CONN_SRC_KEYNUMBER))
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave(unity=60)])
    e.note_on(0, 0, 72, 100)
    assert abs(cents(measure(e), F0 * 2 ** ((72 * 50 - 6000 + 37) / 1200))) < PITCH_TOL_CENTS


def test_eg2_to_pitch_settles_at_its_sustain():
    a = art(conn(C.CONN_DST_PITCH, 1200, src=C.CONN_SRC_EG2), conn(C.CONN_DST_EG2_SUSTAINLEVEL, 500),
            conn(C.CONN_DST_EG2_DECAYTIME, tc(0.05) / 65536))
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave()])
    e.note_on(0, 0, 69, 100)
    out = render(e, RATE // 2 + RATE)
    assert abs(cents(peak_freq(out[RATE // 2:, 0]), F0 * 2 ** (600 / 1200))) < PITCH_TOL_CENTS


def test_vibrato_depth_and_rate():
    depth = 50.0  # cents
    a = art(conn(C.CONN_DST_PITCH, depth, src=C.CONN_SRC_VIBRATO), conn(C.CONN_DST_VIB_FREQUENCY, 0, raw=True),
            conn(C.CONN_DST_VIB_STARTDELAY, tc(0.0), raw=True))
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave()])
    e.note_on(0, 0, 69, 100)
    out = render(e, 2 * RATE)[:, 0].astype(np.float64)
    # instantaneous frequency from the analytic signal
    from scipy.signal import hilbert

    phase = np.unwrap(np.angle(hilbert(out)))
    inst = np.diff(phase) * RATE / (2 * np.pi)
    inst = inst[2000:-2000]
    dev = 1200 * np.log2(inst / F0)
    # 0x00000000 absolute pitch = 8.176 Hz
    lfo_hz = 440 * 2 ** (-6900 / 1200)
    assert abs(np.percentile(dev, 99.5) - depth) < 3 and abs(np.percentile(dev, 0.5) + depth) < 3
    spec = np.abs(np.fft.rfft(dev - dev.mean(), 1 << 20))
    f = np.argmax(spec[1:]) + 1
    assert abs(f * RATE / (1 << 20) - lfo_hz) < 0.1
