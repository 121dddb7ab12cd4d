"""`dlsynth bench latency`: key press -> sound at the synth's output port, through JACK.

For each synth (dlsynth as `dlsynth play`, then FluidSynth where installed) on the same
server with the same plan: start it, start the probe (its own process), connect the
probe's MIDI out to the synth's MIDI in and the synth's right output to the probe's ears,
let it settle, run the plan, stop the synth. Onsets are found in the capture; the latency
of a note is the onset frame less its key-press frame (see `plan`), counted by the graph; a
note the probe itself sent late (its callback missed a cycle) counts from the frame the synth
got it at, less the one period a MIDI driver takes (the synth cannot play a key before it).
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
from .config import LatencyConfig
from .plan import PROBE_CHANNEL, Plan, make_plan, write_probe_bank
from .probe import ProbeError, ProbeProcess
from .rig import FluidProcess, JackRig, PlayProcess, find_fluidsynth
from .stats import PRE, GraphClock, detect_onsets, summarize

JITTER_TARGET_MS = 0.1
XRUN_TARGET_BLOCK = 64  # 0 xruns at this block size on the dummy server
MAX_BACKGROUND = 960
CLEAR_BEFORE_S = 5.0  # "clear of xruns": no xrun this long before the key press


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
    with (
        tempfile.TemporaryDirectory(prefix="dlsynth-bench-") as work,
        JackRig(cfg.jack_server, cfg.rate, cfg.period) as rig,
    ):
        block = cfg.blocksize or rig.period
        plan = make_plan(cfg.notes, rig.rate, rig.period, cfg.seed, on_cycle=cfg.on_cycle, background=cfg.voices)
        bank = write_probe_bank(os.path.join(work, "probe.dls"))
        base = baseline_xruns(rig, work, cfg.baseline)
        synths = {}
        play = PlayProcess(
            rig,
            work,
            bank=bank,
            blocksize=block,
            voices=cfg.voices + 64,
            interpolation=cfg.interpolation,
            effects=False,
            immediate=cfg.immediate,
            latency=cfg.latency,
        )
        synths["dlsynth"] = measure(rig, plan, play, work, cfg)
        if fluid:
            fl = FluidProcess(rig, work, bank=bank, blocksize=block, voices=cfg.voices + 64, effects=False)
            synths["fluidsynth"] = measure(rig, plan, fl, work, cfg)
        else:
            synths["fluidsynth"] = {"missing": why_not}
        return dict(assemble(cfg, rig, block, plan, synths), baseline=base)


def baseline_xruns(rig: JackRig, work: str, seconds: float) -> dict | None:
    """The server's xruns with no synth and no Python in its cycle (a watching client only):
    what the machine gives before anything is measured."""
    if seconds <= 0:
        return None
    try:
        with ProbeProcess([], [], 0, rig.name, work, timeout=1e9, name="probe-baseline", watch=True) as w:
            x0 = w.xruns()
            time.sleep(seconds)
            return {"seconds": seconds, "xruns": w.xruns() - x0}
    except ProbeError as exc:
        raise UserError(str(exc)) from None


def measure(rig: JackRig, plan: Plan, peer, work: str, cfg: LatencyConfig) -> dict:
    """One synth through the probe: start it, play the plan, stop it, analyse."""
    peer.start()
    try:
        res, x0 = play_plan(rig, plan, peer, work, cfg.warmup)
    finally:
        info = peer.stop()
    delay = rig.loop_delay(peer.midi_in, peer.listen_port)
    out = analyse(plan, res, events=info.get("events"), loop_delay=delay)
    out["command"] = peer.cmd
    out["loop_delay_frames"] = delay
    out["xruns"] = {"jack": int(res["xruns"]) - x0, "jack_bursts": bursts(res["xrun_ref"][x0:]), "portaudio": None}
    summary = info.get("summary")
    if summary is not None:
        out["xruns"]["portaudio"] = summary["xruns"]  # the whole session's (its sink.stats())
        out["play_summary"] = summary
    elif peer.tag == "dlsynth":
        out["play_stderr"] = info.get("stderr_tail")
    return out


def play_plan(rig: JackRig, plan: Plan, peer, work: str, warmup: float) -> tuple[dict, int]:
    """The probe (its own process) wired to a running synth: settle, play, capture.
    Returns the probe's results and its xrun count when the plan began."""
    timeout = plan.capture_frames / plan.rate + 30
    try:
        probe = ProbeProcess(
            plan.offsets, plan.messages, plan.capture_frames, rig.name, work, timeout, name=f"probe-{peer.tag}"
        )
    except ProbeError as exc:
        raise UserError(str(exc)) from None
    with probe:
        rig.connect(probe.port_names["midi_out"], peer.midi_in)
        rig.connect(peer.listen_port, probe.port_names["audio_in"])
        time.sleep(warmup)
        x0 = probe.xruns()
        probe.go()
        done = probe.wait()
        res = probe.results()
    if not done["done"]:
        raise UserError(f"the probe did not finish its run with {peer.label} (is the JACK server stalled?)")
    return res, x0


def bursts(xrun_ref, gap_ref: int = 100_000) -> int:
    """Distinct xruns: JACK calls the xrun callback several times for one stall (within 10 ms)."""
    t = np.sort(np.asarray(xrun_ref, dtype=np.int64))
    return int(len(t) and 1 + (np.diff(t) > gap_ref).sum())


def note_on_indices(plan: Plan) -> np.ndarray:
    """Where the probe notes' note-ons are among the plan's messages (in key-press order)."""
    st = 0x90 | PROBE_CHANNEL
    return np.array([j for j, m in enumerate(plan.messages) if len(m) == 3 and m[0] == st and m[2]], dtype=np.int64)


def analyse(plan: Plan, res: dict, events: list | None = None, loop_delay: int = 0) -> dict:
    """Onsets and latencies of one run, with dlsynth's breakdown when its event log is given.
    loop_delay: frames the graph added (a loop through the probe runs a cycle late)."""
    rate = plan.rate
    to_ms = 1000.0 / rate
    base = int(res["base"])
    delivered = np.asarray(res["ev_frame"], dtype=np.int64)[note_on_indices(plan)]
    press = base + plan.press
    ends = np.append(press[1:], press[-1] + plan.gap_min) - PRE
    onset, quiet = detect_onsets(res["capture"], base, press, ends)
    onset = np.where(onset >= 0, onset - loop_delay, -1)
    sent = delivered >= 0
    detected = sent & (onset >= 0)
    sent_late = sent & (delivered != press + plan.period)
    heard = np.where(sent_late, delivered - plan.period, press)  # the key press the synth saw
    lat_ms = np.where(detected, (onset - heard) * to_ms, np.nan)
    out = {
        "notes": {
            "planned": plan.notes,
            "sent": int(sent.sum()),
            "detected": int(detected.sum()),
            "quiet_before": int((quiet & detected).sum()),
            "sent_late": int(sent_late.sum()),
        },
        "latency_ms": summarize(lat_ms),
        "per_note": {
            "latency_ms": [None if not np.isfinite(v) else float(v) for v in lat_ms],
            "sent_late_frames": [int(v) for v in np.where(sent, delivered - press - plan.period, 0)],
        },
    }
    clock = GraphClock(rate, res["cyc_frame"], res["cyc_usecs"], res["cyc_offset_ns"], res["cyc_entry_ns"])
    if clock.ok:
        xruns = np.asarray(res["xrun_ref"], dtype=np.int64)
        out.update(clear_of_xruns(clock.ref(press), xruns, lat_ms))
        # an xrun from a cycle before the key press to a cycle after its sound: the graph
        # did not run on time for this very note
        near = xrun_between(clock.ref(press - plan.period), clock.ref(np.maximum(onset, press) + plan.period), xruns)
        out["per_note"]["xrun_near"] = [bool(v) for v in near]
    if events is not None:
        out["breakdown"] = breakdown(plan, events, clock, delivered, onset, detected)
    return out


def xrun_between(start_ref, end_ref, xrun_ref) -> np.ndarray:
    """Per note: whether an xrun came between its start and end (master clock, 100 ns)."""
    t = np.sort(np.asarray(xrun_ref, dtype=np.float64))
    lo = np.searchsorted(t, np.asarray(start_ref, dtype=np.float64))
    hi = np.searchsorted(t, np.asarray(end_ref, dtype=np.float64), side="right")
    return hi > lo


def clear_of_xruns(press_ref, xrun_ref, lat_ms, before_s: float = CLEAR_BEFORE_S, after_s: float = 0.2) -> dict:
    """When the server's xruns came (s from the first key press), and the latency of the
    notes with no xrun from `before_s` before their key press to `after_s` after: a synth
    may take seconds to settle after one (a time map slewing back)."""
    press_ref = np.asarray(press_ref, dtype=np.float64)
    t = np.sort(np.asarray(xrun_ref, dtype=np.float64))
    lo = np.searchsorted(t, press_ref - before_s * 1e7)
    hi = np.searchsorted(t, press_ref + after_s * 1e7)
    clear = hi == lo
    return {
        "xrun_times_s": [round((v - press_ref[0]) / 1e7, 4) for v in t.tolist()],
        "clear_of_xruns": {
            "before_s": before_s,
            "notes": int((clear & np.isfinite(lat_ms)).sum()),
            "latency_ms": summarize(np.where(clear, lat_ms, np.nan)),
        },
    }


def probe_note_ons(events: list, group: int = 1) -> list[dict]:
    """The event log's rows for the probe's note-ons (channel PROBE_CHANNEL of `group`)."""
    st = 0x90 | PROBE_CHANNEL
    return [
        e
        for e in events
        if e.get("group") == group and len(e.get("data", ())) == 3 and e["data"][0] == st and e["data"][2]
    ]


def breakdown(plan: Plan, events: list, clock: GraphClock, delivered, onset, detected) -> dict:
    """Inside dlsynth, per note: its arrival stamp (master clock) against the graph time of
    the frame the probe delivered it at, and against the graph time of its sound at the port;
    the engine frame it was applied at against the graph frame it sounded at."""
    rows = probe_note_ons(events)
    n = plan.notes
    keys_ok = len(rows) >= n and [r["data"][1] for r in rows[:n]] == [int(k) for k in plan.keys]
    out = {"received": len(rows), "matched": bool(keys_ok), "late": sum(bool(r.get("late")) for r in rows[:n])}
    if not keys_ok or not clock.ok:
        out["clock_ok"] = bool(clock.ok)
        return out
    stamp = np.array([r["stamp"] for r in rows[:n]], dtype=np.float64)
    frame = np.array([r["frame"] for r in rows[:n]], dtype=np.int64)
    sent = delivered >= 0
    to_stamp = np.where(sent, (stamp - clock.ref(np.maximum(delivered, 0))) / 1e4, np.nan)
    to_sound = np.where(detected, (clock.ref(np.maximum(onset, 0)) - stamp) / 1e4, np.nan)
    diff = (onset - frame)[detected]
    out.update(
        {
            "clock_ok": True,
            "jack_clock_suspect_cycles": clock.suspect,
            "delivery_to_stamp_ms": summarize(to_stamp),  # the note-on's graph frame -> its arrival stamp
            "arrival_to_sound_ms": summarize(to_sound),  # arrival stamp -> sound at the port
            "engine_to_graph_frames": (
                {"median": float(np.median(diff)), "min": int(diff.min()), "max": int(diff.max())}
                if len(diff)
                else None
            ),
            "per_note": {
                "delivery_to_stamp_ms": _finite(to_stamp),
                "arrival_to_sound_ms": _finite(to_sound),
                "late": [bool(r.get("late")) for r in rows[:n]],
            },
        }
    )
    if all("block" in r for r in rows[:n]):  # the callback that drained it (when the log says)
        block = np.array([r["block"] for r in rows[:n]], dtype=np.int64)
        out["drained_to_frame_ms"] = summarize((frame - block) * 1000.0 / plan.rate)
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
        t = {"p99_met": bool(lat.get("n") and lat["p99"] <= limit)}
        if not cfg.immediate:  # the jitter target is scheduled mode's
            t["jitter_met"] = bool(lat.get("n") and lat["std"] < JITTER_TARGET_MS)
            b = s.get("breakdown", {}).get("arrival_to_sound_ms")
            if b and b.get("n"):
                t["arrival_jitter_met"] = bool(b["std"] < JITTER_TARGET_MS)
        c = s.get("clear_of_xruns", {}).get("latency_ms", {})
        if c.get("n") and c["n"] < lat.get("n", 0):
            t["clear_p99_met"] = bool(c["p99"] <= limit)
            if not cfg.immediate:
                t["clear_jitter_met"] = bool(c["std"] < JITTER_TARGET_MS)
        if block == XRUN_TARGET_BLOCK and rig.started:  # on the dummy server started here
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
        "drivers deliver); latency = first frame of the sound at the synth's output port - K (K + D for a note "
        "the probe delivered D frames late after missing a cycle: notes.sent_late)",
        "targets": {"p99_limit_ms": limit, "jitter_limit_ms": JITTER_TARGET_MS, "xruns_at_64_on_dummy": 0},
        "synths": synths,
        "ratios": report.ratios(synths),
    }
