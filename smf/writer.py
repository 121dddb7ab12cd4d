"""Standard MIDI File writer: timed messages of several channel groups as a type 1 file.

The counterpart of ``smf.reader``: messages ``(time in 100 ns units, channel group, bytes)``
become one track per channel group (after a tempo track), each named ``"channel group N"``
and starting with a MIDI Port meta event, so that reading the file back gives the groups
again. `Recorder.save_midi` (synth/streams.py, what ``dlsynth play --record`` writes) uses it.
"""

from __future__ import annotations

import os
from typing import Iterable

from dlsynth.dls.atomicfile import atomic_write
from dlsynth.native.engine import REF_PER_SECOND

__all__ = ["write_midi"]

#: 100 ns units per microsecond (a tempo is microseconds per beat)
_REF_PER_US = REF_PER_SECOND // 1_000_000


def write_midi(
    events: Iterable[tuple[int, int, bytes]],
    path,
    ticks_per_beat: int = 960,
    tempo: int = 500000,
    origin: int | None = None,
) -> dict:
    """Write ``events`` ((time in 100 ns units, channel group, message bytes)) as a type 1 file.

    Track 0 holds the tempo; each channel group gets its own track, in group order, named
    ``"channel group N"`` with a MIDI Port meta event (port ``N - 1`` for groups 1..256,
    wrapped modulo 256 above; group 0, "all groups", gets port 0 and its name says so).
    Times become ticks, rounded to the nearest, counted from ``origin`` (default: the earliest
    time; earlier events are clamped to it). Messages mido cannot encode are skipped and
    counted. Written atomically (a reader never sees half a file). Returns ``tracks``,
    ``messages`` and ``skipped``."""
    import mido

    if isinstance(ticks_per_beat, bool) or not isinstance(ticks_per_beat, int) or not 1 <= ticks_per_beat <= 0x7FFF:
        raise ValueError(f"ticks_per_beat must be an int in 1..32767, got {ticks_per_beat!r}")
    if isinstance(tempo, bool) or not isinstance(tempo, int) or not 1 <= tempo <= 0xFFFFFF:
        raise ValueError(f"tempo must be microseconds per beat in 1..16777215, got {tempo!r}")
    events = list(events)
    if origin is None:
        origin = min((t for t, _, _ in events), default=0)
    # ticks = dt[100 ns] * ticks_per_beat / (tempo[us] * 10), rounded half up, in integers
    den = tempo * _REF_PER_US

    def to_ticks(t: int) -> int:
        dt = max(0, t - origin)
        return (2 * dt * ticks_per_beat + den) // (2 * den)

    by_group: dict[int, list[tuple[int, int, bytes]]] = {}
    for seq, (t, g, data) in enumerate(events):
        by_group.setdefault(g, []).append((to_ticks(t), seq, data))

    mid = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    tempo_track = mido.MidiTrack()
    tempo_track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
    tempo_track.append(mido.MetaMessage("end_of_track", time=0))
    mid.tracks.append(tempo_track)
    written = skipped = 0
    for g in sorted(by_group):
        track = mido.MidiTrack()
        name = f"channel group {g}" + (" (all groups)" if g == 0 else "")
        track.append(mido.MetaMessage("track_name", name=name, time=0))
        track.append(mido.MetaMessage("midi_port", port=(g - 1) % 256 if g > 0 else 0, time=0))
        now = 0
        for ticks, _seq, data in sorted(by_group[g]):
            try:
                msg = mido.Message.from_bytes(data)
            except (ValueError, TypeError, KeyError):
                skipped += 1
                continue
            track.append(msg.copy(time=ticks - now))
            now = ticks
            written += 1
        track.append(mido.MetaMessage("end_of_track", time=0))
        mid.tracks.append(track)

    atomic_write(os.fspath(path), lambda fh: mid.save(file=fh))
    return {"tracks": len(mid.tracks), "messages": written, "skipped": skipped}
