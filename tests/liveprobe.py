"""The live tests' probe: a JACK client in its own process that plays MIDI at exact graph
frames into `dlsynth play` and captures what dlsynth plays.

    python -m tests.liveprobe CONFIG.json

It never shares a process with dlsynth (so its Python callback never waits for dlsynth's
GIL, and nothing dlsynth does to its own process can disturb the measurement). The test
talks to it over pipes:

- stdout: one JSON object per line, ``{"event": ...}``: ``active`` (its ports exist),
  ``midi_connected`` (its MIDI output is connected to dlsynth's virtual input),
  ``peer_connected`` (keyboard mode: someone connected to its MIDI output),
  ``audio_connected`` (its inputs are connected to dlsynth's outputs), ``started`` (the
  schedule and the capture begin at graph frame ``base``), ``sent`` (an event was written,
  with its frame; only with ``report_sent``), ``mark`` (answer to a ``mark`` command),
  ``done``, ``error``.
- stdin: ``mark NAME`` (note the current graph frame under NAME), ``stop`` (end the
  capture now and save), ``storm off``.

Config (JSON):

    server        JACK server name (required)
    name          client name (default "liveprobe")
    out           the .npz to write (required unless capture is 0)
    seconds       capture length after the start (default 5)
    schedule      [[seconds_from_start, [bytes...]], ...], in time order
    midi_to       connect the MIDI output to the input port whose name ends with this
                  (e.g. ":keys"), or null for none
    audio         true: wait for dlsynth's audio outputs and connect them (default true)
    start         "audio" (when the audio is connected; default), "midi" (when the MIDI is
                  connected), "peer" (when something connects to our MIDI output), "now"
    storm         [[bytes...], ...]: from the moment the MIDI is connected, write all of
                  these every cycle, until ``storm_until`` seconds after the start (or
                  ``storm off``)
    storm_until   seconds after the start (default 0: the storm ends at the start)
    port_timeout  seconds to wait for ports (default 30)
    report_sent   print a ``sent`` line for every scheduled event (default false)
    linger        keep the client open this long after the capture ends (default 0)

The .npz holds: rate, period, base (the graph frame of capture sample 0), capture
(frames x 2, float32: dlsynth's first two audio outputs), cyc_frame (the graph frame of
every cycle from the start: ``last_frame_time``), cyc_mono (CLOCK_MONOTONIC ns at each
cycle's callback), ev_frame (the frame each scheduled event
was written at, -1 if never), xrun_frame (the graph frame at each xrun notification since
activation; xrun_mono: CLOCK_MONOTONIC ns of each), marks_name / marks_frame, storm_cycles, audio_ports, midi_port.

The process callback does numpy slice copies and MIDI writes only; everything is
preallocated.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import time
from time import perf_counter

import numpy as np

IDLE, STORM_ONLY, ARM, RUN, DONE = 0, 1, 2, 3, 4
POLL_S = 0.005
MAX_XRUNS = 100_000


def emit(**obj) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class Probe:
    def __init__(self, cfg: dict) -> None:
        import jack

        self.jack = jack
        self.cfg = cfg
        self.client = jack.Client(cfg.get("name", "liveprobe"), servername=cfg["server"], no_start_server=True)
        self.rate = int(self.client.samplerate)
        self.period = int(self.client.blocksize)
        self.midi = self.client.midi_outports.register("midi_out")
        self.ins = [self.client.inports.register("in_1"), self.client.inports.register("in_2")]
        # In time order (a stable sort: events at one time keep their order); JACK wants
        # the events of a cycle in time order.
        sched = sorted(cfg.get("schedule", []), key=lambda e: float(e[0]))
        self.ev_off = np.array([int(round(float(t) * self.rate)) for t, _ in sched], dtype=np.int64)
        self.schedule = sched
        self.ev_bytes = [bytes(b) for _, b in sched]
        self.ev_frame = np.full(len(sched), -1, dtype=np.int64)
        self.n_ev = len(sched)
        n = int(round(float(cfg.get("seconds", 5.0)) * self.rate))
        self.capture = np.zeros((n, 2), dtype=np.float32)
        self.capture.fill(0.0)  # touch every page now, not in the process callback
        self.n_cycles = n // self.period + 16
        self.cyc_frame = np.full(self.n_cycles, -1, dtype=np.int64)
        self.cyc_us = np.zeros(self.n_cycles, dtype=np.float32)  # the probe's own callback time
        self.cyc_mono = np.zeros(self.n_cycles, dtype=np.int64)  # CLOCK_MONOTONIC ns at entry
        self.cyc_entry = np.zeros(self.n_cycles, dtype=np.int32)  # frames since the cycle began, at entry
        self.k = 0
        self.i = 0
        self.base = -1
        self.state = IDLE
        self.storm = [bytes(b) for b in cfg.get("storm", [])]
        self.storming = False
        self.storm_cycles = 0
        self.storm_end_frame = -1  # graph frame the storm ends at (set at the start)
        self.xrun_frame = np.full(MAX_XRUNS, -1, dtype=np.int64)
        self.xrun_mono = np.zeros(MAX_XRUNS, dtype=np.int64)  # CLOCK_MONOTONIC ns of each notification
        self.n_xruns = 0
        self.shutdown = False
        self.marks: list[tuple[str, int]] = []
        self.audio_ports: list[str] = []
        self.midi_port = ""
        self.stop_requested = False
        self.stop_at = 0.0
        self.client.set_process_callback(self._process)
        self.client.set_xrun_callback(self._xrun)
        self.client.set_shutdown_callback(self._shutdown)

    # ------------------------------------------------------------------ JACK's threads
    def _process(self, frames: int) -> None:
        t0 = perf_counter()
        midi = self.midi
        midi.clear_buffer()
        f = self.client.last_frame_time
        last_o = 0  # offsets written this cycle never go back (JACK refuses that)
        if self.storming:
            if self.storm_end_frame >= 0 and f >= self.storm_end_frame:
                self.storming = False
            else:
                for b in self.storm:
                    midi.write_midi_event(last_o, b)
                    if last_o < frames - 1:
                        last_o += 1
                self.storm_cycles += 1
        st = self.state
        if st < ARM or st == DONE:
            return
        if st == ARM:
            self.base = f
            self.state = st = RUN
        base = self.base
        k = self.k
        if k < self.n_cycles:
            self.cyc_frame[k] = f
            self.cyc_mono[k] = time.monotonic_ns()
            self.cyc_entry[k] = self.client.frames_since_cycle_start
        i = self.i
        end = f + frames
        off = self.ev_off
        n = self.n_ev
        while i < n and base + off[i] < end:
            o = int(base + off[i] - f)
            if o < last_o:
                o = last_o  # a missed cycle (or the storm's): sent now, and its real frame recorded
            midi.write_midi_event(o, self.ev_bytes[i])
            last_o = o
            self.ev_frame[i] = f + o
            i += 1
        self.i = i
        j = f - base
        cap = self.capture
        ncap = len(cap)
        if j < ncap:
            m = min(frames, ncap - j)
            cap[j : j + m, 0] = self.ins[0].get_array()[:m]
            cap[j : j + m, 1] = self.ins[1].get_array()[:m]
        elif i >= n:
            self.state = DONE
        if self.stop_requested:
            self.state = DONE
        if k < self.n_cycles:
            self.cyc_us[k] = (perf_counter() - t0) * 1e6
            self.k = k + 1

    def _xrun(self, delay_usecs) -> None:
        x = self.n_xruns
        if x < MAX_XRUNS:
            self.xrun_frame[x] = self.client.frame_time
            self.xrun_mono[x] = time.monotonic_ns()
        self.n_xruns = x + 1

    def _shutdown(self, status, reason) -> None:
        self.shutdown = True

    # ------------------------------------------------------------------ the main thread
    def _find_ports(self, **kw) -> list[str]:
        own = self.client.name + ":"
        try:
            ports = self.client.get_ports(**kw)
        except Exception:
            return []
        return [p.name for p in ports if not p.name.startswith(own)]

    def _wait(self, what: str, found, timeout: float):
        deadline = time.monotonic() + timeout
        while True:
            if self.shutdown:
                raise RuntimeError(f"the JACK server shut down while waiting for {what}")
            r = found()
            if r:
                return r
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"timed out after {timeout} s waiting for {what}; ports: "
                    f"{[p.name for p in self.client.get_ports()]}"
                )
            time.sleep(POLL_S)

    def _connect(self, ours, theirs, reverse: bool = False, timeout: float = 5.0) -> None:
        """Connect our port and theirs (``theirs()`` names it), retrying for a while: a
        port can be listed before its client is active, when connecting it still fails."""
        deadline = time.monotonic() + timeout
        while True:
            other = theirs()
            try:
                if reverse:
                    self.client.connect(other, ours)
                else:
                    self.client.connect(ours, other)
                if not reverse:
                    self.midi_port = other
                return
            except self.jack.JackError as exc:
                if time.monotonic() > deadline:
                    raise
                emit(event="note", text=f"connect failed, retrying: {exc}")
                time.sleep(0.01)

    def run(self) -> int:
        cfg = self.cfg
        timeout = float(cfg.get("port_timeout", 30.0))
        # The process callback is Python: let it have the GIL as soon as it asks (the other
        # threads here only sleep, poll or read stdin), and keep the cyclic collector from
        # walking everything built so far.
        sys.setswitchinterval(0.0005)
        gc.collect()
        gc.freeze()
        self.client.activate()
        t_active = time.monotonic()
        emit(
            event="active",
            name=self.client.name,
            midi_out=self.midi.name,
            inputs=[p.name for p in self.ins],
            rate=self.rate,
            period=self.period,
        )
        threading.Thread(target=self._stdin_loop, daemon=True).start()
        start = cfg.get("start", "audio")
        midi_to = cfg.get("midi_to")
        if midi_to:

            def midi_port():
                hits = [p for p in self._find_ports(is_midi=True, is_input=True) if p.endswith(midi_to)]
                return hits[0] if hits else None

            self.midi_port = self._wait(f"a MIDI input port ending with {midi_to!r}", midi_port, timeout)
            self._connect(
                self.midi, lambda: self._wait(f"a MIDI input port ending with {midi_to!r}", midi_port, timeout)
            )
            if self.storm:
                self.storming = True
            emit(
                event="midi_connected", port=self.midi_port, t=time.monotonic() - t_active, frame=self.client.frame_time
            )
        if start == "peer":

            def peer():
                try:
                    return self.client.get_all_connections(self.midi)
                except Exception:
                    return None

            peers = self._wait("a connection to our MIDI output", peer, timeout)
            emit(
                event="peer_connected",
                peers=[p.name for p in peers],
                t=time.monotonic() - t_active,
                frame=self.client.frame_time,
            )
        if cfg.get("audio", True):

            def audio_ports():
                ports = [p for p in self._find_ports(is_audio=True, is_output=True) if not p.startswith("system:")]
                return ports if len(ports) >= 2 else None

            ports = self._wait("dlsynth's audio outputs", audio_ports, timeout)
            # Two outputs of one client, in the order JACK lists them (out_0/out_1, L/R).
            client0 = ports[0].split(":", 1)[0]
            ports = [p for p in ports if p.split(":", 1)[0] == client0][:2]
            for src, dst in zip(ports, self.ins):
                self._connect(dst, lambda src=src: src, reverse=True)
            self.audio_ports = ports
            emit(event="audio_connected", ports=ports, t=time.monotonic() - t_active, frame=self.client.frame_time)
        # Start: the storm (if any) runs on until storm_until seconds after the start.
        storm_until = float(cfg.get("storm_until", 0.0))
        self.state = ARM
        arm_deadline = time.monotonic() + timeout
        while self.state == ARM:
            if self.shutdown:
                break
            if time.monotonic() > arm_deadline:
                raise RuntimeError(f"the process callback did not run within {timeout} s of arming")
            time.sleep(POLL_S)
        if self.base >= 0:
            self.storm_end_frame = self.base + int(round(storm_until * self.rate))
            emit(event="started", base=int(self.base), t=time.monotonic() - t_active)
        reported = 0
        # Never wait for ever on a graph that stopped calling us: the capture's length plus
        # a margin, or a second after a 'stop'.
        give_up = time.monotonic() + float(cfg.get("seconds", 5.0)) + 10.0
        while self.state != DONE and not self.shutdown:
            now = time.monotonic()
            if now > give_up or (self.stop_requested and now > self.stop_at + 1.0):
                emit(event="note", text="the process callback stopped coming: giving up")
                break
            if cfg.get("report_sent"):
                while reported < self.n_ev and self.ev_frame[reported] >= 0:
                    emit(event="sent", index=reported, frame=int(self.ev_frame[reported]))
                    reported += 1
            time.sleep(0.01 if cfg.get("report_sent") else 0.05)
        if cfg.get("report_sent"):
            while reported < self.n_ev and self.ev_frame[reported] >= 0:
                emit(event="sent", index=reported, frame=int(self.ev_frame[reported]))
                reported += 1
        linger = float(cfg.get("linger", 0.0))
        if linger > 0:
            time.sleep(linger)
        self.save()
        emit(event="done", shutdown=self.shutdown, xruns=int(self.n_xruns), cycles=int(self.k))
        return 0

    def _stdin_loop(self) -> None:
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "mark":
                name = words[1] if len(words) > 1 else "mark"
                frame = int(self.client.frame_time)
                self.marks.append((name, frame))
                emit(event="mark", name=name, frame=frame)
            elif words[0] == "stop":
                self.stop_at = time.monotonic()
                self.stop_requested = True
                if self.state < ARM:
                    self.state = DONE
            elif words[0] == "storm" and words[1:] == ["off"]:
                self.storming = False

    def save(self) -> None:
        out = self.cfg.get("out")
        if not out:
            return
        k = self.k
        tmp = out + ".tmp.npz"
        np.savez(
            tmp,
            rate=self.rate,
            period=self.period,
            base=int(self.base),
            capture=self.capture,
            cyc_frame=self.cyc_frame[:k],
            cyc_us=self.cyc_us[:k],
            cyc_mono=self.cyc_mono[:k],
            cyc_entry=self.cyc_entry[:k],
            ev_frame=self.ev_frame,
            ev_off=self.ev_off,
            xrun_frame=self.xrun_frame[: min(self.n_xruns, MAX_XRUNS)],
            xrun_mono=self.xrun_mono[: min(self.n_xruns, MAX_XRUNS)],
            n_xruns=int(self.n_xruns),
            marks_name=np.array([m[0] for m in self.marks], dtype=str),
            marks_frame=np.array([m[1] for m in self.marks], dtype=np.int64),
            storm_cycles=int(self.storm_cycles),
            shutdown=bool(self.shutdown),
            audio_ports=np.array(self.audio_ports, dtype=str),
            midi_port=self.midi_port,
        )
        os.replace(tmp, out)

    def close(self) -> None:
        try:
            self.client.deactivate()
        except Exception:
            pass
        try:
            self.client.close()
        except Exception:
            pass


def main(argv: list[str]) -> int:
    with open(argv[0]) as f:
        cfg = json.load(f)
    # SIGTERM: save what was captured and leave (the test's clean-up path).
    probe = None

    def on_term(signum, frame):
        raise SystemExit(3)

    signal.signal(signal.SIGTERM, on_term)
    try:
        probe = Probe(cfg)
        return probe.run()
    except SystemExit:
        if probe is not None:
            probe.save()
        raise
    except Exception as exc:
        if probe is not None:
            try:
                probe.save()
            except Exception:
                pass
        emit(event="error", text=f"{exc.__class__.__name__}: {exc}")
        return 1
    finally:
        if probe is not None:
            probe.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
