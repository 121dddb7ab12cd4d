"""Engine envelopes, measured on the rendered output of a constant (DC) wave: delay, attack,
hold, decay, sustain and release of EG1, the note-on scalings (velocity to EG1/EG2 attack,
key to EG1/EG2 hold and decay: timecents scale * v / 128 added), EG2's attack seen through
pitch and its times through gain, and the sf_spec_test bank's keynum-to-decay/hold
instruments. Times within TIME_TOL (1 ms or 1 %), levels within LEVEL_TOL_DB."""

from __future__ import annotations

import numpy as np
import pytest

from dlsynth.dls import constants as C
from .enginekit import (
    LEVEL_TOL_DB,
    RATE,
    art,
    conn,
    dc_wave,
    instrument,
    region,
    render,
    setup,
    setup_spec,
    sine_wave,
    tc,
    time_ok,
    F0,
)


def eg1(delay=0.0, attack=0.0, hold=0.0, decay=0.0, sustain=1000, release=0.0, extra=()):
    return art(
        conn(C.CONN_DST_EG1_DELAYTIME, tc(delay), raw=True),
        conn(C.CONN_DST_EG1_ATTACKTIME, tc(attack), raw=True),
        conn(C.CONN_DST_EG1_HOLDTIME, tc(hold), raw=True),
        conn(C.CONN_DST_EG1_DECAYTIME, tc(decay), raw=True),
        conn(C.CONN_DST_EG1_SUSTAINLEVEL, sustain),
        conn(C.CONN_DST_EG1_RELEASETIME, tc(release), raw=True),
        *extra,
    )


def envelope(a, frames, key=60, vel=127, off=None, wave=None):
    e, _ = setup(instrument(region(), articulations=[a]), [wave or dc_wave(3.0)])
    e.note_on(0, 0, key, vel)
    if off is not None:
        e.note_off(off, 0, key)
    env = render(e, frames)[:, 0].astype(np.float64)
    return env, e


def crossing(env, level, start=0):
    """First frame at or after start where env reaches level (linear interpolation)."""
    idx = np.nonzero(env[start:] >= level)[0]
    assert len(idx), "level never reached"
    i = start + int(idx[0])
    if i == 0:
        return 0.0
    a, b = env[i - 1], env[i]
    return (i - 1) + (level - a) / (b - a)


def falling(env, level, start=0):
    idx = np.nonzero(env[start:] <= level)[0]
    assert len(idx), "level never reached"
    i = start + int(idx[0])
    a, b = env[i - 1], env[i]
    return (i - 1) + (a - level) / (a - b)


def db_slope(env, t0, t1):
    """dB per second over [t0, t1] s, by a least-squares line."""
    i0, i1 = int(t0 * RATE), int(t1 * RATE)
    y = 20 * np.log10(env[i0:i1])
    x = np.arange(i0, i1) / RATE
    return float(np.polyfit(x, y, 1)[0])


@pytest.mark.parametrize("attack", [0.01, 0.1, 0.5, 2.0])
def test_attack_is_linear_and_timed(attack):
    env, _ = envelope(eg1(attack=attack), int((attack + 0.2) * RATE))
    peak = env[-1]
    t20, t80 = crossing(env, 0.2 * peak), crossing(env, 0.8 * peak)
    measured = (t80 - t20) / 0.6 / RATE
    assert time_ok(measured, attack), measured
    # linear in amplitude: the midpoint is half way
    assert time_ok(crossing(env, 0.5 * peak) / RATE, attack / 2)


@pytest.mark.parametrize("delay", [0.005, 0.05, 0.3])
def test_delay(delay):
    env, _ = envelope(eg1(delay=delay, attack=0.1), int((delay + 0.3) * RATE))
    peak = env[-1]
    start = crossing(env, 0.5 * peak) / RATE - 0.05
    assert time_ok(start, delay)


@pytest.mark.parametrize("hold", [0.05, 0.25])
def test_hold(hold):
    env, _ = envelope(eg1(attack=0.01, hold=hold, decay=1.0, sustain=0), int(0.6 * RATE))
    peak = env.max()
    # the decay runs at 96 dB per second: -0.5 dB is 1/192 s after the hold ends
    top = int(crossing(env, 0.999 * peak)) + 1
    t = falling(env, peak * 10 ** (-0.5 / 20), start=top) / RATE
    assert time_ok(t, 0.01 + hold + 0.5 / 96)


@pytest.mark.parametrize("decay, sustain", [(2.0, 500), (0.5, 750), (4.0, 250)])
def test_decay_rate_and_sustain_level(decay, sustain):
    sustain_db = -96.0 * (1 - sustain / 1000)
    reach = decay * (1 - sustain / 1000)
    env, _ = envelope(eg1(decay=decay, sustain=sustain), int((reach + 0.5) * RATE))
    peak = env[0]
    slope = db_slope(env, 0.05 * reach, 0.9 * reach)
    assert time_ok(96.0 / -slope, decay), 96.0 / -slope
    level = 20 * np.log10(env[-RATE // 10 :].mean() / peak)
    assert abs(level - sustain_db) < LEVEL_TOL_DB
    # the decay ends where it meets the sustain level
    t = falling(env, peak * 10 ** ((sustain_db + 0.5) / 20)) / RATE
    assert time_ok(t, reach - 0.5 * decay / 96.0)


@pytest.mark.parametrize("release", [0.2, 1.0, 3.0])
def test_release_rate(release):
    off = RATE // 4
    env, e = envelope(eg1(release=release), off + int(release * RATE * 0.8), off=off)
    env[off - 1]
    slope = db_slope(env, off / RATE + 0.1 * release, off / RATE + 0.7 * release)
    assert time_ok(96.0 / -slope, release)


def test_release_from_a_lower_sustain_ends_early_and_frees_the_voice():
    off = RATE // 2
    env, e = envelope(eg1(decay=0.1, sustain=500, release=1.0), off + RATE, off=off)
    # -48 dB to -96 dB at 96 dB/s: silent 0.5 s after note-off
    nz = np.nonzero(env > 0)[0][-1]
    assert time_ok((nz - off) / RATE, 0.5)
    assert e.stats()["voices_active"] == 0


def test_velocity_to_attack():
    scale = -1200  # timecents at full velocity
    extra = [conn(C.CONN_DST_EG1_ATTACKTIME, scale, src=C.CONN_SRC_KEYONVELOCITY)]
    for vel in (127, 64, 1):
        env, _ = envelope(eg1(attack=0.2, extra=extra), int(0.4 * RATE), vel=vel)
        expected = 0.2 * 2 ** (scale * vel / 128 / 1200)
        peak = env[-1]
        measured = (crossing(env, 0.8 * peak) - crossing(env, 0.2 * peak)) / 0.6 / RATE
        assert time_ok(measured, expected), (vel, measured, expected)


def test_key_to_decay():
    scale = 1200  # timecents per (key / 128)
    extra = [conn(C.CONN_DST_EG1_DECAYTIME, scale, src=C.CONN_SRC_KEYNUMBER)]
    for key in (0, 64, 127):
        env, _ = envelope(eg1(decay=1.0, sustain=0, extra=extra), int(0.6 * RATE), key=key)
        expected = 1.0 * 2 ** (scale * key / 128 / 1200)
        slope = db_slope(env, 0.05, 0.25)
        assert time_ok(96.0 / -slope, expected), (key, 96.0 / -slope, expected)


def test_sustain_zero_ends_the_voice():
    env, e = envelope(eg1(decay=0.25, sustain=0), RATE // 2)
    assert e.stats()["voices_active"] == 0
    assert np.all(env[int(0.26 * RATE) :] == 0)


def test_eg2_attack_through_pitch():
    from scipy.signal import hilbert

    attack = 0.2
    a = art(conn(C.CONN_DST_PITCH, 1200, src=C.CONN_SRC_EG2), conn(C.CONN_DST_EG2_ATTACKTIME, tc(attack), raw=True))
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave(unity=69)])
    e.note_on(0, 0, 69, 127)
    x = render(e, RATE // 2)[:, 0].astype(np.float64)
    inst = np.diff(np.unwrap(np.angle(hilbert(x)))) * RATE / (2 * np.pi)
    c = 1200 * np.log2(np.maximum(inst, 1.0) / F0)
    c = np.convolve(c, np.ones(101) / 101, mode="same")  # smooth the analysis ripple
    t_half = crossing(c[200:], 600.0) + 200
    assert time_ok(t_half / RATE, attack / 2)
    assert abs(np.median(c[int(0.3 * RATE) : int(0.45 * RATE)]) - 1200) < 1.0


@pytest.mark.parametrize("key", [0, 60, 127])
def test_key_to_hold(key):
    scale = -2400  # timecents per (key / 128)
    extra = [conn(C.CONN_DST_EG1_HOLDTIME, scale, src=C.CONN_SRC_KEYNUMBER)]
    env, _ = envelope(eg1(attack=0.01, hold=0.4, decay=1.0, sustain=0, extra=extra), int(0.8 * RATE), key=key)
    hold = 0.4 * 2 ** (scale * key / 128 / 1200)
    peak = env.max()
    top = int(crossing(env, 0.999 * peak)) + 1
    t = falling(env, peak * 10 ** (-0.5 / 20), start=top) / RATE
    assert time_ok(t, 0.01 + hold + 0.5 / 96), (key, t)


def eg2_gain(delay=0.0, attack=0.0, hold=0.0, decay=0.0, sustain=1000, extra=()):
    """EG2 seen through gain: -60 dB * EG2, so the output's dB level is -60 * EG2 (linear)."""
    return art(
        conn(C.CONN_DST_GAIN, -600, src=C.CONN_SRC_EG2),
        conn(C.CONN_DST_EG2_DELAYTIME, tc(delay), raw=True),
        conn(C.CONN_DST_EG2_ATTACKTIME, tc(attack), raw=True),
        conn(C.CONN_DST_EG2_HOLDTIME, tc(hold), raw=True),
        conn(C.CONN_DST_EG2_DECAYTIME, tc(decay), raw=True),
        conn(C.CONN_DST_EG2_SUSTAINLEVEL, sustain),
        *extra,
    )


def eg2_of(env, ref):
    """EG2 (0..1) from the output of eg2_gain."""
    return -20 * np.log10(np.maximum(env, 1e-12) / ref) / 60.0


def _ref_level(vel=127):
    env, _ = envelope(eg1(), RATE // 10, vel=vel)
    return env[-1]


@pytest.mark.parametrize("key", [24, 60, 108])
def test_key_to_eg2_decay(key):
    scale = 2400
    extra = [conn(C.CONN_DST_EG2_DECAYTIME, scale, src=C.CONN_SRC_KEYNUMBER)]
    env, _ = envelope(eg2_gain(decay=0.5, sustain=0, extra=extra), int(2.5 * RATE), key=key)
    decay = 0.5 * 2 ** (scale * key / 128 / 1200)
    g = eg2_of(env, _ref_level())
    # EG2 falls linearly from 1 to 0 over the decay time: half way at decay / 2
    t = crossing(-g, -0.5) / RATE
    assert time_ok(t, decay / 2), (key, t, decay / 2)


@pytest.mark.parametrize("key", [24, 96])
def test_key_to_eg2_hold(key):
    scale = -1200
    extra = [conn(C.CONN_DST_EG2_HOLDTIME, scale, src=C.CONN_SRC_KEYNUMBER)]
    env, _ = envelope(eg2_gain(hold=0.5, decay=0.2, sustain=0, extra=extra), int(1.2 * RATE), key=key)
    hold = 0.5 * 2 ** (scale * key / 128 / 1200)
    g = eg2_of(env, _ref_level())
    t = crossing(-g, -0.5) / RATE
    assert time_ok(t, hold + 0.1), (key, t, hold + 0.1)


@pytest.mark.parametrize("vel", [1, 64, 127])
def test_velocity_to_eg2_attack(vel):
    scale = -2400
    extra = [conn(C.CONN_DST_EG2_ATTACKTIME, scale, src=C.CONN_SRC_KEYONVELOCITY)]
    env, _ = envelope(eg2_gain(attack=0.4, extra=extra), int(0.6 * RATE), vel=vel)
    attack = 0.4 * 2 ** (scale * vel / 128 / 1200)
    # the level is -60 dB * EG2 (against the same velocity without EG2), EG2 rising
    # linearly: half way (-30 dB) at attack / 2
    g = eg2_of(env, _ref_level(vel))
    t = crossing(g, 0.5) / RATE
    assert time_ok(t, attack / 2), (vel, t, attack / 2)


def _rms_db(x, frame=480):
    m = len(x) // frame
    r = np.sqrt((np.asarray(x[: m * frame], np.float64).reshape(m, frame) ** 2).mean(1))
    return 20 * np.log10(np.maximum(r, 1e-12))


@pytest.mark.parametrize("key", [72, 60, 48, 36])
def test_spec_bank_keynum_to_decay(key):
    # sf_spec_test program 1: decay 7260 tc, key-to-decay -12928 (SF2 keynumToVolEnvDecay 101
    # tc per key written by SpessaSynth with the bipolar bit set), sustain 0. Decay time
    # 2^((7260 - 101 key) / 1200) s for 96 dB: 96.7 / 48.0 / 23.8 / 11.8 dB/s at keys
    # 72 / 60 / 48 / 36, as SpessaSynth 4.3.22 renders the same file.
    decay = 2 ** ((7260 - 12928 * key / 128) / 1200)
    e, _ = setup_spec(1)
    e.note_on(0, 0, key, 127)
    x = render(e, int(min(0.5 * decay, 4.0) * RATE) + RATE // 10)[:, 0]
    lv = _rms_db(x)
    t = (np.arange(len(lv)) + 0.5) * 480 / RATE
    m = (t > 0.05 * decay) & (t < min(0.45 * decay, 4.0))
    slope = float(np.polyfit(t[m], lv[m], 1)[0])
    assert time_ok(96.0 / -slope, decay), (key, slope, -96.0 / decay)


@pytest.mark.parametrize("key", [72, 60, 36])
def test_spec_bank_keynum_to_hold(key):
    # program 2: hold 4860 tc, key-to-hold -12928 (101 tc per key), decay 0.05 s to silence.
    # (SpessaSynth 4.3.22 holds 16.5 s at every key here: its DLS reader lets the region's
    # key-to-pitch connection overwrite the key-to-hold it read.)
    hold = 2 ** ((4860 - 12928 * key / 128) / 1200)
    attack = 2 ** (-8857 / 1200)
    e, _ = setup_spec(2)
    e.note_on(0, 0, key, 127)
    x = render(e, int((hold + 0.3) * RATE))[:, 0]
    lv = _rms_db(x, 96)
    held = np.median(lv[int(0.02 * RATE / 96) : int((attack + 0.9 * hold) * RATE / 96)])
    t_end = np.nonzero(lv < held - 6.0)[0]
    t_end = t_end[t_end * 96 > (attack + 0.5 * hold) * RATE][0] * 96 / RATE
    # -6 dB of a 0.05 s full-scale (96 dB) decay is 3.1 ms after the hold ends; frames of 2 ms
    assert abs(t_end - (attack + hold + 6 / 96 * 0.05)) < max(0.004, 0.01 * hold), (key, t_end)
