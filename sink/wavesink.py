"""The wave sink: a sounddevice output stream whose callback pulls ``Synth.render``.

This is the port driver's wave sink of the DMus model. Each audio callback:

1. notes where this buffer will be heard: the master-clock time of its DAC time, and the
   synth's sample position; that pair goes to ``SyncToMaster`` (the time map, with the
   drift corrector of sink/drift.py estimating the device's rate against the master clock);
2. drains the MIDI queue (`synth.live.EventQueue`), turning each stamped message into a
   kernel event for ``Synth.put_message``: in scheduled mode its presentation time is its
   arrival plus a fixed latency, so it lands on the right frame whatever the block size
   (DirectMusic's scheduled mode); in immediate mode it takes effect at this block's first
   frame (lowest latency, block-size jitter);
3. renders straight into a preallocated buffer and copies it into the one it was given.

No locks, no I/O, no logging in the callback; counters are plain attributes read by the
status line.
"""

from __future__ import annotations

import time

import numpy as np

from .clock import MasterClock

REF_PER_SECOND = 10_000_000
SWITCH_INTERVAL = 0.0005  # seconds: the GIL switch interval while a stream runs
SCHEDULE_MARGIN = 0.0005  # seconds added to the scheduled latency for timing jitter


class WaveSink:
    """Pulls Render buffers from a Synth into an audio device (sounddevice OutputStream)."""

    def __init__(self, synth, queue=None, *, device=None, blocksize: int = 512, latency=None,
                 scheduled: bool = True, schedule_latency: float | None = None, clock=None,
                 drift: bool = True, allocator=None, hostapi_stream_kwargs=None):
        import sounddevice as sd

        from synth.allocator import Allocator

        self.synth = synth
        self.queue = queue
        self.clock = clock or MasterClock()
        self.blocksize = int(blocksize)
        self.scheduled = bool(scheduled)
        self.allocator = allocator or Allocator(events=8192)
        self.rate = synth.sample_rate
        # Counters for the status line and benchmarks.
        self.callbacks = 0
        self.xruns = 0
        self.events = 0
        self.max_events_per_block = 256
        self.deferred = 0
        self.load = 0.0  # callback time / block time, smoothed
        self.peak_load = 0.0
        self.late_callbacks = 0
        self.started_ref = None
        self._buf = np.zeros((max(self.blocksize, 8192), 2), dtype=np.float32)
        if drift:
            from sink.drift import DriftCorrector
            from synth.timebase import TimeMap

            synth.time_map = TimeMap(self.rate, estimator=DriftCorrector(self.rate))
        self._first = True
        self._last_t = 0
        self._views = {self.blocksize: self._buf[:self.blocksize]}
        self.stream = sd.OutputStream(
            samplerate=self.rate, blocksize=self.blocksize, device=device, channels=2, dtype="float32",
            latency=latency, callback=self._callback, **(hostapi_stream_kwargs or {}),
        )
        out_latency = float(self.stream.latency)
        self._out_latency = out_latency
        # Scheduled mode: one block of buffering plus the device's own, and a margin. The
        # device's own is corrected in the first callback from its DAC time (on JACK,
        # PortAudio's stream latency is one period short of it).
        self._auto_schedule = schedule_latency is None
        if schedule_latency is None:
            schedule_latency = out_latency + self.blocksize / self.rate + SCHEDULE_MARGIN
        self.schedule_latency = float(schedule_latency)
        self._sched_ref = int(round(self.schedule_latency * REF_PER_SECOND))

    # ------------------------------------------------------------------ the callback
    def _callback(self, outdata, frames, time_info, status) -> None:
        t_start = time.perf_counter()
        if status.output_underflow:
            self.xruns += 1
        synth = self.synth
        pos = synth.position
        now = self.clock.get_time()
        dac_ref = now + int((time_info.outputBufferDacTime - time_info.currentTime) * REF_PER_SECOND)
        if self._first:
            if self._auto_schedule:
                ahead = time_info.outputBufferDacTime - time_info.currentTime
                if self._out_latency < ahead < 1.0:
                    self.schedule_latency = ahead + self.blocksize / self.rate + SCHEDULE_MARGIN
                    self._sched_ref = int(round(self.schedule_latency * REF_PER_SECOND))
            synth.start(dac_ref, pos)
            self.started_ref = dac_ref
            self._first = False
        else:
            synth.sync_to_master(dac_ref, pos)
        q = self.queue
        if q is not None and len(q):
            alloc = self.allocator
            put = synth.put_message
            block_ref = synth.sample_to_ref_time(pos)
            n = 0
            while n < self.max_events_per_block:
                item = q.get()
                if item is None:
                    break
                stamp, group, data = item
                t = stamp + self._sched_ref if self.scheduled else block_ref
                # Never before an event already given: a time map that stepped back (after
                # an xrun) must not put a note-off ahead of its note-on.
                if t < self._last_t:
                    t = self._last_t
                self._last_t = t
                evt = alloc.make_message(data, group, t)
                if evt is not None:
                    put(evt)
                n += 1
            self.events += n
            if n == self.max_events_per_block:
                self.deferred += 1
        buf = self._views.get(frames)
        if buf is None:  # first block of this size (hosts keep one size): allocate once
            buf = self._buf[:frames] if frames <= len(self._buf) else np.zeros((frames, 2), dtype=np.float32)
            self._views[frames] = buf
        synth.render(out=buf)
        outdata[:] = buf
        self.callbacks += 1
        load = (time.perf_counter() - t_start) * self.rate / max(frames, 1)
        self.load = 0.9 * self.load + 0.1 * load
        if load > self.peak_load:
            self.peak_load = load
        if load >= 1.0:  # this callback alone took longer than its block: an xrun of ours
            self.late_callbacks += 1

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        # The audio callback runs Python: hand the GIL over quickly when it wants it (the
        # default 5 ms switch interval is longer than a block; RIG.md saw xruns from it).
        import sys

        if sys.getswitchinterval() > SWITCH_INTERVAL:
            sys.setswitchinterval(SWITCH_INTERVAL)
        # Everything built so far (banks, the synth) is long-lived: move it out of the cyclic
        # collector's reach so a collection triggered in the callback stays short.
        import gc

        gc.collect()
        gc.freeze()
        self.stream.start()

    def stop(self) -> None:
        try:
            self.stream.stop()
        finally:
            self.stream.close()

    @property
    def latency(self) -> float:
        """Seconds from a note's arrival to its sound leaving the device, as scheduled."""
        return self.schedule_latency if self.scheduled else float(self.stream.latency) + self.blocksize / self.rate

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
