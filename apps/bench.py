"""`dlsynth bench`: live latency and polyphony measured through a real audio graph (JACK).

``dlsynth bench latency``
    A JACK client, the *probe*, plays the keyboard and listens: its MIDI output is connected
    to dlsynth's virtual MIDI input (rtmidi on JACK), its audio input to dlsynth's right
    output (PortAudio on JACK). In its process callback it writes each note-on at a known
    graph frame (``last_frame_time + offset``) and captures the audio, so

        latency = first frame of the captured onset - frame of the MIDI event

    counted by the JACK graph itself, with no wall clock involved. Notes are spaced
    irregularly (a random number of frames apart) so they land everywhere in a block. The
    probe instrument is a looped cosine with an instant attack panned hard right; the
    background voices (``--voices``) are panned hard left, so they load the engine without
    touching the channel the probe listens to.

    Inside dlsynth the same notes are traced: the arrival stamp (MidiInputs stamps each
    message with the master clock), the frame the engine starts the note (the kernel
    event's sample time, or the block start when it came late), the master-clock time that
    frame is due at the DAC according to the time map, and when the audio callback that
    rendered it returned. The probe also notes JACK's clock at every cycle, so the graph
    frames of the MIDI event and of the onset can be put on the master clock: that gives
    the transport delay (event -> arrival stamp) and the latency from arrival to the sound
    leaving dlsynth (the graph time of the onset frame), the figure the issue sets a target
    for (at most one period plus 1 ms; jitter under 0.1 ms in scheduled mode).

``dlsynth bench voices``
    The most voices sustained at a block size without xruns: banks of looped sustained notes
    are ramped up (doubling, then bisection), each step held ``--seconds`` and judged by the
    xruns PortAudio reports and the JACK server reports.

The server: ``--jack-server auto`` uses the server JACK_DEFAULT_SERVER names (or "default")
if one is running, else starts a JACK dummy server (``jackd -d dummy``) with the block size
as its period; ``--jack-server NAME`` insists on a running server. The probe runs in a
subprocess by default (its Python callback then never waits for the GIL that dlsynth's
Python audio callback holds); ``--probe thread`` runs it in this process for comparison.

The probe subprocess is this module run as ``python -m apps.bench --probe CONFIG.json``.
With DLSYNTH_BENCH_DUMP=FILE.npz in the environment, `bench latency` also saves every raw
figure (the probe's capture and clock table, arrival stamps, the engine trace, the callback
log) for a closer look.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time

from .errors import UserError

RATE = 48000
DEFAULT_BLOCK = 128
REF = 10_000_000  # master-clock units per second (100 ns)
PROBE_GROUP = 1  # the virtual MIDI input's channel group
PROBE_CHANNEL = 0
THRESHOLD = 0.05  # onset threshold (the probe note peaks near 0.49; its attack is instant)
NOTE_MS = 25.0  # probe note length
VIRTUAL_PORT = "bench-in"
CLIENT_NAME = "dlsynth-bench"
MAX_VOICES = 4096
LOAD_CEILING = 0.7  # bench voices: the p99 callback load taken as the CPU's limit for the estimate

#: Reported elsewhere, not measured here: printed for comparison only.
REFERENCE_FIGURES = (
    ("Microsoft GS Wavetable Synth (reported)", 100.0),
    ("FluidSynth Linux default, 16 x 64 frames (reported)", 23.0),
)


# ============================================================================ command line
def add_parser(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="measure live latency and polyphony through a real audio graph (JACK)",
        description="Measure dlsynth live: note-on to sound through a JACK graph (latency), and the "
        "most voices a block size sustains without xruns (voices). With no JACK server running, a "
        "JACK dummy server is started for the run.",
    )
    bsub = p.add_subparsers(dest="bench_command", metavar="BENCH")

    def common(q, default_block_help: str):
        q.add_argument("--blocksize", type=int, default=None,
                       help=f"audio block size in frames ({default_block_help})")
        q.add_argument("--rate", type=int, default=RATE, help="sample rate of a server started here (default 48000)")
        q.add_argument("--jack-server", default="auto", metavar="auto|NAME",
                       help="JACK server: 'auto' uses JACK_DEFAULT_SERVER (or 'default') if running, else "
                       "starts a dummy server; NAME must be running")
        q.add_argument("--interpolation", choices=("linear", "cubic", "sinc"), default="cubic")
        q.add_argument("--no-effects", action="store_true", help="no reverb and chorus")
        q.add_argument("--json", metavar="FILE", help="write the figures as JSON")

    lat = bsub.add_parser("latency", help="note-on to sound through the audio graph",
                          description="Send notes from a JACK client to dlsynth's MIDI input and find "
                          "their onsets in dlsynth's audio output, in graph frames; report percentiles, "
                          "jitter and xruns, with dlsynth's internal breakdown.")
    common(lat, f"default: the server's period, {DEFAULT_BLOCK} for a server started here")
    lat.add_argument("--notes", type=int, default=200, help="notes to send (default 200)")
    lat.add_argument("--voices", type=int, default=0, metavar="LOAD",
                     help="background load: this many sustained voices (default 0)")
    lat.add_argument("--immediate", action="store_true",
                     help="immediate mode: events apply at the next block (default: scheduled)")
    lat.add_argument("--latency", type=float, default=None, metavar="SECONDS",
                     help="scheduled latency from arrival to the DAC (default: the wave sink's own)")
    lat.add_argument("--png", metavar="FILE", help="write a histogram (needs matplotlib)")
    lat.add_argument("--probe", choices=("process", "thread"), default="process",
                     help="run the JACK probe client in a subprocess (default) or in this process")
    lat.add_argument("--warmup", type=float, default=2.0, metavar="SECONDS",
                     help="run this long before the first note (default 2)")
    lat.add_argument("--seed", type=int, default=1, help="seed of the note spacing (default 1)")
    lat.add_argument("--clean-window", type=float, default=5.0, metavar="SECONDS",
                     help="also report the notes with no xrun in this many seconds before them "
                     "(the time map takes seconds to slew back after one; default 5)")
    lat.set_defaults(run=run_latency)

    voi = bsub.add_parser("voices", help="the most voices without xruns at a block size",
                          description="Ramp up sustained looped voices (doubling, then bisection), "
                          "holding each count for --seconds; a count passes with no xruns from "
                          "PortAudio or the JACK server.")
    common(voi, f"default: the server's period, {DEFAULT_BLOCK} for a server started here")
    voi.add_argument("--seconds", type=float, default=3.0, help="seconds per step (default 3)")
    voi.add_argument("--start", type=int, default=32, help="first voice count (default 32)")
    voi.add_argument("--max-voices", type=int, default=MAX_VOICES,
                     help=f"stop the search here (default and limit {MAX_VOICES})")
    voi.add_argument("--retries", type=int, default=2,
                     help="run a failing step again this many times before calling it failed "
                     "(a stray xrun from another process's load or the VM; default 2)")
    voi.set_defaults(run=run_voices)

    def no_bench(args):
        p.print_help(sys.stderr)
        return 2

    p.set_defaults(run=no_bench)


# ============================================================================ statistics
def summarize(values) -> dict:
    """p1, p50, p99, min, max, mean, std and p99-p1 of a list (NaNs dropped)."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    x = x[np.isfinite(x)]
    if not len(x):
        return {"n": 0}
    p1, p50, p99 = (float(v) for v in np.percentile(x, [1, 50, 99]))
    return {"n": int(len(x)), "min": float(x.min()), "p1": p1, "p50": p50, "mean": float(x.mean()),
            "p99": p99, "max": float(x.max()), "std": float(x.std()), "p99_p1": p99 - p1}


def make_plan(notes: int, rate: int, blocksize: int, seed: int = 1):
    """Note-on frames (relative to the start), keys, and the note length in frames.

    Gaps are random whole frames between ~60 and ~110 ms (longer for big blocks), so the
    note-ons land at every offset inside a block."""
    import numpy as np

    rng = np.random.default_rng(seed)
    lo = max(int(0.060 * rate), 8 * blocksize + int(0.020 * rate))
    hi = lo + max(int(0.050 * rate), 2 * blocksize)
    gaps = rng.integers(lo, hi, size=notes)
    gaps[0] = 0
    on = np.cumsum(gaps).astype(np.int64)
    keys = (60 + np.arange(notes) % 24).astype(np.int64)
    dur = int(NOTE_MS * rate / 1000)
    return on, keys, dur, int(lo)


def detect_onsets(capture, cap0: int, event_frames, window: int, threshold: float = THRESHOLD,
                  pre: int = 48):
    """First frame at or after each event whose |x| exceeds threshold (-1 when none within
    `window`), and whether the `pre` frames before the event were quiet."""
    import numpy as np

    onsets = np.full(len(event_frames), -1, dtype=np.int64)
    quiet = np.zeros(len(event_frames), dtype=bool)
    mag = np.abs(capture)
    for i, e in enumerate(event_frames):
        j = int(e) - cap0
        if j < 0 or j >= len(mag):
            continue
        seg = mag[j:j + window]
        hit = np.flatnonzero(seg > threshold)
        if len(hit):
            onsets[i] = int(e) + int(hit[0])
        quiet[i] = not (mag[max(j - pre, 0):j] > threshold).any()
    return onsets, quiet


# ============================================================================ the probe
class Probe:
    """A JACK client that plays planned MIDI events at exact graph frames and captures audio.

    Everything its process callback touches is preallocated; it runs in a subprocess
    (`_probe_main`) or in this process. Per cycle it notes the frame, JACK's time of that
    frame (jack_frames_to_time) and the offset between JACK's clock and CLOCK_MONOTONIC
    (the master clock's base), so graph frames can be put on the master clock."""

    def __init__(self, event_offsets, event_bytes, capture_frames: int, name: str = "dlsynth-probe",
                 servername: str | None = None, max_cycles: int | None = None):
        import ctypes
        import ctypes.util

        import jack
        import numpy as np

        self.np = np
        self.client = jack.Client(name, servername=servername, no_start_server=True)
        self.rate = int(self.client.samplerate)
        self.period = int(self.client.blocksize)
        self.midi = self.client.midi_outports.register("midi_out")
        self.audio = self.client.inports.register("in")
        self.ev_off = np.asarray(event_offsets, dtype=np.int64)
        self.ev_bytes = [bytes(b) for b in event_bytes]
        self.ev_frame = np.full(len(self.ev_off), -1, dtype=np.int64)
        self.capture = np.zeros(int(capture_frames), dtype=np.float32)
        self.cap0 = -1
        self.base = -1
        self.n_cycles = max_cycles or int(capture_frames // max(self.period, 1) + 64)
        self.cyc_frame = np.zeros(self.n_cycles, dtype=np.int64)
        self.cyc_usecs = np.zeros(self.n_cycles, dtype=np.int64)
        self.cyc_offset_ns = np.zeros(self.n_cycles, dtype=np.int64)  # monotonic - jack time, ns
        self.cyc_entry_ns = np.zeros(self.n_cycles, dtype=np.int64)  # monotonic at this callback
        self.k = 0
        self.i = 0
        self.state = 0  # 0 idle, 1 arm, 2 running, 3 done
        self.xruns = 0
        self.cycles_total = 0
        libname = ctypes.util.find_library("jack") or "libjack.so.0"
        lj = ctypes.CDLL(libname)
        lj.jack_get_time.restype = ctypes.c_uint64
        lj.jack_frames_to_time.restype = ctypes.c_uint64
        lj.jack_frames_to_time.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
        self._jack_time = lj.jack_get_time
        self._frames_to_time = lj.jack_frames_to_time
        self._cptr = ctypes.c_void_p(int(jack._ffi.cast("uintptr_t", self.client._ptr)))
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)

    # -- runs in JACK's process thread
    def _process(self, frames: int) -> None:
        self.midi.clear_buffer()
        self.cycles_total += 1
        st = self.state
        if st == 0 or st == 3:
            return
        f = self.client.last_frame_time
        if st == 1:
            self.base = f + frames
            self.cap0 = f + frames
            self.state = 2
            return
        k = self.k
        if k < self.n_cycles:
            m0 = time.monotonic_ns()
            jt = self._jack_time()
            m1 = time.monotonic_ns()
            self.cyc_frame[k] = f
            self.cyc_usecs[k] = self._frames_to_time(self._cptr, f)
            self.cyc_offset_ns[k] = (m0 + m1) // 2 - jt * 1000
            self.cyc_entry_ns[k] = m0
            self.k = k + 1
        i = self.i
        n = len(self.ev_off)
        end = f + frames
        base = self.base
        off = self.ev_off
        while i < n and base + off[i] < end:
            o = int(base + off[i] - f)
            if o < 0:
                o = 0  # a skipped cycle (xrun): send it now and record where it really went
            self.midi.write_midi_event(o, self.ev_bytes[i])
            self.ev_frame[i] = f + o
            i += 1
        self.i = i
        j = f - self.cap0
        cap = self.capture
        if 0 <= j < len(cap):
            m = min(frames, len(cap) - j)
            cap[j:j + m] = self.audio.get_array()[:m]
        elif j >= len(cap) and i >= n:
            self.state = 3

    def _xrun(self, delay_usecs) -> None:
        self.xruns += 1

    # -- control
    def activate(self) -> None:
        self.client.activate()

    @property
    def port_names(self) -> dict:
        return {"midi_out": self.midi.name, "audio_in": self.audio.name}

    def go(self) -> None:
        self.state = 1

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.state != 3:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def results(self) -> dict:
        k = self.k
        return {
            "rate": self.rate, "period": self.period, "cap0": int(self.cap0), "base": int(self.base),
            "ev_frame": self.ev_frame, "capture": self.capture,
            "cyc_frame": self.cyc_frame[:k], "cyc_usecs": self.cyc_usecs[:k],
            "cyc_offset_ns": self.cyc_offset_ns[:k], "cyc_entry_ns": self.cyc_entry_ns[:k],
            "xruns": int(self.xruns),
        }

    def close(self) -> None:
        try:
            self.client.deactivate()
        finally:
            self.client.close()


def _probe_main(config_path: str) -> int:
    """The probe subprocess: read the plan, report its ports, wait for 'go', run, save."""
    import numpy as np

    with open(config_path) as f:
        cfg = json.load(f)
    probe = Probe(cfg["offsets"], [bytes(b) for b in cfg["messages"]], cfg["capture_frames"],
                  name=cfg.get("name", "dlsynth-probe"), servername=cfg.get("server"))
    probe.activate()
    print(json.dumps({"ready": True, **probe.port_names, "rate": probe.rate, "period": probe.period}), flush=True)
    line = sys.stdin.readline()
    if line.strip() != "go":
        probe.close()
        return 1
    probe.go()
    ok = probe.wait(cfg["timeout"])
    res = probe.results()
    probe.close()
    np.savez(cfg["out"], **{k: np.asarray(v) for k, v in res.items()})
    print(json.dumps({"done": ok}), flush=True)
    return 0 if ok else 1


class _ProbeProcess:
    """The probe in a subprocess, with the same face as `Probe` for the bench."""

    def __init__(self, offsets, messages, capture_frames: int, server: str, timeout: float, workdir: str):
        self.out = os.path.join(workdir, "probe.npz")
        cfg = os.path.join(workdir, "probe.json")
        with open(cfg, "w") as f:
            json.dump({"offsets": [int(x) for x in offsets], "messages": [list(m) for m in messages],
                       "capture_frames": int(capture_frames), "server": server, "timeout": timeout,
                       "out": self.out, "name": "dlsynth-probe"}, f)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, JACK_DEFAULT_SERVER=server, JACK_NO_START_SERVER="1",
                   PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
        self.proc = subprocess.Popen([sys.executable, "-m", "apps.bench", "--probe", cfg], env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=workdir)
        self.timeout = timeout
        line = self.proc.stdout.readline()
        if not line:
            err = " ".join(self.proc.stderr.read().split())[-400:]
            self.proc.wait(5)
            raise UserError(f"the JACK probe client did not start: {err or 'no output'}")
        info = json.loads(line)
        self.port_names = {"midi_out": info["midi_out"], "audio_in": info["audio_in"]}
        self.rate, self.period = info["rate"], info["period"]

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def wait(self, timeout: float) -> bool:
        try:
            line = self.proc.stdout.readline()  # blocks until the probe is done
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return bool(line) and json.loads(line).get("done", False)

    def results(self) -> dict:
        import numpy as np

        if not os.path.exists(self.out):
            err = " ".join(self.proc.stderr.read().split())[-400:]
            raise UserError(f"the JACK probe client failed: {err or 'no results'}")
        with np.load(self.out) as z:
            return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        for s in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if s is not None:
                s.close()


# ============================================================================ dlsynth, traced
def _traced_classes():
    """A Synth that notes the probe's note-ons, and a WaveSink that logs every callback.

    Both add a few array stores per event or callback to the real path; nothing else."""
    import numpy as np

    from sink.wavesink import WaveSink
    from synth.synth import Synth

    class TracedSynth(Synth):
        def setup_trace(self, capacity: int) -> None:
            self.tr_sample = np.zeros(capacity, dtype=np.int64)  # the kernel event's frame
            self.tr_pos = np.zeros(capacity, dtype=np.int64)  # the engine's position when pushed
            self.tr_key = np.zeros(capacity, dtype=np.int64)
            self.tr_n = 0
            self._tr_cap = capacity

        def short_message(self, sample, group, status, d1, d2, n=3):
            if group == PROBE_GROUP and status == 0x90 | PROBE_CHANNEL and d2 and self.tr_n < self._tr_cap:
                i = self.tr_n
                self.tr_sample[i] = sample
                self.tr_pos[i] = self.engine.position
                self.tr_key[i] = d1
                self.tr_n = i + 1
            Synth.short_message(self, sample, group, status, d1, d2, n)

    class TimedSink(WaveSink):
        def setup_log(self, capacity: int) -> None:
            self.lg_pos = np.zeros(capacity, dtype=np.int64)
            self.lg_frames = np.zeros(capacity, dtype=np.int64)
            self.lg_start = np.zeros(capacity, dtype=np.int64)  # master clock at entry
            self.lg_return = np.zeros(capacity, dtype=np.int64)  # master clock at return
            self.lg_dac = np.zeros(capacity, dtype=np.int64)  # time map: DAC time of the block's first frame
            self.lg_dac_offset = np.zeros(capacity, dtype=np.float64)  # PortAudio: DAC - current, s
            self.lg_underflow = np.zeros(capacity, dtype=np.int8)  # PortAudio reported an xrun
            self.lg_n = 0
            self._lg_cap = capacity

        def _callback(self, outdata, frames, time_info, status) -> None:
            t0 = self.clock.get_time()
            pos = self.synth.position
            WaveSink._callback(self, outdata, frames, time_info, status)
            i = self.lg_n
            if i < self._lg_cap:
                self.lg_pos[i] = pos
                self.lg_frames[i] = frames
                self.lg_start[i] = t0
                self.lg_dac[i] = self.synth.sample_to_ref_time(pos)
                self.lg_dac_offset[i] = time_info.outputBufferDacTime - time_info.currentTime
                if status.output_underflow:
                    self.lg_underflow[i] = 1
                self.lg_return[i] = self.clock.get_time()
                self.lg_n = i + 1

    return TracedSynth, TimedSink


def _probe_bank():
    """One instrument: a looped cosine (1 kHz at key 69 at 44.1 kHz) starting at its peak,
    with the default articulation (instant attack), so the onset is the note's first frame."""
    import numpy as np

    import dls

    t = np.arange(4410)
    data = np.round(np.cos(2 * np.pi * 100 * t / 4410) * 16000).astype(np.int16)
    w = dls.Wave.from_pcm16(data, 44100, dls.WaveSample(unity_note=69, loops=[dls.Loop(0, 0, 4410)]))
    ins = dls.Instrument(name="bench cosine", regions=[dls.Region(wave_link=dls.WaveLink(0))])
    return dls.Collection(instruments=[ins], waves=[w], info={"INAM": "dlsynth bench"})


def _voice_slots(count: int, first_group: int = 1):
    """(group, channel, key) for `count` sustained voices, avoiding the drum channel (10)."""
    channels = [c for c in range(16) if c != 9]
    keys = range(36, 100)
    per_group = len(channels) * len(keys)
    out = []
    for i in range(count):
        g, r = divmod(i, per_group)
        c, k = divmod(r, len(keys))
        out.append((first_group + g, channels[c], keys[k]))
    return out


# ============================================================================ the rig
class _Rig:
    """The JACK server (found or started), PortAudio re-initialised on it, and a control
    JACK client that connects ports and counts the server's xruns."""

    def __init__(self, args, want_block: int | None):
        self.args = args
        self.want_block = want_block
        self.server = None  # a DummyServer we started
        self.name = None
        self.rate = None
        self.period = None
        self.started = False
        self.ctl = None
        self.jack_xruns = 0
        self.jack_xrun_times: list[int] = []  # master clock (100 ns) of each xrun the server reported
        self.sd = None
        self.device = None

    def __enter__(self) -> "_Rig":
        try:
            import jack
        except ImportError:
            raise UserError("the JACK-Client package is needed: pip install JACK-Client") from None
        from sink.jackserver import DummyServer, JackUnavailable, jack_output_device, portaudio_reinit, probe_server

        choice = self.args.jack_server
        try:
            if choice != "auto":
                info = probe_server(choice)
                if info is None:
                    raise UserError(f"no JACK server named {choice!r} is running")
                self.name = choice
            else:
                name = os.environ.get("JACK_DEFAULT_SERVER") or "default"
                info = probe_server(name)
                if info is not None:
                    self.name = name
                else:
                    block = self.want_block or DEFAULT_BLOCK
                    self.server = DummyServer(rate=self.args.rate, period=block).start()
                    self.name = self.server.name
                    self.started = True
                    info = (self.args.rate, block)
            os.environ["JACK_DEFAULT_SERVER"] = self.name
            os.environ["JACK_NO_START_SERVER"] = "1"
            self.sd = portaudio_reinit()
            self.device = jack_output_device(self.sd)
        except JackUnavailable as exc:
            self.close()
            raise UserError(str(exc)) from None
        except BaseException:
            self.close()
            raise
        try:
            self.ctl = jack.Client(f"{CLIENT_NAME}-ctl", servername=self.name, no_start_server=True)
        except jack.JackError as exc:
            self.close()
            raise UserError(f"cannot open a JACK client on {self.name}: {exc}") from None
        self.rate, self.period = int(self.ctl.samplerate), int(self.ctl.blocksize)
        if self.want_block and self.want_block != self.period:
            print(f"dlsynth bench: note: the JACK server {self.name} runs {self.period}-frame periods; "
                  f"PortAudio adapts --blocksize {self.want_block} with a buffer of its own (more latency)",
                  file=sys.stderr)

        @self.ctl.set_xrun_callback
        def _xrun(delay):
            self.jack_xruns += 1
            self.jack_xrun_times.append(time.monotonic_ns() // 100)

        self.ctl.activate()
        return self

    def audio_outputs(self) -> set[str]:
        return {p.name for p in self.ctl.get_ports(is_audio=True, is_output=True)}

    def midi_input(self, client: str, port: str) -> str:
        for p in self.ctl.get_ports(is_midi=True, is_input=True):
            c, _, n = p.name.partition(":")
            if c.startswith(client) and n == port:
                return p.name
        raise UserError(f"dlsynth's JACK MIDI input {client}:{port} did not appear")

    def close(self) -> None:
        from sink.jackserver import portaudio_terminate

        if self.ctl is not None:
            try:
                self.ctl.deactivate()
                self.ctl.close()
            except Exception:
                pass
            self.ctl = None
        portaudio_terminate()
        if self.server is not None:
            self.server.stop()
            self.server = None

    def __exit__(self, *exc) -> None:
        self.close()


def _check_block(blocksize: int | None) -> None:
    if blocksize is not None and not 16 <= blocksize <= 8192:
        raise UserError("--blocksize must be between 16 and 8192 frames")


def _host() -> dict:
    return {"machine": platform.machine(), "system": platform.system(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}


# ============================================================================ bench latency
def run_latency(args) -> int:
    _check_block(args.blocksize)
    if args.notes < 1:
        raise UserError("--notes must be at least 1")
    if args.voices < 0 or args.voices > MAX_VOICES - 64:
        raise UserError(f"--voices must be between 0 and {MAX_VOICES - 64}")
    if args.png:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise UserError("--png needs matplotlib: pip install matplotlib")
    with tempfile.TemporaryDirectory(prefix="dlsynth-bench-") as work, _Rig(args, args.blocksize) as rig:
        result = _measure_latency(args, rig, work)
    _print_latency(result)
    if args.json:
        _write_json(args.json, result)
    if args.png:
        _write_png(args.png, result)
    return 0


def _measure_latency(args, rig: _Rig, work: str) -> dict:
    import numpy as np

    from sink.clock import MasterClock
    from synth.live import EventQueue, MidiInputs

    rate, period = rig.rate, rig.period
    block = args.blocksize or period
    on, keys, dur, gap_min = make_plan(args.notes, rate, block, args.seed)
    offsets, messages = [], []
    for f, k in zip(on, keys):
        offsets += [int(f), int(f) + dur]
        messages += [bytes([0x90 | PROBE_CHANNEL, int(k), 127]), bytes([0x80 | PROBE_CHANNEL, int(k), 0])]
    order = np.argsort(np.asarray(offsets), kind="stable")
    offsets = [offsets[i] for i in order]
    messages = [messages[i] for i in order]
    capture_frames = int(on[-1]) + dur + gap_min + rate // 2
    run_seconds = capture_frames / rate

    TracedSynth, TimedSink = _traced_classes()
    clock = MasterClock()
    queue = EventQueue(capacity=16384)
    record: list = []
    groups = 1 + (math.ceil(args.voices / (15 * 64)) if args.voices else 0)
    synth = TracedSynth(rate, channel_groups=groups, voices=args.voices + 64, interpolation=args.interpolation,
                        effects=not args.no_effects, gain_db=0.0)
    synth.setup_trace(args.notes + 16)
    synth.download(_probe_bank(), preload=True)
    # Before the stream starts (frame 0): no sends to the effects; the probe channel hard
    # right at full volume, the background channels hard left.
    for g in range(1, groups + 1):
        for c in range(16):
            for cc, v in ((91, 0), (93, 0), (10, 127 if g == PROBE_GROUP else 0), (7, 127 if g == PROBE_GROUP else 100)):
                synth.short_message(0, g, 0xB0 | c, cc, v)
    for g, c, k in _voice_slots(args.voices, first_group=2):
        synth.short_message(0, g, 0x90 | c, k, 90)
    inputs = MidiInputs(queue, clock, api="jack", names=[], virtual=VIRTUAL_PORT, client_name=CLIENT_NAME,
                        record=record)
    try:
        return _run_probe(args, rig, work, synth, inputs, queue, clock, record, TimedSink, block, on, keys, dur,
                          gap_min, offsets, messages, capture_frames, run_seconds)
    finally:
        synth.close()


def _run_probe(args, rig, work, synth, inputs, queue, clock, record, TimedSink, block, on, keys, dur, gap_min,
               offsets, messages, capture_frames, run_seconds) -> dict:
    import numpy as np

    from synth.live import MidiInputError

    rate = rig.rate
    probe = sink = None
    try:
        try:
            inputs.open()  # before the stream starts (RIG.md: rtmidi holds the GIL on JACK calls)
        except MidiInputError as exc:
            raise UserError(str(exc)) from None
        before = rig.audio_outputs()
        try:
            sink = TimedSink(synth, queue, device=rig.device, blocksize=block, clock=clock,
                             scheduled=not args.immediate, schedule_latency=args.latency)
        except Exception as exc:
            raise UserError(f"cannot open the audio output on JACK: {' '.join(str(exc).split())}") from None
        callbacks = int((args.warmup + run_seconds + 30) * rate / block) + 1024
        sink.setup_log(callbacks)
        ours = sorted(rig.audio_outputs() - before)
        if len(ours) < 2:
            raise UserError(f"could not find dlsynth's two JACK output ports (new ports: {ours})")
        timeout = run_seconds + 30
        if args.probe == "process":
            probe = _ProbeProcess(offsets, messages, capture_frames, rig.name, timeout, work)
        else:
            probe = Probe(offsets, messages, capture_frames, name="dlsynth-probe", servername=rig.name)
            probe.activate()
        dest = rig.midi_input(CLIENT_NAME, VIRTUAL_PORT)
        sink.start()
        rig.ctl.connect(ours[1], probe.port_names["audio_in"])
        rig.ctl.connect(probe.port_names["midi_out"], dest)
        time.sleep(max(args.warmup, 0.2))
        base_pa, base_jack, base_late = sink.xruns, rig.jack_xruns, synth.engine.stats()["late_events"]
        log0 = sink.lg_n
        probe.go()
        ok = probe.wait(timeout)
        xruns_pa, xruns_jack = sink.xruns - base_pa, rig.jack_xruns - base_jack
        stats = synth.stats()
        log1 = sink.lg_n
        if not ok:
            raise UserError("the probe did not finish its run in time (is the JACK server stalled?)")
        res = probe.results()
    finally:
        if sink is not None:
            try:
                sink.stop()
            except Exception:
                pass
        if probe is not None:
            probe.close()
        inputs.close()
    dump = os.environ.get("DLSYNTH_BENCH_DUMP")  # a debugging aid: every raw figure, as .npz
    if dump:
        np.savez(dump, **{f"probe_{k}": np.asarray(v) for k, v in res.items()},
                 arrivals=np.array([t for t, g, d in record], dtype=np.int64),
                 tr_sample=synth.tr_sample[:synth.tr_n], tr_pos=synth.tr_pos[:synth.tr_n],
                 lg_pos=sink.lg_pos[:sink.lg_n], lg_start=sink.lg_start[:sink.lg_n],
                 lg_return=sink.lg_return[:sink.lg_n], lg_dac=sink.lg_dac[:sink.lg_n],
                 jack_xrun_times=np.asarray(rig.jack_xrun_times, dtype=np.int64))
    return _analyse_latency(args, rig, synth, sink, res, record, on, keys, dur, gap_min, block,
                            xruns_pa, xruns_jack, stats, base_late, log0, log1)


def _analyse_latency(args, rig, synth, sink, res, record, on, keys, dur, gap_min, block,
                     xruns_pa, xruns_jack, stats, base_late, log0, log1) -> dict:
    import numpy as np

    rate = rig.rate
    n = len(on)
    ev = np.asarray(res["ev_frame"], dtype=np.int64)
    # Note-ons are the events at the planned note-on offsets (the plan is sorted by offset,
    # offs come `dur` after their ons and never before the next on).
    plan_offsets = sorted([(int(f), 0, i) for i, f in enumerate(on)] + [(int(f) + dur, 1, i) for i, f in enumerate(on)])
    on_idx = np.zeros(n, dtype=np.int64)
    for j, (_, kind, i) in enumerate(plan_offsets):
        if kind == 0:
            on_idx[i] = j
    event = ev[on_idx]
    sent = int((event >= 0).sum())
    window = min(gap_min - 48, int(0.5 * rate))
    onset, quiet = detect_onsets(res["capture"], int(res["cap0"]), event, window)
    detected = (onset >= 0) & (event >= 0)
    lat_frames = np.where(detected, onset - event, -1)
    to_ms = 1000.0 / rate

    # The probe's clock table: graph frame -> JACK usecs -> master clock (100 ns).
    cf = np.asarray(res["cyc_frame"], dtype=np.int64)
    cu = np.asarray(res["cyc_usecs"], dtype=np.int64)
    co = np.asarray(res["cyc_offset_ns"], dtype=np.int64)
    clock_ok = len(cf) > 8
    if clock_ok:
        # JACK's clock against CLOCK_MONOTONIC: a straight line fitted robustly (the two may
        # run at slightly different rates: CLOCK_MONOTONIC is slewed by NTP).
        t = (cu - cu[0]) / 1e6
        med = np.median(co)
        keep = np.abs(co - med) < max(20_000, 5 * np.median(np.abs(co - med)) + 1)
        slope, icept = np.polyfit(t[keep], (co[keep] - med) / 1e3, 1) if keep.sum() > 2 else (0.0, 0.0)
        # Cycle start times on the master clock (us). JACK's frame-to-time answer comes from
        # a DLL that, after a stall of the graph (an xrun), can be off by milliseconds (even
        # a hundred) for seconds. The probe's own wake-up time is real, and it can only come
        # after the cycle began, and soon after: where JACK's answer puts the wake-up outside
        # [0, 2 ms] into the cycle, the wake-up time less the probe's usual delay (around the
        # mode of the plausible delays) stands in for it.
        cyc_us = cu + med / 1e3 + icept + slope * t
        entry_us = np.asarray(res["cyc_entry_ns"], dtype=np.int64) / 1e3
        delay = entry_us - cyc_us
        good = (delay >= -50.0) & (delay <= 2000.0)
        usual = 300.0
        if good.sum() > 10:
            hist, edges = np.histogram(delay[good], bins=np.arange(-50.0, 2050.0, 50.0))
            mode = edges[int(np.argmax(hist))] + 25.0
            usual = float(np.median(delay[good & (np.abs(delay - mode) < 150.0)]))
        cyc_us = np.where(good, cyc_us, entry_us - usual)
        clock_fixups = int((~good).sum())

    def graph_ref(frames):
        frames = np.asarray(frames, dtype=np.int64)
        k = np.clip(np.searchsorted(cf, frames, side="right") - 1, 0, len(cf) - 1)
        return (cyc_us[k] + (frames - cf[k]) * 1e6 / rate) * 10.0  # 100 ns units, the master clock's

    # dlsynth's side: arrival stamps of the probe's note-ons, and the engine's trace.
    arrivals = np.array([t for t, g, d in record
                         if g == PROBE_GROUP and len(d) == 3 and d[0] == 0x90 | PROBE_CHANNEL and d[2]], dtype=np.int64)
    rec_keys = [d[1] for t, g, d in record if g == PROBE_GROUP and len(d) == 3 and d[0] == 0x90 | PROBE_CHANNEL and d[2]]
    m = min(synth.tr_n, len(arrivals), n)
    matched = m == n and list(rec_keys[:n]) == [int(k) for k in keys] and \
        list(synth.tr_key[:n]) == [int(k) for k in keys]
    per = {"latency_ms": (lat_frames * to_ms).tolist()}
    rows = {}
    lg_n = sink.lg_n
    lpos, lfr = sink.lg_pos[:lg_n], sink.lg_frames[:lg_n]
    late = np.zeros(n, dtype=bool)
    if m:
        s = synth.tr_sample[:m]
        p = synth.tr_pos[:m]
        late[:m] = s < p
        s_eff = np.maximum(s, p)
        j = np.clip(np.searchsorted(lpos, s_eff, side="right") - 1, 0, lg_n - 1)
        inside = (lpos[j] <= s_eff) & (s_eff < lpos[j] + lfr[j])
        dac = sink.lg_dac[j] + (s_eff - lpos[j]) * REF / rate
        ret = sink.lg_return[j].astype(np.float64)
        a = arrivals[:m].astype(np.float64)
        to_start = np.where(inside, (dac - a) / 1e4, np.nan)
        to_return = np.where(inside, (ret - a) / 1e4, np.nan)
        rows["arrival_to_start_ms"] = to_start
        rows["arrival_to_return_ms"] = to_return
        ok = detected[:m]
        # Onset frame in the graph minus the engine's start frame: one constant while no
        # buffer is lost (PortAudio on JACK passes blocks straight through).
        diff = np.where(ok, onset[:m] - s_eff, 0)[ok]
        per["engine_to_graph_frames"] = diff.tolist()
        if clock_ok:
            # The JACK cycle that carried the event began at frame cyc (its graph time is
            # when the cycle started): how long after that the arrival stamp was taken.
            k = np.clip(np.searchsorted(cf, event[:m], side="right") - 1, 0, len(cf) - 1)
            rows["transport_ms"] = np.where(event[:m] >= 0, (a - graph_ref(cf[k])) / 1e4, np.nan)
            rows["arrival_to_output_ms"] = np.where(ok, (graph_ref(onset[:m]) - a) / 1e4, np.nan)
    lat_ok = lat_frames[detected] * to_ms
    load = (sink.lg_return[log0:log1] - sink.lg_start[log0:log1]) / (sink.lg_frames[log0:log1] * REF / rate)
    dac_off = sink.lg_dac_offset[log0:log1]
    out = {
        "command": "bench latency",
        "host": _host(),
        "jack": {"server": rig.name, "started_here": rig.started, "rate": rate, "period": rig.period},
        "blocksize": block,
        "period_ms": block * to_ms,
        "mode": "immediate" if args.immediate else "scheduled",
        "probe": "subprocess" if args.probe == "process" else "thread",
        "schedule_latency_ms": 1000 * sink.schedule_latency,
        "stream_latency_ms": 1000 * float(sink.stream.latency),
        "dac_offset_ms": 1000 * float(np.median(dac_off)) if len(dac_off) else None,
        "voices_load": args.voices,
        "voices_active": int(stats["voices_active"]),
        "interpolation": args.interpolation,
        "effects": not args.no_effects,
        "notes": {"planned": n, "sent": sent, "received": int(len(arrivals)), "detected": int(detected.sum()),
                  "quiet_before": int(quiet[detected].sum()), "matched": bool(matched),
                  "late": int(late[:m].sum()) if not args.immediate else None},
        "latency_ms": summarize(lat_ok),
        "xruns": {"portaudio": int(xruns_pa), "jack": int(xruns_jack), "probe": int(res["xruns"])},
        "late_events_engine": int(stats["late_events"] - base_late),
        "clock": {"cycles": int(len(cf)), "fixups": clock_fixups if clock_ok else None},
        "callback_load": {"mean": float(load.mean()) if len(load) else None,
                          "p99": float(np.percentile(load, 99)) if len(load) else None,
                          "max": float(load.max()) if len(load) else None},
        "reference_ms_reported": {name: v for name, v in REFERENCE_FIGURES},
    }
    for key, vals in rows.items():
        out[key] = summarize(vals)
        per[key] = [None if not np.isfinite(v) else float(v) for v in vals]
    if "engine_to_graph_frames" in per and per["engine_to_graph_frames"]:
        d = np.asarray(per["engine_to_graph_frames"])
        out["engine_to_graph_frames"] = {"median": float(np.median(d)), "min": int(d.min()), "max": int(d.max())}
    # Notes with no xrun (PortAudio's or the server's) in the window before their arrival:
    # what the path does when the machine leaves it alone.
    xr = sorted(list(rig.jack_xrun_times) + sink.lg_start[:lg_n][sink.lg_underflow[:lg_n] > 0].tolist())
    xr = np.asarray(xr, dtype=np.int64)
    clean = np.zeros(n, dtype=bool)
    if m:
        a_int = arrivals[:m]
        lo_i = np.searchsorted(xr, a_int - int(args.clean_window * REF))
        hi_i = np.searchsorted(xr, a_int + int(0.2 * REF))
        clean[:m] = (hi_i == lo_i) & detected[:m]
    out["clean"] = {"window_s": args.clean_window, "notes": int(clean.sum()),
                    "latency_ms": summarize(lat_frames[clean] * to_ms)}
    if "arrival_to_output_ms" in rows:
        out["clean"]["arrival_to_output_ms"] = summarize(rows["arrival_to_output_ms"][clean[:m]])
    per["clean"] = clean.tolist()
    target = block * to_ms + 1.0
    a2o = out.get("arrival_to_output_ms", {})
    ca2o = out["clean"].get("arrival_to_output_ms", {})
    out["targets"] = {
        "latency_limit_ms": target,
        "latency_p99_met": bool(a2o.get("p99", math.inf) <= target) if a2o.get("n") else None,
        "jitter_limit_ms": 0.1,
        "jitter_std_met": (bool(a2o.get("std", math.inf) < 0.1) if a2o.get("n") else None)
        if not args.immediate else None,
        "clean_latency_p99_met": bool(ca2o.get("p99", math.inf) <= target) if ca2o.get("n") else None,
        "clean_jitter_std_met": (bool(ca2o.get("std", math.inf) < 0.1) if ca2o.get("n") else None)
        if not args.immediate else None,
    }
    out["per_note"] = per
    return out


def _fmt(v, w=7, prec=2):
    return f"{v:{w}.{prec}f}" if isinstance(v, (int, float)) and math.isfinite(v) else " " * (w - 1) + "-"


def _print_latency(r: dict) -> None:
    nt = r["notes"]
    print(f"dlsynth bench latency: JACK server {r['jack']['server']}"
          f"{' (dummy, started here)' if r['jack']['started_here'] else ''}, {r['jack']['rate']} Hz, "
          f"period {r['jack']['period']}; block {r['blocksize']} frames ({r['period_ms']:.2f} ms), "
          f"{r['mode']} mode, probe in a {r['probe']}")
    sched = f"scheduled latency {r['schedule_latency_ms']:.2f} ms, " if r["mode"] == "scheduled" else ""
    print(f"  {sched}PortAudio stream latency {r['stream_latency_ms']:.2f} ms, DAC offset "
          f"{_fmt(r['dac_offset_ms'], 0)} ms; {r['voices_active']} voices sounding ({r['voices_load']} background)")
    print(f"  notes: {nt['planned']} planned, {nt['sent']} sent, {nt['received']} received, {nt['detected']} detected"
          + (f", {nt['late']} late (applied at a block start)" if nt.get("late") is not None else ""))
    print()
    print(f"  {'ms':42s}{'p50':>7s} {'p99':>7s} {'max':>7s} {'std':>7s} {'p99-p1':>7s} {'min':>7s}")
    lines = (
        ("latency_ms", "MIDI event -> onset (graph frames)"),
        ("transport_ms", "  its JACK cycle start -> arrival stamp"),
        ("arrival_to_output_ms", "  arrival -> sound leaves dlsynth (graph)"),
        ("arrival_to_start_ms", "  arrival -> engine start frame at the DAC"),
        ("arrival_to_return_ms", "  arrival -> rendering callback returned"),
    )
    for key, label in lines:
        s = r.get(key)
        if not s or not s.get("n"):
            continue
        print(f"  {label:42s}" + " ".join(_fmt(s[f]) for f in ("p50", "p99", "max", "std", "p99_p1", "min")))
    c = r.get("clean") or {}
    if c.get("notes") is not None and c["notes"] < nt["detected"]:
        print(f"  the {c['notes']} notes with no xrun in the {c['window_s']:g} s before them"
              + (":" if c["notes"] else " (xruns all through the run)"))
        for key, label in (("latency_ms", "  MIDI event -> onset (graph frames)"),
                           ("arrival_to_output_ms", "  arrival -> sound leaves dlsynth (graph)")):
            s = c.get(key)
            if s and s.get("n"):
                print(f"  {label:42s}" + " ".join(_fmt(s[f]) for f in ("p50", "p99", "max", "std", "p99_p1", "min")))
    print()
    x = r["xruns"]
    cl = r["callback_load"]
    print(f"  xruns: PortAudio {x['portaudio']}, JACK server {x['jack']}; callback load mean "
          f"{100 * (cl['mean'] or 0):.1f} %, p99 {100 * (cl['p99'] or 0):.1f} %, max {100 * (cl['max'] or 0):.1f} %")
    t = r["targets"]
    partial = c.get("notes") is not None and c["notes"] < nt["detected"]

    def verdict(all_ok, clean_ok):
        text = "met" if all_ok else "NOT met"
        if partial and clean_ok is not None:
            text += f" (notes clear of xruns: {'met' if clean_ok else 'NOT met'})"
        return text

    if t["latency_p99_met"] is not None:
        print(f"  target arrival -> sound <= one period + 1 ms ({t['latency_limit_ms']:.2f} ms) at p99: "
              + verdict(t["latency_p99_met"], t["clean_latency_p99_met"]))
    if t["jitter_std_met"] is not None:
        print("  target jitter (std, scheduled) < 0.1 ms: " + verdict(t["jitter_std_met"], t["clean_jitter_std_met"]))
    print("  for comparison, reported elsewhere (not measured here): "
          + "; ".join(f"{name} ~{v:.0f} ms" for name, v in REFERENCE_FIGURES))


def _write_json(path: str, result: dict) -> None:
    try:
        with open(path, "w") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def _write_png(path: str, r: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = [("latency_ms", "MIDI event -> onset (graph)"), ("arrival_to_output_ms", "arrival -> sound leaves dlsynth")]
    series = [(k, lbl) for k, lbl in series if r["per_note"].get(k)]
    fig, axes = plt.subplots(len(series), 1, figsize=(7, 2.6 * len(series)), squeeze=False)
    limit = r["targets"]["latency_limit_ms"]
    for ax, (k, label) in zip(axes[:, 0], series):
        vals = [v for v in r["per_note"][k] if v is not None and v >= 0]
        ax.hist(vals, bins=60, color="#4477aa")
        ax.axvline(limit, color="#cc3311", ls="--", lw=1, label=f"one period + 1 ms ({limit:.2f} ms)")
        ax.set_xlabel(f"{label} (ms)")
        ax.set_ylabel("notes")
        ax.legend(fontsize=8)
    fig.suptitle(f"dlsynth latency: block {r['blocksize']}, {r['mode']}, {r['voices_load']} background voices",
                 fontsize=10)
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None
    finally:
        plt.close(fig)


# ============================================================================ bench voices
def run_voices(args) -> int:
    _check_block(args.blocksize)
    if args.seconds <= 0:
        raise UserError("--seconds must be positive")
    if not 1 <= args.start <= args.max_voices <= MAX_VOICES:
        raise UserError(f"need 1 <= --start <= --max-voices <= {MAX_VOICES}")
    with _Rig(args, args.blocksize) as rig:
        result = _measure_voices(args, rig)
    _print_voices(result)
    if args.json:
        _write_json(args.json, result)
    return 0


def _measure_voices(args, rig: _Rig) -> dict:
    import numpy as np

    from sink.clock import MasterClock
    from synth.live import EventQueue

    rate = rig.rate
    block = args.blocksize or rig.period
    _, TimedSink = _traced_classes()
    from synth.synth import Synth

    slots = _voice_slots(args.max_voices)
    groups = max(g for g, _, _ in slots) if slots else 1
    synth = Synth(rate, channel_groups=groups, voices=args.max_voices, interpolation=args.interpolation,
                  effects=not args.no_effects, gain_db=-24.0)
    synth.download(_probe_bank(), preload=True)
    clock = MasterClock()
    queue = EventQueue(capacity=16384)
    steps: list[dict] = []
    sink = None
    try:
        try:
            sink = TimedSink(synth, queue, device=rig.device, blocksize=block, clock=clock)
        except Exception as exc:
            raise UserError(f"cannot open the audio output on JACK: {' '.join(str(exc).split())}") from None
        sink.setup_log(int(3600 * rate / block))
        sink.start()
        time.sleep(0.5)
        current = 0
        block_s = block / rate

        def set_voices(count: int) -> bool:
            nonlocal current
            msgs = []
            if count > current:
                msgs = [(g, bytes([0x90 | c, k, 100])) for g, c, k in slots[current:count]]
            elif count < current:
                msgs = [(g, bytes([0x80 | c, k, 0])) for g, c, k in slots[count:current]]
            for i in range(0, len(msgs), 32):  # paced: about 32 events per block
                t = clock.get_time()
                for g, d in msgs[i:i + 32]:
                    queue.put(t, g, d)
                time.sleep(max(block_s, 0.002))
            current = count
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if synth.engine.stats()["voices_active"] == count:
                    return True
                time.sleep(0.05)
            return False

        def step(count: int) -> dict:
            reached = set_voices(count)
            time.sleep(0.5)  # settle: xruns while notes start are not the sustained load
            pa0, jk0, i0 = sink.xruns, rig.jack_xruns, sink.lg_n
            time.sleep(args.seconds)
            pa, jk, i1 = sink.xruns - pa0, rig.jack_xruns - jk0, sink.lg_n
            load = (sink.lg_return[i0:i1] - sink.lg_start[i0:i1]) / (sink.lg_frames[i0:i1] * REF / rate)
            active = synth.engine.stats()["voices_active"]
            rec = {"voices": count, "voices_active": int(active), "reached": bool(reached),
                   "xruns_portaudio": int(pa), "xruns_jack": int(jk),
                   "load_mean": float(load.mean()) if len(load) else None,
                   "load_p99": float(np.percentile(load, 99)) if len(load) else None,
                   "load_max": float(load.max()) if len(load) else None,
                   "callbacks": int(i1 - i0)}
            rec["ok"] = bool(reached and pa == 0 and jk == 0)
            steps.append(rec)
            return rec

        def trial(count: int) -> dict:
            rec = step(count)
            tries = 0
            while not rec["ok"] and rec["reached"] and tries < args.retries:
                rec = step(count)
                rec["retry"] = True
                tries += 1
            return rec

        good, bad = None, None
        n = args.start
        while True:
            rec = trial(n)
            if rec["ok"]:
                good = rec
                if n >= args.max_voices:
                    break
                n = min(2 * n, args.max_voices)
            else:
                bad = rec
                break
        if bad is not None and good is not None:
            lo, hi = good["voices"], bad["voices"]
            while hi - lo > max(8, lo // 20):
                mid = (lo + hi) // 2
                rec = trial(mid)
                if rec["ok"]:
                    lo, good = mid, rec
                else:
                    hi = mid
        set_voices(0)
    finally:
        if sink is not None:
            try:
                sink.stop()
            except Exception:
                pass
        synth.close()
    # What the CPU alone would allow: the p99 callback load grows linearly with the voices;
    # where would it reach LOAD_CEILING of the block? (Stray xruns from a noisy machine do
    # not move this figure; a real overload shows in both.)
    pts = [(s["voices"], s["load_p99"]) for s in steps if s["reached"] and s["load_p99"] is not None]
    estimate = None
    if len({v for v, _ in pts}) >= 2:
        b, a = np.polyfit([v for v, _ in pts], [x for _, x in pts], 1)
        if b > 0:
            estimate = int((LOAD_CEILING - a) / b)
    return {
        "command": "bench voices",
        "host": _host(),
        "jack": {"server": rig.name, "started_here": rig.started, "rate": rate, "period": rig.period},
        "blocksize": block,
        "period_ms": 1000 * block / rate,
        "seconds_per_step": args.seconds,
        "interpolation": args.interpolation,
        "effects": not args.no_effects,
        "max_voices_without_xruns": good["voices"] if good else 0,
        "at_limit": bool(good and good["voices"] >= args.max_voices),
        "load_at_max": {k: good[k] for k in ("load_mean", "load_p99", "load_max")} if good else None,
        "steps": steps,
        "load_ceiling": LOAD_CEILING,
        "voices_at_load_ceiling_estimate": estimate,
    }


def _print_voices(r: dict) -> None:
    print(f"dlsynth bench voices: JACK server {r['jack']['server']}"
          f"{' (dummy, started here)' if r['jack']['started_here'] else ''}, {r['jack']['rate']} Hz; block "
          f"{r['blocksize']} frames ({r['period_ms']:.2f} ms), {r['interpolation']} interpolation, effects "
          f"{'on' if r['effects'] else 'off'}, {r['seconds_per_step']:g} s per step")
    print(f"  {'voices':>7s} {'xruns PA':>9s} {'xruns JACK':>10s} {'load mean':>10s} {'p99':>7s} {'max':>7s}")
    for s in r["steps"]:
        pct = [f"{100 * v:6.1f}%" if v is not None else "      -" for v in (s["load_mean"], s["load_p99"], s["load_max"])]
        flag = "" if s["reached"] else "  (count not reached)"
        print(f"  {s['voices']:7d} {s['xruns_portaudio']:9d} {s['xruns_jack']:10d} {pct[0]:>10s} {pct[1]} {pct[2]}"
              f"{'  retry' if s.get('retry') else ''}{flag}")
    best = r["max_voices_without_xruns"]
    la = r["load_at_max"]
    more = " (the search limit: raise --max-voices)" if r["at_limit"] else ""
    if la:
        print(f"  most voices without xruns: {best}{more}; callback load there mean {100 * la['load_mean']:.1f} %, "
              f"p99 {100 * la['load_p99']:.1f} %, max {100 * la['load_max']:.1f} %")
    else:
        print(f"  most voices without xruns: none passed (even {r['steps'][0]['voices']} voices had xruns)")
    est = r.get("voices_at_load_ceiling_estimate")
    if est is not None:
        beyond = f" (beyond the engine's {MAX_VOICES}-voice limit)" if est > MAX_VOICES else ""
        print(f"  CPU estimate: p99 callback load would reach {100 * r['load_ceiling']:.0f} % at about {est} voices"
              f"{beyond} (a straight line through the steps' loads)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--probe":
        sys.exit(_probe_main(sys.argv[2]))
    sys.exit("usage: python -m apps.bench --probe CONFIG.json (the probe of `dlsynth bench latency`)")
