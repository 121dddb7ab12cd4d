"""The Python cost of the render path, excluding the engine (issue: under 5 % of a 64-frame
block at 48 kHz with 10 events in the block).

Measures, per 64-frame block with 10 note events:
  full    kernel events from the allocator -> Synth.put_message (time conversion, MIDI
          semantics, engine push) -> Synth.render(out=buf)
  engine  the same events pushed straight into the C ring (lib.eng_push) and lib.eng_render
          called directly: the engine's own work
The difference is what Python adds. Printed as microseconds and as a share of the block.

    python benchmarks/synth_overhead.py [--blocks N] [--json]
"""

from __future__ import annotations

import dlsynth.numpy_env  # noqa: F401  (first: one OpenBLAS thread, as the command runs)

import argparse
import json
import time

import numpy as np

RATE = 48000
BLOCK = 64
EVENTS_PER_BLOCK = 10


def _bank():
    from dlsynth import dls

    t = np.arange(4410)
    data = np.round(np.sin(2 * np.pi * 100 * t / 4410) * 16000).astype(np.int16)
    w = dls.Wave.from_pcm16(data, 44100, dls.WaveSample(unity_note=69, loops=[dls.Loop(0, 0, 4410)]))
    ins = dls.Instrument(name="sine", regions=[dls.Region(wave_link=dls.WaveLink(0))])
    return dls.Collection(instruments=[ins], waves=[w])


def _messages(block_index: int):
    """10 events per block: 5 note-ons and 5 note-offs over 5 keys, spread in the block."""
    out = []
    for i in range(EVENTS_PER_BLOCK):
        key = 60 + (block_index * 5 + i // 2) % 24
        status = 0x90 if i % 2 == 0 else 0x80
        out.append((i * (BLOCK // EVENTS_PER_BLOCK), bytes([status, key, 100 if status == 0x90 else 0])))
    return out


def measure(blocks: int) -> dict:
    from dlsynth.native import ffi, lib
    from dlsynth.synth.allocator import Allocator
    from dlsynth.synth.synth import Synth

    plans = [_messages(b) for b in range(64)]

    # Full path.
    s = Synth(RATE, effects=False)
    s.download(_bank(), preload=True)
    s.start(0, 0)
    alloc = Allocator()
    buf = np.zeros((BLOCK, 2), dtype=np.float32)
    s.render(out=buf)
    per_frame_ref = 10_000_000 / RATE
    t0 = time.perf_counter()
    for b in range(blocks):
        base = s.position
        for off, data in plans[b & 63]:
            evt = alloc.make_message(data, 1, int((base + off) * per_frame_ref))
            s.put_message(evt)
        s.render(out=buf)
    full = (time.perf_counter() - t0) / blocks
    s.close()

    # Engine only: the same events straight into the C ring, the C render called directly.
    s = Synth(RATE, effects=False)
    s.download(_bank(), preload=True)
    eng = s.engine
    ptr = eng._ptr
    iid = next(iter(s._handles[0].engine_ids.values()))
    lib.eng_push(ptr, 0, lib.ENG_EV_PROGRAM, 0, iid, 0)
    bufp = ffi.cast("float *", ffi.from_buffer(buf))
    lib.eng_render(ptr, bufp, BLOCK)
    t0 = time.perf_counter()
    for b in range(blocks):
        base = lib.eng_position(ptr)
        for off, data in plans[b & 63]:
            typ = lib.ENG_EV_NOTE_ON if data[0] == 0x90 else lib.ENG_EV_NOTE_OFF
            lib.eng_push(ptr, base + off, typ, 0, data[1], data[2])
        lib.eng_render(ptr, bufp, BLOCK)
    engine = (time.perf_counter() - t0) / blocks
    s.close()
    block_us = BLOCK / RATE * 1e6
    py = max(0.0, full - engine)
    return {
        "block_frames": BLOCK,
        "events_per_block": EVENTS_PER_BLOCK,
        "block_us": block_us,
        "full_us": full * 1e6,
        "engine_us": engine * 1e6,
        "python_us": py * 1e6,
        "python_share_of_block": py * 1e6 / block_us,
        "target_share": 0.05,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--blocks", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    best = min((measure(a.blocks) for _ in range(a.runs)), key=lambda r: r["python_us"])
    if a.json:
        print(json.dumps(best, indent=2))
        return
    print(f"64-frame block at 48 kHz = {best['block_us']:.0f} us; 10 events per block (best of {a.runs})")
    print(f"  full path (events + Synth.render): {best['full_us']:7.2f} us")
    print(f"  engine alone (C push + C render):  {best['engine_us']:7.2f} us")
    print(
        f"  Python's share:                    {best['python_us']:7.2f} us = "
        f"{100 * best['python_share_of_block']:.2f} % of the block (target < 5 %)"
    )


if __name__ == "__main__":
    main()
