"""Shared helpers for the stems and labels tests (tests/test_stems.py, tests/test_labels.py):
a probe bank with sharp onsets and an exclusive-class drum pair, songs made with mido, the
command line as a subprocess. Holds no tests itself."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import mido
import numpy as np

from dlsynth import dls

#: 480 ticks per beat at 500000 us per beat: one tick is 50 frames at 48 kHz
TPB, TEMPO, FRAMES_PER_TICK = 480, 500000, 50
HAT_CLOSED, HAT_OPEN = 42, 46  # one exclusive class in the probe kit


def probe_bank(path: Path) -> Path:
    """Programs 0 and 1: a looped cosine starting at full amplitude (onsets are sharp);
    a drum kit (program 0) whose keys 42 and 46 share key group 1."""
    frames = 4410
    t = np.arange(frames)
    data = np.round(np.cos(2 * np.pi * 100 * t / frames) * 16000).astype(np.int16)
    wave = dls.Wave.from_pcm16(data, 44100, dls.WaveSample(unity_note=69, loops=[dls.Loop(0, 0, frames)]))
    ins = [dls.Instrument(name=f"cos{p}", program=p, regions=[dls.Region(wave_link=dls.WaveLink(0))]) for p in range(2)]
    kit = dls.Instrument(
        name="kit",
        program=0,
        bank=dls.Instrument.make_bank(0, 0, drum=True),
        regions=[
            dls.Region(key_low=k, key_high=k, key_group=1, wave_link=dls.WaveLink(0)) for k in (HAT_CLOSED, HAT_OPEN)
        ],
    )
    dls.write(dls.Collection(instruments=[*ins, kit], waves=[wave]), path)
    return path


def song(path: Path, tracks) -> Path:
    """tracks: lists of (tick_on, tick_off, key, channel, program) — a format 1 file, a tempo
    track first, then one named track each ("part 1", ...)."""
    mf = mido.MidiFile(type=1, ticks_per_beat=TPB)
    mf.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=TEMPO, time=0)]))
    for i, notes in enumerate(tracks):
        evs = []
        for on, off, key, ch, prog in notes:
            evs.append((on, 0, mido.Message("program_change", program=prog, channel=ch)))
            evs.append((on, 1, mido.Message("note_on", note=key, velocity=100, channel=ch)))
            evs.append((off, 2, mido.Message("note_off", note=key, velocity=0, channel=ch)))
        evs.sort(key=lambda e: (e[0], e[1]))
        tr = mido.MidiTrack([mido.MetaMessage("track_name", name=f"part {i + 1}", time=0)])
        last = 0
        for tick, _, msg in evs:
            tr.append(msg.copy(time=tick - last))
            last = tick
        mf.tracks.append(tr)
    mf.save(path)
    return path


def cli(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlsynth", "render", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def read_labels(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
