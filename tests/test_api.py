"""The Python library: dlsynth.render, load_bank, Synth, the errors.

dlsynth.render is the command's render (the same function, render_song): its arrays equal
`dlsynth render --format float` sample for sample. A pretty_midi-shaped object's times land
at round(t * rate); its instruments never share a channel. Synth takes MIDI at frame offsets
through the miniport's render stream and renders into a caller's array without allocating.
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from dataclasses import dataclass, field
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

import dlsynth
from dlsynth import dls
from dlsynth.instrument_song import DRUM_CHANNEL, channel_slots, instrument_song
from dlsynth.synth.timebase import TimeMap

from . import synthkit as K
from .test_render import JAZZ, cosine_bank, song

ONSET_TOLERANCE_FRAMES = 1
PITCH_TOLERANCE_CENTS = 1.0
ONSET_THRESHOLD = 1e-3  # the cosine bank starts at full amplitude: far above this at once
COSINE_HZ = K.sine_hz(100)  # the cosine bank's wave at its unity key, 69
#: a tracemalloc measure of many render(out=buf) calls may grow by this much at most (the
#: interpreter's own small caches), and by no NumPy array at all
ALLOCATION_SLACK_BYTES = 4096
NUMPY_DOMAIN = np.lib.tracemalloc_domain


# ---------------------------------------------------------------- a pretty_midi-shaped object
@dataclass
class Note:
    start: float
    end: float
    pitch: int
    velocity: int = 100


@dataclass
class ControlChange:
    time: float
    number: int
    value: int


@dataclass
class PitchBend:
    time: float
    pitch: int


@dataclass
class Instrument:
    program: int
    is_drum: bool = False
    notes: list = field(default_factory=list)
    control_changes: list = field(default_factory=list)
    pitch_bends: list = field(default_factory=list)
    name: str = ""


@dataclass
class PrettyLike:
    instruments: list = field(default_factory=list)


def cli_float(tmp_path: Path, midi: Path, *args) -> np.ndarray:
    out = tmp_path / "cli.wav"
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlsynth",
            "render",
            str(midi),
            "-o",
            str(out),
            "--format",
            "float",
            "-q",
            *map(str, args),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    x, _ = sf.read(out, dtype="float32")
    return x


# ---------------------------------------------------------------- render equals the command
def test_render_equals_the_command_sample_for_sample_default_bank(tmp_path):
    midi = JAZZ / "test-c-major-scale.mid"
    x = dlsynth.render(midi)
    assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 2 and x.flags.c_contiguous
    np.testing.assert_array_equal(x, cli_float(tmp_path, midi))
    assert np.abs(x).max() > 0.01


def test_render_equals_the_command_with_every_option_and_two_banks(tmp_path):
    a = cosine_bank(tmp_path / "a.dls")
    b = tmp_path / "b.sf2"
    subprocess.run(
        [sys.executable, "-m", "dlsynth", "convert", str(a), str(b), "-q"], check=True, capture_output=True, timeout=120
    )  # the same instruments as a SoundFont
    midi = song(tmp_path / "s.mid", [(0, 480, 69, 0), (240, 960, 72, 1), (500, 700, 60, 0)])
    x = dlsynth.render(
        str(midi),
        [str(a), dlsynth.load_bank(b)],
        rate=44100,
        interpolation="linear",
        effects=False,
        voices=8,
        gain_db=-3.0,
        tail=0.25,
        max_length=1.2,
        threads=2,
    )
    y = cli_float(
        tmp_path,
        midi,
        "--bank",
        a,
        "--bank",
        b,
        "--rate",
        44100,
        "--interpolation",
        "linear",
        "--no-effects",
        "--voices",
        8,
        "--gain",
        -3,
        "--tail",
        0.25,
        "--max-length",
        1.2,
        "--threads",
        2,
    )
    np.testing.assert_array_equal(x, y)
    assert len(x) == round(1.2 * 44100)  # max_length cut it (the song and its tail last 1.25 s)


def test_midi_as_bytes_or_mido_equals_the_path_and_a_loaded_bank_is_reused(tmp_path):
    bank = dlsynth.load_bank(cosine_bank(tmp_path / "cos.dls"))
    midi = song(tmp_path / "s.mid", [(0, 300, 69, 0), (333, 777, 64, 0)])
    kw = dict(effects=False, tail=0.1)
    x = dlsynth.render(midi, bank, **kw)
    np.testing.assert_array_equal(dlsynth.render(midi.read_bytes(), bank, **kw), x)
    np.testing.assert_array_equal(dlsynth.render(mido.MidiFile(midi), bank, **kw), x)
    np.testing.assert_array_equal(dlsynth.render(midi, [bank], **kw), x)  # the same bank, again


# ---------------------------------------------------------------- a pretty_midi-shaped object
def test_seconds_become_exactly_round_t_times_rate():
    rng = np.random.default_rng(5)
    for rate in (22050, 44100, 48000, 96000):
        starts = rng.uniform(0, 600, 400)
        obj = PrettyLike([Instrument(0, notes=[Note(float(s), float(s) + 0.5, 60) for s in starts])])
        got = instrument_song(obj, rate)
        on = [e for e in got.events if e.data[0] & 0xF0 == 0x90]
        frames = TimeMap(rate).ref_times_to_samples(np.array([e.time for e in on], dtype=np.int64))
        assert sorted(frames.tolist()) == sorted(round(float(s) * rate) for s in starts)


def test_onsets_of_a_pretty_midi_shaped_object_land_on_their_frames(tmp_path):
    bank = cosine_bank(tmp_path / "cos.dls")
    rate = 48000
    starts = [0.0, 0.2123456, 0.45, 0.7333333, 1.0180339, 1.3000104]
    # one instrument per note (each its own channel), far apart in time: each onset is clean
    obj = PrettyLike([Instrument(0, notes=[Note(t, t + 0.04, 69)]) for t in starts])
    x = dlsynth.render(obj, bank, rate=rate, effects=False, gain_db=0.0, tail=0.1)[:, 0]
    for t in starts:
        frame = round(t * rate)
        w0 = max(0, frame - 40)
        got = K.onset(x[w0 : frame + 40], ONSET_THRESHOLD) + w0
        assert abs(got - frame) <= ONSET_TOLERANCE_FRAMES, (t, frame, got)


def test_instruments_never_share_a_channel_past_fifteen(tmp_path):
    """16 melodic instruments: the 16th goes on to group 2 (channel 0 there), not onto
    instrument 0's channel, so instrument 0's full pitch bend does not bend it."""
    bank = cosine_bank(tmp_path / "cos.dls")
    ins = [Instrument(0, notes=[Note(0.0, 1.0, 69)] if i in (0, 15) else []) for i in range(16)]
    ins[0].pitch_bends = [PitchBend(0.0, 8191)]
    ins[0].notes = [Note(0.0, 1.0, 57)]  # an octave below, bent up 2 semitones: 1122 Hz
    assert channel_slots(ins)[15] == (2, 0) and channel_slots(ins)[0] == (1, 0)
    lone = PrettyLike([Instrument(0, notes=[Note(0.0, 1.0, 69)])])
    both = dlsynth.render(PrettyLike(ins), bank, effects=False, gain_db=0.0, tail=0.0)
    alone = dlsynth.render(lone, bank, effects=False, gain_db=0.0, tail=0.0)
    bent = both[: len(alone), 0] - alone[:, 0]  # instrument 15 is what `lone` plays, to the sample
    assert abs(K.cents(K.pitch(bent[4800:40000], 48000), COSINE_HZ * 2 ** (-10 / 12))) < PITCH_TOLERANCE_CENTS
    assert abs(K.cents(K.pitch(alone[4800:40000, 0], 48000), COSINE_HZ)) < PITCH_TOLERANCE_CENTS


def test_drums_take_channel_10_of_group_after_group():
    ins = [Instrument(0, is_drum=True), Instrument(1), Instrument(0, is_drum=True)] + [Instrument(2)] * 15
    slots = channel_slots(ins)
    assert slots[0] == (1, DRUM_CHANNEL) and slots[2] == (2, DRUM_CHANNEL)
    melodic = [s for s, i in zip(slots, ins) if not i.is_drum]
    assert len(set(melodic)) == 16 and all(c != DRUM_CHANNEL for _, c in melodic)
    assert melodic[15] == (2, 0)


def test_events_of_one_frame_keep_pretty_midis_order():
    """Note-offs first, then the rest; a note too short for a frame ends after it starts."""
    obj = PrettyLike(
        [
            Instrument(
                5,
                notes=[Note(0.0, 0.5, 60), Note(0.5, 1.0, 60), Note(1.0, 1.0000001, 62)],
                control_changes=[ControlChange(0.5, 7, 90)],
                pitch_bends=[PitchBend(0.5, -8192)],
            )
        ]
    )
    got = [e.data for e in instrument_song(obj, 48000).events]
    assert got == [
        bytes((0xC0, 5)),
        bytes((0x90, 60, 100)),
        bytes((0x80, 60, 64)),
        bytes((0x90, 60, 100)),
        bytes((0xE0, 0, 0)),
        bytes((0xB0, 7, 90)),
        bytes((0x80, 60, 64)),
        bytes((0x90, 62, 100)),
        bytes((0x80, 62, 64)),
    ]


# ---------------------------------------------------------------- Synth for host loops
def test_a_note_on_at_offset_100_starts_at_frame_100(tmp_path):
    bank = cosine_bank(tmp_path / "cos.dls")
    with dlsynth.Synth(str(bank), effects=False, gain_db=0.0) as synth:
        synth.render(512)  # not at the start of the stream: offsets count from the next block
        synth.note_on(0, 69, 100, offset=100)
        out = synth.render(512)
        assert out.shape == (512, 2) and out.dtype == np.float32
        assert abs(K.onset(out[:, 0], ONSET_THRESHOLD) - 100) <= ONSET_TOLERANCE_FRAMES
        assert synth.position == 1024


def test_host_loop_equals_the_render_of_the_same_events(tmp_path):
    """Events sent at offsets into 256-frame blocks give what dlsynth.render gives for the
    same events in seconds: the same Synth and engine, whichever way the events come."""
    bank = dlsynth.load_bank(cosine_bank(tmp_path / "cos.dls"))
    rate, block = 48000, 256
    notes = [(1000, 9000, 69), (4321, 20000, 64), (9000, 15000, 72)]  # frames
    obj = PrettyLike([Instrument(1, notes=[Note(a / rate, b / rate, k) for a, b, k in notes])])
    want = dlsynth.render(obj, bank, rate=rate, tail=0.2, threads=1)
    events = sorted([(a, 1, k) for a, _, k in notes] + [(b, 0, k) for _, b, k in notes])
    synth = dlsynth.Synth(bank, rate=rate)
    synth.program_change(0, 1)
    buf = np.empty((block, 2), dtype=np.float32)
    got = []
    pos = 0
    while pos < len(want):
        for frame, on, key in events:
            if pos <= frame < pos + block:
                (synth.note_on if on else synth.note_off)(0, key, 100 if on else 64, frame - pos)
        got.append(synth.render(out=buf).copy())
        pos += block
    synth.close()
    np.testing.assert_array_equal(np.concatenate(got)[: len(want)], want)


def test_render_into_out_allocates_nothing(tmp_path):
    with dlsynth.Synth(str(cosine_bank(tmp_path / "cos.dls"))) as synth:
        buf = np.empty((256, 2), dtype=np.float32)
        synth.note_on(0, 69, 100)
        for _ in range(20):  # warm up (first-call caches)
            assert synth.render(out=buf) is buf
        tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            for _ in range(2000):
                synth.render(out=buf)
            after = tracemalloc.take_snapshot()
        finally:
            tracemalloc.stop()
        numpy_only = [tracemalloc.DomainFilter(True, NUMPY_DOMAIN)]
        made = after.filter_traces(numpy_only).compare_to(before.filter_traces(numpy_only), "lineno")
        assert [s for s in made if s.count_diff or s.size_diff] == []  # no array's data allocated
        growth = sum(s.size_diff for s in after.compare_to(before, "filename"))
        assert growth <= ALLOCATION_SLACK_BYTES, growth
        assert np.abs(buf).max() > 0.01  # it did render the note


def test_synth_channel_groups_sysex_and_bend(tmp_path):
    bank = cosine_bank(tmp_path / "cos.dls")
    with dlsynth.Synth(bank, channel_groups=2, effects=False, gain_db=0.0) as synth:
        synth.sysex(bytes([0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7]))  # GM on
        synth.pitch_bend(3, 8191, group=2)
        synth.note_on(3, 69, 100, group=2)
        synth.note_on(3, 69, 100, group=1)  # the same channel of group 1: not bent
        out = synth.render(48000)
    with dlsynth.Synth(bank, effects=False, gain_db=0.0) as ref:
        ref.note_on(3, 69, 100)
        plain = ref.render(48000)
    bent = out[:, 0] - plain[:, 0]
    assert abs(K.cents(K.pitch(bent[4800:], 48000), COSINE_HZ * 2 ** (2 / 12))) < PITCH_TOLERANCE_CENTS


# ---------------------------------------------------------------- errors, one type per kind
def test_bad_midi_raises_midi_file_error(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd\x00\x00\x00\x06\x00\x01")
    for midi in (bad, bad.read_bytes(), tmp_path / "missing.mid", b"not midi at all"):
        with pytest.raises(dlsynth.MidiFileError) as err:
            dlsynth.render(midi)
        assert "\n" not in str(err.value)
    with pytest.raises(dlsynth.MidiFileError, match="instrument 0 note 0: pitch 200 outside 0..127"):
        dlsynth.render(PrettyLike([Instrument(0, notes=[Note(0.0, 1.0, 200)])]))
    with pytest.raises(dlsynth.MidiFileError, match="start"):
        dlsynth.render(PrettyLike([Instrument(0, notes=[Note(float("nan"), 1.0, 60)])]))
    with pytest.raises(TypeError, match="midi must be"):
        dlsynth.render(12)


def test_bad_bank_raises_bank_error(tmp_path):
    junk = tmp_path / "junk.sf2"
    junk.write_bytes(b"RIFF\x10\x00\x00\x00sfbkLIST")
    midi = JAZZ / "test-c-major-scale.mid"
    for bank in (junk, tmp_path / "missing.dls", [cosine_bank(tmp_path / "ok.dls"), junk]):
        with pytest.raises(dlsynth.BankError):
            dlsynth.render(midi, bank)
    with pytest.raises(dlsynth.BankError):
        dlsynth.load_bank(junk)
    with pytest.raises(dlsynth.BankError):
        dlsynth.Synth(junk)
    assert dlsynth.BankError is dls.DLSError
    with pytest.raises(TypeError):
        dlsynth.render(midi, 42)


@pytest.mark.parametrize(
    "option",
    [
        dict(rate=100),
        dict(voices=0),
        dict(voices=5000),
        dict(interpolation="best"),
        dict(tail=-1),
        dict(tail="long"),
        dict(max_length=0),
        dict(threads=0),
        dict(gain_db=float("inf")),
        dict(tail=float("nan")),
    ],
)
def test_bad_options_raise_value_error(option):
    with pytest.raises(ValueError):
        dlsynth.render(JAZZ / "test-c-major-scale.mid", **option)


def test_bad_synth_calls_raise_value_error(tmp_path):
    with dlsynth.Synth(cosine_bank(tmp_path / "cos.dls")) as synth:
        for call in (
            lambda: synth.note_on(16, 60, 100),
            lambda: synth.note_on(0, 128, 100),
            lambda: synth.note_on(0, 60, 100, offset=-1),
            lambda: synth.note_on(0, 60, 100, group=2),
            lambda: synth.pitch_bend(0, 8192),
            lambda: synth.control_change(0, 7, 128),
            lambda: synth.sysex(b"\xf0\x7e\x80\xf7"),
            lambda: synth.render(),
            lambda: synth.render(out=np.zeros((8, 2))),
        ):
            with pytest.raises(ValueError):
                call()
    with pytest.raises(RuntimeError):
        synth.render(8)  # closed


def test_import_dlsynth_imports_no_numpy():
    code = "import sys, dlsynth; dlsynth.__version__; dlsynth.load_bank; assert 'numpy' not in sys.modules, 'numpy'"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def test_an_instrument_no_bank_has_is_a_render_warning(tmp_path):
    bank = cosine_bank(tmp_path / "cos.dls")  # programs 0 and 1, no drum kit
    obj = PrettyLike(
        [Instrument(0, is_drum=True, notes=[Note(0.0, 0.1, 36)]), Instrument(1, notes=[Note(0.0, 0.1, 69)])]
    )
    with pytest.warns(dlsynth.RenderWarning, match="no instrument for drum kit 0"):
        x = dlsynth.render(obj, bank, tail=0.0)
    assert np.abs(x).max() > 0.01  # the melodic one plays


def test_the_public_api_is_annotated():
    import inspect

    for fn in (
        dlsynth.render,
        dlsynth.load_bank,
        dlsynth.Synth.__init__,
        *[
            getattr(dlsynth.Synth, m)
            for m in (
                "note_on",
                "note_off",
                "control_change",
                "program_change",
                "pitch_bend",
                "sysex",
                "render",
                "close",
            )
        ],
    ):
        sig = inspect.signature(fn)
        missing = [p for p in sig.parameters.values() if p.name != "self" and p.annotation is inspect.Parameter.empty]
        assert not missing and sig.return_annotation is not inspect.Signature.empty, (fn.__qualname__, missing)
    assert (Path(dlsynth.__file__).parent / "py.typed").exists()
