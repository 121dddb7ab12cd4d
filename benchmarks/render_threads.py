#!/usr/bin/env python3
"""Render threads: the dense two-minute song rendered with 1 thread and with N, and the ratio.

    python benchmarks/render_threads.py [--threads 2] [--runs 3] [--no-effects] [--json]

The song is make_dense_midi.py's sixteen-channel file (benchmarks/cache/dense-2min.mid,
built when missing); the bank FluidR3_GM's DLS conversion (benchmarks/cache/FluidR3_GM.dls,
built by bank_load.py when missing). Each run is ``apps.render.render_file`` in this
process (the command's path without the interpreter's start-up: MIDI file, downloads,
render loop, 16-bit WAV), the thread counts in turn within each round, best of --runs.
Figures, in wall-clock seconds:

* render: the whole render_file call;
* engine: the time inside the engine's render calls alone (the part the threads share
  out; the rest, Python's feeding of events and writing of the WAV, is serial).

The ratios are 1-thread time over N-thread time, of the best runs and of the median ones
(higher is better; the target on two cores is 1.7). The outputs of every run are compared byte for byte (they must be the
same). On a shared machine other processes take cores from the workers: the script prints
the load average before and after and the CPU time the other processes used while it ran
(from /proc/stat), so a figure taken on a busy machine can be told from a quiet one. On
Linux with autogrouping (the default), nice alone does not favour a process over other
sessions; to measure on a shared machine, give the run a scheduling group of its own at the
highest priority (as root):

    setsid sh -c 'echo -20 > /proc/self/autogroup; exec nice -n -20 python benchmarks/render_threads.py'
"""

from __future__ import annotations

import dlsynth.numpy_env  # noqa: F401  (first: one OpenBLAS thread, as the command runs)

import argparse
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

import bank_load  # noqa: E402  (benchmarks/bank_load.py: builds the DLS conversion)
import make_dense_midi  # noqa: E402
import peers  # noqa: E402

SF2 = peers.FLUID_R3_SF2
TARGET = 1.7


def cpu_jiffies() -> tuple[int, int, int]:
    """(busy, steal, total) jiffies of the whole machine, from /proc/stat (zeros elsewhere):
    busy counts user, nice, system, irq and softirq time; steal is the time the hypervisor
    gave the virtual CPUs to others."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return 0, 0, 0
    v += [0] * (8 - len(v))
    user, nice, system, idle, iowait, irq, softirq, steal = v
    busy = user + nice + system + irq + softirq
    return busy, steal, busy + steal + idle + iowait


def own_jiffies() -> int:
    """This process's user + system time in jiffies."""
    t = os.times()
    return int(round((t.user + t.system) * os.sysconf("SC_CLK_TCK")))


class EngineTimer:
    """Adds up the wall time spent inside Engine.render (the engine's render calls)."""

    def __init__(self):
        from dlsynth.native.engine import Engine

        self.total = 0.0
        self._orig = Engine.render
        timer = self

        def timed(engine, *a, **k):
            t0 = time.perf_counter()
            try:
                return timer._orig(engine, *a, **k)
            finally:
                timer.total += time.perf_counter() - t0

        Engine.render = timed


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2, help="the thread count measured against 1 (default 2)")
    ap.add_argument("--runs", type=int, default=3, help="best of N (default 3)")
    ap.add_argument("--no-effects", action="store_true", help="reverb and chorus off")
    ap.add_argument("--max-length", type=float, default=None, metavar="SECONDS", help="render only this much")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    midi = make_dense_midi.ensure_dense_midi()
    dls_path = bank_load.DEFAULT_DLS
    if not dls_path.is_file():  # the converter (node) only when the bank is not built yet
        try:
            dls_path = bank_load.ensure_bank(SF2, dls_path, rebuild=False)
        except bank_load.BenchError as exc:
            raise SystemExit(f"cannot build {dls_path}: {exc}")
    import soundfile

    from dlsynth import dls
    from dlsynth.apps.render import cores, render_file

    timer = EngineTimer()
    banks = [dls.read(str(dls_path))]
    counts = [1, args.threads]
    times = {n: {"render": [], "engine": []} for n in counts}
    digests = set()
    load_before = os.getloadavg()
    busy0, steal0, total0 = cpu_jiffies()
    own0 = own_jiffies()
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.wav")
        for _ in range(args.runs):
            for n in counts:
                timer.total = 0.0
                t0 = time.perf_counter()
                r = render_file(
                    str(midi), out, banks, effects=not args.no_effects, threads=n, max_length=args.max_length
                )
                wall = time.perf_counter() - t0
                times[n]["render"].append(wall)
                times[n]["engine"].append(timer.total)
                data, _ = soundfile.read(out, dtype="int16")
                digests.add(hashlib.sha256(data.tobytes()).hexdigest())
    best = {n: {k: min(v) for k, v in times[n].items()} for n in counts}
    median = {n: {k: statistics.median(v) for k, v in times[n].items()} for n in counts}
    busy1, steal1, total1 = cpu_jiffies()
    own = own_jiffies() - own0
    others = max(0, (busy1 - busy0) - own)
    span = max(1, total1 - total0)
    steal = (steal1 - steal0) / span
    report = {
        "song": str(midi),
        "bank": str(dls_path),
        "seconds": r.seconds,
        "effects": not args.no_effects,
        "cores": cores(),
        "runs": args.runs,
        "threads": args.threads,
        "render_s": {str(n): best[n]["render"] for n in counts},
        "engine_s": {str(n): best[n]["engine"] for n in counts},
        "render_ratio": best[1]["render"] / best[args.threads]["render"],
        "engine_ratio": best[1]["engine"] / best[args.threads]["engine"],
        "median_render_ratio": median[1]["render"] / median[args.threads]["render"],
        "median_engine_ratio": median[1]["engine"] / median[args.threads]["engine"],
        "runs_s": {str(n): times[n] for n in counts},
        "identical_output": len(digests) == 1,
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "other_processes_cpu_share": others / span,  # of the whole machine's time while measuring
        "steal_share": steal,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"{midi.name}, {r.seconds:.1f} s of audio, effects {'on' if report['effects'] else 'off'}, "
            f"{report['cores']} cores, best of {args.runs}"
        )
        print(f"{'threads':>8} {'render s':>9} {'engine s':>9} {'x realtime':>11}")
        for n in counts:
            print(f"{n:>8} {best[n]['render']:>9.3f} {best[n]['engine']:>9.3f} {r.seconds / best[n]['render']:>11.1f}")
        print(
            f"ratio 1/{args.threads} threads (best runs): render {report['render_ratio']:.2f}, engine "
            f"{report['engine_ratio']:.2f} (target >= {TARGET} on two cores); median runs: render "
            f"{report['median_render_ratio']:.2f}, engine {report['median_engine_ratio']:.2f}"
        )
        print(f"output identical for every run: {report['identical_output']}")
        print(
            f"load average before {load_before[0]:.2f}, after {report['load_after'][0]:.2f}; other processes used "
            f"{100 * report['other_processes_cpu_share']:.0f}% of the machine's CPU time meanwhile, "
            f"the hypervisor took {100 * steal:.0f}%"
        )
    return 0 if report["identical_output"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
