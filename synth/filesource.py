"""A MIDI file as an event source: its messages become kernel events for the Synth.

This is the render job's capture stream (an IMXF source connected to the Synth): the same
DMUS_KERNEL_EVENT payloads live play makes (presentation time in 100 ns, channel group,
message bytes), kept C-side: the song's messages are packed once into arrays (times,
groups, one bytes buffer with offsets and lengths) and handed to the Synth in batches
(`MXF.put_batch` along the stream graph's compiled routes, then `Synth.put_batch`), with
no Python object per message. `feed_until(ref_time)` hands the
Synth every event due before that time; the render loop calls it before each block.
"""

from __future__ import annotations

import numpy as np

from dlsynth.smf.reader import Song


def pack_messages(events) -> tuple[np.ndarray, np.ndarray, bytes, np.ndarray, np.ndarray]:
    """(ref times int64, groups int32, bytes, offsets int64, lengths int32) of
    (time, channel_group, data) messages."""
    n = len(events)
    times = np.fromiter((e[0] for e in events), dtype=np.int64, count=n)
    groups = np.fromiter((e[1] for e in events), dtype=np.int32, count=n)
    chunks = [e[2] for e in events]
    lengths = np.fromiter((len(c) for c in chunks), dtype=np.int32, count=n)
    offsets = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(lengths[:-1], out=offsets[1:])
    return times, groups, b"".join(chunks), offsets, lengths


class FileSource:
    """A MIDI file as a source (the role a capture stream plays for a live input): a Song's
    events, handed in time order, in packed arrays, to an IMXF stream (the miniport's render
    stream) that leads to the Synth."""

    def __init__(self, song: Song, stream, time_offset: int = 0):
        """stream: where the events go (IMXF::ConnectOutput): a render stream of the
        miniport (or any MXF), whose routes lead to the Synth."""
        self.song = song
        self.stream = stream
        self.time_offset = int(time_offset)
        times, self.groups, self.data, self.offsets, self.lengths = pack_messages(song.events)
        self.times = times + self.time_offset
        #: each message's tag: its MIDI track + 1 (the notes it starts carry it)
        self.tags = None if song.event_tracks is None else np.asarray(song.event_tracks, dtype=np.int32) + 1
        self._next = 0

    def prepare(self) -> None:
        """Download what the song will select (a lazy bank's instruments)."""
        synth = self.stream.terminal()
        if synth is not None:
            synth.prepare_messages(self.groups, self.data, self.offsets, self.lengths)

    @property
    def done(self) -> bool:
        return self._next >= len(self.times)

    @property
    def last_time(self) -> int:
        """Presentation time of the song's end (last event or end of track), 100 ns."""
        return self.time_offset + int(self.song.duration_100ns)

    def feed_until(self, ref_time: int) -> int:
        """Put every event with presentation time < ref_time to the Synth; returns how many
        (fewer when the Synth's queue is full: the rest go on the next call)."""
        i = self._next
        j = int(np.searchsorted(self.times, ref_time, side="left"))
        if j <= i:
            return 0
        sl = slice(i, j)
        got = self.stream.put_batch(
            self.times[sl],
            self.groups[sl],
            self.data,
            self.offsets[sl],
            self.lengths[sl],
            None if self.tags is None else self.tags[sl],
        )
        self._next = i + got
        return got

    def time_after(self, count: int) -> int | None:
        """Presentation time of the message ``count`` places after the next one to hand
        over (None when there are not that many left)."""
        k = self._next + int(count)
        return int(self.times[k]) if k < len(self.times) else None

    @property
    def next_time(self) -> int | None:
        """Presentation time of the first event not yet handed over (None when done)."""
        return None if self.done else int(self.times[self._next])
