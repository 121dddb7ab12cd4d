"""What the probe plays: the probe instrument (a DLS file both synths load) and the plan
of MIDI messages at graph frames.

The probe plays a keyboard behind a JACK MIDI capture port: a key pressed at graph frame K
reaches the graph one period later, at frame K + period and at the same place in its cycle
(JACK's MIDI drivers deliver in each cycle the bytes that arrived during the last one). The
latency of a note is counted from K to the first frame of its sound at the synth's output
port, so a synth that applies events at the start of the cycle they arrive in scores
between 0 and one period, and one that waits for its next block between one and two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PROBE_CHANNEL = 0
NOTE_MS = 25.0  # how long each probe note is held
SETUP_PER_CYCLE = 16  # set-up and background messages written per JACK cycle
DRUM_CHANNEL = 9


@dataclass
class Plan:
    """Frames are relative to the probe's base frame (a cycle start)."""

    rate: int
    period: int
    press: np.ndarray  # key-press frame of each probe note
    keys: np.ndarray
    note_frames: int  # how long each note is held
    gap_min: int  # the shortest gap between two notes
    offsets: np.ndarray  # delivery frame of every message, sorted
    messages: list[bytes]
    background: int  # sustained background voices

    @property
    def notes(self) -> int:
        return len(self.press)

    @property
    def capture_frames(self) -> int:
        return int(self.press[-1] + self.period + self.note_frames + self.gap_min + self.rate // 4)


def background_slots(count: int):
    """(channel, key) of `count` sustained background voices: channels 1..15 but the drum
    channel, keys 36..99 (960 at most, on one channel group)."""
    channels = [c for c in range(1, 16) if c != DRUM_CHANNEL]
    keys = range(36, 100)
    if count > len(channels) * len(keys):
        raise ValueError(f"at most {len(channels) * len(keys)} background voices")
    return [(channels[i // len(keys)], keys[i % len(keys)]) for i in range(count)]


def setup_messages(background: int) -> list[bytes]:
    """Program 0 everywhere; the probe channel hard right at full level, the background
    channels hard left (the probe listens to the right output only); no effect sends; then
    the background notes."""
    out = []
    for ch in range(16):
        if ch == DRUM_CHANNEL:
            continue
        probe = ch == PROBE_CHANNEL
        out.append(bytes([0xC0 | ch, 0]))
        for cc, v in ((7, 127 if probe else 100), (11, 127), (10, 127 if probe else 0), (91, 0), (93, 0)):
            out.append(bytes([0xB0 | ch, cc, v]))
    out += [bytes([0x90 | c, k, 90]) for c, k in background_slots(background)]
    return out


def make_plan(
    notes: int, rate: int, period: int, seed: int = 1, *, on_cycle: bool = False, background: int = 0
) -> Plan:
    """`notes` probe notes with random gaps of whole frames (about 60-110 ms; longer for big
    periods) so the key presses land everywhere in a cycle, or (on_cycle) on cycle starts.
    Set-up messages come first, SETUP_PER_CYCLE a cycle, then a quarter second of rest."""
    if notes < 1:
        raise ValueError("at least one note")
    rng = np.random.default_rng(seed)
    lo = max(int(0.060 * rate), 8 * period + int(0.020 * rate))
    hi = lo + max(int(0.050 * rate), 2 * period)
    gaps = rng.integers(lo, hi, size=notes)
    setup = setup_messages(background)
    lead = (len(setup) // SETUP_PER_CYCLE + 1) * period + rate // 4
    gaps[0] = lead
    press = np.cumsum(gaps).astype(np.int64)
    if on_cycle:
        press = press - press % period
    keys = (60 + np.arange(notes) % 24).astype(np.int64)
    dur = int(NOTE_MS * rate / 1000)
    events = [((i // SETUP_PER_CYCLE) * period, 0, m) for i, m in enumerate(setup)]
    for f, k in zip(press + period, keys):
        events.append((int(f), 1, bytes([0x90 | PROBE_CHANNEL, int(k), 127])))
        events.append((int(f) + dur, 2, bytes([0x80 | PROBE_CHANNEL, int(k), 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    return Plan(
        rate=int(rate),
        period=int(period),
        press=press,
        keys=keys,
        note_frames=dur,
        gap_min=int(lo),
        offsets=np.array([e[0] for e in events], dtype=np.int64),
        messages=[e[2] for e in events],
        background=int(background),
    )


def probe_collection():
    """One instrument: a looped cosine (1 kHz at key 69 at 44.1 kHz) starting at its peak,
    with the default articulation (instant attack, instant release): its first frame sounds."""
    from dlsynth import dls

    t = np.arange(4410)
    data = np.round(np.cos(2 * np.pi * 100 * t / 4410) * 16000).astype(np.int16)
    w = dls.Wave.from_pcm16(data, 44100, dls.WaveSample(unity_note=69, loops=[dls.Loop(0, 0, 4410)]))
    ins = dls.Instrument(name="bench cosine", regions=[dls.Region(wave_link=dls.WaveLink(0))])
    return dls.Collection(instruments=[ins], waves=[w], info={"INAM": "dlsynth bench"})


def write_probe_bank(path: str) -> str:
    """The probe instrument as a DLS file (dlsynth reads it; FluidSynth through libinstpatch)."""
    from dlsynth import dls

    dls.write(probe_collection(), path)
    return path
