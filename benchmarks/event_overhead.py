#!/usr/bin/env python3
"""Event path overhead: what the Python side of the DirectMusic model costs per event.

Measured, each the median of N repetitions (per event, in microseconds):

* ``capture``: ``CaptureStream.submit`` of a 3-byte message (stamp, take an event from the
  pool, copy the bytes inline) through a running render stream into a sink that only returns
  the event to the pool.  This is the MIDI callback's work.
* ``render side``: what a Synth's ``render`` does per queued event in Python before handing
  it to the engine: convert its presentation time with ``TimeMap.ref_time_to_sample``, read
  status and data bytes inline, give the event back to the allocator.
* ``get/put``: one ``Allocator.get_message`` + ``put_message`` pair.

and, against the live path's budget, the render-side cost of a 64-frame block at 48 kHz holding
10 events, as a share of the block's 1.333 ms (target: well under 5 %, which leaves the rest
of the Python part of ``Synth.render`` the remainder).

Usage::

    python benchmarks/event_overhead.py [--runs N] [--json]
"""

from __future__ import annotations

import dlsynth.numpy_env  # noqa: F401  (first: one OpenBLAS thread, as the command runs)

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dlsynth.synth.allocator import Allocator
from dlsynth.synth.miniport import Miniport
from dlsynth.synth.timebase import TimeMap

BLOCK_FRAMES = 64
SAMPLE_RATE = 48000
EVENTS_PER_BLOCK = 10
BUDGET_SHARE = 0.05


class ReturningSink:
    """Stands in for the synth: takes the event and gives it straight back."""

    def __init__(self, alloc):
        self.put = alloc.put_message

    def put_message(self, evt):
        self.put(evt)

    def render(self, out, frames, position):
        pass


def per_event(fn, n: int, runs: int) -> float:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn(n)
        samples.append((time.perf_counter_ns() - t0) / n / 1000.0)
    return statistics.median(samples)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--events", type=int, default=20000, help="events per run")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    mp = Miniport()
    clock_now = [0]
    mp.init(synth=None, sink_factory=lambda p: ReturningSink(mp.allocator), clock=lambda: clock_now[0])
    render = mp.new_stream("render")
    cap = mp.new_stream("capture")
    cap.connect_output(render)
    render.set_state("run")
    cap.set_state("run")
    msg = [0x90, 60, 100]

    def capture(n):
        submit = cap.submit
        for _ in range(n):
            submit(msg)

    alloc = Allocator()
    tmap = TimeMap(SAMPLE_RATE)
    queue = []

    def render_side(n):
        # prepare n events (not timed separately: subtract with a second loop below)
        for i in range(n):
            e = alloc.get_message()
            if e is None:
                break
            e.set_short(0x90, 60, 100)
            e.presentation_time = 1_000_000 + i * 2083
            queue.append(e)

    def consume(n):
        r2s = tmap.ref_time_to_sample
        put = alloc.put_message
        pop = queue.pop
        total = 0
        for _ in range(n):
            e = pop()
            frame = r2s(e.presentation_time)
            raw = e.inline
            total += frame + raw[0] + raw[1] + raw[2]
            put(e)
        return total

    def render_timed(n):
        chunk = min(n, alloc.capacity)
        done = 0
        spent = 0
        while done < n:
            k = min(chunk, n - done)
            render_side(k)
            t0 = time.perf_counter_ns()
            consume(k)
            spent += time.perf_counter_ns() - t0
            done += k
        return spent

    def getput(n):
        get, put = alloc.get_message, alloc.put_message
        for _ in range(n):
            put(get())

    n = args.events
    capture(1000)
    getput(1000)
    results = {
        "capture_us": per_event(capture, n, args.runs),
        "getput_us": per_event(getput, n, args.runs),
    }
    rs = []
    for _ in range(args.runs):
        rs.append(render_timed(n) / n / 1000.0)
    results["render_side_us"] = statistics.median(rs)
    block_us = BLOCK_FRAMES / SAMPLE_RATE * 1e6
    results["block_us"] = block_us
    results["render_side_share_of_block"] = results["render_side_us"] * EVENTS_PER_BLOCK / block_us
    results["budget_share"] = BUDGET_SHARE
    results["within_budget"] = results["render_side_share_of_block"] < BUDGET_SHARE

    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print(f"capture submit -> render stream -> sink : {results['capture_us']:.2f} us/event")
        print(f"allocator get + put                     : {results['getput_us']:.2f} us/event")
        print(f"render side (time map, read, give back) : {results['render_side_us']:.2f} us/event")
        print(
            f"{EVENTS_PER_BLOCK} events in a {BLOCK_FRAMES}-frame block at {SAMPLE_RATE} Hz: "
            f"{results['render_side_share_of_block'] * 100:.2f} % of {block_us:.0f} us "
            f"(budget for all of render's Python: {BUDGET_SHARE * 100:.0f} %)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
