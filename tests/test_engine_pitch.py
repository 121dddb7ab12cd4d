"""Engine pitch, measured by FFT: key, unity note, fine tune, key-to-pitch scaling around the
unity note (with a control, a curve, RPN 2), pitch wheel and RPN tunings, vibrato, the
sf_spec_test bank's scale-tuning-0 regions; all within PITCH_TOL_CENTS."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from dlsynth.dls import constants as C
from dlsynth.dls.model import WaveSample
from .enginekit import (
    F0,
    PITCH_TOL_CENTS,
    RATE,
    art,
    cents,
    conn,
    instrument,
    peak_freq,
    region,
    render,
    setup,
    setup_spec,
    sine_wave,
    spec_bank,
    tc,
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


@pytest.mark.parametrize(
    "bend, range_cents", [(0, 200), (16383, 200), (4096, 200), (0, 700), (12288, 1200), (8192, 1200)]
)
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
    assert abs(cents(peak_freq(out[RATE + SETTLE :, 0]), up)) < PITCH_TOL_CENTS


@pytest.mark.parametrize("fine, coarse", [(50, 0), (-100, 0), (0, 12), (0, -7), (25, 3)])
def test_rpn_fine_and_coarse_tune(fine, coarse):
    e, _ = setup(instrument(region()), [sine_wave()])
    e.fine_tune(0, 0, fine)
    e.coarse_tune(0, 0, coarse)
    e.note_on(0, 0, 69, 100)
    assert abs(cents(measure(e), F0 * 2 ** ((coarse * 100 + fine) / 1200))) < PITCH_TOL_CENTS


def test_pitch_connection_and_key_scaling():
    # a static +37 cents and key-to-pitch halved (replacing the default 12800): 50 cents per
    # key around the unity note
    a = art(conn(C.CONN_DST_PITCH, 37), conn(C.CONN_DST_PITCH, 6400, src=C.CONN_SRC_KEYNUMBER))
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave(unity=60)])
    e.note_on(0, 0, 72, 100)
    assert abs(cents(measure(e), F0 * 2 ** ((50 * (72 - 60) + 37) / 1200))) < PITCH_TOL_CENTS


def key_to_pitch(scale, **kw):
    return conn(C.CONN_DST_PITCH, scale, src=C.CONN_SRC_KEYNUMBER, **kw)


@pytest.mark.parametrize("scale", [0, 640, 6400, 12800, 25600])
@pytest.mark.parametrize("unity, key", [(60, 60), (60, 36), (60, 84), (69, 40), (45, 45), (45, 62)])
def test_key_to_pitch_acts_around_the_unity_note(scale, unity, key):
    # scale * (key - unity) / 128 cents: the unity note plays the wave's own pitch whatever
    # the scale, 0 plays it at every key (FluidSynth's scale tuning, dmsynth, SpessaSynth)
    e, _ = setup(instrument(region(), articulations=[art(key_to_pitch(scale))]), [sine_wave(unity=unity)])
    e.note_on(0, 0, key, 100)
    expected = F0 * 2 ** (scale * (key - unity) / 128 / 1200)
    assert abs(cents(measure(e), expected)) < PITCH_TOL_CENTS


@pytest.mark.parametrize("cc1", [0, 64, 127])
@pytest.mark.parametrize("key", [48, 60, 79])
def test_key_to_pitch_with_a_control_acts_around_the_unity_note(cc1, key):
    # the plain key-to-pitch set to 0, and key x CC1 -> pitch 12800: the control scales the
    # cents per key, the unity note stays put
    a = art(key_to_pitch(0), conn(C.CONN_DST_PITCH, 12800, src=C.CONN_SRC_KEYNUMBER, ctl=C.CONN_SRC_CC1))
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave(unity=60)])
    e.control(0, 0, 1, cc1)
    e.note_on(0, 0, key, 100)
    expected = F0 * 2 ** (12800 * (cc1 / 128) * (key - 60) / 128 / 1200)
    assert abs(cents(measure(e), expected)) < PITCH_TOL_CENTS


def _convex(x: float) -> float:
    """DLS convex transform: the mirror of concave(x) = -(20/96) log10((1 - x)^2), clipped to 0..1."""
    if x <= 0:
        return 0.0
    return min(1.0, max(0.0, 1 + (20 / 96) * math.log10(x * x)))


@pytest.mark.parametrize("key", [30, 60, 90, 127])
def test_key_to_pitch_with_a_curve_acts_around_the_unity_note(key):
    # a convex key-to-pitch: scale * (convex(key / 127) - convex(unity / 127))
    scale, unity = 2400, 90
    a = art(key_to_pitch(scale, trn=C.CONN_TRN_CONVEX << C.TRN_SOURCE_SHIFT))
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave(unity=unity)])
    e.note_on(0, 0, key, 100)
    expected = F0 * 2 ** (scale * (_convex(key / 127) - _convex(unity / 127)) / 1200)
    assert abs(cents(measure(e), expected)) < PITCH_TOL_CENTS


@pytest.mark.parametrize("coarse", [-12, -1, 5])
@pytest.mark.parametrize("scale", [0, 6400, 12800])
def test_coarse_tune_moves_the_key_that_key_to_pitch_sees(coarse, scale):
    # RPN 2 goes to the key number (6400 = 1 key per semitone): with key-to-pitch 6400 a
    # semitone of coarse tune is 50 cents, with 0 the pitch stays at the unity pitch
    e, _ = setup(instrument(region(), articulations=[art(key_to_pitch(scale))]), [sine_wave(unity=60)])
    e.coarse_tune(0, 0, coarse)
    e.note_on(0, 0, 67, 100)
    expected = F0 * 2 ** (scale * (67 + coarse - 60) / 128 / 1200)
    assert abs(cents(measure(e), expected)) < PITCH_TOL_CENTS


def _loop_frequency(wave) -> float:
    """The pitch a wave's loop plays at its own rate, with its wsmp fine tune."""
    lp = wave.wave_sample.loops[0]
    x = np.asarray(wave.data, dtype=np.float64).ravel()[lp.start : lp.start + lp.length]
    return peak_freq(np.tile(x, 400), wave.sample_rate)


@pytest.mark.parametrize("program, keys", [(3, (60, 62, 64)), (1, (36, 60, 72)), (2, (48, 84)), (6, (40, 48))])
def test_spec_bank_scale_tuning_zero_plays_the_unity_pitch(program, keys):
    # sf_spec_test: these regions have key-to-pitch 0 (SF2 scaleTuning 0): every key plays the
    # sample's own pitch (375 Hz, fine tune -23 cents), not 375 * 2^(-unity/12)
    col = spec_bank()
    ins = col.find_instrument(0, program)
    for key in keys:
        rgn = next(r for r in ins.regions if r.key_low <= key <= r.key_high)
        wave = col.waves[rgn.wave_link.table_index]
        ws = rgn.wave_sample or wave.wave_sample
        expected = _loop_frequency(wave) * 2 ** (ws.fine_tune / 1200)
        e, _ = setup_spec(program)
        e.note_on(0, 0, key, 100)
        out = render(e, SETTLE + RATE // 2)
        got = peak_freq(out[SETTLE:, 0] + out[SETTLE:, 1])
        assert abs(cents(got, expected)) < PITCH_TOL_CENTS, (key, got, expected)


def test_eg2_to_pitch_settles_at_its_sustain():
    a = art(
        conn(C.CONN_DST_PITCH, 1200, src=C.CONN_SRC_EG2),
        conn(C.CONN_DST_EG2_SUSTAINLEVEL, 500),
        conn(C.CONN_DST_EG2_DECAYTIME, tc(0.05) / 65536),
    )
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave()])
    e.note_on(0, 0, 69, 100)
    out = render(e, RATE // 2 + RATE)
    assert abs(cents(peak_freq(out[RATE // 2 :, 0]), F0 * 2 ** (600 / 1200))) < PITCH_TOL_CENTS


def test_vibrato_depth_and_rate():
    depth = 50.0  # cents
    a = art(
        conn(C.CONN_DST_PITCH, depth, src=C.CONN_SRC_VIBRATO),
        conn(C.CONN_DST_VIB_FREQUENCY, 0, raw=True),
        conn(C.CONN_DST_VIB_STARTDELAY, tc(0.0), raw=True),
    )
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


#: A voice keeps a list of this many time-varying connections; more are all evaluated
#: (ENG_LIVE_MAX, read from native/voice.h where it is defined).
LIVE_MAX = int(
    re.search(r"#define ENG_LIVE_MAX (\d+)", (Path(__file__).parents[1] / "native" / "voice.h").read_text()).group(1)
)


@pytest.mark.parametrize("n", [3, LIVE_MAX + 1])
@pytest.mark.parametrize("cc1", [0, 64, 127])
def test_time_varying_connections_scaled_by_a_controller_add_up(n, cc1):
    """n connections EG2 x CC1 -> pitch (EG2 holds at 100 %), each 100 cents: the pitch
    moves by n * 100 * cc1/128 cents, with the wheel at rest (the engine leaves such
    connections out of its per-plan list), moved, and with more of them than the list holds."""
    conns = [conn(C.CONN_DST_PITCH, 100, src=C.CONN_SRC_EG2, ctl=C.CONN_SRC_CC1) for _ in range(n)]
    e, _ = setup(instrument(region(), articulations=[art(*conns)]), [sine_wave()])
    e.control(0, 0, 1, cc1)
    e.note_on(0, 0, 69, 100)
    expected = F0 * 2 ** (n * 100 * (cc1 / 128) / 1200)
    assert abs(cents(measure(e), expected)) < PITCH_TOL_CENTS


@pytest.mark.parametrize("n", [1, LIVE_MAX + 1])
def test_a_vibrato_by_a_wheel_at_rest_adds_exactly_nothing(n):
    """Vibrato and LFO to pitch by the mod wheel and by channel pressure (SF2's default
    vibrato): with both at 0 the note has the very bits of the same note without them, and
    the vibrato sounds as soon as the wheel moves."""
    plain = art(conn(C.CONN_DST_VIB_STARTDELAY, tc(0.0), raw=True), conn(C.CONN_DST_LFO_STARTDELAY, tc(0.0), raw=True))
    by_controls = [
        conn(C.CONN_DST_PITCH, 50, src=C.CONN_SRC_VIBRATO, ctl=C.CONN_SRC_CC1),
        conn(C.CONN_DST_PITCH, 50, src=C.CONN_SRC_VIBRATO, ctl=C.CONN_SRC_CHANNELPRESSURE),
        conn(C.CONN_DST_PITCH, 30, src=C.CONN_SRC_LFO, ctl=C.CONN_SRC_CC1),
    ] * n
    wheel = art(*plain.connections, *by_controls)

    def play(a, move_at=None):
        e, _ = setup(instrument(region(), articulations=[a]), [sine_wave()])
        e.note_on(0, 0, 69, 100)
        if move_at is not None:
            e.control(move_at, 0, 1, 127)
        return render(e, RATE)

    assert np.array_equal(play(wheel), play(plain))
    moved = play(wheel, move_at=RATE // 2)
    assert np.array_equal(moved[: RATE // 2], play(plain)[: RATE // 2])
    assert not np.array_equal(moved[RATE // 2 :], play(plain)[RATE // 2 :])
