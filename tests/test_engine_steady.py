"""Steady voices: a voice held in its sustain with nothing modulating it has its control-tick
plans skipped (they would set the same values), and that changes no output bit.

The twin of each instrument below has an LFO moving its reverb send, with the effects off:
that adds nothing to the sound, but an LFO is a source that varies, so its voices are never
steady and are planned at every tick. Every session is rendered with both and must be the
same, bit for bit, while events arrive in the middle of the sustain (each of which must be
heard: measured by FFT and level), and the engine's count of skipped plans shows which of the
two skipped and when."""

from __future__ import annotations

import numpy as np
import pytest

from dlsynth.dls import constants as C
from .enginekit import (
    F0,
    PITCH_TOL_CENTS,
    RATE,
    art,
    cents,
    conn,
    db,
    instrument,
    peak_freq,
    region,
    rms,
    setup,
    sine_wave,
    tc,
)

TICK = 64  # the engine's control interval (ENG_CTRL), frames
BLOCK = 61  # render block: not a divisor of the tick
SUSTAIN_FROM = RATE // 4  # the envelope below is in its sustain well before this
LEVEL_TOL_DB = 0.2


def envelope(*extra):
    """EG1: 5 ms attack, 50 ms decay to 90 %, 100 ms release; a vibrato by the mod wheel."""
    return art(
        conn(C.CONN_DST_EG1_ATTACKTIME, tc(0.005), raw=True),
        conn(C.CONN_DST_EG1_DECAYTIME, tc(0.05), raw=True),
        conn(C.CONN_DST_EG1_SUSTAINLEVEL, 900),
        conn(C.CONN_DST_EG1_RELEASETIME, tc(0.1), raw=True),
        conn(C.CONN_DST_VIB_STARTDELAY, tc(0.0), raw=True),
        conn(C.CONN_DST_PITCH, 50, src=C.CONN_SRC_VIBRATO, ctl=C.CONN_SRC_CC1),
        *extra,
    )


def never_steady(a):
    """The same articulation with an LFO to the reverb send (the effects are off)."""
    return art(
        *a.connections,
        conn(C.CONN_DST_REVERB, 200, src=C.CONN_SRC_LFO),
        conn(C.CONN_DST_LFO_STARTDELAY, tc(0.0), raw=True),
    )


def session(a, events, frames):
    """The note A4 from frame 0 with the events [(frame, method, args)], rendered in BLOCK
    frames; returns the output and the skipped-plan count at each event's frame."""
    e, _ = setup(instrument(region(), articulations=[a]), [sine_wave(seconds=2.0)])
    e.note_on(0, 0, 69, 100)
    for at, name, args in events:
        getattr(e, name)(at, 0, *args)
    parts, counts, done = [], {}, 0
    marks = sorted({at for at, _, _ in events} | {frames})
    for mark in marks:
        while done < mark:
            k = min(BLOCK, mark - done)
            parts.append(e.render(k).copy())
            done += k
        counts[mark] = e.stats()["plans_skipped"]
    e.close()
    return np.concatenate(parts), counts


def test_a_held_note_is_steady_and_sounds_the_same():
    frames = RATE
    out, counts = session(envelope(), [], frames)
    twin, twin_counts = session(never_steady(envelope()), [], frames)
    assert np.array_equal(out, twin)
    assert twin_counts[frames] == 0
    # from the sustain on, every tick's plan is skipped (the note starts at frame 0)
    assert counts[frames] >= (frames - SUSTAIN_FROM) // TICK
    assert abs(cents(peak_freq(out[SUSTAIN_FROM:, 0]), F0)) < PITCH_TOL_CENTS


def test_events_in_the_sustain_are_heard_and_change_no_bit():
    """Pitch bend, volume, the mod wheel's vibrato on and off, pan, the sustain pedal
    around the note-off, then the release, all after the voice has gone steady."""
    s = RATE // 2
    bend, vol, wheel_on, wheel_off, pan, pedal, off, pedal_up = (s + k * (RATE // 4) for k in range(8))
    events = [
        (bend, "pitch_bend", (16383,)),  # +2 semitones at the default range of 200 cents
        (vol, "control", (7, 64)),
        (wheel_on, "control", (1, 127)),
        (wheel_off, "control", (1, 0)),
        (pan, "control", (10, 0)),
        (pedal, "control", (64, 127)),
        (off, "note_off", (69,)),
        (pedal_up, "control", (64, 0)),
    ]
    frames = pedal_up + RATE // 2
    out, counts = session(envelope(), events, frames)
    twin, twin_counts = session(never_steady(envelope()), events, frames)
    assert np.array_equal(out, twin)
    assert twin_counts[frames] == 0

    left = out[:, 0].astype(np.float64)
    right = out[:, 1].astype(np.float64)
    q = RATE // 40  # 25 ms around each event left out of the measurements
    # steady before the first event, and skipping again between events once settled
    assert counts[bend] >= (bend - SUSTAIN_FROM) // TICK
    assert counts[wheel_on] - counts[vol] >= (wheel_on - vol - q) // TICK
    # the bend: +200 cents
    assert abs(cents(peak_freq(left[SUSTAIN_FROM:bend]), F0)) < PITCH_TOL_CENTS
    assert abs(cents(peak_freq(left[bend + q : vol]), F0 * 2 ** (200 / 1200))) < PITCH_TOL_CENTS
    # the volume from its default 100 to 64: DLS's CC7 curve, 40 log10(64/100) dB
    drop = db(rms(left[vol + q : wheel_on])) - db(rms(left[bend + q : vol]))
    assert abs(drop - 40 * np.log10(64 / 100)) < LEVEL_TOL_DB
    # the vibrato runs (no plan skipped: its LFO varies) while the wheel is up
    assert counts[wheel_off] == counts[wheel_on]
    from scipy.signal import hilbert

    seg = left[wheel_on + q : wheel_off]
    inst = np.diff(np.unwrap(np.angle(hilbert(seg)))) * RATE / (2 * np.pi)
    dev = 1200 * np.log2(inst[500:-500] / (F0 * 2 ** (200 / 1200)))
    assert np.percentile(dev, 99) - np.percentile(dev, 1) > 50  # +-50 cents of vibrato at 127/128
    # the pan hard left: the right side falls exactly silent
    assert not np.any(right[pan + q : pedal]) and db(rms(left[pan + q : pedal])) > -40
    # the pedal holds the note past its note-off; the release follows the pedal
    assert abs(db(rms(left[off + q : pedal_up])) - db(rms(left[pan + q : pedal]))) < LEVEL_TOL_DB
    assert not np.any(out[pedal_up + RATE // 4 :])  # a 100 ms release: over, the voice gone


@pytest.mark.parametrize(
    "extra",
    [
        # EG2 to pitch, in its own sustain: steady too
        (
            conn(C.CONN_DST_EG2_ATTACKTIME, tc(0.01), raw=True),
            conn(C.CONN_DST_EG2_DECAYTIME, tc(0.1), raw=True),
            conn(C.CONN_DST_EG2_SUSTAINLEVEL, 300),
            conn(C.CONN_DST_PITCH, 100, src=C.CONN_SRC_EG2),
        ),
        # a filter whose cutoff EG2 drives
        (
            conn(C.CONN_DST_FILTER_CUTOFF, 8000 * 65536, raw=True),
            conn(C.CONN_DST_FILTER_Q, 60),
            conn(C.CONN_DST_EG2_DECAYTIME, tc(0.2), raw=True),
            conn(C.CONN_DST_EG2_SUSTAINLEVEL, 200),
            conn(C.CONN_DST_FILTER_CUTOFF, -1200, src=C.CONN_SRC_EG2),
        ),
    ],
    ids=["eg2-pitch", "eg2-filter"],
)
def test_eg2_modulation_in_its_sustain(extra):
    frames = RATE
    events = [(RATE // 2, "pitch_bend", (0,)), (3 * RATE // 4, "note_off", (69,))]
    out, counts = session(envelope(*extra), events, frames)
    twin, twin_counts = session(never_steady(envelope(*extra)), events, frames)
    assert np.array_equal(out, twin)
    assert twin_counts[frames] == 0
    assert counts[RATE // 2] > 0
    assert counts[frames] > counts[RATE // 2]  # steady again after the bend, until the note-off
