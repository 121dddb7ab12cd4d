"""A MIDI file as an event source: its messages become kernel events for a sink.

The same events live play makes (DMUS_KERNEL_EVENTs from an allocator, presentation time
in 100 ns, channel group), so a render drives the Synth through exactly the path a MIDI
input does. `feed_until(ref_time)` hands the sink every event due before that time; the
render loop calls it before each block with the block's end.
"""

from __future__ import annotations

import numpy as np

from .allocator import Allocator
from .midifile import Song


class FileSource:
    """The capture side of a render: a Song's events, fed in time order to an MXF sink."""

    def __init__(self, song: Song, sink, allocator: Allocator | None = None, time_offset: int = 0):
        self.song = song
        self.sink = sink
        self.allocator = allocator or Allocator()
        self.time_offset = int(time_offset)
        self._times = np.asarray(song.times, dtype=np.int64) + self.time_offset
        self._next = 0
        self.dropped = 0

    @property
    def done(self) -> bool:
        return self._next >= len(self._times)

    @property
    def last_time(self) -> int:
        """Presentation time of the song's end (last event or end of track), 100 ns."""
        return self.time_offset + int(self.song.duration_100ns)

    def feed_until(self, ref_time: int) -> int:
        """Put every event with presentation time < ref_time to the sink; returns how many."""
        i = self._next
        j = int(np.searchsorted(self._times, ref_time, side="left"))
        if j <= i:
            return 0
        events = self.song.events
        make = self.allocator.make_message
        put = self.sink.put_message
        off = self.time_offset
        for k in range(i, j):
            t, group, data = events[k]
            evt = make(data, group, t + off)
            if evt is None:  # pool dry: cannot happen when the sink returns events promptly
                self.dropped += 1
                continue
            put(evt)
        self._next = j
        return j - i
