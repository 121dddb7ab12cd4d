"""`dlsynth bench voices`: the most voices a block size sustains without xruns.

(A count with an xrun is tried again `retries` times: on a shared machine other processes'
real-time threads cause stray xruns. The load each count costs gives a second figure that
they do not move: where a straight line through the loads reaches 70 %.)

Sustained looped notes (the probe instrument: one voice per note in both synths) are
ramped up, doubling, then bisecting between the last count that passed and the first
that failed; each count is held `seconds` and passes with no xrun from the JACK server
(counted by the probe process's xrun callback) nor from PortAudio (dlsynth's counters).

dlsynth runs in this process as `play` wires it (the C callback on PortAudio's JACK
output, the Service thread for SyncToMaster), its notes pushed straight into the wave
sink's MIDI ring; FluidSynth runs as its own process, its notes sent through its shell.
"""

from __future__ import annotations

import math
import os
import tempfile
import time

from ..errors import UserError
from . import report
from .config import MAX_VOICES, VoicesConfig
from .plan import DRUM_CHANNEL, probe_collection, write_probe_bank
from .probe import ProbeError, ProbeProcess
from .rig import FluidProcess, JackRig

SETTLE_S = 0.5  # after the count is reached: xruns while notes start are not the sustained load
REACH_TIMEOUT_S = 15.0
PER_BURST = 64  # notes sent between two short sleeps
LOAD_CEILING = 0.7  # the callback load taken as the CPU's limit for the estimate
KEYS = range(36, 100)
CHANNELS = [c for c in range(16) if c != DRUM_CHANNEL]


def check(cfg: VoicesConfig) -> None:
    report.check_common(cfg)
    if cfg.seconds <= 0:
        raise UserError("--seconds must be positive")
    if not 1 <= cfg.start <= cfg.max_voices <= MAX_VOICES:
        raise UserError(f"need 1 <= --start <= --max-voices <= {MAX_VOICES}")
    if cfg.retries < 0:
        raise UserError("--retries must not be negative")


def slots(count: int):
    """(group, channel, key) of `count` sustained notes: 15 channels x 64 keys per group."""
    per = len(CHANNELS) * len(KEYS)
    return [(1 + i // per, CHANNELS[(i % per) // len(KEYS)], KEYS[i % len(KEYS)]) for i in range(count)]


def search(trial, start: int, limit: int) -> tuple[dict | None, list]:
    """Doubling from `start` until a count fails (or `limit`), then bisection to within
    max(8, 5 %). trial(count) -> {"voices", "ok", ...}; returns (best passing step, all)."""
    steps = []
    good = bad = None
    n = start
    while True:
        rec = trial(n)
        steps.append(rec)
        if not rec["ok"]:
            bad = rec
            break
        good = rec
        if n >= limit:
            break
        n = min(2 * n, limit)
    if good is not None and bad is not None:
        lo, hi = good["voices"], bad["voices"]
        while hi - lo > max(8, lo // 20):
            mid = (lo + hi) // 2
            rec = trial(mid)
            steps.append(rec)
            if rec["ok"]:
                lo, good = mid, rec
            else:
                hi = mid
    return good, steps


class _Target:
    """A synth the search drives: note counts set, voices counted, xruns read."""

    def __init__(self):
        self.current = 0
        self.slots = []

    def set_count(self, count: int) -> bool:
        if count > len(self.slots):
            self.slots = slots(count)
        if count > self.current:
            msgs = [(g, c, k, True) for g, c, k in self.slots[self.current : count]]
        else:
            msgs = [(g, c, k, False) for g, c, k in self.slots[count : self.current]]
        for i in range(0, len(msgs), PER_BURST):
            self.send(msgs[i : i + PER_BURST])
            time.sleep(0.003)
        self.current = count
        deadline = time.monotonic() + REACH_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.active() == count:
                return True
            time.sleep(0.05)
        return False

    # per synth
    def send(self, notes) -> None: ...
    def active(self) -> int: ...
    def counters(self) -> dict:
        return {}

    def close(self) -> None: ...


class DlsynthTarget(_Target):
    def __init__(self, cfg: VoicesConfig, rig: JackRig, block: int):
        super().__init__()
        from dlsynth.apps.jackserver import jack_output_device, portaudio_reinit
        from dlsynth.sink.wavesink import WaveSink
        from dlsynth.synth.service import ServiceThread
        from dlsynth.synth.synth import Synth

        from ..play import quiet_jack

        sd = portaudio_reinit()
        quiet_jack()
        groups = math.ceil(cfg.max_voices / (len(CHANNELS) * len(KEYS)))
        self.synth = Synth(
            rig.rate,
            channel_groups=groups,
            voices=cfg.max_voices,
            interpolation=cfg.interpolation,
            effects=cfg.effects,
            gain_db=-24.0,
        )
        self.synth.download(probe_collection(), preload=True)
        try:
            self.sink = WaveSink(self.synth, device=jack_output_device(sd), blocksize=block)
        except Exception as exc:
            self.synth.close()
            raise UserError(f"cannot open the audio output on JACK: {' '.join(str(exc).split())}") from None
        self.service = ServiceThread(self.synth, self.sink)
        self.sink.start()
        self.service.start()

    def send(self, notes) -> None:
        for g, c, k, on in notes:
            self.sink.push(g, bytes([(0x90 if on else 0x80) | c, k, 100 if on else 0]))

    def active(self) -> int:
        return int(self.synth.engine.stats()["voices_active"])

    def reset_peak(self) -> None:
        from dlsynth.native import lib

        lib.ws_reset_peak(self.sink.handle)

    def counters(self) -> dict:
        st = self.sink.stats()
        return {"xruns_portaudio": int(st["xruns"]), "load": float(st["load"]), "peak_load": float(st["peak_load"])}

    def close(self) -> None:
        self.sink.silence()
        time.sleep(0.05)
        self.service.stop()
        self.sink.stop()
        self.sink.close()
        self.synth.close()


class FluidTarget(_Target):
    def __init__(self, cfg: VoicesConfig, rig: JackRig, block: int, work: str):
        super().__init__()
        bank = write_probe_bank(os.path.join(work, "probe.dls"))
        channels = 16 * math.ceil(cfg.max_voices / (len(CHANNELS) * len(KEYS)))
        self.fl = FluidProcess(
            rig,
            work,
            bank=bank,
            blocksize=block,
            voices=cfg.max_voices + 64,
            effects=cfg.effects,
            channels=channels,
            gain=0.1,
        ).start()
        for i, port in enumerate(sorted(rig.ports(is_audio=True, is_input=True, is_physical=True))[:2]):
            rig.connect(self.fl.audio_out[i], port)  # heard as a user hears it, like PortAudio's autoconnect

    def send(self, notes) -> None:
        cmds = [
            (f"noteon {(g - 1) * 16 + c} {k} 100" if on else f"noteoff {(g - 1) * 16 + c} {k}") for g, c, k, on in notes
        ]
        self.fl.shell(*cmds)

    def active(self) -> int:
        return self.fl.voice_count()

    def counters(self) -> dict:
        """FluidSynth's CPU time (s): its load is that over the wall time of a step."""
        try:
            with open(f"/proc/{self.fl.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return {"cpu_s": (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")}
        except (OSError, IndexError, ValueError):
            return {}

    def close(self) -> None:
        self.fl.stop()


def step(target: _Target, watcher: ProbeProcess, count: int, seconds: float) -> dict:
    """Hold `count` voices for `seconds`: xruns (JACK's, PortAudio's) and the callback load."""
    reached = target.set_count(count)
    time.sleep(SETTLE_S)
    j0, c0 = watcher.xruns(), target.counters()
    if hasattr(target, "reset_peak"):
        target.reset_peak()
    loads = []
    t0 = time.monotonic()
    while time.monotonic() < t0 + seconds:
        time.sleep(0.1)
        c = target.counters()
        if "load" in c:
            loads.append(c["load"])
    j1, c1 = watcher.xruns(), target.counters()
    if "cpu_s" in c1 and "cpu_s" in c0:  # a process's CPU time over the step
        loads = [(c1["cpu_s"] - c0["cpu_s"]) / (time.monotonic() - t0)]
    rec = {
        "voices": count,
        "voices_active": target.active(),
        "reached": bool(reached),
        "xruns_jack": j1 - j0,
        "xruns_portaudio": (c1["xruns_portaudio"] - c0["xruns_portaudio"]) if "xruns_portaudio" in c1 else None,
        "load": sum(loads) / len(loads) if loads else None,
        "peak_load": c1.get("peak_load"),
    }
    rec["ok"] = bool(reached and rec["xruns_jack"] == 0 and not rec["xruns_portaudio"])
    return rec


def search_target(cfg: VoicesConfig, target: _Target, watcher: ProbeProcess) -> dict:
    def trial(count: int) -> dict:
        rec = step(target, watcher, count, cfg.seconds)
        tries = 1
        while not rec["ok"] and rec["reached"] and tries <= cfg.retries:
            rec = step(target, watcher, count, cfg.seconds)  # a stray xrun from another process?
            tries += 1
        rec["tries"] = tries
        return rec

    try:
        good, steps = search(trial, cfg.start, cfg.max_voices)
        target.set_count(0)
    finally:
        target.close()
    return {
        "max_voices": good["voices"] if good else 0,
        "at_limit": bool(good and good["voices"] >= cfg.max_voices),
        "at_max": good,
        "steps": steps,
        "load_ceiling": LOAD_CEILING,
        "voices_at_load_ceiling": load_estimate(steps),
    }


def load_estimate(steps: list) -> int | None:
    """Where the load (a straight line through the steps' loads) would reach LOAD_CEILING:
    what the CPU alone would allow, past the search's limit and whatever stray xruns the
    machine adds. dlsynth's load is its callback's time over the block's; FluidSynth's, its
    process's CPU time over the wall time (it renders in its JACK callback)."""
    import numpy as np

    pts = [(st["voices"], st["load"]) for st in steps if st["reached"] and st.get("load") is not None]
    if len({v for v, _ in pts}) < 2:
        return None
    b, a = np.polyfit([v for v, _ in pts], [x for _, x in pts], 1)
    return int((LOAD_CEILING - a) / b) if b > 0 else None


def run(cfg: VoicesConfig) -> dict:
    check(cfg)
    from .latency import peers_wanted

    fluid, why_not = peers_wanted(cfg.peer)
    with (
        tempfile.TemporaryDirectory(prefix="dlsynth-bench-") as work,
        JackRig(cfg.jack_server, cfg.rate, cfg.period) as rig,
    ):
        block = cfg.blocksize or rig.period
        try:
            watcher = ProbeProcess([], [], 0, rig.name, work, timeout=1e9, name="probe-xruns", watch=True)
        except ProbeError as exc:
            raise UserError(str(exc)) from None
        with watcher:
            synths = {"dlsynth": search_target(cfg, DlsynthTarget(cfg, rig, block), watcher)}
            if fluid:
                synths["fluidsynth"] = search_target(cfg, FluidTarget(cfg, rig, block, work), watcher)
            else:
                synths["fluidsynth"] = {"missing": why_not}
        a, b = synths["dlsynth"].get("max_voices"), synths["fluidsynth"].get("max_voices")
        at_limit = synths["dlsynth"].get("at_limit")
        if at_limit and synths["fluidsynth"].get("at_limit"):
            a = b = None  # both at the search limit: no ratio
        return {
            "command": "bench voices",
            "host": report.host(),
            "jack": {"server": rig.name, "started_here": rig.started, "rate": rig.rate, "period": rig.period},
            "blocksize": block,
            "period_ms": 1000.0 * block / rig.rate,
            "seconds_per_step": cfg.seconds,
            "interpolation": cfg.interpolation,
            "effects": cfg.effects,
            "synths": synths,
            "ratio": (a / b) if a and b else None,
            "ratio_is_lower_bound": bool(at_limit and b),
            "estimate_ratio": _ratio(
                synths["dlsynth"].get("voices_at_load_ceiling"), synths["fluidsynth"].get("voices_at_load_ceiling")
            ),
        }


def _ratio(a, b):
    return a / b if a and b else None
