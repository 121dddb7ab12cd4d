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
    from dlsynth.outputs import OutputPathError, check_file_folder

    for path in (cfg.json, getattr(cfg, "png", None)):
        if path:
            try:
                check_file_folder(path)
            except OutputPathError as exc:
                raise UserError(str(exc)) from None


def host() -> dict:
    return {
        "machine": platform.machine(),
        "system": platform.system(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


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
    lines = [
        f"dlsynth bench latency: JACK server {j['server']}{' (dummy, started here)' if j['started_here'] else ''}, "
        f"{j['rate']} Hz, period {j['period']} ({r['period_ms']:.2f} ms); dlsynth block {r['blocksize']}, "
        f"{r['mode']} mode; {r['notes']} notes{', on cycle starts' if r['on_cycle'] else ''}"
        f"{', %d background voices' % r['background_voices'] if r['background_voices'] else ''}",
        "  key press -> first sound at the synth's output port, in graph frames (the note-on reaches the "
        "synth one period after the key press, as from a JACK MIDI port)",
        "",
    ]
    lines.append(
        f"  {'ms':24s}" + "".join(f"{k:>8s}" for k in STAT_KEYS) + f"{'notes':>8s}{'xruns JACK':>12s}"
        f"{'xruns PortAudio':>17s}"
    )
    for name, s in r["synths"].items():
        if "missing" in s:
            lines.append(f"  {NAMES[name]:24s}not measured: {s['missing']}")
            continue
        lat, x = s["latency_ms"], s["xruns"]
        pa = "-" if x["portaudio"] is None else str(x["portaudio"])
        lines.append(
            f"  {NAMES[name]:24s}"
            + "".join(f" {_f(lat.get(k))}" for k in STAT_KEYS)
            + f"{s['notes']['detected']:>5d}/{s['notes']['planned']:<3d}{x['jack']:>10d}{pa:>17s}"
        )
    for name, s in r["synths"].items():
        late = s.get("notes", {}).get("sent_late")
        if late:
            lines.append(
                f"  ({NAMES[name]}: the probe missed a cycle and sent {late} key(s) late; "
                "each is timed from the frame it was delivered at)"
            )
    if r["ratios"]:
        lines.append(
            f"  {'dlsynth / FluidSynth':24s}"
            + "".join(f" {_f(r['ratios'][k], 6)}x" if r["ratios"][k] is not None else "       -" for k in STAT_KEYS)
        )
    b = r["synths"].get("dlsynth", {}).get("breakdown")
    if b and b.get("clock_ok") and b.get("matched"):
        lines += ["", "  inside dlsynth (its event log; master clock):"]
        for key, label in (
            ("delivery_to_stamp_ms", "note-on's frame -> arrival stamp"),
            ("arrival_to_sound_ms", "arrival stamp -> sound at port"),
            ("drained_to_frame_ms", "drained -> its frame (ahead)"),
        ):
            s = b.get(key)
            if s and s.get("n"):
                lines.append(f"  {label:24s}" + "".join(f" {_f(s.get(k))}" for k in STAT_KEYS))
        lines.append(f"  late (applied at a block start): {b['late']}")
    elif b is not None:
        lines.append(f"  inside dlsynth: the event log did not match the notes ({b.get('received', 0)} received)")
    bl = r.get("baseline")
    if bl:
        lines += [
            "",
            f"  the JACK server alone (no synth, no Python in its cycle): {bl['xruns']} xruns in {bl['seconds']:g} s",
        ]
    lines += ["", *target_lines(r)] if not bl else target_lines(r)
    lines.append(
        "  xruns: JACK's from the probe's xrun callback during the notes ("
        + ", ".join(
            f"{NAMES[n]} {s['xruns']['jack']} in {s['xruns'].get('jack_bursts', '?')} bursts"
            for n, s in r["synths"].items()
            if "xruns" in s
        )
        + "); PortAudio's from dlsynth play's counters over its "
        "whole session"
    )
    return "\n".join(lines)


def target_lines(r: dict) -> list[str]:
    t = r["targets"]
    out = []
    for name, s in r["synths"].items():
        if "targets" not in s:
            continue
        st, lat = s["targets"], s["latency_ms"]
        parts = [f"p99 {_f(lat.get('p99'), 0)} ms <= 2 periods + 1 ms ({t['p99_limit_ms']:.2f}): {_met(st['p99_met'])}"]
        if "jitter_met" in st:
            parts.append(f"jitter {_f(lat.get('std'), 0, 3)} ms < {t['jitter_limit_ms']:g}: {_met(st['jitter_met'])}")
        if "arrival_jitter_met" in st:
            a = s["breakdown"]["arrival_to_sound_ms"]
            parts.append(f"from the arrival stamp {_f(a['std'], 0, 3)} ms: {_met(st['arrival_jitter_met'])}")
        if "xruns_met" in st:
            parts.append(f"0 xruns at 64 frames: {_met(st['xruns_met'])}")
        out.append(f"  targets, {NAMES[name]}: " + "; ".join(parts))
        if "clear_p99_met" in st:
            c = s["clear_of_xruns"]
            cl = c["latency_ms"]
            more = (
                f", jitter {_f(cl['std'], 0, 3)} ms: {_met(st['clear_jitter_met'])}" if "clear_jitter_met" in st else ""
            )
            out.append(
                f"    the {c['notes']} notes with no xrun in the {c['before_s']:g} s before them: p50 "
                f"{_f(cl['p50'], 0)} ms, p99 {_f(cl['p99'], 0)} ms: {_met(st['clear_p99_met'])}{more}"
            )
    return out


def write_json(path: str, result: dict) -> None:
    try:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def write_png(path: str, r: dict) -> None:
    """For a musician: how long from key press to sound, as a distribution per synth (one
    panel each, the same x axis), p50 and p99 marked and written, the target line, the
    xruns written on each panel; block size and mode in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    rows = list(r["synths"].items())
    vals = {n: np.array([v for v in s["per_note"]["latency_ms"] if v is not None]) for n, s in rows if "per_note" in s}
    limit = r["targets"]["p99_limit_ms"]
    hi = max([limit] + [float(v.max()) for v in vals.values() if len(v)]) * 1.1
    bins = np.linspace(0.0, hi, 100)
    fig, axes = plt.subplots(len(rows), 1, sharex=True, squeeze=False, figsize=(8.5, 2.4 * len(rows) + 0.9))
    for ax, (name, s) in zip(axes[:, 0], rows):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        if "missing" in s:
            ax.set_title(f"{NAMES[name]}: not measured ({s['missing']})", loc="left", fontsize=10)
            ax.set_yticks([])
            continue
        lat, x, nt = s["latency_ms"], s["xruns"], s["notes"]
        counts, _, _ = ax.hist(vals[name], bins=bins, color=COLORS[name])
        ax.set_ylim(0, max(float(counts.max()), 1.0) * 1.5)  # room for the labels above the bars
        ax.axvline(limit, color="#cc3311", ls=":", lw=1.3)
        for key, ls, dy in (("p50", "-", 0.97), ("p99", "--", 0.86)):
            if lat.get("n"):
                ax.axvline(lat[key], color="black", ls=ls, lw=1.2)
                right = lat[key] > 0.75 * hi  # near the right edge: the label on the line's left
                ax.text(
                    lat[key],
                    dy,
                    f"{key} {lat[key]:.2f} ms " if right else f" {key} {lat[key]:.2f} ms",
                    ha="right" if right else "left",
                    transform=ax.get_xaxis_transform(),
                    va="top",
                    fontsize=9,
                    bbox={"facecolor": "white", "alpha": 0.7, "lw": 0, "pad": 1},
                )
        pa = "" if x["portaudio"] is None else f", PortAudio {x['portaudio']}"
        ax.set_title(
            f"{NAMES[name]}: jitter (std) {lat.get('std', float('nan')):.2f} ms, max "
            f"{lat.get('max', float('nan')):.2f} ms; {nt['detected']}/{nt['planned']} notes heard",
            loc="left",
            fontsize=10,
        )
        ax.set_title(
            f"xruns: JACK {x['jack']}{pa}",
            loc="right",
            fontsize=10,
            color="#cc3311" if x["jack"] or x["portaudio"] else "black",
        )
        ax.set_ylabel("notes")
    axes[-1, 0].set_xlabel(
        f"key press -> sound at the output port (ms); dotted red: target for p99, 2 periods + 1 ms = {limit:.2f} ms"
    )
    axes[-1, 0].set_xlim(0, hi)
    fig.suptitle(
        f"Key press to sound, block {r['blocksize']} frames ({r['period_ms']:.2f} ms), "
        f"dlsynth {r['mode']} (JACK {r['jack']['rate']} Hz, {r['notes']} notes)",
        fontsize=12,
    )
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=110)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)


def voices_text(r: dict) -> str:
    j = r["jack"]
    lines = [
        f"dlsynth bench voices: JACK server {j['server']}{' (dummy, started here)' if j['started_here'] else ''}, "
        f"{j['rate']} Hz, period {j['period']}; block {r['blocksize']} frames ({r['period_ms']:.2f} ms), "
        f"effects {'on' if r['effects'] else 'off'}, {r['seconds_per_step']:g} s per step; one looped voice "
        "per note (the probe instrument) in both synths"
    ]
    for name, s in r["synths"].items():
        lines.append("")
        if "missing" in s:
            lines.append(f"  {NAMES[name]}: not measured: {s['missing']}")
            continue
        lines.append(
            f"  {NAMES[name]}:  {'voices':>7s} {'sounding':>9s} {'xruns JACK':>11s} {'xruns PA':>9s} "
            f"{'load':>7s} {'peak':>7s}"
        )
        for st in s["steps"]:
            pa = "-" if st.get("xruns_portaudio") is None else str(st["xruns_portaudio"])
            load = [f"{100 * v:6.1f}%" if v is not None else "      -" for v in (st.get("load"), st.get("peak_load"))]
            lines.append(
                f"  {'':{len(NAMES[name]) + 2}s}{st['voices']:7d} {st['voices_active']:9d} "
                f"{st['xruns_jack']:11d} {pa:>9s} {load[0]} {load[1]}"
                f"{'  (try %d)' % st['tries'] if st.get('tries', 1) > 1 else ''}"
                f"{'' if st['reached'] else '  (not reached)'}"
            )
        more = " (the search limit: at least this many)" if s["at_limit"] else ""
        lines.append(f"  most voices without xruns: {s['max_voices']}{more}")
        est = s.get("voices_at_load_ceiling")
        if est:
            what = "the callback load" if name == "dlsynth" else "its CPU use"
            lines.append(
                f"  CPU estimate: {what} would reach {100 * s['load_ceiling']:.0f} % at about {est} voices "
                "(a straight line through the steps' loads)"
            )
    ra = r.get("ratio")
    if ra:
        lines += [
            "",
            f"  dlsynth / FluidSynth: {'at least ' if r.get('ratio_is_lower_bound') else ''}{ra:.2f}x "
            "the voices without xruns",
        ]
    re_ = r.get("estimate_ratio")
    if re_:
        lines.append(f"  dlsynth / FluidSynth, CPU estimates: {re_:.2f}x")
    return "\n".join(lines)
