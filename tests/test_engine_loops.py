"""Engine loops: a forward loop continues seamlessly (through the release), a release loop
plays on to the end after note-off, a one-shot stops at its end; stereo waves and stereo
pairs stay in phase; hostile banks (loops past the end, zero-length waves, absurd pitches)
never read outside the pool (run this under AddressSanitizer too)."""

from __future__ import annotations

import numpy as np
import pytest

from dlsynth.dls import constants as C
from dlsynth.dls.model import Loop, Wave, WaveSample
from .enginekit import (
    F0,
    RATE,
    WAVE_RATE,
    art,
    conn,
    dc_wave,
    instrument,
    peak_freq,
    region,
    render,
    setup,
    sine_data,
    tc,
)


def spur_db(x: np.ndarray) -> float:
    """Largest spectral component away from the main peak, dB below it."""
    x = np.asarray(x, np.float64)
    spec = np.abs(np.fft.rfft(x * np.blackman(len(x))))
    k = int(np.argmax(spec))
    mask = np.ones_like(spec, bool)
    mask[max(0, k - 12) : k + 13] = False
    return 20 * np.log10(spec[mask].max() / spec[k])


@pytest.mark.parametrize("interp", ["linear", "cubic", "sinc"])
def test_forward_loop_is_seamless_for_many_passes(interp):
    # a 300-sample loop (3 cycles) near the start of a short wave: hundreds of wraps
    data = sine_data(0.05)
    w = Wave.from_pcm16(data, WAVE_RATE, WaveSample(unity_note=69, loops=[Loop(0, 500, 300)]))
    e, _ = setup(instrument(region()), [w], interpolation=interp)
    e.note_on(0, 0, 69, 127)
    out = render(e, 2 * RATE)[RATE // 2 :, 0]
    assert abs(peak_freq(out) - F0) < 0.1
    limit = {"linear": -45, "cubic": -70, "sinc": -80}[interp]  # interpolation images, not seams
    assert spur_db(out) < limit


def test_forward_loop_keeps_looping_after_note_off():
    a = art(conn(C.CONN_DST_EG1_RELEASETIME, tc(2.0), raw=True))
    e, _ = setup(instrument(region(), articulations=[a]), [dc_wave(0.1)])
    e.note_on(0, 0, 60, 127)
    e.note_off(RATE // 10, 0, 60)
    out = render(e, RATE)[:, 0]
    # 0.1 s of wave, 1 s later: still sounding, decaying at 48 dB/s
    assert out[-1] > 0
    assert e.stats()["voices_active"] == 1


def test_release_loop_plays_on_to_the_end_after_note_off():
    n = int(0.5 * WAVE_RATE)
    w = dc_wave(0.5, value=16384, loop_type=C.WLOOP_TYPE_RELEASE, loop=(1000, 1000), tail=8192)
    release = 10.0
    a = art(conn(C.CONN_DST_EG1_RELEASETIME, tc(release), raw=True))
    e, _ = setup(instrument(region(), articulations=[a]), [w])
    e.note_on(0, 0, 60, 127)
    off = RATE // 2  # long after the loop would have ended without looping
    e.note_off(off, 0, 60)
    out = render(e, off + RATE)[:, 0]
    before = out[off - 100 : off].mean()
    assert before > 0
    # after note-off: the rest of the loop, then the tail at half the level, then silence
    rest = (n - 2000) / WAVE_RATE  # frames after the loop end, in seconds
    t_tail = off + int(0.03 * RATE)
    fall = 10 ** (-96.0 * (t_tail + 50 - off) / RATE / release / 20)  # the release meanwhile
    assert out[t_tail : t_tail + 100].mean() == pytest.approx(before / 2 * fall, rel=0.01)
    end = np.nonzero(out)[0][-1]
    expected_end = off + (1000 + rest * WAVE_RATE) / WAVE_RATE * RATE  # at most one loop pass plus the tail
    assert end <= expected_end + 2
    assert end >= off + rest * RATE - 2
    assert e.stats()["voices_active"] == 0


def test_one_shot_stops_at_its_end():
    w = dc_wave(0.25, loop_type=None)
    e, _ = setup(instrument(region()), [w])
    e.note_on(100, 0, 60, 127)
    out = render(e, RATE)[:, 0]
    nz = np.nonzero(out)[0]
    length = 0.25 * RATE  # unity note 60 played at 60: same speed
    assert nz[0] == 100
    assert abs((nz[-1] - 100) - length) <= 2
    assert e.stats()["voices_active"] == 0


def test_stereo_wave_is_one_voice_in_phase():
    left = sine_data(0.5)
    right = -left
    w = Wave.from_pcm16(
        np.stack([left, right], axis=1), WAVE_RATE, WaveSample(unity_note=69, loops=[Loop(0, 1000, 20000)])
    )
    e, _ = setup(instrument(region()), [w])
    e.note_on(0, 0, 69, 127)
    out = render(e, RATE)
    assert e.stats()["voices_active"] == 1
    # the two channels are exact negatives (one phase), at full balance
    assert np.array_equal(out[:, 0], -out[:, 1])
    assert np.abs(out[:, 0]).max() > 0.2


def test_stereo_pair_of_mono_regions_merges_and_stays_in_phase():
    lw = Wave.from_pcm16(sine_data(0.5), WAVE_RATE, WaveSample(unity_note=69, loops=[Loop(0, 1000, 20000)]))
    rw = Wave.from_pcm16(-sine_data(0.5), WAVE_RATE, WaveSample(unity_note=69, loops=[Loop(0, 1000, 20000)]))
    multi = C.F_WAVELINK_MULTICHANNEL
    ins = instrument(
        region(0, channel=C.WAVELINK_CHANNEL_LEFT, link_options=multi | C.F_WAVELINK_PHASE_MASTER, phase_group=1),
        region(1, channel=C.WAVELINK_CHANNEL_RIGHT, link_options=multi, phase_group=1),
    )
    e, _ = setup(ins, [lw, rw])
    e.note_on(0, 0, 69, 127)
    out = render(e, RATE // 2)
    assert e.stats()["voices_active"] == 1
    assert np.array_equal(out[:, 0], -out[:, 1])


def test_a_lone_right_channel_link_is_panned_right():
    ins = instrument(region(0, channel=C.WAVELINK_CHANNEL_RIGHT, link_options=C.F_WAVELINK_MULTICHANNEL))
    e, _ = setup(ins, [dc_wave()])
    e.note_on(0, 0, 60, 127)
    out = render(e, RATE // 4)
    assert np.all(out[:, 0] == 0) and out[-1, 1] > 0


HOSTILE_LOOPS = [
    (0, 10**9),  # length past the end
    (10**9, 10),  # start past the end
    (4400, 1000),  # ends past the end
    (4409, 1),  # one frame at the very end
    (0, 1),  # one frame at the start
    (0, 0),  # empty
    (2**32 - 1, 2**32 - 1),  # the largest values a wsmp can hold
]


@pytest.mark.parametrize("interp", ["linear", "cubic", "sinc"])
@pytest.mark.parametrize("loop", HOSTILE_LOOPS)
def test_hostile_loops_play_without_reading_outside(interp, loop):
    data = sine_data(0.1)[:4410]
    for kind in (C.WLOOP_TYPE_FORWARD, C.WLOOP_TYPE_RELEASE):
        w = Wave.from_pcm16(data, WAVE_RATE, WaveSample(unity_note=60, loops=[Loop(kind, *loop)]))
        e, _ = setup(instrument(region()), [w], interpolation=interp)
        for key in (0, 60, 127):
            e.note_on(key * 3, 0, key, 127)
        e.note_off(RATE // 10, 0, 60)
        out = render(e, RATE // 2, block=333)
        assert np.all(np.isfinite(out)) and np.abs(out).max() < 4


def test_zero_length_and_tiny_waves():
    waves = [
        Wave.from_pcm16(np.zeros(0, np.int16), WAVE_RATE, WaveSample(loops=[Loop(0, 0, 10)])),
        Wave.from_pcm16(np.array([1000], np.int16), WAVE_RATE, WaveSample(loops=[Loop(0, 0, 1)])),
        Wave.from_pcm16(np.array([1000, -1000], np.int16), WAVE_RATE),
        Wave.from_pcm8(np.zeros(0, np.uint8), 11025),
    ]
    ins = instrument(*[region(i, key=(36 + i, 36 + i)) for i in range(len(waves))])
    e, _ = setup(ins, waves, interpolation="sinc")
    for i in range(len(waves)):
        e.note_on(0, 0, 36 + i, 127)
        e.note_on(10, 0, 36 + i, 1)
    out = render(e, RATE // 10)
    assert np.all(np.isfinite(out))


def test_extreme_pitches_are_clamped_not_trusted():
    a = art(conn(C.CONN_DST_PITCH, 30000), conn(C.CONN_DST_PITCH, -32000, src=C.CONN_SRC_LFO))
    e, _ = setup(instrument(region(), articulations=[a]), [dc_wave(0.01)], interpolation="sinc")
    for key in (0, 127):
        e.note_on(0, 0, key, 127)
    out = render(e, RATE // 4)
    assert np.all(np.isfinite(out))


def test_bad_descriptors_are_rejected_by_the_engine():
    from dlsynth.native import ffi, lib
    from dlsynth.synth.download import ENGINE_CONN_DTYPE, REGION_DTYPE
    from dlsynth.native.engine import Engine

    e = Engine(RATE, effects=False)
    wid = e.download_wave(dc_wave(0.01))
    r = np.zeros(1, REGION_DTYPE)
    r["key_hi"] = 127
    r["vel_hi"] = 127
    r["wave_id"] = (wid, -1)

    def create(rr, cc=np.zeros(0, ENGINE_CONN_DTYPE)):
        rp = ffi.cast("eng_region_desc *", ffi.from_buffer(rr))
        cp = ffi.cast("eng_conn *", ffi.from_buffer(cc)) if len(cc) else ffi.NULL
        return lib.eng_instrument_create(e._ptr, rp, len(rr), cp, len(cc))

    bad = r.copy()
    bad["wave_id"] = (wid + 5, -1)
    assert create(bad) == lib.ENG_ERR_WAVE
    bad = r.copy()
    bad["wave_channel"] = (3, 0)
    assert create(bad) == lib.ENG_ERR_ARG
    bad = r.copy()
    bad["conn_offset"], bad["conn_count"] = 5, 10
    assert create(bad) == lib.ENG_ERR_ARG
    assert lib.eng_wave_create(e._ptr, ffi.NULL, 10, 1, 44100.0) == lib.ENG_ERR_ARG
    assert lib.eng_wave_create(e._ptr, ffi.NULL, 0, 0, 44100.0) == lib.ENG_ERR_ARG
    assert create(r) >= 0
    e.close()
