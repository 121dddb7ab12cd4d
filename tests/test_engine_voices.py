"""Voice management: the polyphony limit and DirectMusic-style stealing (released voices
first, then the oldest at or below the new note's channel priority), the 1/70 s steal fade,
key groups and same-key retriggers, self-non-exclusive regions, the pedals, all sound/notes
off, reset, and unloading an instrument while it sounds."""

from __future__ import annotations

import numpy as np
import pytest

from dlsynth.dls import constants as C
from dlsynth.synth.download import download_instrument

from .enginekit import RATE, art, conn, dc_wave, instrument, region, render, setup, tc

STEAL_FADE = RATE / 70


def keyed_dc(n_keys: int = 8, **region_kw):
    """One region per key 60.., each its own DC level so a key can be told from its output."""
    from dlsynth.dls.model import Loop, Wave, WaveSample

    waves, regions = [], []
    for i in range(n_keys):
        n = 44100
        data = np.full(n, 1000 * (i + 1), np.int16)
        waves.append(Wave.from_pcm16(data, 44100, WaveSample(unity_note=60, loops=[Loop(0, 100, n - 200)])))
        regions.append(region(i, key=(60 + i, 60 + i), **region_kw))
    return regions, waves


def test_polyphony_limit_steals_the_oldest_and_fades_it():
    regions, waves = keyed_dc()
    e, _ = setup(instrument(*regions), waves, max_voices=3)
    for i in range(3):
        e.note_on(100 * i, 0, 60 + i, 127)
    e.note_on(1000, 0, 63, 127)
    out = render(e, 4000)[:, 0]
    st = e.stats()
    assert st["stolen_voices"] == 1 and st["voices_active"] == 3 and st["peak_voices"] == 4
    # before: keys 60..62 (1+2+3); after the fade: 61, 62, 63 (2+3+4), the oldest (60) gone
    unit = out[900] / 6
    assert out[3500] == pytest.approx(unit * 9, rel=1e-4)
    # the stolen voice fades over about 1/70 s, linearly: no step
    seg = out[1000 : 1000 + int(STEAL_FADE) + 200]
    assert np.abs(np.diff(seg)).max() < unit * 3 / 100


def test_released_voices_are_stolen_first_quietest_first():
    regions, waves = keyed_dc()
    a = art(conn(C.CONN_DST_EG1_RELEASETIME, tc(5.0), raw=True))
    e, _ = setup(instrument(*regions, articulations=[a]), waves, max_voices=3)
    for i in range(3):
        e.note_on(0, 0, 60 + i, 127)
    e.note_off(10, 0, 62)  # the newest, releasing slowly
    e.note_on(2000, 0, 63, 127)
    out = render(e, 5000)[:, 0]
    unit = out[5] / 6
    # 60 and 61 still held, 62 (released) stolen, 63 playing: 1 + 2 + 4
    assert out[-1] == pytest.approx(unit * 7, rel=1e-3)


def test_stealing_respects_channel_priority():
    regions, waves = keyed_dc()
    e, _ = setup(instrument(*regions), waves, channels=(0, 1), max_voices=2)
    e.channel_priority(0, 0, 0xC0000000)  # high
    e.channel_priority(0, 1, 0x40000000)  # low
    e.note_on(0, 0, 60, 127)
    e.note_on(0, 0, 61, 127)
    e.note_on(100, 1, 62, 127)  # nothing at or below the low priority: dropped
    render(e, 1000)
    st = e.stats()
    assert st["dropped_notes"] == 1 and st["stolen_voices"] == 0
    e.note_on(e.position, 1, 63, 127)
    e.note_on(e.position, 0, 64, 127)
    render(e, 2000)
    assert e.stats()["dropped_notes"] == 2


def test_default_priorities_favour_the_drum_channel():
    regions, waves = keyed_dc()
    e, _ = setup(instrument(*regions), waves, channels=(0, 9), max_voices=1)
    e.note_on(0, 9, 60, 127)
    e.note_on(10, 0, 61, 127)  # channel 1 is below channel 10: dropped
    render(e, 200)
    assert e.stats()["dropped_notes"] == 1
    e.note_on(e.position, 9, 62, 127)  # drums steal their own
    render(e, 2000)
    assert e.stats()["stolen_voices"] == 1


def test_key_group_cuts_earlier_notes_with_the_shutdown_time():
    regions, waves = keyed_dc(key_group=1)
    a = art(conn(C.CONN_DST_EG1_SHUTDOWNTIME, tc(0.01), raw=True), conn(C.CONN_DST_EG1_RELEASETIME, tc(4), raw=True))
    e, _ = setup(instrument(*regions, articulations=[a]), waves)
    e.note_on(0, 0, 60, 127)
    e.note_on(RATE // 10, 0, 61, 127)
    out = render(e, RATE // 5)[:, 0]
    unit = out[RATE // 10 - 1]
    assert out[-1] == pytest.approx(unit * 2, rel=1e-3)  # only the second
    # the first fell 96 dB in 10 ms: silent within about 11 ms
    assert e.stats()["voices_active"] == 1
    cut = out[RATE // 10 : RATE // 10 + int(0.012 * RATE)] - unit * 2
    assert np.all(np.diff(cut) <= 1e-6)


def test_other_key_groups_and_no_group_are_left_alone():
    regions, waves = keyed_dc()
    regions[0].key_group = 1
    regions[1].key_group = 2
    e, _ = setup(instrument(*regions), waves)
    e.note_on(0, 0, 60, 127)
    e.note_on(10, 0, 61, 127)
    e.note_on(20, 0, 62, 127)
    render(e, 2000)
    assert e.stats()["voices_active"] == 3


def test_same_key_retrigger_cuts_unless_self_non_exclusive():
    e, _ = setup(instrument(region()), [dc_wave()])
    e.note_on(0, 0, 60, 127)
    e.note_on(1000, 0, 60, 127)
    render(e, RATE // 5)
    assert e.stats()["voices_active"] == 1
    e, _ = setup(instrument(region(options=C.F_RGN_OPTION_SELFNONEXCLUSIVE)), [dc_wave()])
    e.note_on(0, 0, 60, 127)
    e.note_on(1000, 0, 60, 127)
    render(e, RATE // 5)
    assert e.stats()["voices_active"] == 2


def test_layered_regions_sound_together():
    regions, waves = keyed_dc(2)
    regions[1].key_low = 60
    regions[1].key_high = 60
    e, _ = setup(instrument(*regions), waves)
    e.note_on(0, 0, 60, 127)
    render(e, 1000)
    assert e.stats()["voices_active"] == 2


def test_velocity_layers():
    regions, waves = keyed_dc(2)
    regions[0].key_low, regions[0].key_high, regions[0].vel_low, regions[0].vel_high = 0, 127, 0, 63
    regions[1].key_low, regions[1].key_high, regions[1].vel_low, regions[1].vel_high = 0, 127, 64, 127
    e, _ = setup(instrument(*regions), waves)
    e.control(0, 0, 7, 127)
    e.note_on(0, 0, 60, 100)
    out = render(e, 1000)[:, 0]
    assert e.stats()["voices_active"] == 1
    assert out[-1] > 0


def pedal_run(events, frames=RATE // 2):
    a = art(conn(C.CONN_DST_EG1_RELEASETIME, tc(0.0), raw=True))
    regions, waves = keyed_dc(4)
    e, _ = setup(instrument(*regions, articulations=[a]), waves)
    for ev in events:
        getattr(e, ev[0])(*ev[1:])
    out = render(e, frames)[:, 0]
    return out, e


def test_sustain_pedal_holds_released_notes_until_lifted():
    out, e = pedal_run(
        [
            ("control", 0, 0, 64, 127),
            ("note_on", 0, 0, 60, 127),
            ("note_off", 1000, 0, 60),
            ("control", 10000, 0, 64, 0),
        ]
    )
    assert out[9000] > 0 and out[-1] == 0
    assert np.nonzero(out)[0][-1] < 10000 + 200


def test_sostenuto_holds_only_the_notes_down_when_pressed():
    out, e = pedal_run(
        [
            ("note_on", 0, 0, 60, 127),
            ("control", 500, 0, 66, 127),
            ("note_on", 600, 0, 61, 127),
            ("note_off", 1000, 0, 60),
            ("note_off", 1000, 0, 61),
            ("control", 10000, 0, 66, 0),
        ]
    )
    unit = out[400]  # key 60 alone: 1 unit
    assert out[5000] == pytest.approx(unit, rel=1e-4)  # 60 held, 61 released
    assert out[-1] == 0


def test_all_notes_off_respects_the_sustain_pedal_and_all_sound_off_does_not():
    out, _ = pedal_run([("note_on", 0, 0, 60, 127), ("control", 0, 0, 64, 127), ("control", 1000, 0, 123, 0)])
    assert out[-1] > 0
    out, e = pedal_run([("note_on", 0, 0, 60, 127), ("control", 0, 0, 64, 127), ("control", 1000, 0, 120, 0)])
    assert out[-1] == 0 and e.stats()["voices_active"] == 0
    # the fade: about 1/70 s
    assert np.nonzero(out)[0][-1] < 1000 + STEAL_FADE + 64


def test_reset_controllers_and_reset_all():
    out, e = pedal_run(
        [
            ("note_on", 0, 0, 60, 127),
            ("control", 0, 0, 64, 127),
            ("control", 0, 0, 11, 20),
            ("note_off", 100, 0, 60),
            ("control", 5000, 0, 121, 0),
        ]
    )
    assert out[-1] == 0  # the pedal was lifted by the reset
    out, e = pedal_run([("note_on", 0, 0, 60, 127), ("note_on", 0, 0, 61, 127), ("reset_all", 2000)])
    assert out[-1] == 0 and e.stats()["voices_active"] == 0


def test_unload_while_sounding_fades_then_frees():
    regions, waves = keyed_dc(2)
    e, iid = setup(instrument(*regions), waves, channels=(0, 1))
    e.note_on(0, 0, 60, 127)
    e.note_on(0, 1, 61, 127)
    render(e, 1000)
    e.unload_instrument(iid)
    assert e.instrument_state(iid) == "unloading"
    with pytest.raises(ValueError):
        e.program(e.position, 0, iid)
    assert e.collect() == []  # nothing rendered since
    out = render(e, 2000)[:, 0]
    assert out[-1] == 0
    assert np.abs(np.diff(out)).max() < out[0] / 100  # a fade, not a click
    assert e.collect() == [iid]
    assert e.instrument_state(iid) is None
    assert e.stats()["instruments"] == 0
    e.note_on(e.position, 0, 60, 127)  # the channel has no instrument now
    render(e, 500)
    assert e.stats()["voices_active"] == 0
    for w in range(2):
        e.free_wave(w)
    assert e.stats()["waves"] == 0


def test_instruments_alike_share_their_compiled_connections():
    # The engine interns compiled connection lists: a second instrument with the same
    # articulation adds only its region table; unloading the first leaves the second's
    # list (and its sound) as it was; the last one out frees it.
    from dlsynth.native.engine import Engine

    from .enginekit import sine_wave

    def ins(cutoff):
        return instrument(
            region(articulations=[art(conn(C.CONN_DST_FILTER_CUTOFF, cutoff), conn(C.CONN_DST_PITCH, 30))])
        )

    def play(e, iid):
        e.program(e.position, 0, iid)
        e.note_on(e.position, 0, 60, 100)
        out = render(e, 4000)
        e.note_off(e.position, 0, 60)
        render(e, 4000)
        return out

    e = Engine(RATE, effects=False)
    wid = e.download_wave(sine_wave())
    assert e.stats()["instrument_bytes"] == 0
    a = download_instrument(e, ins(6000), [wid])
    one = e.stats()["instrument_bytes"]
    b = download_instrument(e, ins(6000), [wid])
    two = e.stats()["instrument_bytes"]
    c = download_instrument(e, ins(5000), [wid])
    three = e.stats()["instrument_bytes"]
    region_bytes = two - one  # the second brought its regions only
    assert 0 < region_bytes < one and three - two > region_bytes  # a new list for the third
    before = play(e, b)
    e.unload_instrument(a)
    render(e, 64)
    assert e.collect() == [a] and e.stats()["instrument_bytes"] == three - region_bytes
    assert np.array_equal(play(e, b), before)
    assert not np.array_equal(play(e, c), before)
    for iid in (b, c):
        e.unload_instrument(iid)
    render(e, 64)
    assert sorted(e.collect()) == [b, c] and e.stats()["instrument_bytes"] == 0
    e.close()


def test_a_wave_in_use_cannot_be_freed():
    from dlsynth.native.engine import EngineError

    e, iid = setup(instrument(region()), [dc_wave()])
    with pytest.raises(EngineError):
        e.free_wave(0)
    e.unload_instrument(iid)
    render(e, 64)
    assert e.collect() == [iid]
    e.free_wave(0)


def test_channel_groups_are_independent():
    regions, waves = keyed_dc(1)
    e, _ = setup(instrument(*regions), waves, channels=(0, 16), channel_groups=2)
    e.control(0, 16, 7, 0)
    e.note_on(0, 0, 60, 127)
    e.note_on(0, 16, 60, 127)
    out = render(e, 2000)
    assert e.stats()["voices_active"] == 2
    e2, _ = setup(instrument(*regions), waves, channels=(0,))
    e2.note_on(0, 0, 60, 127)
    assert np.allclose(out, render(e2, 2000), atol=1e-6)  # group 2's silent at CC7 0
