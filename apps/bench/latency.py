"""`dlsynth bench latency`: key press -> sound at the synth's output port, through JACK.

For each synth (dlsynth as `dlsynth play`, then FluidSynth where installed) on the same
server with the same plan: start it, start the probe (its own process), connect the
probe's MIDI out to the synth's MIDI in and the synth's right output to the probe's ears,
let it settle, run the plan, stop the synth. Onsets are found in the capture; the latency
of a note is the onset frame less its key-press frame (see `plan`), counted by the graph.
dlsynth's event log adds the inside view: when each note-on was stamped on arrival, and
how long from that stamp to its sound at the port.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from ..errors import UserError
from . import report
from .config import MAX_VOICES, LatencyConfig
from .plan import PROBE_CHANNEL, Plan, make_plan, write_probe_bank
from .probe import ProbeError, ProbeProcess
from .rig import FluidProcess, JackRig, PlayProcess, find_fluidsynth
from .stats import PRE, GraphClock, detect_onsets, summarize

JITTER_TARGET_MS = 0.1
XRUN_TARGET_BLOCK = 64  # 0 xruns at this block size on the dummy server
MAX_BACKGROUND = 960


def check(cfg: LatencyConfig) -> None:
    report.check_common(cfg)
    if cfg.notes < 1:
        raise UserError("--notes must be at least 1")
    if not 0 <= cfg.voices <= MAX_BACKGROUND:
        raise UserError(f"--voices must be between 0 and {MAX_BACKGROUND}")
    if cfg.warmup < 0:
        raise UserError("--warmup must not be negative")


def peers_wanted(peer: str) -> tuple[bool, str | None]:
    """(measure FluidSynth?, why not). --peer fluidsynth insists; auto measures it if there."""
    if peer == "none":
        return False, "not asked for (--peer none)"
    if find_fluidsynth() is None:
        if peer == "fluidsynth":
            raise UserError("fluidsynth is not installed (apt-get install fluidsynth); or use --peer none")
        return False, "fluidsynth is not installed here: only dlsynth was measured"
    return True, None


def run(cfg: LatencyConfig) -> dict:
    check(cfg)
    fluid, why_not = peers_wanted(cfg.peer)
    with tempfile.TemporaryDirectory(prefix="dlsynth-bench-") as work, \
            JackRig(cfg.jack_server, cfg.rate, cfg.period) as rig:
        block = cfg.blocksize or rig.period
        plan = make_plan(cfg.notes, rig.rate, rig.period, cfg.seed, on_cycle=cfg.on_cycle, background=cfg.voices)
        bank = write_probe_bank(os.path.join(work, "probe.dls"))
        synths = {}
        play = PlayProcess(rig, work, bank=bank, blocksize=block, voices=cfg.voices + 64,
                           interpolation=cfg.interpolation, effects=False, immediate=cfg.immediate,
                           latency=cfg.latency)
        synths["dlsynth"] = measure(rig, plan, play, work, cfg)
        if fluid:
            fl = FluidProcess(rig, work, bank=bank, blocksize=block, voices=cfg.voices + 64, effects=False)
            synths["fluidsynth"] = measure(rig, plan, fl, work, cfg)
        else:
            synths["fluidsynth"] = {"missing": why_not}
        return assemble(cfg, rig, block, plan, synths)


def measure(rig: JackRig, plan: Plan, peer, work: str, cfg: LatencyConfig) -> dict:
    """One synth through the probe: start, connect, settle, play the plan, stop, analyse."""
    timeout = plan.capture_frames / plan.rate + 30
    peer.start()
    info = None
    try:
        try:
            probe = ProbeProcess(plan.offsets, plan.messages, plan.capture_frames, rig.name, work, timeout,
                                 name=f"probe-{peer.tag}")
        except ProbeError as exc:
            raise UserError(str(exc)) from None
        with probe:
            rig.connect(probe.port_names["midi_out"], peer.midi_in)
            rig.connect(peer.listen_port, probe.port_names["audio_in"])
            time.sleep(cfg.warmup)
            x0 = probe.xruns()
            probe.go()
            done = probe.wait()
            res = probe.results()
        if not done["done"]:
            raise UserError(f"the probe did not finish its run with {peer.label} (is the JACK server stalled?)")
    finally:
        info = peer.stop()
    out = analyse(plan, res, events=info.get("events"))
    out["command"] = peer.cmd
    out["xruns"] = {"jack": int(res["xruns"]) - x0, "portaudio": None}
    summary = info.get("summary")
    if summary is not None:
        out["xruns"]["portaudio"] = summary["xruns"]  # the whole session's (sink.stats())
        out["play_summary"] = summary
    elif peer.tag == "dlsynth":
        out["play_stderr"] = info.get("stderr_tail")
    return out


def note_on_indices(plan: Plan) -> np.ndarray:
    """Where the probe notes' note-ons are among the plan's messages (in key-press order)."""
    st = 0x90 | PROBE_CHANNEL
    return np.array([j for j, m in enumerate(plan.messages) if len(m) == 3 and m[0] == st and m[2]], dtype=np.int64)


def analyse(plan: Plan, res: dict, events: list | None = None) -> dict:
    """Onsets and latencies of one run, with dlsynth's breakdown when its event log is given."""
    rate = plan.rate
    to_ms = 1000.0 / rate
    base = int(res["base"])
    delivered = np.asarray(res["ev_frame"], dtype=np.int64)[note_on_indices(plan)]
    press = base + plan.press
    ends = np.append(press[1:], press[-1] + plan.gap_min) - PRE
    onset, quiet = detect_onsets(res["capture"], base, press, ends)
    sent = delivered >= 0
    detected = sent & (onset >= 0)
    lat_ms = np.where(detected, (onset - press) * to_ms, np.nan)
    out = {
        "notes": {"planned": plan.notes, "sent": int(sent.sum()), "detected": int(detected.sum()),
                  "quiet_before": int((quiet & detected).sum()),
                  "sent_late": int((sent & (delivered != press + plan.period)).sum())},
        "latency_ms": summarize(lat_ms),
        "per_note": {"latency_ms": [None if not np.isfinite(v) else float(v) for v in lat_ms]},
    }
    if events is not None:
        clock = GraphClock(rate, res["cyc_frame"], res["cyc_usecs"], res["cyc_offset_ns"], res["cyc_entry_ns"])
        out["breakdown"] = breakdown(plan, events, clock, delivered, onset, detected)
    return out


def probe_note_ons(events: list, group: int = 1) -> list[dict]:
    """The event log's rows for the probe's note-ons (channel PROBE_CHANNEL of `group`)."""
    st = 0x90 | PROBE_CHANNEL
    return [e for e in events if e.get("group") == group and len(e.get("data", ())) == 3
            and e["data"][0] == st and e["data"][2]]


def breakdown(plan: Plan, events: list, clock: GraphClock, delivered, onset, detected) -> dict:
    """Inside dlsynth, per note: arrival stamp (master clock) against the graph (the start
    of the cycle that carried the message), and against the sound at the port."""
    rows = probe_note_ons(events)
    n = plan.notes
    keys_ok = len(rows) >= n and [r["data"][1] for r in rows[:n]] == [int(k) for k in plan.keys]
    out = {"received": len(rows), "matched": bool(keys_ok), "late": sum(bool(r.get("late")) for r in rows[:n])}
    if not keys_ok or not clock.ok:
        out["clock_ok"] = bool(clock.ok)
        return out
    stamp = np.array([r["stamp"] for r in rows[:n]], dtype=np.float64)
    frame = np.array([r["frame"] for r in rows[:n]], dtype=np.int64)
    cycle = clock.ref(clock.cycle_start(np.maximum(delivered, 0)))
    transport = np.where(delivered >= 0, (stamp - cycle) / 1e4, np.nan)
    to_sound = np.where(detected, (clock.ref(np.maximum(onset, 0)) - stamp) / 1e4, np.nan)
    diff = (onset - frame)[detected]
    out.update({
        "clock_ok": True, "clock_fixups": clock.fixups,
        "transport_ms": summarize(transport),  # cycle start -> arrival stamp
        "arrival_to_sound_ms": summarize(to_sound),  # arrival stamp -> sound at the port
        "engine_to_graph_frames": ({"median": float(np.median(diff)), "min": int(diff.min()), "max": int(diff.max())}
                                   if len(diff) else None),
        "per_note": {"transport_ms": _finite(transport), "arrival_to_sound_ms": _finite(to_sound)},
    })
    if all("block" in r for r in rows[:n]):  # the callback that drained it (when the log says)
        block = np.array([r["block"] for r in rows[:n]], dtype=np.int64)
        out["scheduled_ahead_ms"] = summarize((frame - block) * 1000.0 / plan.rate)
    return out


def _finite(a) -> list:
    return [None if not np.isfinite(v) else float(v) for v in a]


def assemble(cfg: LatencyConfig, rig: JackRig, block: int, plan: Plan, synths: dict) -> dict:
    rate = rig.rate
    period_ms = 1000.0 * rig.period / rate
    limit = 2 * period_ms + 1.0
    for name, s in synths.items():
        if "latency_ms" not in s:
            continue
        lat = s["latency_ms"]
        t = {"p99_met": bool(lat.get("n") and lat["p99"] <= limit),
             "jitter_met": bool(lat.get("n") and lat["std"] < JITTER_TARGET_MS)}
        b = s.get("breakdown", {}).get("arrival_to_sound_ms")
        if b and b.get("n"):
            t["arrival_jitter_met"] = bool(b["std"] < JITTER_TARGET_MS)
        if block == XRUN_TARGET_BLOCK:
            t["xruns_met"] = s["xruns"]["jack"] == 0 and not s["xruns"]["portaudio"]
        s["targets"] = t
    return {
        "command": "bench latency",
        "host": report.host(),
        "jack": {"server": rig.name, "started_here": rig.started, "rate": rate, "period": rig.period},
        "blocksize": block,
        "period_ms": period_ms,
        "mode": cfg.mode,
        "notes": cfg.notes,
        "background_voices": cfg.voices,
        "on_cycle": cfg.on_cycle,
        "bank": "the probe instrument (a looped cosine, instant attack) as DLS, in both synths",
        "definition": "key press at graph frame K, delivered to the synth at K + one period (as JACK's MIDI "
                      "drivers deliver); latency = first frame of the sound at the synth's output port - K",
        "targets": {"p99_limit_ms": limit, "jitter_limit_ms": JITTER_TARGET_MS,
                    "xruns_at_64_on_dummy": 0},
        "synths": synths,
        "ratios": report.ratios(synths),
    }
