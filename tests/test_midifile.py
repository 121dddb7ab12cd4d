"""The Standard MIDI File reader (smf/reader.py).

Corpus files: tests/data/midi/jazz-soft (MIT, Jazz-Soft, one file per category of the
jazz-soft test set) and tests/data/midi/sf-spec-test (MIT, S. Christian Collins). Other
files are built here, with mido or byte by byte.
"""

from __future__ import annotations

import io
import math
import random
import time
from fractions import Fraction
from pathlib import Path

import mido
import numpy as np
import pytest

from dlsynth.smf.reader import DEFAULT_TEMPO, MidiFileError, Song, TimedMessage, parse_midi, read_midi

DATA = Path(__file__).parent / "data" / "midi"
JAZZ = DATA / "jazz-soft"
SF_SPEC = DATA / "sf-spec-test" / "sf_spec_test.mid"

# 100 ns units per quarter note at the default tempo with 96 ticks per beat: 96 ticks = 0.5 s.
HALF_SECOND = 5_000_000
C_MAJOR = [0x3C, 0x3E, 0x40, 0x41, 0x43, 0x45, 0x47, 0x48]
# A parse of a dense two-minute, 16-channel, 100k-event file must take less than this.
MAX_SECONDS_FOR_100K_EVENTS = 1.0


# --- helpers ------------------------------------------------------------------------------


def vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def mtrk(body: bytes, eot: bool = True) -> bytes:
    if eot:
        body += b"\x00\xff\x2f\x00"
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def smf(fmt: int, division: int, *tracks: bytes, ntracks: int | None = None) -> bytes:
    n = len(tracks) if ntracks is None else ntracks
    return (
        b"MThd"
        + (6).to_bytes(4, "big")
        + fmt.to_bytes(2, "big")
        + n.to_bytes(2, "big")
        + division.to_bytes(2, "big")
        + b"".join(tracks)
    )


def mido_bytes(mf: mido.MidiFile) -> bytes:
    buf = io.BytesIO()
    mf.save(file=buf)
    return buf.getvalue()


def round_half_up(x: Fraction) -> int:
    return math.floor(x + Fraction(1, 2))


def mido_reference(path: Path) -> list[tuple[int, bytes]]:
    """(time in 100 ns, message bytes) from mido's merged track, timed with Fractions."""
    mf = mido.MidiFile(path)
    tempo = DEFAULT_TEMPO
    now = Fraction(0)  # 100 ns
    out = []
    for msg in mido.merge_tracks(mf.tracks):
        now += Fraction(msg.time * tempo * 10, mf.ticks_per_beat)
        if msg.type == "set_tempo":
            tempo = msg.tempo
        elif not msg.is_meta:
            out.append((round_half_up(now), bytes(msg.bytes())))
    return out


def pairs(song: Song) -> list[tuple[int, bytes]]:
    return [(e.time, e.data) for e in song.events]


def notes(song: Song) -> list[tuple[int, int, int]]:
    """(status, key, velocity) of the note messages."""
    return [(e.data[0], e.data[1], e.data[2]) for e in song.events if 0x80 <= e.data[0] < 0xA0]


def expect_error(source) -> str:
    with pytest.raises(MidiFileError) as ei:
        if isinstance(source, (bytes, bytearray)):
            parse_midi(source, name="built.mid")
        else:
            read_midi(source)
    msg = str(ei.value)
    assert "\n" not in msg and msg.strip() == msg
    return msg


def assert_sorted(song: Song):
    times = [e.time for e in song.events]
    assert times == sorted(times)
    assert song.times.dtype == np.int64 and song.times.tolist() == times
    if song.events:
        assert song.duration_100ns >= times[-1]


def assert_c_major_scale(song: Song, first_time: int = 0, step: int = HALF_SECOND):
    """Eight notes of one quarter each, note-off and next note-on at the same time."""
    ev = [e for e in song.events if 0x80 <= e.data[0] < 0xA0]
    assert len(ev) == 16
    for i, key in enumerate(C_MAJOR):
        on, off = ev[2 * i], ev[2 * i + 1]
        assert on.data[0] & 0xF0 == 0x90 and on.data[1] == key and on.data[2] > 0
        assert (off.data[0] & 0xF0 == 0x80 or off.data[2] == 0) and off.data[1] == key
        assert on.time == first_time + i * step
        assert off.time == first_time + (i + 1) * step


# --- corpus: every category of the jazz-soft set --------------------------------------------

MIDO_READABLE = sorted(
    p
    for p in JAZZ.glob("*.mid")
    if p.name
    not in {
        "test-corrupt-file-missing-byte.mid",
        "test-empty-file.mid",
        "test-not-a-midi-file.mid",
        "test-non-midi-track.mid",
        "test-running-status-sysex.mid",
        "test-2-tracks-type-2.mid",  # mido cannot merge format 2 tracks
    }
    and not p.name.startswith("test-illegal-message-")
) + [SF_SPEC]


@pytest.mark.parametrize("path", MIDO_READABLE, ids=lambda p: p.name)
def test_events_equal_mido_merged_track(path):
    """Where mido reads a file, the same messages come out in the same order at the same
    (exactly rounded) times."""
    song = read_midi(path)
    assert pairs(song) == mido_reference(path)
    assert_sorted(song)
    assert all(e.channel_group == 1 for e in song.events)


def test_format_0_1_2_two_tracks():
    s0 = read_midi(JAZZ / "test-2-tracks-type-0.mid")
    s1 = read_midi(JAZZ / "test-2-tracks-type-1.mid")
    s2 = read_midi(JAZZ / "test-2-tracks-type-2.mid")
    assert (s0.format, s1.format, s2.format) == (0, 1, 2)
    for s in (s0, s1, s2):
        assert len(s.events) == 32 and len(s.tracks) == 2 and s.ticks_per_beat == 96
        assert [t.events for t in s.tracks] == [16, 16]
        assert_sorted(s)
    # format 0 with two tracks: invalid, merged like format 1, with a warning
    assert any("format 0" in w for w in s0.warnings)
    assert pairs(s0) == pairs(s1)
    # format 1: simultaneous; at equal times track 1's events come before track 2's
    assert s1.duration_100ns == 9 * HALF_SECOND
    at_1s = [e.data for e in s1.events if e.time == 2 * HALF_SECOND]
    assert at_1s == [b"\x80\x3c\x40", b"\x90\x3e\x7f", b"\x81\x3d\x40", b"\x91\x3f\x7f"]
    # format 2: track 2 starts where track 1 ends (end-of-track at 9 quarters)
    assert s2.duration_100ns == 18 * HALF_SECOND
    first, second = s2.events[:16], s2.events[16:]
    assert all(e.data[0] & 0x0F == 0 for e in first) and all(e.data[0] & 0x0F == 1 for e in second)
    assert first[0].time == HALF_SECOND and first[-1].time == 9 * HALF_SECOND
    assert second[0].time == 10 * HALF_SECOND and second[-1].time == 18 * HALF_SECOND
    assert s1.title == "Standard MIDI file type 1"


def test_c_major_scale_and_metadata():
    s = read_midi(JAZZ / "test-c-major-scale.mid")
    assert_c_major_scale(s)
    assert s.warnings == [] and s.channel_groups == {1}
    assert s.title == "C Major Scale Test"
    assert s.tempo_changes == [(0, DEFAULT_TEMPO)]
    assert s.smpte_offset_100ns is None


@pytest.mark.parametrize("name", ["test-running-status-metaevent.mid", "test-running-status-sysex.mid"])
def test_running_status_survives_meta_and_sysex(name):
    s = read_midi(JAZZ / name)
    # the scale is written with running status note-ons (velocity 0 as note-off)
    assert_c_major_scale(s)
    assert s.warnings == []
    if "sysex" in name:
        sysex = [e for e in s.events if e.data[0] == 0xF0]
        assert [e.data for e in sysex] == [b"\xf0\x7e\x7f\x06\x01\xf7"]
        assert sysex[0].time == 4 * HALF_SECOND
        # it sits between the F note-off and the G note-on (file order at equal times)
        i = s.events.index(sysex[0])
        assert s.events[i - 1].data == b"\x90\x41\x00" and s.events[i + 1].data == b"\x90\x43\x7f"


@pytest.mark.parametrize("nbytes", [2, 3, 4])
def test_vlq_multi_byte_delta_times(nbytes):
    s = read_midi(JAZZ / f"test-vlq-{nbytes}-byte.mid")
    assert_c_major_scale(s)
    assert s.warnings == []


def test_vlq_edges_built():
    # the largest SMF delta (0x0FFFFFFF, 4 bytes) and over-long encodings of small values
    big = 0x0FFFFFFF
    body = vlq(big) + b"\x90\x40\x40" + b"\x80\x80\x00" + b"\x80\x40\x00" + b"\x81\x00" + b"\x90\x41\x40"
    s = parse_midi(smf(0, 96, mtrk(body)))
    ticks = [big, big, big + 128]
    assert [e.time for e in s.events] == [round_half_up(Fraction(t * DEFAULT_TEMPO * 10, 96)) for t in ticks]


def test_corrupt_missing_byte_is_one_line_error():
    msg = expect_error(JAZZ / "test-corrupt-file-missing-byte.mid")
    assert "test-corrupt-file-missing-byte.mid: truncated track 1 at byte 0x10b" in msg


def test_corrupt_extra_byte_reads_with_warning():
    s = read_midi(JAZZ / "test-corrupt-file-extra-byte.mid")
    assert_c_major_scale(s)
    assert s.warnings == ["ignored 1 byte after the last chunk"]


@pytest.mark.parametrize(
    "name, problem",
    [
        ("test-empty-file.mid", "empty file"),
        ("test-not-a-midi-file.mid", "not a Standard MIDI File"),
        ("test-syx-7e-06-01-id-request.syx", "not a Standard MIDI File"),
    ],
)
def test_not_midi_files_are_errors(name, problem):
    msg = expect_error(JAZZ / name)
    assert msg.startswith(str(JAZZ / name) + ": ") and problem in msg


def test_missing_file_and_directory_are_errors(tmp_path):
    assert "cannot read" in expect_error(tmp_path / "nope.mid")
    assert "cannot read" in expect_error(tmp_path)


def test_empty_song_and_zero_tracks_are_valid_with_warning():
    s = read_midi(JAZZ / "test-empty.mid")
    assert s.events == [] and s.duration_100ns == 0 and len(s.tracks) == 1
    assert "no playable events" in s.warnings and s.channel_groups == set()
    s = parse_midi(smf(1, 480, ntracks=0))
    assert s.events == [] and s.tracks == [] and s.duration_100ns == 0
    assert "file has no tracks" in s.warnings


def test_silence_files_keep_their_length():
    s = read_midi(JAZZ / "test-silence-end-of-track.mid")
    assert s.events == [] and s.duration_100ns == 10 * HALF_SECOND
    s = read_midi(JAZZ / "test-silence-all-notes-off.mid")
    assert [e.data for e in s.events] == [b"\xb0\x7b\x00"]
    s = read_midi(JAZZ / "test-track-length.mid")
    # the end-of-track event, 192 ticks after the last note-off, sets the length
    assert s.events[-1].time == HALF_SECOND and s.duration_100ns == 3 * HALF_SECOND


def test_non_midi_chunk_is_skipped():
    s = read_midi(JAZZ / "test-non-midi-track.mid")
    assert_c_major_scale(s)
    assert s.warnings == ["skipped unknown chunk 'Junk' at byte 0xe"]


ILLEGAL = {
    "f1-xx": 0xF1,
    "f2-xx-xx": 0xF2,
    "f3-xx": 0xF3,
    "f4": 0xF4,
    "f5": 0xF5,
    "f6": 0xF6,
    "f8": 0xF8,
    "f9": 0xF9,
    "fa": 0xFA,
    "fb": 0xFB,
    "fc": 0xFC,
    "fd": 0xFD,
    "fe": 0xFE,
}


@pytest.mark.parametrize("suffix", sorted(ILLEGAL))
def test_illegal_messages_are_dropped_with_warning(suffix):
    s = read_midi(JAZZ / f"test-illegal-message-{suffix}.mid")
    assert_c_major_scale(s)
    assert len(s.warnings) == 1
    assert f"(0x{ILLEGAL[suffix]:02X})" in s.warnings[0] and "dropped 1 " in s.warnings[0]


def test_all_illegal_messages_one_warning_per_kind():
    s = read_midi(JAZZ / "test-illegal-message-all.mid")
    assert_c_major_scale(s)
    assert len(s.warnings) == len(ILLEGAL)
    for status, w in zip(sorted(ILLEGAL.values()), s.warnings):
        assert f"(0x{status:02X})" in w


def test_smpte_offset_is_reported_not_applied():
    s = read_midi(JAZZ / "test-smpte-offset.mid")
    assert s.smpte_offset_100ns == 60 * 10_000_000  # 00:01:00:00 at 24 fps
    assert_c_major_scale(s)  # times still count from the first tick


def test_smpte_offset_drop_frame_label():
    # 01:10:00;02 at 29.97 drop-frame (rate code 2), 50 subframes
    hr = (2 << 5) | 1
    body = b"\x00\xff\x54\x05" + bytes([hr, 10, 0, 2, 50]) + b"\x00\x90\x40\x40"
    s = parse_midi(smf(1, 96, mtrk(body)))
    minutes = 70
    frames = minutes * 60 * 30 + 2 - 2 * (minutes - minutes // 10)
    assert s.smpte_offset_100ns == round_half_up((frames + Fraction(1, 2)) * Fraction(1001, 30000) * 10**7)


def test_other_categories_read_cleanly():
    """Bank select, controllers, velocity, RPN, sysex and karaoke files: no warnings, and
    the messages the synth needs are there."""
    gm = read_midi(JAZZ / "test-all-gm-sounds.mid")
    assert sorted({e.data[1] for e in gm.events if e.data[0] & 0xF0 == 0xC0}) == list(range(128))
    doggy = read_midi(JAZZ / "test-gs-doggy-01-00-7b.mid")
    assert [e.data[:2] for e in doggy.events if e.data[0] & 0xF0 == 0xB0][:2] == [b"\xb0\x00", b"\xb0\x20"]
    damper = read_midi(JAZZ / "test-control-40-damper.mid")
    assert any(e.data[:2] == b"\xb0\x40" for e in damper.events)
    vel = read_midi(JAZZ / "test-note-on-velocity.mid")
    assert len({n[2] for n in notes(vel) if n[0] & 0xF0 == 0x90 and n[2]}) > 1
    rpn = read_midi(JAZZ / "test-rpn-00-01-fine-tuning.mid")
    assert any(e.data[:3] == b"\xb0\x65\x00" for e in rpn.events)
    gm1 = read_midi(JAZZ / "test-sysex-7e-09-01-gm1-enable.mid")
    assert [e.data for e in gm1.events] == [b"\xf0\x7e\x7f\x09\x01\xf7"]
    tuning = read_midi(JAZZ / "test-sysex-7x-08-0x-scale-tuning.mid")
    assert all(e.data[-1] == 0xF7 for e in tuning.events if e.data[0] == 0xF0)
    kar = read_midi(JAZZ / "test-karaoke-kar.mid")
    assert kar.format == 1 and kar.ticks_per_beat == 100 and kar.tempo_changes == [(0, 666667)]
    for s in (gm, doggy, damper, vel, rpn, gm1, tuning, kar):
        assert s.warnings == []
        assert_sorted(s)


@pytest.mark.parametrize("k", range(4))
def test_multichannel_chords_all_layouts_equal(k):
    """Format 0 and the three format 1 layouts give the same chords at the same times
    (layout 3 puts two of the voices on one channel, so channels are not compared)."""
    ref = read_midi(JAZZ / "test-multichannel-chords-0.mid")
    s = read_midi(JAZZ / f"test-multichannel-chords-{k}.mid")
    key = lambda e: (e.time, e.data[0] & 0xF0, e.data[1:])  # noqa: E731
    assert sorted(map(key, s.events)) == sorted(map(key, ref.events))
    assert len(s.events) == 48 and s.duration_100ns == 8 * HALF_SECOND


def test_sf_spec_test_file():
    s = read_midi(SF_SPEC)
    assert s.format == 1 and s.ticks_per_beat == 960 and len(s.tracks) == 8
    mf = mido.MidiFile(SF_SPEC)
    assert [t.events for t in s.tracks] == [sum(not m.is_meta for m in t) for t in mf.tracks]
    assert [t.name for t in s.tracks][:2] == ["testv3_1", "tests 1"]
    assert s.title == "testv3_1" and s.warnings == []


# --- tempo map --------------------------------------------------------------------------------


def test_tempo_change_times_exact():
    mf = mido.MidiFile(type=1, ticks_per_beat=960)
    conductor = mido.MidiTrack(
        [
            mido.MetaMessage("set_tempo", tempo=500000, time=0),
            mido.MetaMessage("set_tempo", tempo=400000, time=960),  # at tick 960
            mido.MetaMessage("set_tempo", tempo=333333, time=960),  # at tick 1920
        ]
    )
    notes_track = mido.MidiTrack(
        [
            mido.Message("note_on", note=60, velocity=100, time=480),  # tick 480
            mido.Message("note_on", note=62, velocity=100, time=480),  # tick 960: after the change
            mido.Message("note_on", note=64, velocity=100, time=960),  # tick 1920
            mido.Message("note_on", note=65, velocity=100, time=1),  # tick 1921
        ]
    )
    mf.tracks += [conductor, notes_track]
    s = parse_midi(mido_bytes(mf))
    t960 = 960 * 500000 * 10 // 960  # 0.5 s
    t1920 = t960 + 960 * 400000 * 10 // 960  # + 0.4 s
    t1921 = round_half_up(t1920 + Fraction(333333 * 10, 960))
    assert [e.time for e in s.events] == [2_500_000, t960, t1920, t1921]
    assert (t960, t1920, t1921) == (5_000_000, 9_000_000, 9_003_472)
    assert s.tempo_changes == [(0, 500000), (t960, 400000), (t1920, 333333)]


def test_tempo_in_any_track_applies_to_all_format_1():
    t0 = mtrk(b"\x00\x90\x40\x40" + b"\x83\x60\x90\x41\x40")  # note at 0 and at tick 480
    t1 = mtrk(b"\x00\xff\x51\x03" + (250000).to_bytes(3, "big"))  # 240 bpm, in track 2
    s = parse_midi(smf(1, 480, t0, t1))
    assert [e.time for e in s.events] == [0, 2_500_000]


def test_format_2_each_track_has_its_own_tempo_map():
    t0 = mtrk(b"\x00\xff\x51\x03" + (250000).to_bytes(3, "big") + b"\x00\x90\x40\x40" + b"\x60\x80\x40\x00")
    t1 = mtrk(b"\x00\x90\x41\x40" + b"\x60\x80\x41\x00")  # default tempo again
    s = parse_midi(smf(2, 96, t0, t1))
    # track 1: 96 ticks at 250000 us + its end-of-track = 0.25 s; track 2 starts there
    assert [e.time for e in s.events] == [0, 2_500_000, 2_500_000, 7_500_000]
    assert s.duration_100ns == 7_500_000
    assert s.tempo_changes == [(0, 250000), (2_500_000, 500000)]


@pytest.mark.parametrize(
    "fps, tpf, tick, expected",
    [
        (25, 40, 1, 10_000),  # 1000 ticks per second
        (24, 4, 96, 10_000_000),
        (30, 80, 2401, round_half_up(Fraction(2401 * 10**7, 2400))),
        (29, 4, 120, 10_010_000),  # 29.97 fps: 120 ticks = 1.001 s
    ],
)
def test_smpte_division(fps, tpf, tick, expected):
    division = ((256 - fps) << 8) | tpf
    tempo = b"\x00\xff\x51\x03" + (250000).to_bytes(3, "big")  # ignored under SMPTE timing
    s = parse_midi(smf(0, division, mtrk(tempo + vlq(tick) + b"\x90\x40\x40")))
    assert s.ticks_per_beat is None and s.smpte_division == (fps, tpf)
    assert [e.time for e in s.events] == [expected]
    assert s.tempo_changes == []


def test_one_hour_file_timing_is_exact():
    """Alternating tempos every bar and notes off the beat for over an hour: every event
    time equals the closed form, rounded once."""
    tpb, bar = 1000, 4000
    a, b = 461539, 500001  # us per quarter: neither divides evenly into 100 ns per tick
    mf = mido.MidiFile(type=1, ticks_per_beat=tpb)
    bars = 2 * 1900
    conductor = mido.MidiTrack(
        mido.MetaMessage("set_tempo", tempo=(a if i % 2 == 0 else b), time=(0 if i == 0 else bar)) for i in range(bars)
    )
    step = 333
    n = bars * bar // step
    track = mido.MidiTrack()
    for i in range(n):
        track.append(mido.Message("note_on", note=60, velocity=90, time=step if i else 0))
    mf.tracks += [conductor, track]
    s = parse_midi(mido_bytes(mf))

    def exact(tick: int) -> Fraction:
        pairs_done, rem = divmod(tick, 2 * bar)
        return Fraction(10 * (pairs_done * bar * (a + b) + min(rem, bar) * a + max(rem - bar, 0) * b), tpb)

    ticks = [i * step for i in range(n)]
    assert [e.time for e in s.events] == [round_half_up(exact(t)) for t in ticks]
    assert s.events[-1].time > 3600 * 10**7
    # the conductor track ends at its last tempo change, the note track at its last note
    assert s.duration_100ns == round_half_up(exact(max(ticks[-1], (bars - 1) * bar)))


def test_extreme_deltas_and_tempo_stay_exact():
    """Largest deltas at the slowest tempo: intermediate values beyond int64 still give
    exact times; times beyond the int64 range of REFERENCE_TIME are an error."""
    body = b"\x00\xff\x51\x03\xff\xff\xff" + (vlq(0x0FFFFFFF) + b"\x90\x40\x40") * 1000
    s = parse_midi(smf(0, 0x7FFF, mtrk(body)))
    last = 1000 * 0x0FFFFFFF
    assert s.events[-1].time == round_half_up(Fraction(last * 0xFFFFFF * 10, 0x7FFF))
    assert "out of range" in expect_error(smf(0, 1, mtrk(body)))


# --- ports and devices: channel groups ------------------------------------------------------


def test_midi_port_meta_maps_tracks_to_channel_groups():
    mf = mido.MidiFile(type=1, ticks_per_beat=96)
    for port in range(3):
        mf.tracks.append(
            mido.MidiTrack(
                [
                    mido.Message("program_change", channel=0, program=port, time=0),  # before the port
                    mido.MetaMessage("midi_port", port=port, time=0),
                    mido.Message("note_on", channel=0, note=60 + port, velocity=100, time=96),
                ]
            )
        )
    s = parse_midi(mido_bytes(mf))
    assert s.channel_groups == {1, 2, 3}
    assert [(e.channel_group, e.data) for e in s.events] == [
        (1, b"\xc0\x00"),
        (2, b"\xc0\x01"),
        (3, b"\xc0\x02"),
        (1, b"\x90\x3c\x64"),
        (2, b"\x90\x3d\x64"),
        (3, b"\x90\x3e\x64"),
    ]
    assert [t.port for t in s.tracks] == [0, 1, 2]
    assert [t.channel_groups for t in s.tracks] == [{1}, {2}, {3}]


def test_device_name_meta_maps_tracks_to_channel_groups():
    mf = mido.MidiFile(type=1, ticks_per_beat=96)
    for dev, ch in [("Synth A", 0), ("Synth B", 0), ("Synth A", 1), (None, 2)]:
        track = mido.MidiTrack()
        if dev:
            track.append(mido.MetaMessage("device_name", name=dev, time=0))
        track.append(mido.Message("note_on", channel=ch, note=60, velocity=100, time=10))
        mf.tracks.append(track)
    s = parse_midi(mido_bytes(mf))
    assert [e.channel_group for e in s.events] == [1, 2, 1, 1]
    assert [t.device for t in s.tracks] == ["Synth A", "Synth B", "Synth A", None]
    assert s.channel_groups == {1, 2}


def test_port_change_mid_track_and_port_beats_device():
    body = (
        b"\x00\xff\x09\x03Dev"
        + b"\x00\xff\x21\x01\x04"  # device then port 4 at tick 0
        + b"\x00\x90\x40\x40"
        + b"\x10\x80\x40\x00"
        + b"\x00\xff\x21\x01\x01"  # port 1 from tick 16 on
        + b"\x00\x90\x41\x40"
    )
    s = parse_midi(smf(0, 96, mtrk(body)))
    assert [e.channel_group for e in s.events] == [5, 5, 2]


# --- sysex ------------------------------------------------------------------------------------


def test_sysex_split_across_packets_is_reassembled():
    # The SMF specification's example: F0 03 43 12 00 / 81 48 F7 06 43 12 00 43 12 00 / 64 F7 04 43 12 00 F7
    body = (
        b"\x00\xf0\x03\x43\x12\x00"
        + b"\x81\x48\xf7\x06\x43\x12\x00\x43\x12\x00"
        + b"\x64\xf7\x04\x43\x12\x00\xf7"
        + b"\x00\x90\x40\x40"
    )
    s = parse_midi(smf(0, 96, mtrk(body)))
    ticks = 200 + 100
    t = round_half_up(Fraction(ticks * DEFAULT_TEMPO * 10, 96))
    whole = b"\xf0" + b"\x43\x12\x00" * 4 + b"\xf7"
    assert pairs(s) == [(t, whole), (t, b"\x90\x40\x40")]
    assert s.warnings == []


def test_sysex_escapes_and_unterminated_packets():
    body = (
        b"\x00\xf0\x05\x7e\x7f\x09\x01\xf7"  # complete: F0 + data + F7
        + b"\x00\xf7\x01\xf8"  # escape with a timing clock: dropped
        + b"\x00\xf7\x03\x90\x40\x40"  # escape with a note-on: kept
        + b"\x00\xf7\x06\xf0\x41\x10\x42\x12\xf7"  # escape holding a whole sysex
        + b"\x00\xf0\x02\x41\x10"  # unterminated ...
        + b"\x00\xf0\x02\x43\xf7"  # ... cut off by a new F0: dropped
        + b"\x00\xf0\x02\x44\x10"
    )  # unterminated at the end of the track
    s = parse_midi(smf(0, 96, mtrk(body)))
    assert [e.data for e in s.events] == [
        b"\xf0\x7e\x7f\x09\x01\xf7",
        b"\x90\x40\x40",
        b"\xf0\x41\x10\x42\x12\xf7",
        b"\xf0\x43\xf7",
    ]
    assert len(s.warnings) == 3
    assert any("0xF8" in w for w in s.warnings)
    assert sum("unterminated sysex" in w for w in s.warnings) == 2


def test_mido_sysex_round_trip():
    mf = mido.MidiFile(type=0)
    mf.tracks.append(
        mido.MidiTrack([mido.Message("sysex", data=[0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41])])
    )
    s = parse_midi(mf)  # a mido.MidiFile object is accepted directly
    assert [e.data for e in s.events] == [b"\xf0\x41\x10\x42\x12\x40\x00\x7f\x00\x41\xf7"]


# --- malformed input --------------------------------------------------------------------------


def test_data_bytes_over_127_are_clamped_with_warning():
    s = parse_midi(smf(0, 96, mtrk(b"\x00\x90\x40\x80" + b"\x00\xc0\xff")))
    assert [e.data for e in s.events] == [b"\x90\x40\x7f", b"\xc0\x7f"]
    assert s.warnings == ["clamped 2 data bytes > 127 to 127"]


@pytest.mark.parametrize(
    "data, problem",
    [
        (b"MThd\x00\x00\x00\x06\x00\x03\x00\x01\x00\x60", "unknown SMF format 3"),
        (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00", "zero ticks"),
        (b"MThd\x00\x00\x00\x06\x00\x00", "truncated header"),
        (b"MThd\x00\x00\x00\x02\x00\x00\x00\x01\x00\x60", "header chunk too short"),
        (smf(0, 96, mtrk(b"\x00\x40\x40")), "without a status byte"),
        (smf(0, 96, mtrk(b"\x00\x90\x40", eot=False)), "truncated track 1"),
        (smf(0, 96, mtrk(b"\x00\xff\x01\x10abc", eot=False)), "truncated track 1"),
        (smf(0, 96, mtrk(b"\x00\x90\x40\x40", eot=True))[:-3], "truncated track 1"),
        (b"RIFF\x04\x00\x00\x00WAVE", "not a Standard MIDI File"),
    ],
)
def test_malformed_built_files(data, problem):
    msg = expect_error(data)
    assert msg.startswith("built.mid: ") and problem in msg


def test_chunk_length_past_end_of_file_with_complete_track_is_a_warning():
    data = smf(0, 96, mtrk(b"\x00\x90\x40\x40"))
    data = data[:18] + (100).to_bytes(4, "big") + data[22:]  # MTrk claims 100 bytes
    s = parse_midi(data)
    assert [e.data for e in s.events] == [b"\x90\x40\x40"]
    assert s.warnings == ["track 1: chunk length runs past the end of the file"]


def test_rmid_wrapper():
    inner = smf(0, 96, mtrk(b"\x00\x90\x40\x40"))
    data_chunk = b"data" + len(inner).to_bytes(4, "little") + inner
    riff = b"RIFF" + (4 + len(data_chunk)).to_bytes(4, "little") + b"RMID" + data_chunk
    assert [e.data for e in parse_midi(riff).events] == [b"\x90\x40\x40"]


def test_truncations_and_mutations_never_escape_as_other_errors():
    """Every prefix of real files, and random byte changes: a Song or a MidiFileError."""
    rng = random.Random(1234)
    seeds = [
        (JAZZ / n).read_bytes()
        for n in ("test-running-status-sysex.mid", "test-2-tracks-type-1.mid", "test-smpte-offset.mid")
    ]
    seeds.append(smf(0, 96, mtrk(b"\x00\xf0\x03\x43\x12\x00\x10\xf7\x02\x00\xf7\x00\xff\x21\x01\x02")))
    variants = []
    for data in seeds:
        variants += [data[:k] for k in range(len(data))]
        for _ in range(300):
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(14, len(b))] = rng.randrange(256)
            variants.append(bytes(b))
    start = time.perf_counter()
    for v in variants:
        try:
            song = parse_midi(v, name="fuzz.mid")
        except MidiFileError as e:
            assert "\n" not in str(e) and str(e).startswith("fuzz.mid: ")
        else:
            assert_sorted(song)
            assert all(e.channel_group >= 1 and e.data for e in song.events)
    assert time.perf_counter() - start < 10.0


# --- speed ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dense_file(tmp_path_factory) -> Path:
    rng = random.Random(7)
    mf = mido.MidiFile(type=1, ticks_per_beat=480)
    for ch in range(16):
        track = mido.MidiTrack()
        for _ in range(6250 // 3):
            key = rng.randint(40, 80)
            track.append(mido.Message("note_on", channel=ch, note=key, velocity=100, time=rng.randint(0, 60)))
            track.append(mido.Message("note_off", channel=ch, note=key, time=rng.randint(1, 60)))
            track.append(mido.Message("control_change", channel=ch, control=1, value=rng.randint(0, 127)))
        mf.tracks.append(track)
    path = tmp_path_factory.mktemp("midi") / "dense.mid"
    mf.save(path)
    return path


def test_dense_file_parses_fast(dense_file):
    read_midi(dense_file)  # warm up imports and caches
    best = min(_timed(read_midi, dense_file) for _ in range(3))
    song = read_midi(dense_file)
    assert len(song.events) > 99_000
    assert 100 * 10**7 < song.duration_100ns < 150 * 10**7  # about two minutes
    assert best < MAX_SECONDS_FOR_100K_EVENTS, f"{best:.3f} s"
    assert isinstance(song.events[0], TimedMessage)


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
