"""Bank select: an instrument a bank defines at exactly the selected MSB/LSB/program plays;
the GM2/GS/XG readings of the bank numbers and the GM fallbacks apply only when there is none.

FluidSynth's test case stacked_sf2/Streetwise (a Mobile DLS bank whose one instrument sits at
MSB 121, LSB 6, program 1, and a song that selects exactly that) is the model for the
end-to-end test; its files carry no license, so the bank and song here are built in the test
with the same selects (a GM2 System On, MSB 121 on every melodic channel, LSB 6 on one).
"""

from __future__ import annotations

import subprocess
import sys

import mido
import numpy as np
import pytest
import soundfile as sf

from dlsynth import dls
from dlsynth.dls.model import Instrument
from dlsynth.synth.synth import Synth, patch_fallbacks, patch_key, patch_of_key

from . import synthkit as K

PITCH_TOLERANCE_CENTS = 1.0
SILENCE = 1e-6
DRUM = dls.constants.F_INSTRUMENT_DRUMS


def bank(msb: int, lsb: int, drum: bool = False) -> int:
    return Instrument.make_bank(msb, lsb, drum=drum)


def melodic(msb, lsb, program):
    return patch_key(bank(msb, lsb), program)


def kit(msb, lsb, program):
    return patch_key(bank(msb, lsb, drum=True), program)


def key_of_select(drum: bool, msb: int, lsb: int, program: int) -> int:
    """The patch key a channel's select is (its drum flag and the numbers as sent)."""
    return patch_key(bank(msb, lsb, drum=drum), program)


@pytest.mark.parametrize(
    "select,tries",
    [
        # GM2 melody bank: the exact bank, then variation 6 of GM bank 0, then GM program 1.
        ((False, 121, 6, 1), [melodic(121, 6, 1), melodic(0, 6, 1), melodic(0, 0, 1)]),
        # On a drum channel MSB 121 still means a melodic instrument, after a kit there.
        ((True, 121, 6, 1), [kit(121, 6, 1), melodic(121, 6, 1), melodic(0, 6, 1), melodic(0, 0, 1)]),
        # GM2 rhythm bank on a melodic channel: a melodic instrument there, a kit there, kit 25, kit 0.
        ((False, 120, 0, 25), [melodic(120, 0, 25), kit(120, 0, 25), kit(0, 0, 25), kit(0, 0, 0)]),
        # XG drum bank.
        ((False, 127, 0, 0), [melodic(127, 0, 0), kit(127, 0, 0), kit(0, 0, 0)]),
        # GS / GM: a variation falls back to bank 0; a kit to the standard kit.
        ((False, 9, 9, 5), [melodic(9, 9, 5), melodic(0, 0, 5)]),
        ((True, 0, 0, 25), [kit(0, 0, 25), kit(0, 0, 0)]),
        ((False, 0, 0, 5), [melodic(0, 0, 5)]),
    ],
)
def test_lookup_order(select, tries):
    got = patch_fallbacks(key_of_select(*select))
    assert [patch_of_key(k) for k in got] == [patch_of_key(k) for k in tries]


# --- in the synth: which instrument sounds, told by its pitch ----------------------------


def make_synth(instruments, cycles) -> Synth:
    s = Synth(K.RATE, effects=False, gain_db=0.0)
    s.download(K.bank_of(instruments, cycles))
    return s


def select(s: Synth, msb: int, lsb: int, program: int, channel: int = 0) -> None:
    """Bank select MSB and LSB, then the program change, now."""
    t = s.position
    s.short_message(t, 1, 0xB0 | channel, 0, msb)
    s.short_message(t, 1, 0xB0 | channel, 32, lsb)
    s.short_message(t, 1, 0xC0 | channel, program, 0, 2)


def pitch_of_select(s: Synth, msb: int, lsb: int, program: int, channel: int = 0, key: int = 69) -> float:
    select(s, msb, lsb, program, channel)
    s.short_message(s.position, 1, 0x90 | channel, key, 100)
    out = s.render(frames=K.RATE)
    s.short_message(s.position, 1, 0xB0 | channel, 120, 0)
    s.render(frames=4800)
    x = K.mono(out)[4800:]
    assert np.abs(x).max() > SILENCE, "silent"
    return K.pitch(x)


def plays(s, hz, *select, **kw) -> bool:
    return abs(K.cents(pitch_of_select(s, *select, **kw), hz)) < PITCH_TOLERANCE_CENTS


def test_an_instrument_at_exactly_the_selected_bank_plays():
    ins = [
        K.instrument("gm", 0, program=1),
        K.instrument("gm2 var 6", 1, bank=bank(0, 6), program=1),
        K.instrument("exact", 2, bank=bank(121, 6), program=1),
    ]
    s = make_synth(ins, cycles=(100, 120, 150))
    assert plays(s, K.sine_hz(150), 121, 6, 1)
    # On channel 10 too: MSB 121 is a melodic bank on any channel.
    assert plays(s, K.sine_hz(150), 121, 6, 1, channel=9)
    # What GM2 means by the other selects still holds: 0/6 is variation 6, 121/0 is GM.
    assert plays(s, K.sine_hz(120), 0, 6, 1)
    assert plays(s, K.sine_hz(100), 121, 0, 1)
    assert s.warnings == []


def test_without_the_exact_instrument_the_gm2_reading_then_the_gm_fallback_play():
    s = make_synth(
        [K.instrument("gm", 0, program=1), K.instrument("gm2 var 6", 1, bank=bank(0, 6), program=1)], cycles=(100, 120)
    )
    assert plays(s, K.sine_hz(120), 121, 6, 1)  # GM2 melody bank, variation 6: no warning
    assert s.warnings == []
    s = make_synth([K.instrument("gm", 0, program=1)], cycles=(100,))
    assert plays(s, K.sine_hz(100), 121, 6, 1)
    assert s.warnings == ["no instrument for program 1 (bank MSB 121, LSB 6); using program 1 (bank MSB 0, LSB 0)"]


def test_a_kit_at_exactly_the_selected_drum_bank_plays():
    ins = [
        K.instrument("standard kit", 0, bank=bank(0, 0, drum=True)),
        K.instrument("kit at 120", 1, bank=bank(120, 0, drum=True)),
        K.instrument("kit at 127", 2, bank=bank(127, 0, drum=True)),
    ]
    s = make_synth(ins, cycles=(100, 120, 150))
    assert plays(s, K.sine_hz(100), 0, 0, 0, channel=9)
    assert plays(s, K.sine_hz(120), 120, 0, 0, channel=9)
    assert plays(s, K.sine_hz(120), 120, 0, 0, channel=2)  # GM2 rhythm bank on any channel
    assert plays(s, K.sine_hz(150), 127, 0, 0, channel=2)  # XG drum bank
    assert plays(s, K.sine_hz(100), 126, 0, 0, channel=2)  # XG SFX kit bank: none, the standard kit
    assert s.warnings == []
    # A kit missing at its bank and program: its program's kit at bank 0, then the standard kit.
    assert plays(s, K.sine_hz(100), 120, 0, 25, channel=9)
    assert any("drum kit 25 (bank MSB 120, LSB 0); using drum kit 0 (bank MSB 0, LSB 0)" in w for w in s.warnings)


def test_a_missing_select_is_reported_as_sent():
    s = make_synth([K.instrument("p0", 0, program=0)], cycles=(100,))
    select(s, 121, 6, 40)
    s.short_message(s.position, 1, 0x90, 60, 100)
    assert np.abs(s.render(frames=4800)).max() < SILENCE
    assert s.warnings == ["no instrument for program 40 (bank MSB 121, LSB 6) in any bank: its notes are silent"]


# --- end to end: a Mobile DLS bank and a GM2 song, through the command line -----------------

EXACT_KEYS = (72, 73, 74, 75)
EXACT_CYCLES = (100, 110, 120, 130)  # each region's wave: 1000, 1097, 1197, 1297 Hz at its own key
GM_CYCLES = 70  # the GM program 1 the old lookup played instead: 700 Hz at key 69
NOTE_TICKS = 480  # 0.5 s at 120 bpm


def mobile_bank(at_msb: int, at_lsb: int) -> dls.Collection:
    """One instrument of four one-key regions at (at_msb, at_lsb, program 1), each key a wave
    of its own pitch at its own unity note, like Streetwise's; and a GM program 1 that is not it."""
    waves = [K.sine_wave(c) for c in EXACT_CYCLES] + [K.sine_wave(GM_CYCLES)]
    regions = [
        dls.Region(
            key_low=k,
            key_high=k,
            wave_link=dls.WaveLink(i),
            wave_sample=dls.WaveSample(unity_note=k, loops=[dls.Loop(0, 0, 4410)]),
        )
        for i, k in enumerate(EXACT_KEYS)
    ]
    ins = [dls.Instrument(name="Streetwise-like", bank=bank(at_msb, at_lsb), program=1, regions=regions)]
    if (at_msb, at_lsb) != (0, 0):
        ins.append(
            dls.Instrument(
                name="GM Bright Piano",
                bank=bank(0, 0),
                program=1,
                regions=[dls.Region(wave_link=dls.WaveLink(len(EXACT_CYCLES)))],
            )
        )
    return dls.Collection(instruments=ins, waves=waves, info={"INAM": "mobile test bank"})


def gm2_song(path, msb: int, lsb: int) -> None:
    """GM2 System On, then on channel 8 bank MSB/LSB and program 1, and the four keys in turn."""
    mf = mido.MidiFile(type=0, ticks_per_beat=480)
    tr = mido.MidiTrack(
        [
            mido.Message("sysex", data=(0x7E, 0x7F, 0x09, 0x03), time=0),
            mido.Message("control_change", channel=7, control=0, value=msb, time=10),
            mido.Message("control_change", channel=7, control=32, value=lsb, time=0),
            mido.Message("program_change", channel=7, program=1, time=0),
        ]
    )
    for i, k in enumerate(EXACT_KEYS):
        tr.append(mido.Message("note_on", channel=7, note=k, velocity=100, time=NOTE_TICKS if i else 10))
        tr.append(mido.Message("note_off", channel=7, note=k, velocity=0, time=NOTE_TICKS))
    mf.tracks.append(tr)
    mf.save(path)


def render_cli(midi, bank_path, out) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "dlsynth",
            "render",
            str(midi),
            "--bank",
            str(bank_path),
            "-o",
            str(out),
            "--no-effects",
            "--format",
            "float",
            "--tail",
            "0.5",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_mobile_dls_instrument_at_msb_121_lsb_6_plays_through_the_cli(tmp_path):
    exact_bank, exact_song, exact_out = tmp_path / "mobile.dls", tmp_path / "song.mid", tmp_path / "song.wav"
    dls.write(mobile_bank(121, 6), exact_bank)
    gm2_song(exact_song, 121, 6)
    p = render_cli(exact_song, exact_bank, exact_out)
    assert p.returncode == 0, p.stderr
    assert "no instrument" not in p.stderr and "missing" not in p.stderr, p.stderr
    x, rate = sf.read(exact_out)
    mono = x[:, 0] + x[:, 1]
    # Each note at the pitch of its own region of the exact instrument (not the GM program 1).
    note_frames = int(rate * NOTE_TICKS / 960)
    for i, k in enumerate(EXACT_KEYS):
        start = int(rate * (10 + 10 + 2 * i * NOTE_TICKS) / 960)
        seg = mono[start + note_frames // 4 : start + note_frames - note_frames // 8]
        assert abs(K.cents(K.pitch(seg, rate), K.sine_hz(EXACT_CYCLES[i]))) < PITCH_TOLERANCE_CENTS, k
    # And identical to the same instrument selected at GM bank 0 in a bank that has only it.
    direct_bank, direct_song, direct_out = tmp_path / "direct.dls", tmp_path / "direct.mid", tmp_path / "direct.wav"
    dls.write(mobile_bank(0, 0), direct_bank)
    gm2_song(direct_song, 0, 0)
    p = render_cli(direct_song, direct_bank, direct_out)
    assert p.returncode == 0, p.stderr
    y, _ = sf.read(direct_out)
    np.testing.assert_array_equal(x, y)


# --- what a song downloads, and when a fallback is said ------------------------------------


def _messages(*msgs: bytes):
    data = b"".join(msgs)
    lengths = np.array([len(m) for m in msgs], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return np.ones(len(msgs), dtype=np.int32), data, offsets, lengths


def test_a_song_downloads_only_the_instruments_its_notes_play():
    """A select no note follows plays nothing: its instrument is not downloaded (a GM file's
    set-up selects on every channel, and channel 1 starts on program 0 either way). The
    patch is the one selected: a bank select after the program change selects nothing."""
    ins = [K.instrument(f"p{p}", 0, program=p) for p in (0, 5, 7, 9, 11)]
    s = Synth(K.RATE, effects=False, gain_db=0.0)
    s.download(K.bank_of(ins, (100,)), lazy=True)
    s.prepare_messages(
        *_messages(
            bytes([0xC0, 5]),
            bytes([0xC1, 7]),  # channel 2: selected, never played
            bytes([0xB0, 0, 1]),  # bank MSB 1 after the select: program 5 still plays
            bytes([0x90, 60, 100]),
            bytes([0xC0, 9]),  # selected after the note, never played
            bytes([0xC2, 11]),
            bytes([0x92, 62, 0]),  # a note-on of velocity 0 is a note-off: plays nothing
        )
    )
    assert s.engine.stats()["instruments"] == 1
    assert plays(s, K.sine_hz(100), 0, 0, 5)


def test_a_fallback_is_said_at_the_selects_first_note_not_at_the_select():
    s = make_synth([K.instrument("gm", 0, program=1)], cycles=(100,))
    select(s, 121, 6, 1)
    s.render(frames=4800)
    assert s.warnings == [], "a fallback was said for a select no note has played"
    assert plays(s, K.sine_hz(100), 121, 6, 1)
    assert s.warnings == ["no instrument for program 1 (bank MSB 121, LSB 6); using program 1 (bank MSB 0, LSB 0)"]
