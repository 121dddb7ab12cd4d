#!/usr/bin/env python3
"""Make the dense two-minute General MIDI benchmark file, deterministically.

A sixteen-channel "band" arrangement, generated from a fixed seed with mido, written to
``benchmarks/cache/dense-2min.mid`` (git-ignored; rebuilt byte-identically on demand):

====  =======================  ==========================================================
ch    program                  part
====  =======================  ==========================================================
 1    33 Electric Bass (finger) eighth-note bass line, slides (pitch bend)
 2     0 Acoustic Grand Piano  chords on every beat, sustain pedal (CC64) per bar
 3    48 String Ensemble 1     whole-bar pads, expression swells (CC11)
 4    61 Brass Section         off-beat stabs
 5    81 Lead 2 (sawtooth)     melody in eighths and sixteenths, bends and vibrato bends
 6    46 Orchestral Harp       sixteenth-note arpeggios
 7     4 Electric Piano 1      sixteenth-note triplet arpeggios in choruses (the fastest line)
 8    25 Acoustic Guitar steel strummed chords (staggered onsets)
 9    52 Choir Aahs            long pads, two voices
10    -- drums (channel 10)    kick, snare, hi-hats in sixteenths, toms fills, crashes
11    89 Pad 2 (warm)          long pads
12    65 Alto Sax              counter melody
13    11 Vibraphone            quarter-note arpeggio, answer phrases
14    45 Pizzicato Strings     eighth-note ostinato
15    47 Timpani               downbeats and rolls at section ends
16    16 Drawbar Organ         held chords, volume (CC7) ramps
====  =======================  ==========================================================

Every channel gets bank select 0 (CC0 and CC32), a program change, CC7 volume, CC10 pan
and CC11 expression at the start; the song has sections of different density (intro,
verses, choruses, a break, an outro), so the load on the synth varies. The summary printed
at the end gives the notes per second (the target is 30 to 60 on average).

It also copies a few corpus files next to it (benchmarks/cache/midi/) so the other
benchmarks have one folder to point at; ``corpus_files()`` lists them.

Usage::

    python benchmarks/make_dense_midi.py [--out PATH] [--seed N] [--json]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import mido

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / "cache"
DENSE_MIDI = CACHE / "dense-2min.mid"
CORPUS_DIR = CACHE / "midi"
SEED = 20240517
TPB = 480  # ticks per quarter note
BPM = 124
SECONDS = 120.0

# Corpus files the comparison uses besides the dense file (repo paths).
CORPUS = [
    "tests/data/midi/jazz-soft/test-all-gm-sounds.mid",
    "tests/data/midi/jazz-soft/test-multichannel-chords-0.mid",
    "tests/data/midi/jazz-soft/test-multichannel-chords-3.mid",
    "tests/data/midi/jazz-soft/test-c-major-scale.mid",
    "tests/data/midi/jazz-soft/test-control-40-damper.mid",
    "tests/data/midi/sf-spec-test/sf_spec_test.mid",
]

# channel (0-based) -> (program, volume, pan)
PARTS = {
    0: (33, 110, 64),  # bass
    1: (0, 96, 50),  # piano
    2: (48, 84, 76),  # strings
    3: (61, 92, 84),  # brass
    4: (81, 86, 64),  # lead
    5: (46, 80, 30),  # harp arpeggios
    6: (4, 78, 98),  # e-piano fast arpeggios
    7: (25, 82, 40),  # guitar strums
    8: (52, 72, 70),  # choir
    9: (0, 110, 64),  # drums (channel 10)
    10: (89, 70, 58),  # warm pad
    11: (65, 84, 88),  # sax
    12: (11, 80, 20),  # vibraphone
    13: (45, 84, 104),  # pizzicato
    14: (47, 96, 64),  # timpani
    15: (16, 66, 64),  # organ
}

# Chord progressions (root as a pitch class offset, quality) per section kind.
MAJ, MIN, DOM, MIN7 = (0, 4, 7), (0, 3, 7), (0, 4, 7, 10), (0, 3, 7, 10)
PROGRESSIONS = {
    "verse": [(0, MAJ), (9, MIN), (5, MAJ), (7, DOM)],
    "chorus": [(5, MAJ), (7, DOM), (4, MIN7), (9, MIN)],
    "break": [(2, MIN7), (7, DOM), (0, MAJ), (0, MAJ)],
}
SCALE = (0, 2, 4, 5, 7, 9, 11)


class Song:
    """Absolute-tick events per channel, turned into one format-1 file at the end."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int, int, mido.Message]] = []  # (tick, order, seq, msg)
        self._seq = 0
        self.notes = 0

    def add(self, tick: int, msg: mido.Message, order: int = 1) -> None:
        # order: 0 = controllers/programs before notes at the same tick, 1 = note-offs, 2 = note-ons
        self.events.append((int(tick), order, self._seq, msg))
        self._seq += 1

    def note(self, ch: int, tick: int, length: int, key: int, vel: int) -> None:
        key = max(0, min(127, key))
        vel = max(1, min(127, vel))
        length = max(10, int(length))
        self.add(tick, mido.Message("note_on", channel=ch, note=key, velocity=vel), 2)
        self.add(tick + length, mido.Message("note_off", channel=ch, note=key, velocity=64), 1)
        self.notes += 1

    def cc(self, ch: int, tick: int, num: int, val: int) -> None:
        self.add(tick, mido.Message("control_change", channel=ch, control=num, value=max(0, min(127, int(val)))), 0)

    def bend(self, ch: int, tick: int, val: int) -> None:
        self.add(tick, mido.Message("pitchwheel", channel=ch, pitch=max(-8192, min(8191, int(val)))), 0)

    def to_file(self) -> mido.MidiFile:
        mf = mido.MidiFile(type=1, ticks_per_beat=TPB)
        meta = mido.MidiTrack()
        meta.append(mido.MetaMessage("track_name", name="dlsynth dense benchmark", time=0))
        meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(BPM), time=0))
        meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
        mf.tracks.append(meta)
        by_ch: dict[int, list] = {}
        for ev in self.events:
            by_ch.setdefault(ev[3].channel, []).append(ev)
        for ch in sorted(by_ch):
            tr = mido.MidiTrack()
            tr.append(mido.MetaMessage("track_name", name=f"ch{ch + 1}", time=0))
            last = 0
            for tick, _o, _s, msg in sorted(by_ch[ch], key=lambda e: (e[0], e[1], e[2])):
                tr.append(msg.copy(time=tick - last))
                last = tick
            tr.append(mido.MetaMessage("end_of_track", time=0))
            mf.tracks.append(tr)
        return mf


def chord_keys(root_pc: int, quality, base: int, inversion: int = 0) -> list[int]:
    keys = [base + root_pc + iv for iv in quality]
    for i in range(inversion % len(keys)):
        keys[i] += 12
    return sorted(keys)


def build(seed: int = SEED) -> tuple[mido.MidiFile, dict]:
    rng = random.Random(seed)
    s = Song()
    beat = TPB
    bar = 4 * beat
    six = beat // 4  # sixteenth
    total_bars = int(round(SECONDS * BPM / 60 / 4))  # 62 bars at 124 BPM = 120 s

    # Setup: bank select 0, program, volume, pan, expression, pedal up, bend centred.
    for ch, (prog, vol, pan) in PARTS.items():
        s.cc(ch, 0, 0, 0)
        s.cc(ch, 0, 32, 0)
        s.add(0, mido.Message("program_change", channel=ch, program=prog), 0)
        s.cc(ch, 0, 7, vol)
        s.cc(ch, 0, 10, pan)
        s.cc(ch, 0, 11, 127)
        s.cc(ch, 0, 64, 0)
        s.bend(ch, 0, 0)
    start = 2 * beat  # a short lead-in so all setup events are well before the first note

    # Song form: (section kind, bars, density 0..1)
    form = [
        ("break", 4, 0.45),
        ("verse", 8, 0.7),
        ("chorus", 8, 1.0),
        ("verse", 8, 0.75),
        ("chorus", 8, 1.0),
        ("break", 6, 0.55),
        ("chorus", 12, 1.0),
        ("verse", 4, 0.6),
        ("break", 4, 0.4),
    ]
    assert sum(b for _, b, _ in form) == total_bars, sum(b for _, b, _ in form)
    key_shift = 0
    b0 = 0
    for si, (kind, nbars, dens) in enumerate(form):
        prog = PROGRESSIONS[kind]
        if si == 6:
            key_shift = 2  # the last chorus goes up a tone
        last_section = si == len(form) - 1
        for bi in range(nbars):
            t = start + (b0 + bi) * bar
            root_pc, qual = prog[bi % len(prog)]
            root_pc = (root_pc + key_shift) % 12
            vel_bias = int(18 * dens)

            # --- drums (channel 10)
            for k in range(16):
                tt = t + k * six
                if k % 2 == 0 or dens >= 1.0:
                    s.note(
                        9,
                        tt,
                        six,
                        42 if k % 8 != 6 else 46,
                        50 + vel_bias + (20 if k % 4 == 0 else 0) + rng.randint(-8, 8),
                    )
                if k in (0, 8) or (k == 10 and dens > 0.8) or (k == 7 and rng.random() < 0.3):
                    s.note(9, tt, six, 36, 100 + rng.randint(-6, 6))
                if k in (4, 12):
                    s.note(9, tt, six, 38, 96 + rng.randint(-8, 8))
                if dens >= 1.0 and k in (2, 6, 14) and rng.random() < 0.35:
                    s.note(9, tt, six, 37, 60 + rng.randint(0, 20))
            if bi == 0:
                s.note(9, t, 2 * beat, 49, 110)
            if bi == nbars - 1:  # a tom fill over the last beat
                for k, tom in enumerate((50, 48, 45, 43)):
                    s.note(9, t + 3 * beat + k * six, six, tom, 90 + 6 * k)

            # --- bass: eighths with occasional octave jumps and a slide into the next bar
            for k in range(8):
                key = 36 + root_pc + (12 if k in (3, 7) and rng.random() < 0.5 else 0)
                if k == 6 and rng.random() < 0.4:
                    key = 36 + root_pc + 7
                s.note(0, t + k * beat // 2, beat // 2 - 20, key, 88 + vel_bias // 2 + rng.randint(-10, 10))
            if rng.random() < 0.35:
                for j in range(8):
                    s.bend(0, t + 7 * beat // 2 + j * 30, -j * 1024 // 2)
                s.bend(0, t + bar - 5, 0)

            # --- piano chords on every beat (offbeats too in choruses), sustain pedal per bar
            s.cc(1, t, 64, 0)
            s.cc(1, t + 20, 64, 127)
            for k in range(4 if dens < 1.0 else 8):
                step = beat if dens < 1.0 else beat // 2
                inv = rng.randint(0, 2)
                for key in chord_keys(root_pc, qual if dens < 1.0 else qual[:3], 60, inv):
                    s.note(1, t + k * step + rng.randint(0, 6), step - 30, key, 70 + vel_bias + rng.randint(-12, 12))
            if last_section and bi == nbars - 1:
                s.cc(1, t + bar - 10, 64, 0)

            # --- string pad: whole bars, expression swell
            for key in chord_keys(root_pc, qual, 55, bi % 3):
                s.note(2, t, bar - 10, key, 72 + rng.randint(-6, 6))
            for j in range(8):
                s.cc(2, t + j * bar // 8, 11, 90 + int(37 * (j / 7 if bi % 2 == 0 else 1 - j / 7)))

            # --- brass stabs on off-beats (busier sections only)
            if dens >= 0.7:
                for k in (1, 3, 5, 7) if dens >= 1.0 else (3, 7):
                    if rng.random() < 0.85:
                        for key in chord_keys(root_pc, qual[:3], 60, 1):
                            s.note(3, t + k * beat // 2, beat // 3, key, 96 + rng.randint(-10, 10))

            # --- lead: eighths and sixteenths on the scale, bends and vibrato
            if kind != "break" or dens > 0.5:
                tt = t
                while tt < t + bar:
                    dur = six if rng.random() < 0.4 * dens + 0.1 else 2 * six
                    if rng.random() < 0.85:
                        deg = rng.randint(0, 9)
                        key = 72 + SCALE[deg % 7] + 12 * (deg // 7) + key_shift
                        s.note(4, tt, dur - 10, key, 84 + rng.randint(-12, 14))
                    tt += dur
                if rng.random() < 0.5:  # a bend up and back on the bar's last beat
                    for j in range(9):
                        s.bend(4, t + 3 * beat + j * beat // 8, int(4096 * (1 - abs(j - 4) / 4)))
                elif dens >= 1.0:  # vibrato by pitch bend
                    for j in range(24):
                        s.bend(4, t + 2 * beat + j * beat // 12, int(600 * ((-1) ** j)))
                    s.bend(4, t + 4 * beat - 2, 0)

            # --- harp sixteenth arpeggios
            ch_keys = chord_keys(root_pc, qual, 60)
            arp = ch_keys + [k + 12 for k in ch_keys]
            if dens >= 0.7:
                for k in range(16):
                    idx = k % (2 * len(arp) - 2)
                    idx = idx if idx < len(arp) else 2 * len(arp) - 2 - idx
                    s.note(5, t + k * six, six * 2, arp[idx], 66 + vel_bias + rng.randint(-8, 8))

            # --- e-piano: sixteenth-note triplets (the fastest line) in choruses
            if dens >= 1.0:
                trip = bar // 24
                for k in range(24):
                    s.note(6, t + k * trip, trip, arp[(k * 2) % len(arp)] + 12, 60 + rng.randint(-10, 10))

            # --- guitar strums on beats 1 and 3 (staggered onsets)
            for k in (0, 2):
                keys = chord_keys(root_pc, qual[:3], 52) + [64 + root_pc]
                if k == 2 and rng.random() < 0.5:
                    keys = keys[::-1]
                for j, key in enumerate(keys):
                    s.note(7, t + k * beat + j * 12, beat * 2 - 40, key, 74 + rng.randint(-8, 8))

            # --- choir: two voices, long
            if bi % 2 == 0:
                for key in chord_keys(root_pc, qual[:3], 60)[1:]:
                    s.note(8, t, 2 * bar - 20, key, 64 + rng.randint(-5, 5))

            # --- warm pad: root and fifth, whole bars
            for key in (48 + root_pc, 55 + root_pc, 64 + root_pc):
                s.note(10, t, bar - 5, key, 60 + rng.randint(-5, 5))

            # --- sax counter melody (quarters and eighths) in verses
            if kind == "verse" or (kind == "chorus" and bi % 2 == 1):
                tt = t + beat // 2
                while tt < t + bar:
                    dur = beat if rng.random() < 0.5 else beat // 2
                    key = 60 + SCALE[rng.randint(0, 6)] + key_shift
                    s.note(11, tt, dur - 15, key, 78 + rng.randint(-10, 10))
                    tt += dur

            # --- vibraphone: quarter-note arpeggio
            for k in range(4):
                s.note(12, t + k * beat, beat, ch_keys[k % len(ch_keys)] + 12, 70 + rng.randint(-10, 10))

            # --- pizzicato eighths
            if dens >= 0.7:
                for k in range(8):
                    s.note(
                        13,
                        t + k * beat // 2,
                        beat // 4,
                        ch_keys[(k * 3) % len(ch_keys)] - 12,
                        76 + rng.randint(-10, 10),
                    )

            # --- timpani: downbeats, a roll at the end of each section
            s.note(14, t, beat, 41 + (root_pc % 7), 90)
            if bi == nbars - 1:
                for k in range(12):
                    s.note(14, t + 2 * beat + k * beat // 6, beat // 6, 41, 60 + 4 * k)

            # --- organ: held chord, volume ramp across the bar
            for key in chord_keys(root_pc, qual, 48, 2):
                s.note(15, t, bar - 10, key, 64)
            for j in range(4):
                s.cc(15, t + j * beat, 7, 56 + 10 * j if dens >= 1.0 else 66)

            # Pan sweeps on the e-piano and harp
            s.cc(6, t, 10, 24 + (bi * 13) % 80)
            s.cc(5, t, 10, 104 - (bi * 11) % 80)
        b0 += nbars

    end = start + total_bars * bar
    for ch in PARTS:
        s.cc(ch, end, 64, 0)
        s.cc(ch, end, 123, 0)  # all notes off
    mf = s.to_file()
    stats = {
        "notes": s.notes,
        "seconds": float(mf.length),
        "notes_per_second": s.notes / float(mf.length),
        "channels": len(PARTS),
        "seed": seed,
    }
    return mf, stats


def corpus_files() -> list[Path]:
    """The corpus files used beside the dense file (copied into benchmarks/cache/midi/)."""
    return [REPO / p for p in CORPUS]


def ensure_dense_midi(out: Path = DENSE_MIDI, seed: int = SEED) -> Path:
    """Build the dense file if it is missing; return its path."""
    if not out.is_file():
        make(out, seed)
    return out


def make(out: Path = DENSE_MIDI, seed: int = SEED) -> dict:
    mf, stats = build(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    mf.save(str(tmp))
    tmp.replace(out)
    CORPUS_DIR.mkdir(parents=True, exist_ok=True)
    copied = []
    for src in corpus_files():
        if src.is_file():
            dst = CORPUS_DIR / src.name
            shutil.copyfile(src, dst)
            copied.append(str(dst))
    stats["out"] = str(out)
    stats["corpus_copies"] = copied
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DENSE_MIDI)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    stats = make(a.out, a.seed)
    if a.json:
        print(json.dumps(stats, indent=2))
    else:
        print(
            f"{stats['out']}: {stats['notes']} notes in {stats['seconds']:.1f} s "
            f"({stats['notes_per_second']:.1f} notes/s), {stats['channels']} channels, seed {stats['seed']}"
        )
        for c in stats["corpus_copies"]:
            print(f"  corpus copy: {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
