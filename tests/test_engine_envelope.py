"""Engine envelopes, measured on the rendered output of a constant (DC) wave: delay, attack,
hold, decay, sustain and release of EG1, velocity-to-attack and key-to-decay scaling, and
EG2's attack seen through pitch. Times within TIME_TOL (1 ms or 1 %), levels within
LEVEL_TOL_DB."""

from __future__ import annotations

import numpy as np
import pytest

from dls import constants as C
from .test_engine_support import (
    LEVEL_TOL_DB, RATE, art, conn, dc_wave, instrument, region, render, setup, sine_wave, tc, time_ok, F0, cents,
)


def eg1(delay=0.0, attack=0.0, hold=0.0, decay=0.0, sustain=1000, release=0.0, extra=()):
    return art(
        conn(C.CONN_DST_EG1_DELAYTIME, tc(delay), raw=True), conn(C.CONN_DST_EG1_ATTACKTIME, tc(attack), raw=True),
        conn(C.CONN_DST_EG1_HOLDTIME, tc(hold), raw=True), conn(C.CONN_DST_EG1_DECAYTIME, tc(decay), raw=True),
        conn(C.CONN_DST_EG1_SUSTAINLEVEL, sustain), conn(C.CONN_DST_EG1_RELEASETIME, tc(release), raw=True),
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
    level = 20 * np.log10(env[-RATE // 10:].mean() / peak)
    assert abs(level - sustain_db) < LEVEL_TOL_DB
    # the decay ends where it meets the sustain level
    t = falling(env, peak * 10 ** ((sustain_db + 0.5) / 20)) / RATE
    assert time_ok(t, reach - 0.5 * decay / 96.0)


@pytest.mark.parametrize("release", [0.2, 1.0, 3.0])
def test_release_rate(release):
    off = RATE // 4
    env, e = envelope(eg1(release=release), off + int(release * RATE * 0.8), off=off)
    peak = env[off - 1]
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
    assert np.all(env[int(0.26 * RATE):] == 0)


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
    assert abs(np.median(c[int(0.3 * RATE):int(0.45 * RATE)]) - 1200) < 1.0
