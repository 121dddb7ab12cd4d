"""SoundFont banks played: dlsynth's render against FluidSynth's render of the same notes.

Each test writes a small MIDI file (notes spaced SLOT seconds apart, every note released),
renders it through dlsynth's render path (apps.render.render_file, effects off, 0 dB) and
through ``fluidsynth -ni -F`` (reverb and chorus off, gain 1), then measures both: pitch by
FFT, level in dB, loudness contour. Absolute levels differ by a constant of FluidSynth's
mixer (it plays every note FLUIDSYNTH_OFFSET_DB louder at equal gain, whatever the bank or
note), so levels are compared after removing the offset measured on a reference note of
the same render.

The tiny banks are built here (tests/sf2build.py); TimGM6mb.sf2 is the Debian package
timgm6mb-soundfont's (GPL-2), used where it is installed, not copied.
"""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import soundfile as sf

from benchmarks.peers import TIMGM_SF2 as TIMGM
from dlsynth import dls
from dlsynth.dls.soundfont import generators as G
from tests.fluidpeer import fluidsynth_render

from . import sf2build as B
from . import synthkit as K
from .sf2compare import compare

RATE = 48000
SLOT = 1.5  # seconds per note: NOTE_SECONDS held, then the release
NOTE_SECONDS = 1.0

PITCH_TOLERANCE_CENTS = 2.0  # the same sample through two interpolators
LEVEL_TOLERANCE_DB = 0.5  # a level change (attenuation, velocity) as both synths make it
PRESET_LEVEL_TOLERANCE_DB = 1.5  # a real preset's level, after the constant offset
CONTOUR_MIN_CORRELATION = 0.9  # of the RMS levels of CONTOUR_FRAME_SECONDS frames over a real preset's note
CONTOUR_FRAME_SECONDS = 0.02
FLUIDSYNTH_OFFSET_DB = 1.15  # FluidSynth 2.3 at gain 1 is this much louder than 0 dB here
OFFSET_TOLERANCE_DB = 0.4
FLUIDSYNTH_TIMEOUT = 120  # seconds; every note is released, so a render always ends


def _midi(notes, path: Path) -> None:
    """notes: (channel, program, key, velocity) each in its own SLOT; program changes first."""
    mid = mido.MidiFile(ticks_per_beat=480)  # 120 bpm: 960 ticks a second
    tr = mido.MidiTrack()
    mid.tracks.append(tr)
    tps = 960
    events = []
    for i, (ch, prog, key, vel) in enumerate(notes):
        t0 = int(round(i * SLOT * tps))
        events.append((t0, 0, mido.Message("program_change", channel=ch, program=prog)))
        events.append((t0, 1, mido.Message("note_on", channel=ch, note=key, velocity=vel)))
        events.append((t0 + int(NOTE_SECONDS * tps), 2, mido.Message("note_off", channel=ch, note=key, velocity=0)))
    end = int(round(len(notes) * SLOT * tps))
    for ch in range(16):
        events.append((end, 3, mido.Message("control_change", channel=ch, control=120, value=0)))
    now = 0
    for t, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
        tr.append(msg.copy(time=t - now))
        now = t
    mid.save(path)


def _render_both(bank: Path, notes, tmp: Path) -> tuple[np.ndarray, np.ndarray]:
    from dlsynth.apps.render import render_file

    song = tmp / "notes.mid"
    _midi(notes, song)
    ours, theirs = tmp / "dlsynth.wav", tmp / "fluidsynth.wav"
    render_file(str(song), str(ours), [dls.read(bank)], rate=RATE, effects=False, gain_db=0.0, tail=0.2)
    fluidsynth_render(bank, song, theirs, RATE, FLUIDSYNTH_TIMEOUT)
    a, ra = sf.read(ours, dtype="float64", always_2d=True)
    b, rb = sf.read(theirs, dtype="float64", always_2d=True)
    assert ra == rb == RATE
    n = int(len(notes) * SLOT * RATE)
    pad = lambda x: np.pad(x, ((0, max(0, n - len(x))), (0, 0)))[:n]  # noqa: E731
    return pad(a), pad(b)


def _slot(x: np.ndarray, i: int, start: float = 0.1, stop: float = NOTE_SECONDS - 0.05) -> np.ndarray:
    return x[int((i * SLOT + start) * RATE) : int((i * SLOT + stop) * RATE)]


def _bank(tmp: Path, data: bytes, name: str = "bank.sf2") -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


def _two_presets(gens_a: dict, gens_b: dict, **kw) -> bytes:
    """Programs 0 and 1: the 1000 Hz sine with two sets of instrument generators."""
    s = B.Sample("sine", B.sine(44100, 1000), root=69, loop=(0, 44100))
    base = {G.SAMPLE_MODES: 1}
    return B.sf2(
        [B.Preset("A", 0, 0, [B.Zone({}, 0)]), B.Preset("B", 0, 1, [B.Zone({}, 1)])],
        [B.Instrument("a", [B.Zone({**base, **gens_a}, 0)]), B.Instrument("b", [B.Zone({**base, **gens_b}, 0)])],
        [s],
        **kw,
    )


# --- the tiny banks: one generator at a time ----------------------------------------------


def test_coarse_tune_plays_an_octave_up_and_fine_tune_cents(tmp_path):
    bank = _bank(tmp_path, _two_presets({G.COARSE_TUNE: 12}, {G.FINE_TUNE: -50}))
    a, b = _render_both(bank, [(0, 0, 69, 127), (0, 1, 69, 127), (0, 0, 57, 127)], tmp_path)
    for x in (a, b):
        assert abs(K.cents(K.pitch(_slot(x, 0)[:, 0]), 2000.0)) < PITCH_TOLERANCE_CENTS
        assert abs(K.cents(K.pitch(_slot(x, 1)[:, 0]), 1000.0) + 50.0) < PITCH_TOLERANCE_CENTS
        assert abs(K.cents(K.pitch(_slot(x, 2)[:, 0]), 1000.0)) < PITCH_TOLERANCE_CENTS  # key 57 + 12 = 69


def test_initial_attenuation_60_cb_is_2_4_db_down_as_in_fluidsynth(tmp_path):
    """SF2 says 60 cB = 6 dB; E-mu and FluidSynth play it at 0.4 x that, and so do we."""
    bank = _bank(tmp_path, _two_presets({}, {G.INITIAL_ATTENUATION: 60}))
    a, b = _render_both(bank, [(0, 0, 69, 127), (0, 1, 69, 127)], tmp_path)
    for x in (a, b):
        drop = K.rms_db(_slot(x, 0)[:, 0]) - K.rms_db(_slot(x, 1)[:, 0])
        assert abs(drop - 2.4) < LEVEL_TOLERANCE_DB
    offset = K.rms_db(_slot(b, 0)[:, 0]) - K.rms_db(_slot(a, 0)[:, 0])
    assert abs(offset - FLUIDSYNTH_OFFSET_DB) < OFFSET_TOLERANCE_DB


def test_velocity_and_pan_as_fluidsynth_plays_them(tmp_path):
    bank = _bank(tmp_path, _two_presets({}, {G.PAN: -500}))
    a, b = _render_both(bank, [(0, 0, 69, 127), (0, 0, 69, 64), (0, 0, 69, 20), (0, 1, 69, 127)], tmp_path)
    ref_a, ref_b = K.rms_db(_slot(a, 0)[:, 0]), K.rms_db(_slot(b, 0)[:, 0])
    for i in (1, 2):
        da = ref_a - K.rms_db(_slot(a, i)[:, 0])
        db = ref_b - K.rms_db(_slot(b, i)[:, 0])
        assert abs(da - db) < LEVEL_TOLERANCE_DB
    for x in (a, b):
        hard_left = _slot(x, 3)
        assert K.rms_db(hard_left[:, 1]) < -90.0
        assert abs(K.rms_db(hard_left[:, 0]) - K.rms_db(_slot(x, 0)[:, 0]) - 3.0) < LEVEL_TOLERANCE_DB


def test_key_ranges_pick_the_zone(tmp_path):
    lo = B.Sample("lo", B.sine(44100, 500), root=69, loop=(0, 44100))
    hi = B.Sample("hi", B.sine(44100, 1500), root=69, loop=(0, 44100))
    data = B.sf2(
        [B.Preset("P", 0, 0, [B.Zone({}, 0)])],
        [
            B.Instrument(
                "I",
                [
                    B.Zone({G.KEY_RANGE: (0, 64), G.SAMPLE_MODES: 1}, 0),
                    B.Zone({G.KEY_RANGE: (65, 127), G.SAMPLE_MODES: 1}, 1),
                ],
            )
        ],
        [lo, hi],
    )
    a, b = _render_both(_bank(tmp_path, data), [(0, 0, 64, 100), (0, 0, 65, 100)], tmp_path)
    for x in (a, b):
        assert abs(K.cents(K.pitch(_slot(x, 0)[:, 0]), 500.0 * 2 ** (-5 / 12))) < PITCH_TOLERANCE_CENTS
        assert abs(K.cents(K.pitch(_slot(x, 1)[:, 0]), 1500.0 * 2 ** (-4 / 12))) < PITCH_TOLERANCE_CENTS


def test_loop_modes(tmp_path):
    """A 1000 Hz loop of 0.3 s followed by a 1 s tail at 2000 Hz. Held: modes 1 and 3 loop,
    mode 0 has gone on into the tail. Released: mode 1 keeps looping, mode 3 (loop until
    release) plays on into the tail."""
    body = B.sine(13230, 300)  # 1000 Hz at 44.1 kHz: the loop [0, 13230)
    tail = B.sine(44100, 2000)  # 2000 Hz
    s = B.Sample("s", np.concatenate([body, tail]), root=69, loop=(0, 13230))
    long_release = {G.RELEASE_VOL_ENV: 3600}  # 8 s to fall 96 dB: still loud in the windows below
    data = B.sf2(
        [B.Preset(f"m{m}", 0, m, [B.Zone({}, m)]) for m in range(3)],
        [
            B.Instrument(f"m{m}", [B.Zone({G.SAMPLE_MODES: mode, **long_release}, 0)])
            for m, mode in enumerate((0, 1, 3))
        ],
        [s],
    )
    a, b = _render_both(_bank(tmp_path, data), [(0, m, 69, 127) for m in range(3)], tmp_path)
    for x in (a, b):

        def f(i, t0, t1):
            return K.pitch(_slot(x, i, t0, t1)[:, 0])

        assert abs(K.cents(f(0, 0.5, 0.9), 2000.0)) < PITCH_TOLERANCE_CENTS  # mode 0: no loop
        assert abs(K.cents(f(1, 0.5, 0.9), 1000.0)) < PITCH_TOLERANCE_CENTS
        assert abs(K.cents(f(2, 0.5, 0.9), 1000.0)) < PITCH_TOLERANCE_CENTS
        assert abs(K.cents(f(1, 1.35, 1.48), 1000.0)) < PITCH_TOLERANCE_CENTS  # mode 1: still the loop
        assert abs(K.cents(f(2, 1.35, 1.48), 2000.0)) < PITCH_TOLERANCE_CENTS  # mode 3: the tail


# --- a real bank -------------------------------------------------------------------------------

# (channel, program, key, velocity): a piano, a guitar, a bass, a trumpet, a flute, an organ,
# and two drums. (Not the strings: their detuned layers beat, and an FFT peak of a beating
# sound depends on the beats' phase, not on the tuning.)
TIMGM_NOTES = [
    (0, 0, 60, 100),
    (0, 24, 64, 100),
    (0, 32, 40, 100),
    (0, 56, 67, 100),
    (0, 73, 72, 100),
    (0, 19, 48, 100),
    (9, 0, 38, 100),
    (9, 0, 42, 100),
]


def test_timgm6mb_presets_against_fluidsynth(tmp_path):
    a, b = _render_both(TIMGM, TIMGM_NOTES, tmp_path)
    offsets = []
    for i, (ch, prog, key, vel) in enumerate(TIMGM_NOTES):
        xa, xb = _slot(a, i, 0.05, SLOT - 0.05), _slot(b, i, 0.05, SLOT - 0.05)
        ma, mb = xa.mean(axis=1), xb.mean(axis=1)
        assert np.all(np.isfinite(ma))
        c = compare(ma, mb, RATE, frame_seconds=CONTOUR_FRAME_SECONDS)
        assert c.correlation > CONTOUR_MIN_CORRELATION, (prog, key, c)
        offsets.append(-c.median_difference_db)
        if ch != 9:
            held_a, held_b = _slot(a, i)[:, 0], _slot(b, i)[:, 0]
            assert abs(K.cents(K.pitch(held_a), K.pitch(held_b))) < PITCH_TOLERANCE_CENTS, (prog, key)
    offsets = np.array(offsets)
    assert np.all(np.abs(offsets - FLUIDSYNTH_OFFSET_DB) < PRESET_LEVEL_TOLERANCE_DB), offsets


SUSTAIN_CB = 480


def test_volume_sustain_is_centibels_as_the_spec_says(tmp_path):
    """sustainVolEnv 480 cB: dlsynth sustains 48 dB down (SF2 2.04: cB of attenuation);
    FluidSynth 46.1 dB down (it takes the level as 1 - cB/1000 of its 96 dB scale)."""
    bank = _bank(tmp_path, _two_presets({}, {G.DECAY_VOL_ENV: -3986, G.SUSTAIN_VOL_ENV: SUSTAIN_CB}))
    a, b = _render_both(bank, [(0, 0, 69, 127), (0, 1, 69, 127)], tmp_path)
    for x, expected in ((a, SUSTAIN_CB / 10.0), (b, 96.0 * SUSTAIN_CB / 1000.0)):
        down = K.rms_db(_slot(x, 0, 0.5, 0.9)[:, 0]) - K.rms_db(_slot(x, 1, 0.5, 0.9)[:, 0])
        assert abs(down - expected) < LEVEL_TOLERANCE_DB, (down, expected)
