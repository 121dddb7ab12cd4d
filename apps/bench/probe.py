"""The JACK probe: plays planned MIDI at exact graph frames and captures a synth's output.

It runs in a process of its own (``python -m dlsynth.apps.bench.probe CONFIG.json``, started by
`ProbeProcess`), so its Python callback never shares a GIL with the synth measured. It is
one JACK client with a MIDI output (upstream of the synth) and an audio input (downstream):
a second Python client in the graph multiplied the xruns on a 2-core machine (tens in 10 s
at 64 frames, against a handful), so a synth whose MIDI input and audio output are one
client (FluidSynth) makes a loop with it, which JACK runs with one connection a cycle late
(`rig.loop_delay`). Every cycle the probe notes the frame, JACK's time of it and the offset
between JACK's clock and CLOCK_MONOTONIC (the master clock), so graph frames can be put on
the master clock; its xrun callback counts the server's xruns.

Protocol on stdin/stdout, one JSON line each way: the probe prints its ports when ready;
"go" starts the plan (it prints {"done": ...} when the capture is full, having saved
everything to the config's "out" .npz); "status" prints the xrun count; "quit" ends it.
With "watch" in the config it has no process callback and only counts xruns.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

XRUN_SLOTS = 4096


class Probe:
    """One JACK client with a MIDI output and an audio input; everything its process
    callback touches is preallocated."""

    def __init__(
        self,
        offsets,
        messages,
        capture_frames: int,
        name: str = "bench-probe",
        servername: str | None = None,
        watch: bool = False,
    ):
        import ctypes
        import ctypes.util

        import jack
        import numpy as np

        self.client = jack.Client(name, servername=servername, no_start_server=True)
        self.rate, self.period = int(self.client.samplerate), int(self.client.blocksize)
        self.midi = self.client.midi_outports.register("midi_out")
        self.audio = self.client.inports.register("in")
        self.ev_off = np.asarray(offsets, dtype=np.int64)
        self.ev_bytes = [bytes(b) for b in messages]
        self.ev_frame = np.full(len(self.ev_off), -1, dtype=np.int64)
        self.capture = np.zeros(max(int(capture_frames), 0), dtype=np.float32)
        n_cycles = len(self.capture) // max(self.period, 1) + 256
        self.cyc_frame = np.zeros(n_cycles, dtype=np.int64)
        self.cyc_usecs = np.zeros(n_cycles, dtype=np.int64)
        self.cyc_offset_ns = np.zeros(n_cycles, dtype=np.int64)  # monotonic - JACK time, ns
        self.cyc_entry_ns = np.zeros(n_cycles, dtype=np.int64)  # monotonic at the probe's wake-up
        self.xrun_ref = np.zeros(XRUN_SLOTS, dtype=np.int64)  # master clock (100 ns) of each xrun
        self.xruns = 0
        self.k = self.i = 0
        self.base = -1
        self.state = 0  # 0 idle, 1 armed, 2 running, 3 done
        lj = ctypes.CDLL(ctypes.util.find_library("jack") or "libjack.so.0")
        lj.jack_get_time.restype = ctypes.c_uint64
        lj.jack_frames_to_time.restype = ctypes.c_uint64
        lj.jack_frames_to_time.argtypes = (ctypes.c_void_p, ctypes.c_uint32)
        self._jack_time, self._frames_to_time = lj.jack_get_time, lj.jack_frames_to_time
        self._cptr = ctypes.c_void_p(int(jack._ffi.cast("uintptr_t", self.client._ptr)))
        if not watch:  # watch: only count xruns (no Python in the graph's cycle at all)
            self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)

    # -- JACK's process thread
    def _process(self, frames: int) -> None:
        self.midi.clear_buffer()
        if self.state == 1:
            self.base = self.client.last_frame_time + frames
            self.state = 2
            return
        if self.state != 2:
            return
        f = self.client.last_frame_time
        k = self.k
        if k < len(self.cyc_frame):
            m0 = time.monotonic_ns()
            jt = self._jack_time()
            m1 = time.monotonic_ns()
            self.cyc_frame[k] = f
            self.cyc_usecs[k] = self._frames_to_time(self._cptr, f)
            self.cyc_offset_ns[k] = (m0 + m1) // 2 - jt * 1000
            self.cyc_entry_ns[k] = m0
            self.k = k + 1
        self._send(f, frames)
        j = f - self.base
        cap = self.capture
        if 0 <= j < len(cap):
            m = min(frames, len(cap) - j)
            cap[j : j + m] = self.audio.get_array()[:m]
        elif j >= len(cap) and self.i >= len(self.ev_off):
            self.state = 3

    def _send(self, f: int, frames: int) -> None:
        i, n, end, base, off = self.i, len(self.ev_off), f + frames, self.base, self.ev_off
        while i < n and base + off[i] < end:
            o = max(int(base + off[i] - f), 0)  # < 0 after a skipped cycle: now, and noted
            try:
                self.midi.write_midi_event(o, self.ev_bytes[i])
            except Exception:  # the port's buffer is full this cycle: the next one
                break
            self.ev_frame[i] = f + o
            i += 1
        self.i = i

    def _xrun(self, delay_usecs) -> None:
        if self.xruns < XRUN_SLOTS:
            self.xrun_ref[self.xruns] = time.monotonic_ns() // 100
        self.xruns += 1

    # -- control
    def activate(self) -> None:
        self.client.activate()

    @property
    def port_names(self) -> dict:
        return {"midi_out": self.midi.name, "audio_in": self.audio.name}

    def results(self) -> dict:
        k = self.k
        return {
            "rate": self.rate,
            "period": self.period,
            "base": int(self.base),
            "ev_frame": self.ev_frame,
            "capture": self.capture,
            "cyc_frame": self.cyc_frame[:k],
            "cyc_usecs": self.cyc_usecs[:k],
            "cyc_offset_ns": self.cyc_offset_ns[:k],
            "cyc_entry_ns": self.cyc_entry_ns[:k],
            "xruns": int(self.xruns),
            "xrun_ref": self.xrun_ref[: min(self.xruns, XRUN_SLOTS)],
        }

    def close(self) -> None:
        try:
            self.client.deactivate()
            self.client.close()
        except Exception:
            pass


def _say(obj: dict) -> None:
    print(json.dumps(obj), flush=True)


def main(config_path: str) -> int:
    """The probe process: ports, then commands from stdin."""
    import threading

    import numpy as np

    sys.setswitchinterval(0.0005)  # its two callbacks and the main thread take turns quickly
    with open(config_path) as f:
        cfg = json.load(f)
    probe = Probe(
        cfg["offsets"],
        [bytes(b) for b in cfg["messages"]],
        cfg["capture_frames"],
        name=cfg.get("name", "bench-probe"),
        servername=cfg.get("server"),
        watch=cfg.get("watch", False),
    )
    probe.activate()
    _say({"ready": True, **probe.port_names, "rate": probe.rate, "period": probe.period})
    done = threading.Event()

    def finish():
        deadline = time.monotonic() + float(cfg.get("timeout", 60))
        while probe.state != 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        ok = probe.state == 3
        np.savez(cfg["out"], **{k: np.asarray(v) for k, v in probe.results().items()})
        _say({"done": ok, "xruns": probe.xruns})
        done.set()

    try:
        for line in sys.stdin:
            cmd = line.strip()
            if cmd == "go" and probe.state == 0:
                probe.state = 1
                threading.Thread(target=finish, daemon=True).start()
            elif cmd == "status":
                _say({"xruns": probe.xruns, "state": probe.state})
            elif cmd == "quit":
                break
    finally:
        probe.close()
    return 0


class ProbeError(Exception):
    pass


class ProbeProcess:
    """The probe in its own process, driven over a pipe."""

    def __init__(
        self,
        plan_offsets,
        messages,
        capture_frames: int,
        server: str,
        workdir: str,
        timeout: float,
        name: str = "bench-probe",
        watch: bool = False,
    ):
        self.out = os.path.join(workdir, f"{name}.npz")
        cfg = os.path.join(workdir, f"{name}.json")
        with open(cfg, "w") as f:
            json.dump(
                {
                    "offsets": [int(x) for x in plan_offsets],
                    "messages": [list(m) for m in messages],
                    "capture_frames": int(capture_frames),
                    "server": server,
                    "timeout": timeout,
                    "out": self.out,
                    "name": name,
                    "watch": watch,
                },
                f,
            )
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(
            os.environ,
            JACK_DEFAULT_SERVER=server,
            JACK_NO_START_SERVER="1",
            PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        )
        self._err = open(os.path.join(workdir, f"{name}.stderr"), "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dlsynth.apps.bench.probe", cfg],
            env=env,
            cwd=workdir,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            text=True,
        )
        self.timeout = timeout
        info = self._read("ready")
        self.port_names = {"midi_out": info["midi_out"], "audio_in": info["audio_in"]}
        self.rate, self.period = int(info["rate"]), int(info["period"])

    def _stderr(self) -> str:
        self._err.flush()
        self._err.seek(0)
        return " ".join(self._err.read().split())[-400:]

    def _read(self, key: str) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(5)
            raise ProbeError(f"the JACK probe client stopped: {self._stderr() or 'no output'}")
        msg = json.loads(line)
        if key not in msg:
            raise ProbeError(f"the JACK probe client said {line.strip()!r}")
        return msg

    def _send(self, cmd: str) -> None:
        self.proc.stdin.write(cmd + "\n")
        self.proc.stdin.flush()

    def go(self) -> None:
        self._send("go")

    def wait(self) -> dict:
        """Block until the run is done; {"done": bool, "xruns": n}."""
        return self._read("done")

    def xruns(self) -> int:
        self._send("status")
        return int(self._read("xruns")["xruns"])

    def results(self) -> dict:
        import numpy as np

        if not os.path.exists(self.out):
            raise ProbeError(f"the JACK probe client left no results: {self._stderr()}")
        with np.load(self.out) as z:
            return {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self._send("quit")
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)
        for s in (self.proc.stdin, self.proc.stdout, self._err):
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self) -> "ProbeProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m dlsynth.apps.bench.probe CONFIG.json (the probe of `dlsynth bench`)")
    sys.exit(main(sys.argv[1]))
