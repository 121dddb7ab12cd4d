"""The Synth (ISynthSinkDMus): kernel events in, exact frames, MIDI semantics, collections."""

from __future__ import annotations

import numpy as np
import pytest

from dlsynth import dls
from dlsynth.synth.allocator import Allocator
from dlsynth.synth.events import EVENT_INCOMPLETE
from dlsynth.synth.synth import Synth

from . import synthkit as K

ONSET_TOLERANCE_FRAMES = 1
PITCH_TOLERANCE_CENTS = 1.0
LEVEL_TOLERANCE_DB = 0.5
SILENCE = 1e-6
BLOCK_SIZES = (1, 63, 64, 65, 8193)
KEY_1000HZ = 69  # the test sine plays 1000 Hz at key 69


def make_synth(instruments=None, cycles=(100,), groups=1, **kw) -> Synth:
    s = Synth(K.RATE, channel_groups=groups, effects=False, gain_db=0.0, **kw)
    if instruments is None:
        instruments = [K.instrument("sine", 0)]
    s.download(K.bank_of(instruments, cycles))
    return s


def event(alloc: Allocator, ref_time: int, data: bytes, group: int = 1, flags: int = 0):
    e = alloc.get_message()
    e.presentation_time = ref_time
    e.channel_group = group
    e.flags = flags
    e.set_data(data)
    return e


def ref_of_frame(frame: int) -> int:
    """100-ns time of a frame at 48 kHz, exact (48 kHz: 625/3 ticks per frame)."""
    return (frame * 10_000_000 + K.RATE // 2) // K.RATE


def render_all(s: Synth, frames: int, block: int) -> np.ndarray:
    out = np.zeros((frames, 2), dtype=np.float32)
    pos = 0
    while pos < frames:
        n = min(block, frames - pos)
        out[pos : pos + n] = s.render(frames=n)
        pos += n
    return out


def test_kernel_events_start_at_their_exact_frame_whatever_the_block_size():
    starts = [0, 1, 999, 4097, 12345, 20000]
    outputs = []
    for block in BLOCK_SIZES:
        s = make_synth()
        alloc = Allocator()
        s.start(0, 0)
        for i, f in enumerate(starts):
            s.put_message(event(alloc, ref_of_frame(f), bytes([0x90 | i, KEY_1000HZ, 100])))
            s.put_message(event(alloc, ref_of_frame(f + 300), bytes([0x80 | i, KEY_1000HZ, 0])))
        out = render_all(s, 24000, block)
        outputs.append(out)
        assert alloc.in_use == 0  # every event went back to the pool
        s.close()
    for out in outputs[1:]:
        np.testing.assert_array_equal(out, outputs[0])
    # Every onset within one frame of its time: look in a window around each start.
    x = K.mono(outputs[0])
    for f in starts:
        window = x[max(0, f - 50) : f + 50]
        got = K.onset(window) + max(0, f - 50)
        assert abs(got - f) <= ONSET_TOLERANCE_FRAMES, (f, got)


def test_velocity_zero_is_note_off_and_late_events_are_counted():
    s = make_synth()
    s.short_message(0, 1, 0x90, KEY_1000HZ, 100)
    s.render(frames=4800)
    s.short_message(4800, 1, 0x90, KEY_1000HZ, 0)
    s.render(frames=48000)
    assert s.stats()["voices_active"] == 0
    # An event stamped before the current position is applied at the block start, counted.
    s.short_message(10, 1, 0x90, KEY_1000HZ, 100)
    out = s.render(frames=64)
    assert np.abs(out[1:4]).max() > SILENCE
    assert s.stats()["late_events"] == 1


def _pitch_of_program(
    s: Synth, program: int, msb: int = 0, lsb: int = 0, channel: int = 0, key: int = KEY_1000HZ
) -> float:
    t = s.position
    s.short_message(t, 1, 0xB0 | channel, 0, msb)
    s.short_message(t, 1, 0xB0 | channel, 32, lsb)
    s.short_message(t, 1, 0xC0 | channel, program, 0, 2)
    s.short_message(t, 1, 0x90 | channel, key, 100)
    out = s.render(frames=K.RATE)
    s.short_message(s.position, 1, 0xB0 | channel, 120, 0)
    s.render(frames=4800)
    return K.pitch(K.mono(out)[4800:])


def test_program_change_with_bank_select_and_fallback():
    ins = [
        K.instrument("p0", 0, program=0),
        K.instrument("p5", 1, program=5),
        K.instrument("p5 var", 2, bank=dls.Instrument.make_bank(1, 3), program=5),
    ]
    s = make_synth(ins, cycles=(100, 150, 200))
    f0 = K.sine_hz(100)
    assert abs(K.cents(_pitch_of_program(s, 0), f0)) < PITCH_TOLERANCE_CENTS
    assert abs(K.cents(_pitch_of_program(s, 5), f0 * 1.5)) < PITCH_TOLERANCE_CENTS
    assert abs(K.cents(_pitch_of_program(s, 5, 1, 3), f0 * 2)) < PITCH_TOLERANCE_CENTS
    # A variation that is not there falls back to bank 0 of the same program, said once.
    assert abs(K.cents(_pitch_of_program(s, 5, 9, 9), f0 * 1.5)) < PITCH_TOLERANCE_CENTS
    assert abs(K.cents(_pitch_of_program(s, 5, 9, 9), f0 * 1.5)) < PITCH_TOLERANCE_CENTS
    assert sum("using program 5 (bank MSB 0" in w for w in s.warnings) == 1


def test_drums_on_channel_10_and_the_standard_kit_fallback():
    drum = dls.Instrument.make_bank(0, 0, drum=True)
    ins = [K.instrument("piano", 0, program=0), K.instrument("kit", 1, bank=drum, program=0)]
    s = make_synth(ins, cycles=(100, 150))
    f0 = K.sine_hz(100)
    assert abs(K.cents(_pitch_of_program(s, 0, channel=9), f0 * 1.5)) < PITCH_TOLERANCE_CENTS
    # Kit 25 is missing: the standard kit plays, with a warning.
    assert abs(K.cents(_pitch_of_program(s, 25, channel=9), f0 * 1.5)) < PITCH_TOLERANCE_CENTS
    assert any("drum kit 25" in w and "using drum kit 0" in w for w in s.warnings)
    # A GM2 rhythm bank select (MSB 120) makes any channel a drum channel.
    assert abs(K.cents(_pitch_of_program(s, 0, msb=120, channel=2), f0 * 1.5)) < PITCH_TOLERANCE_CENTS


def test_gs_use_for_rhythm_part_selects_the_kit():
    drum = dls.Instrument.make_bank(0, 0, drum=True)
    s = make_synth([K.instrument("piano", 0), K.instrument("kit", 1, bank=drum)], cycles=(100, 150))
    f0 = K.sine_hz(100)
    assert abs(K.cents(_pitch_of_program(s, 0, channel=1), f0)) < PITCH_TOLERANCE_CENTS
    # F0 41 10 42 12 40 12 15 01 cs F7: part 2 (MIDI channel 2 = index 1) used for rhythm.
    body = [0x40, 0x12, 0x15, 0x01]
    cs = (128 - sum(body) % 128) % 128
    s.message(s.position, 1, bytes([0xF0, 0x41, 0x10, 0x42, 0x12, *body, cs, 0xF7]))
    assert abs(K.cents(_pitch_of_program(s, 0, channel=1), f0 * 1.5)) < PITCH_TOLERANCE_CENTS


def test_missing_instrument_is_silent_with_one_warning():
    s = make_synth([K.instrument("p0", 0, program=0)])
    s.short_message(0, 1, 0xC0, 40, 0, 2)
    s.short_message(0, 1, 0xB0, 0, 0)
    s.short_message(0, 1, 0xC0, 40, 0, 2)
    s.short_message(0, 1, 0x90, 60, 100)
    s.short_message(10, 1, 0x90, 62, 100)
    out = s.render(frames=4800)
    assert np.abs(out).max() < SILENCE
    assert sum("program 40" in w for w in s.warnings) == 1
    assert s.counters.missing_patches[(0, 40)] == 1  # said once per select, not per note


def test_rpn_bend_range_fine_and_coarse_tune():
    s = make_synth()
    f0 = K.sine_hz(100)
    t = 0
    for cc, v in ((101, 0), (100, 0), (6, 12), (38, 0)):  # bend range 12 semitones
        s.short_message(t, 1, 0xB0, cc, v)
    s.short_message(t, 1, 0xE0, 0x7F, 0x7F)  # full up: +12 semitones * 8191/8192
    s.short_message(t, 1, 0x90, KEY_1000HZ, 100)
    out = s.render(frames=K.RATE)
    assert abs(K.cents(K.pitch(K.mono(out)[4800:]), f0) - 1200 * 8191 / 8192) < PITCH_TOLERANCE_CENTS
    t = s.position
    s.short_message(t, 1, 0xE0, 0x00, 0x40)  # centre
    for cc, v in ((101, 0), (100, 1), (6, 0x60), (38, 0)):  # fine tune +50 cents
        s.short_message(t, 1, 0xB0, cc, v)
    for cc, v in ((101, 0), (100, 2), (6, 64 + 2)):  # coarse tune +2 semitones
        s.short_message(t, 1, 0xB0, cc, v)
    s.short_message(t, 1, 0xB0, 120, 0)
    s.short_message(t + 480, 1, 0x90, KEY_1000HZ, 100)
    out = s.render(frames=K.RATE)
    assert abs(K.cents(K.pitch(K.mono(out)[9600:]), f0) - 250) < PITCH_TOLERANCE_CENTS


def test_nrpn_data_entry_is_ignored():
    s = make_synth()
    t = 0
    for cc, v in ((99, 0), (98, 0), (6, 24), (38, 0)):
        s.short_message(t, 1, 0xB0, cc, v)
    s.short_message(t, 1, 0xE0, 0x7F, 0x7F)
    s.short_message(t, 1, 0x90, KEY_1000HZ, 100)
    out = s.render(frames=K.RATE)
    # Default bend range (2 semitones) still applies.
    assert abs(K.cents(K.pitch(K.mono(out)[4800:]), K.sine_hz(100)) - 200 * 8191 / 8192) < PITCH_TOLERANCE_CENTS


def test_sustain_pedal_holds_notes():
    s = make_synth()
    s.short_message(0, 1, 0xB0, 64, 127)
    s.short_message(0, 1, 0x90, KEY_1000HZ, 100)
    s.short_message(4800, 1, 0x80, KEY_1000HZ, 0)
    s.render(frames=48000)
    assert s.stats()["voices_active"] == 1
    s.short_message(s.position, 1, 0xB0, 64, 0)
    s.render(frames=96000)
    assert s.stats()["voices_active"] == 0


@pytest.mark.parametrize("cc", [120, 123])
def test_all_sound_off_and_all_notes_off(cc):
    s = make_synth()
    for k in (60, 64, 67):
        s.short_message(0, 1, 0x90, k, 100)
    s.render(frames=4800)
    assert s.stats()["voices_active"] == 3
    s.short_message(s.position, 1, 0xB0, cc, 0)
    s.render(frames=96000)
    assert s.stats()["voices_active"] == 0


def test_gm_master_volume_sysex():
    s = make_synth()
    s.short_message(0, 1, 0x90, KEY_1000HZ, 100)
    a = K.mono(s.render(frames=K.RATE))[9600:]
    # Master volume 8192/16383: -6.02 dB.
    s.message(s.position, 1, bytes([0xF0, 0x7F, 0x7F, 0x04, 0x01, 0x00, 0x40, 0xF7]))
    s.render(frames=9600)
    b = K.mono(s.render(frames=K.RATE))[9600:]
    expected = 20 * np.log10(8192 / 16383)
    assert abs((K.rms_db(b) - K.rms_db(a)) - expected) < LEVEL_TOLERANCE_DB


def test_gm_reset_returns_channels_to_program_0():
    s = make_synth([K.instrument("p0", 0, program=0), K.instrument("p1", 1, program=1)], cycles=(100, 150))
    assert abs(K.cents(_pitch_of_program(s, 1), K.sine_hz(150))) < PITCH_TOLERANCE_CENTS
    s.message(s.position, 1, bytes([0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]))
    s.short_message(s.position, 1, 0x90, KEY_1000HZ, 100)
    out = s.render(frames=K.RATE)
    assert abs(K.cents(K.pitch(K.mono(out)[4800:]), K.sine_hz(100))) < PITCH_TOLERANCE_CENTS


def test_sysex_in_fragments_is_reassembled():
    s = make_synth()
    alloc = Allocator()
    s.short_message(0, 1, 0x90, KEY_1000HZ, 100)
    a = K.mono(s.render(frames=K.RATE))[9600:]
    s.start(0, 0)
    ref = ref_of_frame(s.position)
    s.put_message(event(alloc, ref, bytes([0xF0, 0x7F, 0x7F]), flags=EVENT_INCOMPLETE))
    s.put_message(event(alloc, ref, bytes([0x04, 0x01, 0x00, 0x40, 0xF7])))
    s.render(frames=9600)
    b = K.mono(s.render(frames=K.RATE))[9600:]
    assert abs((K.rms_db(b) - K.rms_db(a)) - 20 * np.log10(8192 / 16383)) < LEVEL_TOLERANCE_DB


def test_malformed_messages_are_dropped_and_counted():
    s = make_synth()
    s.message(0, 1, bytes([0x90, 0x80, 0x10]))  # data byte >= 0x80
    s.message(0, 1, bytes([0x90, 60]))  # too short
    s.message(0, 1, bytes([0x45]))  # no status
    s.message(0, 1, bytes([0xF0, 0x01, 0x02, 0xF7]))  # unknown sysex
    s.message(0, 7, bytes([0x90, 60, 100]))  # channel group not open
    s.render(frames=480)
    assert s.counters.malformed == 3
    assert s.counters.unknown_sysex == 1
    assert s.counters.dropped_group == 1
    assert s.stats()["voices_active"] == 0


def test_channel_groups_and_group_zero_broadcast():
    s = make_synth(groups=3)
    s.short_message(0, 2, 0x90, KEY_1000HZ, 100)
    s.render(frames=480)
    assert s.stats()["voices_active"] == 1
    s.short_message(s.position, 0, 0x90, 60, 100)  # group 0: every group
    s.render(frames=480)
    assert s.stats()["voices_active"] == 4


def test_later_collections_take_precedence_and_unload_falls_back():
    s = Synth(K.RATE, effects=False)
    a = s.download(K.bank_of([K.instrument("A", 0)], cycles=(100,)))
    b = s.download(K.bank_of([K.instrument("B", 0)], cycles=(150,)))
    f0 = K.sine_hz(100)
    assert abs(K.cents(_pitch_of_program(s, 0), f0 * 1.5)) < PITCH_TOLERANCE_CENTS
    s.short_message(s.position, 1, 0x90, KEY_1000HZ, 100)
    s.render(frames=4800)
    s.unload(b)  # while B's note sounds
    s.render(frames=4800)
    s.service()
    assert abs(K.cents(_pitch_of_program(s, 0), f0)) < PITCH_TOLERANCE_CENTS
    assert [h.id for h in s.collections] == [a.id]
    s.render(frames=4800)
    s.service()
    assert s.stats()["instruments"] == 1


@pytest.mark.parametrize(
    "msg,kind",
    [
        (bytes([0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]), "reset"),  # GM System On
        (bytes([0xF0, 0x7E, 0x7F, 0x09, 0x03, 0xF7]), "reset"),  # GM2 System On
        (bytes([0xF0, 0x7E, 0x7F, 0x09, 0x02, 0xF7]), "reset"),  # GM System Off
        (bytes([0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41, 0xF7]), "reset"),  # GS Reset
        (bytes([0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7]), "reset"),  # XG System On
        (bytes([0xF0, 0x7F, 0x7F, 0x04, 0x01, 0x7F, 0x7F, 0xF7]), "master_volume"),
        (bytes([0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x10, 0x15, 0x02, 0x19, 0xF7]), "gs_rhythm"),
        (bytes([0xF0, 0x7E, 0x7F, 0x06, 0x01, 0xF7]), None),  # identity request: not ours
        (bytes([0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x01, 0x30, 0x00, 0x0F, 0xF7]), None),  # GS reverb macro
    ],
)
def test_sysex_classification(msg, kind):
    from dlsynth.native import ffi, lib

    ev = ffi.new("eng_event *")
    rc = lib.eng_midi_encode(msg, len(msg), 1, 0, ev)
    got = (
        None
        if rc <= 0
        else {
            lib.ENG_EV_SYSEX_RESET: "reset",
            lib.ENG_EV_MASTER_VOLUME: "master_volume",
            lib.ENG_EV_GS_RHYTHM: "gs_rhythm",
        }[ev.type]
    )
    assert got == kind


@pytest.mark.parametrize(
    "reset",
    [
        bytes([0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41, 0xF7]),
        bytes([0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7]),
        bytes([0xF0, 0x7E, 0x7F, 0x09, 0x03, 0xF7]),
    ],
)
def test_gs_xg_gm2_resets_restore_defaults(reset):
    s = make_synth([K.instrument("p0", 0, program=0), K.instrument("p1", 1, program=1)], cycles=(100, 150))
    assert abs(K.cents(_pitch_of_program(s, 1), K.sine_hz(150))) < PITCH_TOLERANCE_CENTS
    for cc, v in ((101, 0), (100, 0), (6, 12)):
        s.short_message(s.position, 1, 0xB0, cc, v)
    s.message(s.position, 1, reset)
    s.short_message(s.position, 1, 0xE0, 0x7F, 0x7F)
    s.short_message(s.position, 1, 0x90, KEY_1000HZ, 100)
    out = s.render(frames=K.RATE)
    # Program 0 again, and the bend range back to 2 semitones.
    assert abs(K.cents(K.pitch(K.mono(out)[4800:]), K.sine_hz(100)) - 200 * 8191 / 8192) < PITCH_TOLERANCE_CENTS


def test_soft_sostenuto_and_pressure_pass_through():
    s = make_synth()
    s.short_message(0, 1, 0x90, KEY_1000HZ, 100)
    s.short_message(0, 1, 0xB0, 66, 127)  # sostenuto catches the sounding note
    s.short_message(4800, 1, 0x80, KEY_1000HZ, 0)
    s.short_message(4800, 1, 0xD0, 64, 0, 2)
    s.short_message(4800, 1, 0xA0, KEY_1000HZ, 64)
    s.render(frames=48000)
    assert s.stats()["voices_active"] == 1
    s.short_message(s.position, 1, 0xB0, 66, 0)
    s.render(frames=96000)
    assert s.stats()["voices_active"] == 0
    assert s.counters.malformed == 0
