"""The pure parts of `dlsynth bench`: percentiles, onsets in a captured signal, and the
JACK graph's clock put on the master clock. NumPy only; no JACK, no audio."""

from __future__ import annotations

import numpy as np

THRESHOLD = 0.02  # |x| above this is a note (the probe note peaks near 0.25..0.5)
FLOOR = 1e-4  # |x| at or below this is silence (-80 dBFS; both synths give exact zeros)
QUIET_RUN = 16  # frames of silence that end the search back from a threshold crossing
PRE = 48  # frames before the key press that must be quiet for a clean onset


def summarize(values) -> dict:
    """n, min, p1, p50, mean, p99, max, std (the jitter) and p99-p1 of the finite values."""
    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0}
    p1, p50, p99 = (float(v) for v in np.percentile(x, [1, 50, 99]))
    return {
        "n": int(len(x)),
        "min": float(x.min()),
        "p1": p1,
        "p50": p50,
        "mean": float(x.mean()),
        "p99": p99,
        "max": float(x.max()),
        "std": float(x.std()),
        "p99_p1": p99 - p1,
    }


def _first_sound(mag: np.ndarray, lo: int, cross: int, floor: float, quiet_run: int) -> int:
    """The first frame of the sound whose threshold crossing is at `cross`: just after the
    last run of `quiet_run` silent frames in [lo, cross] (lo when there is none)."""
    seg = mag[lo : cross + 1] <= floor
    if not seg.any():
        return lo
    # length of the silent run ending at each frame
    idx = np.arange(len(seg))
    last_loud = np.maximum.accumulate(np.where(~seg, idx, -1))
    run = idx - last_loud
    ends = np.flatnonzero(seg & (run >= quiet_run))
    return lo + int(ends[-1]) + 1 if len(ends) else lo


def detect_onsets(
    capture,
    cap0: int,
    starts,
    ends,
    threshold: float = THRESHOLD,
    floor: float = FLOOR,
    quiet_run: int = QUIET_RUN,
    pre: int = PRE,
):
    """Onset frame of each note in a capture whose first sample is graph frame `cap0`.

    A note's sound is looked for in [starts[i], ends[i]) (absolute frames): the first frame
    above `threshold`, then back to where the sound began (after the last `quiet_run`
    frames at or below `floor`), so a slow attack and a sharp one are timed alike.
    Returns (onsets, quiet): -1 where nothing sounded; quiet[i] when the `pre` frames
    before starts[i] were below the threshold (no earlier note still sounding)."""
    mag = np.abs(np.asarray(capture, dtype=np.float32))
    n = len(starts)
    onsets = np.full(n, -1, dtype=np.int64)
    quiet = np.zeros(n, dtype=bool)
    for i in range(n):
        lo, hi = int(starts[i]) - cap0, int(ends[i]) - cap0
        if lo < 0 or lo >= len(mag):
            continue
        hi = min(hi, len(mag))
        hit = np.flatnonzero(mag[lo:hi] > threshold)
        if len(hit):
            onsets[i] = cap0 + _first_sound(mag, lo, lo + int(hit[0]), floor, quiet_run)
        quiet[i] = not (mag[max(lo - pre, 0) : lo] > threshold).any()
    return onsets, quiet


class GraphClock:
    """Graph frames -> master-clock time (100 ns), as dlsynth's JACK MIDI input stamps them:
    JACK's time of the frame (jack_frames_to_time) plus one constant offset between JACK's
    clock and CLOCK_MONOTONIC (the median of the probe's per-cycle measurements).

    From the probe's table of cycles: each cycle's first frame, JACK's time of it (us), the
    offset measured there (ns) and the probe's wake-up (monotonic ns). After a stall of the
    graph JACK's frame-to-time answer can be off by milliseconds for seconds: `suspect`
    counts the cycles where it puts the probe's wake-up outside [-50 us, 2 ms] of the cycle
    start (dlsynth's stamps are off by as much there, and so is this mapping, alike)."""

    def __init__(self, rate: int, cyc_frame, cyc_usecs, cyc_offset_ns, cyc_entry_ns):
        self.rate = int(rate)
        self.frame = np.asarray(cyc_frame, dtype=np.int64)
        self.ok = len(self.frame) > 8
        self.suspect = 0
        if not self.ok:
            return
        cu = np.asarray(cyc_usecs, dtype=np.int64)
        offset_us = float(np.median(np.asarray(cyc_offset_ns, dtype=np.int64))) / 1e3
        self.start_us = cu + offset_us
        delay = np.asarray(cyc_entry_ns, dtype=np.int64) / 1e3 - self.start_us
        self.suspect = int(((delay < -50.0) | (delay > 2000.0)).sum())

    def _cycle(self, frames):
        frames = np.asarray(frames, dtype=np.int64)
        return frames, np.clip(np.searchsorted(self.frame, frames, side="right") - 1, 0, len(self.frame) - 1)

    def ref(self, frames) -> np.ndarray:
        """Master-clock time (100 ns, float) of graph frames."""
        frames, k = self._cycle(frames)
        return (self.start_us[k] + (frames - self.frame[k]) * 1e6 / self.rate) * 10.0

    def cycle_start(self, frames) -> np.ndarray:
        """The first frame of the cycle each frame falls in."""
        frames, k = self._cycle(frames)
        return self.frame[k]
