"""Engine levels within LEVEL_TOL_DB: absolute level, wsmp attenuation, the concave curves of
velocity, CC7 and CC11 (the scale linear in dB), a linear velocity curve beside a cancelling
concave one (SpessaSynth's pair, also on the sf_spec_test bank), the constant-power pan law,
gain connections, tremolo, master volume and gain, 8-bit waves, sends."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dlsynth.dls import constants as C
from dlsynth.dls.model import Wave, WaveSample
from .enginekit import (
    LEVEL_TOL_DB,
    RATE,
    art,
    conn,
    db,
    dc_wave,
    instrument,
    region,
    render,
    rms,
    setup,
    setup_spec,
    tc,
)

DC = 16384 / 32768  # the test wave's value


SEND_AUDIBLE_DB = -45.0  # an effect return at full send is at least this loud (dBFS RMS)
SEND_SCALE_TOL_DB = 0.2  # a send's return follows its controller linearly within this


def level(ins=None, waves=None, vel=127, ccs=(), frames=RATE // 4, events=None, **kw):
    e, _ = setup(ins or instrument(region()), waves or [dc_wave()], **kw)
    for cc, v in ccs:
        e.control(0, 0, cc, v)
    if events:
        events(e)
    e.note_on(0, 0, 60, vel)
    out = render(e, frames)
    return out[-1000:, 0].mean(), out[-1000:, 1].mean()


def test_absolute_level_full_scale_controls():
    left, right = level(ccs=[(7, 127)])
    assert abs(db(left) - db(DC * math.cos(math.pi / 4))) < LEVEL_TOL_DB
    assert abs(db(right) - db(DC * math.sin(math.pi / 4))) < LEVEL_TOL_DB


@pytest.mark.parametrize("gain_cb", [-60, -200, 35])
def test_wsmp_attenuation_is_a_relative_gain(gain_cb):
    ws = WaveSample(unity_note=60, attenuation=gain_cb * 65536, loops=dc_wave().wave_sample.loops)
    ref, _ = level()
    got, _ = level(instrument(region(wave_sample=ws)))
    assert abs(db(got) - db(ref) - gain_cb / 10) < LEVEL_TOL_DB


@pytest.mark.parametrize("cc", [7, 11])
@pytest.mark.parametrize("value", [1, 16, 32, 64, 100, 126])
def test_cc7_cc11_concave_curve(cc, value):
    ref, _ = level(ccs=[(cc, 127)])
    got, _ = level(ccs=[(cc, value)])
    assert abs(db(got) - db(ref) - 40 * math.log10(value / 127)) < LEVEL_TOL_DB


@pytest.mark.parametrize("vel", [1, 20, 64, 100, 126])
def test_velocity_concave_curve(vel):
    ref, _ = level(vel=127)
    got, _ = level(vel=vel)
    assert abs(db(got) - db(ref) - 40 * math.log10(vel / 127)) < LEVEL_TOL_DB


VEL = C.CONN_SRC_KEYONVELOCITY
CONCAVE_INV = (C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT) | C.TRN_SOURCE_INVERT


def concave(x: float) -> float:
    """The DLS concave transform, -(20/96) log10((1 - x)^2), 0..1 (x of a 7-bit value is v/127)."""
    return 1.0 if x >= 1 else min(1.0, max(0.0, -(20 / 96) * math.log10((1 - x) ** 2)))


@pytest.mark.parametrize("scale_cb", [-480, -960, -1440])
@pytest.mark.parametrize("vel", [5, 15, 64, 100])
def test_concave_velocity_scale_is_linear_in_db(scale_cb, vel):
    # gain = scale * concave(1 - v/127) in dB: -144 dB is 1.5 times the -96 dB curve in dB
    # (SpessaSynth clamps any velocity-to-gain scale to 96 dB; the spec does not)
    a = art(conn(C.CONN_DST_GAIN, scale_cb, src=VEL, trn=CONCAVE_INV))
    ins = instrument(region(), articulations=[a])
    ref, _ = level(ins, vel=127)
    got, _ = level(ins, vel=vel)
    expected = scale_cb / 10 * concave(1 - vel / 127)
    assert abs(db(got) - db(ref) - expected) < LEVEL_TOL_DB


@pytest.mark.parametrize("vel", [1, 15, 64, 100, 126])
def test_linear_velocity_curve_beside_a_cancelling_concave_one(vel):
    # SpessaSynth's pair: linear inverted -96 dB (the real curve) and concave inverted 0 (to
    # cancel the DLS2 default). Both replace the default and both apply: -96 dB * (1 - v/128)
    a = art(
        conn(C.CONN_DST_GAIN, -960, src=VEL, trn=C.TRN_SOURCE_INVERT),
        conn(C.CONN_DST_GAIN, 0, src=VEL, trn=CONCAVE_INV),
    )
    ins = instrument(region(), articulations=[a])
    ref, _ = level(ins, vel=127)
    got, _ = level(ins, vel=vel)
    assert abs(db(got) - db(ref) - (-96.0 * (127 - vel) / 128)) < LEVEL_TOL_DB


def spec_level(key: int, vel: int) -> float:
    """RMS level (dB) of sf_spec_test program 0 `key` at `vel`, held (a looped sine)."""
    e, _ = setup_spec(0)
    e.note_on(0, 0, key, vel)
    out = render(e, RATE // 2)[RATE // 4 :, 0]
    return db(rms(out))


@pytest.mark.parametrize("vel", [15, 64, 100])
def test_spec_bank_velocity_curves(vel):
    # key 73: the linear -96 dB / concave 0 pair; key 71: concave -144 dB; key 72: concave
    # -48 dB; key 74: concave 0 alone (no velocity sensitivity)
    expected = {
        73: -96.0 * (127 - vel) / 128,
        71: -144.0 * concave(1 - vel / 127),
        72: -48.0 * concave(1 - vel / 127),
        74: 0.0,
    }
    for key, want in expected.items():
        got = spec_level(key, vel) - spec_level(key, 127)
        assert abs(got - want) < LEVEL_TOL_DB, (key, got, want)


def test_volume_change_on_a_sounding_note():
    e, _ = setup(instrument(region()), [dc_wave()])
    e.control(0, 0, 7, 127)
    e.note_on(0, 0, 60, 127)
    e.control(RATE // 4, 0, 7, 64)
    out = render(e, RATE // 2)[:, 0]
    a, b = out[RATE // 4 - 200 : RATE // 4].mean(), out[-200:].mean()
    assert abs(db(b) - db(a) - 40 * math.log10(64 / 127)) < LEVEL_TOL_DB
    # the change ramps (no step) and is complete within two control intervals
    assert np.all(np.abs(np.diff(out[RATE // 4 - 10 : RATE // 4 + 200])) < 0.01)


def pan_gains(p_permille):
    x = (max(-500.0, min(500.0, p_permille)) / 1000 + 0.5) * math.pi / 2
    return math.cos(x), math.sin(x)


@pytest.mark.parametrize("cc10", [0, 1, 16, 32, 64, 80, 100, 127])
def test_constant_power_pan(cc10):
    left, right = level(ccs=[(7, 127), (10, cc10)])
    gl, gr = pan_gains(508 * (2 * cc10 / 128 - 1))
    for got, g in ((left, gl), (right, gr)):
        if g < 1e-6:
            assert abs(got) < 1e-6
        else:
            assert abs(db(got) - db(DC * g)) < LEVEL_TOL_DB
    if min(gl, gr) > 1e-6:
        # constant power
        assert abs(db(math.hypot(left, right)) - db(DC)) < LEVEL_TOL_DB


def test_articulated_pan_adds_to_cc10():
    a = art(conn(C.CONN_DST_PAN, -250))
    left, right = level(instrument(region(), articulations=[a]), ccs=[(7, 127), (10, 96)])
    gl, gr = pan_gains(-250 + 508 * (2 * 96 / 128 - 1))
    assert abs(db(left) - db(DC * gl)) < LEVEL_TOL_DB
    assert abs(db(right) - db(DC * gr)) < LEVEL_TOL_DB


def test_gain_connection_and_controller_gain():
    a = art(conn(C.CONN_DST_GAIN, -120), conn(C.CONN_DST_GAIN, -200, src=0x80 + 20))  # CC20 scales in
    ref, _ = level()
    got, _ = level(instrument(region(), articulations=[a]), ccs=[(20, 64)])
    assert abs(db(got) - db(ref) - (-12.0 - 20.0 * 64 / 128)) < LEVEL_TOL_DB


def test_tremolo_depth():
    depth_cb = 60.0
    a = art(conn(C.CONN_DST_GAIN, depth_cb, src=C.CONN_SRC_LFO), conn(C.CONN_DST_LFO_STARTDELAY, tc(0), raw=True))
    e, _ = setup(instrument(region(), articulations=[a]), [dc_wave(3.0)])
    e.note_on(0, 0, 60, 127)
    out = render(e, 2 * RATE)[:, 0]
    ref, _ = level()
    assert abs(db(out.max()) - db(ref) - depth_cb / 10) < LEVEL_TOL_DB
    assert abs(db(out[RATE // 10 :].min()) - db(ref) + depth_cb / 10) < LEVEL_TOL_DB


def test_master_volume_and_master_gain():
    ref, _ = level()
    got, _ = level(events=lambda e: e.master_volume(0, -600))
    assert abs(db(got) - db(ref) + 6.0) < LEVEL_TOL_DB
    e, _ = setup(instrument(region()), [dc_wave()])
    e.master_gain = 0.5
    e.note_on(0, 0, 60, 127)
    got2 = render(e, RATE // 4)[-1000:, 0].mean()
    assert abs(db(got2) - db(ref) - db(0.5)) < LEVEL_TOL_DB


def test_eight_bit_wave_matches_sixteen_bit():
    n = 44100
    data8 = np.full(n, 128 + 64, dtype=np.uint8)
    w8 = Wave.from_pcm8(data8, 44100, WaveSample(unity_note=60, loops=dc_wave().wave_sample.loops))
    ref, _ = level()
    got, _ = level(waves=[w8])
    assert abs(db(got) - db(ref)) < 1e-3


def test_sends_reach_the_effects_only_when_sent():
    def run(effects, cc91, cc93):
        e, _ = setup(instrument(region()), [dc_wave()], effects=effects)
        e.control(0, 0, 91, cc91)
        e.control(0, 0, 93, cc93)
        e.note_on(0, 0, 60, 127)
        e.note_off(RATE // 8, 0, 60)
        return render(e, RATE // 2)

    dry = run(False, 0, 0)
    assert np.array_equal(run(True, 0, 0), dry)  # no send: the effects add nothing at all
    assert np.array_equal(run(False, 127, 127), dry)  # effects off: sends go nowhere
    end = int(np.nonzero(np.abs(dry[:, 0]) > 1e-6)[0][-1]) + 100  # the dry note is over here

    def rms_db(x):
        return 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-30)

    # Reverb (CC91): a tail after the dry sound has ended, its level linear in the send.
    tail = {v: rms_db(run(True, v, 0)[end:]) for v in (127, 64)}
    assert tail[127] > SEND_AUDIBLE_DB, tail
    assert abs(tail[127] - tail[64] - db(127 / 64)) < SEND_SCALE_TOL_DB, tail
    # Chorus (CC93): a wet signal added during the note, linear in the send too.
    wet = {v: rms_db((run(True, 0, v) - dry)[:end]) for v in (127, 64)}
    assert wet[127] > SEND_AUDIBLE_DB, wet
    assert abs(wet[127] - wet[64] - db(127 / 64)) < SEND_SCALE_TOL_DB, wet
