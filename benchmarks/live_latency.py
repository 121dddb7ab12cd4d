"""Live latency and polyphony on JACK: the figures issue 6 asks for, in one run.

Runs `dlsynth bench latency` and `dlsynth bench voices` (each on its own JACK dummy server,
started by the command with the block size as its period) for block sizes 128 and 64:

  scheduled   the wave sink's default scheduled latency
  sched+fix   scheduled, with the latency set to what the wave sink should default to: the
              DAC offset PortAudio reports in the callback (outputBufferDacTime - currentTime)
              plus one block plus 0.5 ms (PortAudio's stream latency on JACK is one period less
              than the DAC offset, so the default schedules events into blocks already rendered)
  immediate   events applied at the next block

with 0 and 64 background voices, the probe in a subprocess; and once with the probe in
dlsynth's own process (a thread), to show what GIL contention does to the measurement. Prints one table and writes every JSON to benchmarks/out/live/.

    python benchmarks/live_latency.py [--blocks 128 64] [--notes 200] [--voices-seconds 3] [--quick]

Figures on a shared 2-core VM vary with other processes' load: the load average is printed
with each run and xruns are reported, never hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "benchmarks", "out", "live")
MARGIN_MS = 0.5  # sched+fix: scheduled latency = DAC offset + one block + this


def _bench(argv: list[str], json_path: str, timeout: float = 600) -> dict | None:
    env = dict(os.environ)
    env.pop("JACK_DEFAULT_SERVER", None)  # each run starts its own dummy server
    cmd = [sys.executable, "-m", "apps.cli", "bench", *argv, "--json", json_path]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        print(f"  failed: {' '.join(argv)}: {r.stderr.strip()}", file=sys.stderr)
        return None
    with open(json_path) as f:
        return json.load(f)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, nargs="+", default=[128, 64])
    ap.add_argument("--notes", type=int, default=200)
    ap.add_argument("--load", type=int, nargs="+", default=[0, 64], help="background voice counts")
    ap.add_argument("--voices-seconds", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true", help="40 notes, 1 s voice steps")
    args = ap.parse_args()
    if args.quick:
        args.notes, args.voices_seconds = 40, 1.0
    os.makedirs(OUT, exist_ok=True)
    rows = []
    voices = {}
    for block in args.blocks:
        for load in args.load:
            configs = [("scheduled", []), ("immediate", ["--immediate"])]
            if load == args.load[0]:
                configs.append(("thread probe", ["--probe", "thread"]))
            results = {}
            for label, extra in configs:
                path = os.path.join(OUT, f"latency-{block}-{load}-{label.replace(' ', '_')}.json")
                la = os.getloadavg()[0]
                r = _bench(["latency", "--blocksize", str(block), "--notes", str(args.notes), "--voices", str(load),
                            *extra], path)
                results[label] = r
                if r:
                    rows.append((block, load, label, la, r))
                if label == "scheduled" and r and r.get("dac_offset_ms"):
                    fixed = (r["dac_offset_ms"] + r["period_ms"] + MARGIN_MS) / 1000
                    path = os.path.join(OUT, f"latency-{block}-{load}-sched_fix.json")
                    la = os.getloadavg()[0]
                    r2 = _bench(["latency", "--blocksize", str(block), "--notes", str(args.notes), "--voices",
                                 str(load), "--latency", f"{fixed:.6f}"], path)
                    if r2:
                        rows.append((block, load, "sched+fix", la, r2))
        path = os.path.join(OUT, f"voices-{block}.json")
        la = os.getloadavg()[0]
        v = _bench(["voices", "--blocksize", str(block), "--seconds", str(args.voices_seconds)], path, timeout=1800)
        if v:
            voices[block] = (la, v)

    def f(s, k):
        v = (s or {}).get(k)
        return f"{v:7.2f}" if isinstance(v, (int, float)) else "      -"

    print()
    print("latency, ms (graph = MIDI event frame -> onset frame counted by JACK; arrival -> out = master-clock "
          "arrival stamp -> graph time of the onset; clear = arrival -> out over the notes with no xrun in the "
          "5 s before them)")
    print(f"{'block':>5} {'load':>4} {'mode':>12} {'loadavg':>7} | {'graph p50':>9} {'p99':>7} {'max':>7} {'std':>7} | "
          f"{'arr->out p50':>12} {'p99':>7} {'max':>7} {'std':>7} {'p99-p1':>7} | {'late':>4} {'xruns PA/JACK':>13} | "
          f"{'clear n':>7} {'p50':>7} {'p99':>7} {'std':>7}")
    for block, load, label, la, r in rows:
        g, a = r["latency_ms"], r.get("arrival_to_output_ms", {})
        c = r["clean"].get("arrival_to_output_ms", {})
        late = r["notes"].get("late")
        print(f"{block:5d} {load:4d} {label:>12} {la:7.2f} | {f(g, 'p50'):>9} {f(g, 'p99')} {f(g, 'max')} {f(g, 'std')} | "
              f"{f(a, 'p50'):>12} {f(a, 'p99')} {f(a, 'max')} {f(a, 'std')} {f(a, 'p99_p1')} | "
              f"{'-' if late is None else late:>4} {r['xruns']['portaudio']:>6}/{r['xruns']['jack']:<6} | "
              f"{r['clean']['notes']:>7} {f(c, 'p50')} {f(c, 'p99')} {f(c, 'std')}")
    print("targets: arrival -> out at most one period + 1 ms (128: 3.67 ms, 64: 2.33 ms); jitter (std) under 0.1 ms "
          "in scheduled mode")
    print("reported elsewhere, not measured: Microsoft GS Wavetable Synth ~100 ms, FluidSynth Linux default ~23 ms")
    print()
    for block, (la, v) in voices.items():
        l = v["load_at_max"] or {}
        print(f"voices at {block} frames without xruns: {v['max_voices_without_xruns']}"
              f"{' (search limit)' if v['at_limit'] else ''}; callback load mean "
              f"{100 * (l.get('load_mean') or 0):.1f} %, p99 {100 * (l.get('load_p99') or 0):.1f} % (load average {la:.2f})")
    print(f"JSON: {OUT}")
    return 0


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(f"({time.time() - t0:.0f} s)")
    sys.exit(rc)
