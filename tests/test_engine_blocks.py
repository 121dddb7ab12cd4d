"""Output is a pure function of the instruments and the timed events: identical for any
block size (1, 63, 64, 65, 8193 and odd mixes), events apply at their exact frame, late
events are applied at the start of the next block and counted, events pushed out of time
order are sorted."""

from __future__ import annotations

import numpy as np
import pytest

from dlsynth.dls import constants as C
from dlsynth.dls.model import Loop, Wave, WaveSample
from .enginekit import (
    FRAME_TOL,
    RATE,
    WAVE_RATE,
    art,
    conn,
    dc_wave,
    instrument,
    region,
    render,
    setup,
    sine_data,
    tc,
)

BLOCKS = [1, 63, 64, 65, 8193]
TOTAL = 3 * RATE // 2


def busy_engine(interp: str, effects: bool):
    """Every time-varying feature at once: LFOs, both EGs, a sweeping resonant filter,
    stereo and mono voices, pedals, bends, controller changes, key groups, stealing."""
    mono = Wave.from_pcm16(
        sine_data(0.4) // 2 + (sine_data(0.4, freq=1323.0) // 4),
        WAVE_RATE,
        WaveSample(unity_note=69, loops=[Loop(0, 1000, 15000)]),
    )
    st = np.stack([sine_data(0.3), sine_data(0.3, freq=882.0)], axis=1)
    stereo = Wave.from_pcm16(st, 32000, WaveSample(unity_note=64, loops=[Loop(1, 500, 8000)]))
    a = art(
        conn(C.CONN_DST_FILTER_CUTOFF, 7000),
        conn(C.CONN_DST_FILTER_Q, 80),
        conn(C.CONN_DST_FILTER_CUTOFF, -2400, src=C.CONN_SRC_EG2),
        conn(C.CONN_DST_EG2_ATTACKTIME, tc(0.05), raw=True),
        conn(C.CONN_DST_EG2_DECAYTIME, tc(0.4), raw=True),
        conn(C.CONN_DST_EG2_SUSTAINLEVEL, 300),
        conn(C.CONN_DST_PITCH, 30, src=C.CONN_SRC_VIBRATO, ctl=C.CONN_SRC_CC1),
        conn(C.CONN_DST_GAIN, 30, src=C.CONN_SRC_LFO),
        conn(C.CONN_DST_LFO_FREQUENCY, 600),
        conn(C.CONN_DST_EG1_ATTACKTIME, tc(0.02), raw=True),
        conn(C.CONN_DST_EG1_DECAYTIME, tc(2.0), raw=True),
        conn(C.CONN_DST_EG1_SUSTAINLEVEL, 700),
        conn(C.CONN_DST_EG1_RELEASETIME, tc(0.3), raw=True),
        conn(C.CONN_DST_PAN, 200, src=C.CONN_SRC_EG2),
    )
    ins = instrument(
        region(0, key=(0, 59), articulations=[a]), region(1, key=(60, 127)), region(0, key=(40, 41), key_group=3)
    )
    e, _ = setup(ins, [mono, stereo], channels=(0, 1, 2), effects=effects, interpolation=interp, max_voices=10)
    rng = np.random.default_rng(7)
    t = 0
    for k in range(40):
        t += int(rng.integers(0, 2500))
        ch = int(rng.integers(0, 3))
        key = int(rng.integers(36, 84))
        e.note_on(t, ch, key, int(rng.integers(1, 128)))
        e.note_off(t + int(rng.integers(100, 20000)), ch, key)
        if k % 5 == 0:
            e.control(t + 17, ch, 1, int(rng.integers(0, 128)))
            e.pitch_bend(t + 33, ch, int(rng.integers(0, 16384)))
            e.control(t + 61, ch, 7, int(rng.integers(40, 128)))
    e.control(9000, 0, 64, 127)
    e.control(30000, 0, 64, 0)
    e.control(12000, 1, 66, 127)
    e.control(40000, 1, 66, 0)
    e.control(50000, 2, 10, 10)
    e.poly_pressure(20000, 0, 60, 90)
    e.control(60001, 2, 120, 0)
    return e


@pytest.mark.parametrize("interp", ["linear", "cubic", "sinc"])
@pytest.mark.parametrize("effects", [False, True])
def test_identical_output_for_any_block_size(interp, effects):
    ref = render(busy_engine(interp, effects), TOTAL)
    assert np.abs(ref).max() > 0.05
    for block in BLOCKS:
        got = render(busy_engine(interp, effects), TOTAL, block=block)
        assert np.array_equal(got, ref), block


def test_identical_output_for_irregular_blocks():
    ref = render(busy_engine("cubic", True), TOTAL)
    e = busy_engine("cubic", True)
    rng = np.random.default_rng(3)
    parts, done = [], 0
    while done < TOTAL:
        k = min(int(rng.integers(1, 700)), TOTAL - done)
        parts.append(e.render(k).copy())
        done += k
    assert np.array_equal(np.concatenate(parts), ref)


@pytest.mark.parametrize("block", [1, 64, 100, 8193])
def test_note_on_starts_at_its_exact_frame(block):
    for f in (0, 1, 63, 64, 65, 1000, 4095, 4096, 12345):
        e, _ = setup(instrument(region()), [dc_wave()])
        e.note_on(f, 0, 60, 127)
        x = render(e, 20000, block=block)[:, 0]
        onset = int(np.nonzero(x)[0][0])
        assert abs(onset - f) < FRAME_TOL, (f, onset)


def test_note_off_applies_at_its_frame():
    a = art(conn(C.CONN_DST_EG1_RELEASETIME, tc(0.0), raw=True))
    for off in (700, 6400, 6431):
        e, _ = setup(instrument(region(), articulations=[a]), [dc_wave()])
        e.note_on(0, 0, 60, 127)
        e.note_off(off, 0, 60)
        x = render(e, 10000, block=97)[:, 0]
        level = x[off - 1]
        assert np.all(x[100:off] == level)  # untouched before the event (after the onset)
        assert x[off + 1] < level  # falling right after it


def test_late_events_apply_at_block_start_and_are_counted():
    e, _ = setup(instrument(region()), [dc_wave()])
    render(e, 1000)
    assert e.position == 1000
    e.note_on(500, 0, 60, 127)  # already past
    x = e.render(100)[:, 0]
    assert x[0] != 0
    assert e.stats()["late_events"] == 1


def test_events_pushed_out_of_order_are_sorted():
    def run(order):
        e, _ = setup(instrument(region()), [dc_wave()])
        evs = [(300, 60), (100, 62), (200, 64)]
        for i in order:
            t, k = evs[i]
            e.note_on(t, 0, k, 100)
        return render(e, 2000)

    assert np.array_equal(run([0, 1, 2]), run([2, 1, 0]))


def test_batch_push_and_a_full_ring():
    from dlsynth.native.engine import EVENT_DTYPE, NOTE_ON, Engine

    e = Engine(RATE, effects=False, event_capacity=256)
    ev = np.zeros(300, EVENT_DTYPE)
    ev["time"] = np.arange(300)
    ev["type"] = NOTE_ON
    ev["a"] = 60
    ev["b"] = 100
    assert e.push_events(ev) == 256
    assert e.stats()["dropped_events"] == 44
    e.render(512)
    assert e.push_events(ev[:10]) == 10
    e.close()


def test_output_does_not_depend_on_the_simd_variant():
    """Every kernel variant this CPU has (scalar, SSE2, AVX2, AVX-512; tests/test_engine_simd.py
    compares the kernels one by one) renders the busy engine, every feature at once, to the
    same bytes, for every interpolation. On x86 at least scalar and SSE2 are compared."""
    import platform

    from dlsynth.native.engine import simd_available

    variants = simd_available()
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        assert len(variants) >= 2, variants
    for interp in ("linear", "cubic", "sinc"):
        outs = {}
        for v in variants:
            e = busy_engine(interp, True)
            e.set_simd(v)
            assert e.simd == v and e.kernel_variant("cubic") == v  # (the others: AVX2 at AVX-512)
            outs[v] = render(e, TOTAL, block=77).tobytes()
            e.close()
        for v in variants:
            assert outs[v] == outs[variants[0]], f"{interp}: {v} differs from {variants[0]} ({variants} compared)"


CTRL = 64  # ENG_CTRL: control ticks at multiples of it
RUN = 1024  # ENG_RUN: ended voices leave the active list at its multiples and before events


def one_shot_engine(threads: int = 1):
    """Unlooped waves that run out at frames off the tick grid, through a resonant low-pass
    that rings on after them, with gaps of several runs between events (so that voices end
    inside runs and wait there for the free pass): four to twelve voices at once, in one or
    two mix groups."""
    rng = np.random.default_rng(11)
    waves = [
        Wave.from_pcm16(sine_data(0.011 + 0.007 * k, freq=700.0 + 150 * k), WAVE_RATE, WaveSample(unity_note=69))
        for k in range(3)
    ]
    a = art(
        conn(C.CONN_DST_FILTER_CUTOFF, 6500),
        conn(C.CONN_DST_FILTER_Q, 200),
        conn(C.CONN_DST_EG1_RELEASETIME, tc(0.5), raw=True),
    )
    ins = instrument(
        region(0, key=(0, 50), articulations=[a]),
        region(1, key=(51, 70), articulations=[a]),
        region(2, key=(71, 127), articulations=[a]),
    )
    e, _ = setup(ins, waves, channels=(0, 1), threads=threads)
    e.set_sharing(0, strict=threads > 1)
    t = 37
    for _ in range(30):
        for _ in range(int(rng.integers(1, 5))):
            e.note_on(t + int(rng.integers(0, 3)), int(rng.integers(0, 2)), int(rng.integers(30, 100)), 110)
        t += int(rng.integers(300, 3 * RUN))
    return e, t


@pytest.mark.parametrize("threads", [1, 2])
def test_voices_that_end_inside_runs_give_the_same_output_for_any_block_size(threads):
    """A voice whose wave runs out inside a run stays in the active list until the next
    multiple of ENG_RUN or event (the mix groups, consecutive entries of it, are fixed by the
    absolute frame): the output is the same for every block size and thread count."""
    e, total = one_shot_engine(threads)
    ref = render(e, total)
    assert np.abs(ref).max() > 0.05
    for block in (1, 37, 64, 100, 1000, 1024, 1500):
        e, _ = one_shot_engine(threads)
        assert np.array_equal(render(e, total, block=block), ref), (threads, block)
    if threads > 1:
        e, _ = one_shot_engine(1)
        assert np.array_equal(render(e, total), ref)


def test_a_voice_that_ran_out_adds_nothing_after_the_next_control_tick():
    """The filter rings on after the wave's last frame until the control tick after it (as
    when the voice was freed there), and from the tick on the voice adds nothing, though it
    waits in the active list until the next multiple of ENG_RUN."""
    data = sine_data(0.0105, freq=900.0)
    wave = Wave.from_pcm16(data, WAVE_RATE, WaveSample(unity_note=69))
    a = art(conn(C.CONN_DST_FILTER_CUTOFF, 6500), conn(C.CONN_DST_FILTER_Q, 200))
    start = 10
    ran_out = start + int(np.ceil(len(data) * RATE / WAVE_RATE))  # the first frame past the wave
    tick = (ran_out // CTRL + 1) * CTRL
    assert tick < RUN
    for block in (1, 100, 4096):
        e, _ = setup(instrument(region(0, articulations=[a])), [wave])
        e.note_on(start, 0, 69, 127)
        x = render(e, 2 * RUN, block=block)[:, 0]
        assert np.all(x[tick:] == 0.0), (block, int(np.nonzero(x)[0][-1]), tick)
        assert np.abs(x[ran_out + 1 : tick]).max() > 1e-4, (block, ran_out, tick)  # the ringing
