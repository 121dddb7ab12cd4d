"""Live latency and polyphony on JACK, dlsynth beside FluidSynth: every live-play figure in one run.

For each block size (64, 128, 256 frames by default) a JACK dummy server is started with
that period (by the command itself) and

  dlsynth bench latency --blocksize N              scheduled (dlsynth's default mode)
  dlsynth bench latency --blocksize N --immediate  events at the next block

measure key press -> sound at the output port for `dlsynth play` and FluidSynth through the
same probe; then `dlsynth bench voices` at 64 and 128 frames. One table, with the targets;
every JSON (and a PNG per latency run) goes to benchmarks/out/live/.

    python benchmarks/live_latency.py [--blocks 64 128 256] [--voices-blocks 64 128]
                                      [--notes 200] [--voices-seconds 3] [--quick]

Figures on a shared 2-core VM vary with other processes' load: the load average is printed
with each run, and xruns are reported, never hidden.
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


def bench(argv: list[str], json_path: str, timeout: float = 1800) -> dict | None:
    """One `dlsynth bench` command on a dummy server of its own; its JSON, or None."""
    env = dict(os.environ, JACK_DEFAULT_SERVER=f"dlsynth-matrix-none{os.getpid()}")  # never running: a dummy starts
    cmd = [sys.executable, "-m", "dlsynth", "bench", *argv, "--json", json_path]
    r = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        print(f"  failed: dlsynth bench {' '.join(argv)}: {r.stderr.strip()}", file=sys.stderr)
        return None
    with open(json_path) as f:
        return json.load(f)


def _f(v, w: int = 6, prec: int = 2) -> str:
    return f"{v:{w}.{prec}f}" if isinstance(v, (int, float)) else " " * (w - 1) + "-"


def latency_table(rows: list) -> list[str]:
    out = [
        "key press -> sound at the output port, ms (graph frames; see apps/bench/plan.py)",
        f"{'block':>5} {'mode':>9} {'loadavg':>7} | {'synth':>10} {'p50':>6} {'p99':>6} {'max':>6} {'std':>6} "
        f"{'xruns':>9} | {'p99<=2T+1':>9} {'std<0.1':>7} {'0 xruns':>7} | {'clear n':>7} {'p99':>6} {'std':>6}",
    ]
    for block, mode, la, r in rows:
        for name, s in r["synths"].items():
            if "missing" in s:
                out.append(f"{block:5d} {mode:>9} {la:7.2f} | {name:>10} not measured: {s['missing']}")
                continue
            lat, x, t = s["latency_ms"], s["xruns"], s.get("targets", {})
            xr = f"{x['jack']}/{'-' if x['portaudio'] is None else x['portaudio']}"

            def yn(key):
                return "-" if key not in t else ("yes" if t[key] else "NO")

            c = s.get("clear_of_xruns", {})
            cl = c.get("latency_ms", {})
            out.append(
                f"{block:5d} {mode:>9} {la:7.2f} | {name:>10} {_f(lat.get('p50'))} {_f(lat.get('p99'))} "
                f"{_f(lat.get('max'))} {_f(lat.get('std'), 6, 3)} {xr:>9} | {yn('p99_met'):>9} "
                f"{yn('jitter_met'):>7} {yn('xruns_met'):>7} | {c.get('notes', 0):>7} {_f(cl.get('p99'))} "
                f"{_f(cl.get('std'), 6, 3)}"
            )
        ra = r.get("ratios") or {}
        bl = r.get("baseline") or {}
        tail = f"   (the server alone: {bl['xruns']} xruns in {bl['seconds']:g} s)" if bl else ""
        if ra:
            out.append(
                f"{'':5s} {'':>9} {'':7s} | {'dl/fluid':>10} "
                + " ".join(
                    _f(ra.get(k)) + "x" if ra.get(k) is not None else "     -" for k in ("p50", "p99", "max", "std")
                )
                + tail
            )
        elif tail:
            out.append(f"{'':5s} {'':>9} {'':7s} |{tail}")
    out.append(
        "xruns: JACK server's during the notes / PortAudio's over dlsynth play's session; targets: p99 at most "
        "2 periods + 1 ms, jitter (std) under 0.1 ms in scheduled mode, 0 xruns at 64 frames on the dummy "
        "server; clear: the notes with no xrun in the 5 s before them"
    )
    return out


def voices_table(vrows: list) -> list[str]:
    out = ["most voices sustained without xruns (one looped voice per note, effects on)"]
    for block, la, v in vrows:
        parts = []
        for name, s in v["synths"].items():
            if "missing" in s:
                parts.append(f"{name}: not measured")
            else:
                parts.append(f"{name} {s['max_voices']}{'+' if s['at_limit'] else ''}")
        ratio = v.get("ratio")
        rtxt = f"; ratio {'>= ' if v.get('ratio_is_lower_bound') else ''}{ratio:.2f}x" if ratio else ""
        ests = [
            f"{n} ~{s['voices_at_load_ceiling']}" for n, s in v["synths"].items() if s.get("voices_at_load_ceiling")
        ]
        er = v.get("estimate_ratio")
        etxt = (f"; CPU estimates (voices at 70 % load): {', '.join(ests)}" if ests else "") + (
            f", ratio {er:.2f}x" if er else ""
        )
        out.append(f"  {block:4d} frames (load average {la:.2f}): " + ", ".join(parts) + rtxt + etxt)
    out.append(
        "  (+: the search limit, 4096, the engine's own. A stray xrun fails a count three times over: on a "
        "shared machine the CPU estimates are the steadier figure)"
    )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--blocks", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--voices-blocks", type=int, nargs="*", default=[64, 128])
    ap.add_argument("--notes", type=int, default=200)
    ap.add_argument("--voices-seconds", type=float, default=3.0)
    ap.add_argument("--quick", action="store_true", help="40 notes, 1 s voice steps")
    args = ap.parse_args()
    if args.quick:
        args.notes, args.voices_seconds = 40, 1.0
    os.makedirs(OUT, exist_ok=True)
    rows, vrows = [], []
    for block in args.blocks:
        for mode, extra in (("scheduled", []), ("immediate", ["--immediate"])):
            stem = os.path.join(OUT, f"latency-{block}-{mode}")
            la = os.getloadavg()[0]
            r = bench(
                ["latency", "--blocksize", str(block), "--notes", str(args.notes), "--png", stem + ".png", *extra],
                stem + ".json",
            )
            if r:
                rows.append((block, mode, la, r))
    for block in args.voices_blocks:
        la = os.getloadavg()[0]
        v = bench(
            ["voices", "--blocksize", str(block), "--seconds", str(args.voices_seconds)],
            os.path.join(OUT, f"voices-{block}.json"),
            timeout=3600,
        )
        if v:
            vrows.append((block, la, v))
    print()
    print("\n".join(latency_table(rows)))
    print()
    print("\n".join(voices_table(vrows)))
    print(f"JSON and PNG: {OUT}")
    return 0 if rows else 1


if __name__ == "__main__":
    t0 = time.time()
    rc = main()
    print(f"({time.time() - t0:.0f} s)")
    sys.exit(rc)
