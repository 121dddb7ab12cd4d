"""What `dlsynth bench` prints and writes: the tables, the JSON and the PNG."""

from __future__ import annotations

import json
import math
import os
import platform

from ..errors import UserError
from .config import BLOCK_RANGE, PEERS

NAMES = {"dlsynth": "dlsynth", "fluidsynth": "FluidSynth"}
COLORS = {"dlsynth": "#4477aa", "fluidsynth": "#ee7733"}
STAT_KEYS = ("p50", "p99", "max", "std")


def check_common(cfg) -> None:
    if cfg.blocksize is not None and not BLOCK_RANGE[0] <= cfg.blocksize <= BLOCK_RANGE[1]:
        raise UserError(f"--blocksize must be between {BLOCK_RANGE[0]} and {BLOCK_RANGE[1]} frames")
    if cfg.peer not in PEERS:
        raise UserError(f"--peer must be one of {', '.join(PEERS)}")
    if getattr(cfg, "png", None):
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise UserError("--png needs matplotlib: pip install matplotlib")
    for path in (cfg.json, getattr(cfg, "png", None)):
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UserError(f"the folder of {path} does not exist")


def host() -> dict:
    return {"machine": platform.machine(), "system": platform.system(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


def ratios(synths: dict) -> dict:
    """dlsynth / FluidSynth for each latency figure (where both were measured)."""
    a = synths.get("dlsynth", {}).get("latency_ms") or {}
    b = synths.get("fluidsynth", {}).get("latency_ms") or {}
    if not a.get("n") or not b.get("n"):
        return {}
    return {k: (a[k] / b[k] if b[k] else None) for k in STAT_KEYS}


def _f(v, w: int = 7, prec: int = 2) -> str:
    return f"{v:{w}.{prec}f}" if isinstance(v, (int, float)) and math.isfinite(v) else " " * (w - 1) + "-"


def _met(ok) -> str:
    return "met" if ok else "NOT met"


def latency_text(r: dict) -> str:
    j = r["jack"]
    lines = [f"dlsynth bench latency: JACK server {j['server']}{' (dummy, started here)' if j['started_here'] else ''}, "
             f"{j['rate']} Hz, period {j['period']} ({r['period_ms']:.2f} ms); dlsynth block {r['blocksize']}, "
             f"{r['mode']} mode; {r['notes']} notes{', on cycle starts' if r['on_cycle'] else ''}"
             f"{', %d background voices' % r['background_voices'] if r['background_voices'] else ''}",
             "  key press -> first sound at the synth's output port, in graph frames (the note-on reaches the "
             "synth one period after the key press, as from a JACK MIDI port)", ""]
    lines.append(f"  {'ms':24s}" + "".join(f"{k:>8s}" for k in STAT_KEYS) + f"{'notes':>8s}{'xruns JACK':>12s}"
                 f"{'xruns PortAudio':>17s}")
    for name, s in r["synths"].items():
        if "missing" in s:
            lines.append(f"  {NAMES[name]:24s}not measured: {s['missing']}")
            continue
        lat, x = s["latency_ms"], s["xruns"]
        pa = "-" if x["portaudio"] is None else str(x["portaudio"])
        lines.append(f"  {NAMES[name]:24s}" + "".join(f" {_f(lat.get(k))}" for k in STAT_KEYS)
                     + f"{s['notes']['detected']:>5d}/{s['notes']['planned']:<3d}{x['jack']:>10d}{pa:>17s}")
    if r["ratios"]:
        lines.append(f"  {'dlsynth / FluidSynth':24s}" + "".join(
            f" {_f(r['ratios'][k], 6)}x" if r["ratios"][k] is not None else "       -" for k in STAT_KEYS))
    b = r["synths"].get("dlsynth", {}).get("breakdown")
    if b and b.get("clock_ok") and b.get("matched"):
        lines += ["", "  inside dlsynth (its event log; master clock):"]
        for key, label in (("transport_ms", "cycle start -> arrival stamp"),
                           ("arrival_to_sound_ms", "arrival stamp -> sound at port"),
                           ("scheduled_ahead_ms", "drained -> its frame (ahead)")):
            s = b.get(key)
            if s and s.get("n"):
                lines.append(f"  {label:32s}" + "".join(f" {_f(s.get(k))}" for k in STAT_KEYS))
        lines.append(f"  late (applied at a block start): {b['late']}")
    elif b is not None:
        lines.append(f"  inside dlsynth: the event log did not match the notes ({b.get('received', 0)} received)")
    lines += ["", *target_lines(r)]
    lines.append("  xruns: JACK's from the probe's xrun callback during the notes; PortAudio's from dlsynth "
                 "play's counters over its whole session")
    return "\n".join(lines)


def target_lines(r: dict) -> list[str]:
    t = r["targets"]
    out = []
    for name, s in r["synths"].items():
        if "targets" not in s:
            continue
        st = s["targets"]
        lat = s["latency_ms"]
        parts = [f"p99 {_f(lat.get('p99'), 0)} ms <= 2 periods + 1 ms ({t['p99_limit_ms']:.2f}): {_met(st['p99_met'])}",
                 f"jitter {_f(lat.get('std'), 0, 3)} ms < {t['jitter_limit_ms']:g}: {_met(st['jitter_met'])}"]
        if "arrival_jitter_met" in st:
            a = s["breakdown"]["arrival_to_sound_ms"]
            parts.append(f"from the arrival stamp {_f(a['std'], 0, 3)} ms: {_met(st['arrival_jitter_met'])}")
        if "xruns_met" in st:
            parts.append(f"0 xruns at 64 frames: {_met(st['xruns_met'])}")
        out.append(f"  targets, {NAMES[name]}: " + "; ".join(parts))
    return out


def write_json(path: str, result: dict) -> None:
    try:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def write_png(path: str, r: dict) -> None:
    """The latency distribution, one panel per synth on the same x axis: p50 and p99 marked
    and written, the target line, the xruns written on each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    shown = [(n, s) for n, s in r["synths"].items() if "per_note" in s]
    missing = [(n, s) for n, s in r["synths"].items() if "missing" in s]
    vals = {n: np.array([v for v in s["per_note"]["latency_ms"] if v is not None]) for n, s in shown}
    limit = r["targets"]["p99_limit_ms"]
    hi = max([limit] + [float(v.max()) for v in vals.values() if len(v)]) * 1.08
    bins = np.linspace(0.0, hi, 90)
    fig, axes = plt.subplots(len(shown) + (1 if missing else 0), 1, sharex=True, squeeze=False,
                             figsize=(8, 2.5 * (len(shown) + (1 if missing else 0)) + 0.6))
    for ax, (name, s) in zip(axes[:, 0], shown):
        v, lat, x = vals[name], s["latency_ms"], s["xruns"]
        ax.hist(v, bins=bins, color=COLORS[name], alpha=0.85)
        for key, ls in (("p50", "-"), ("p99", "--")):
            if lat.get("n"):
                ax.axvline(lat[key], color="black", ls=ls, lw=1.2)
                ax.text(lat[key], 0.97, f" {key} {lat[key]:.2f} ms", transform=ax.get_xaxis_transform(),
                        va="top", fontsize=9)
        ax.axvline(limit, color="#cc3311", ls=":", lw=1.2)
        pa = "" if x["portaudio"] is None else f", PortAudio {x['portaudio']}"
        ax.text(0.99, 0.55, f"{NAMES[name]}\nxruns: JACK {x['jack']}{pa}\njitter (std) {lat.get('std', float('nan')):.3f} ms"
                f"\n{s['notes']['detected']}/{s['notes']['planned']} notes heard", transform=ax.transAxes,
                ha="right", va="center", fontsize=9, bbox={"facecolor": "white", "alpha": 0.8, "lw": 0})
        ax.set_ylabel("notes")
    if missing:
        ax = axes[-1, 0]
        ax.text(0.5, 0.5, "; ".join(f"{NAMES[n]}: {s['missing']}" for n, s in missing), ha="center", va="center",
                transform=ax.transAxes, fontsize=9)
        ax.set_yticks([])
    axes[-1, 0].set_xlabel(f"key press -> sound at the output port (ms); red dotted: target, 2 periods + 1 ms "
                           f"({limit:.2f} ms)")
    axes[-1, 0].set_xlim(0, hi)
    fig.suptitle(f"Key press to sound: block {r['blocksize']} frames ({r['period_ms']:.2f} ms), "
                 f"dlsynth {r['mode']}, JACK {r['jack']['rate']} Hz", fontsize=11)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)


def voices_text(r: dict) -> str:
    j = r["jack"]
    lines = [f"dlsynth bench voices: JACK server {j['server']}{' (dummy, started here)' if j['started_here'] else ''}, "
             f"{j['rate']} Hz, period {j['period']}; block {r['blocksize']} frames ({r['period_ms']:.2f} ms), "
             f"effects {'on' if r['effects'] else 'off'}, {r['seconds_per_step']:g} s per step; one looped voice "
             "per note (the probe instrument) in both synths"]
    for name, s in r["synths"].items():
        lines.append("")
        if "missing" in s:
            lines.append(f"  {NAMES[name]}: not measured: {s['missing']}")
            continue
        lines.append(f"  {NAMES[name]}:  {'voices':>7s} {'sounding':>9s} {'xruns JACK':>11s} {'xruns PA':>9s} "
                     f"{'load':>7s} {'peak':>7s}")
        for st in s["steps"]:
            pa = "-" if st.get("xruns_portaudio") is None else str(st["xruns_portaudio"])
            load = [f"{100 * v:6.1f}%" if v is not None else "      -" for v in (st.get("load"), st.get("peak_load"))]
            lines.append(f"  {'':{len(NAMES[name]) + 2}s}{st['voices']:7d} {st['voices_active']:9d} "
                         f"{st['xruns_jack']:11d} {pa:>9s} {load[0]} {load[1]}"
                         f"{'  retry' if st.get('retry') else ''}{'' if st['reached'] else '  (not reached)'}")
        more = " (the search limit)" if s["at_limit"] else ""
        lines.append(f"  most voices without xruns: {s['max_voices']}{more}")
    ra = r.get("ratio")
    if ra:
        lines += ["", f"  dlsynth / FluidSynth: {ra:.2f}x the voices"]
    return "\n".join(lines)
