"""The wave sink: a sounddevice output stream whose callback is C (native/wavesink.c).

This is the port driver's wave sink of the DMus model. The audio thread runs no Python:
sounddevice opens the PortAudio stream with ``ws_callback`` as its callback and the C
``ws_sink`` as its userdata (as python-rtmixer does), and that callback drains the ring of
stamped MIDI messages, maps each to its frame through the time map, renders the engine into
the device's buffer, clips it, and records where the buffer will be heard.

Everything else happens in `service` (called from the miniport's Service thread): read
the callback's observations and run SyncToMaster (one controller, `synth.drift.DriftCorrector`,
whose output line is published to C as the time map), set the scheduled latency from the
device's real DAC offset, and report the counters.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from dlsynth.native import ffi, lib

from dlsynth.synth.masterclock import REF_PER_SECOND

SCHEDULE_MARGIN = 0.0005  # seconds added to the scheduled latency for timing jitter
MIDI_RING = 8192  # stamped messages waiting for the audio thread
OBSERVATIONS = 4096
TRACE = 65536
PERIOD_OBSERVATIONS = 64  # callbacks watched to learn the host's real period
STALL_SECONDS = 1.5  # no callback for this long while running: the device (or server) is gone
_OBS_DTYPE = np.dtype(
    [
        ("frame", "<u8"),
        ("dac_time", "<i8"),
        ("now", "<i8"),
        ("frames", "<i4"),
        ("status", "<u4"),
        ("ahead", "<i8"),
        ("discontinuity", "<i4"),
        ("pad", "<i4"),
    ]
)
_TRACE_DTYPE = np.dtype(
    [
        ("stamp", "<i8"),
        ("frame", "<u8"),
        ("block", "<u8"),
        ("group", "<i4"),
        ("type", "<i4"),
        ("a", "<i4"),
        ("b", "<i4"),
        ("late", "<i4"),
        ("pad", "<i4"),
    ]
)
_STATS_FIELDS = (
    "callbacks",
    "xruns",
    "midi_in",
    "midi_dropped",
    "midi_applied",
    "late",
    "clipped",
    "heap_full",
    "frames",
    "last_callback",
    "load",
    "peak_load",
    "max_frames",
)


class DeviceLost(Exception):
    """The audio device (or the JACK server behind it) stopped calling back."""


def _check_layout() -> None:
    for dt, cname in ((_OBS_DTYPE, "ws_observation"), (_TRACE_DTYPE, "ws_trace")):
        if dt.itemsize != ffi.sizeof(cname):
            raise ImportError(f"{cname}: NumPy layout {dt.itemsize} bytes, C {ffi.sizeof(cname)}")


_check_layout()


class WaveSink:
    """The port driver's wave sink: pulls ISynthSinkDMus::Render buffers from a Synth's
    engine into an audio device, from a C callback (native/wavesink.c), and reports the DAC
    times it sees for SyncToMaster.

    synth: a `synth.synth.Synth` (its engine is rendered). device, blocksize, latency: as
    sounddevice takes them. scheduled: events at arrival + `schedule_latency` (DirectMusic's
    scheduled mode; None: the device's latency plus one block, measured at start), or at the
    next block. limit_db: the output is clipped to this level (0 dBFS: nothing louder
    reaches the device).
    """

    def __init__(
        self,
        synth,
        *,
        device=None,
        blocksize: int = 256,
        latency=None,
        scheduled: bool = True,
        schedule_latency: float | None = None,
        drift: bool = True,
        limit_db: float = 0.0,
        trace: bool = False,
        jack=None,
    ):
        self.synth = synth
        self.jack = None  # jack=True: JACK itself will be the device (attach_jack), no PortAudio stream
        self.rate = synth.sample_rate
        self.blocksize = int(blocksize)
        self.scheduled = bool(scheduled)
        ptr = lib.ws_create(synth.engine._ptr, MIDI_RING, OBSERVATIONS, TRACE)
        if ptr == ffi.NULL:
            raise MemoryError("ws_create failed")
        self._ptr = ptr
        lib.ws_set_limit(ptr, float(10.0 ** (limit_db / 20.0)))
        lib.ws_set_trace(ptr, 1 if trace else 0)
        self._stats = ffi.new("ws_stats *")
        self._obs = np.zeros(256, dtype=_OBS_DTYPE)
        self._trace = np.zeros(1024, dtype=_TRACE_DTYPE)
        self.corrector = None
        if drift:
            from dlsynth.synth.drift import DriftCorrector

            self.corrector = DriftCorrector(self.rate)
        self.observations = 0
        self.discontinuities = 0  # xruns seen by the callback, each a re-lock of the time map
        self._wake: list[int] = []
        self._period_known = False
        self.started_ref: int | None = None
        self.running = False
        if jack is not None:
            self.jack = None  # attach_jack gives the client once it exists
            self.stream = None
            self._out_latency = self.blocksize / self.rate
        else:
            import sounddevice as sd

            self.stream = sd._StreamBase(
                kind="output",
                samplerate=self.rate,
                blocksize=self.blocksize,
                device=device,
                channels=2,
                dtype="float32",
                latency=latency,
                callback=ffi.addressof(lib, "ws_callback"),
                userdata=ptr,
                wrap_callback=None,
            )
            self._out_latency = float(self.stream.latency)
        self.key_latency: float | None = None  # JACK as the device: a JACK MIDI key's latency
        self._auto_schedule = schedule_latency is None
        if schedule_latency is None:
            schedule_latency = self._out_latency + self.blocksize / self.rate + SCHEDULE_MARGIN
        self.schedule_latency = float(schedule_latency)
        self._apply_mode()

    def attach_jack(self, client) -> None:
        """JACK itself is the device: `client` (dlsynth's jm_client, the one that reads MIDI)
        renders this sink in its own process callback, after the cycle's MIDI."""
        rate = int(lib.jm_sample_rate(client))
        if rate != self.rate:
            raise ValueError(f"the JACK server runs at {rate} Hz, not {self.rate} Hz (use --rate {rate})")
        self.jack = client
        lib.ws_set_frame_clock(self._ptr, client)

    @property
    def plays_into_jack(self) -> bool:
        """The output is PortAudio's JACK device: its frames are the JACK graph's frames."""
        if self.stream is None:
            return False
        import sounddevice as sd

        try:
            dev = sd.query_devices(self.stream.device)
            return "JACK" in sd.query_hostapis(dev["hostapi"])["name"]
        except Exception:
            return False

    # ------------------------------------------------------------------ MIDI in
    @property
    def handle(self):
        """The C ws_sink (for MIDI inputs to push into with lib.ws_midi_push*)."""
        return self._ptr

    def push(self, group: int, data: bytes, ref_time: int | None = None) -> bool:
        """Queue one MIDI message stamped now (or at ref_time); any thread."""
        if ref_time is None:
            return bool(lib.ws_midi_push(self._ptr, int(group), data, len(data)))
        return bool(lib.ws_midi_push_at(self._ptr, int(ref_time), int(group), data, len(data)))

    # ------------------------------------------------------------------ Service thread
    def _apply_mode(self) -> None:
        lib.ws_set_mode(self._ptr, 1 if self.scheduled else 0, int(round(self.schedule_latency * REF_PER_SECOND)))

    def service(self) -> int:
        """SyncToMaster from the callback's observations; returns how many were read."""
        n_total = 0
        while True:
            n = int(
                lib.ws_poll_observations(
                    self._ptr, ffi.cast("ws_observation *", ffi.from_buffer(self._obs)), len(self._obs)
                )
            )
            if not n:
                break
            obs = self._obs[:n]
            if self.observations == 0:
                first = obs[0]
                self.started_ref = int(first["dac_time"])
                ahead = int(first["ahead"]) / REF_PER_SECOND
                if self.jack is not None and 0 < ahead < 1.0:
                    # JACK as the device: a JACK MIDI message is played at the frame it
                    # arrived at in the cycle being rendered (ws_midi_push_cycle), so a key
                    # reaches the output port with no delay of ours and no jitter: the
                    # latency is the port's. A --latency longer than that delays it more.
                    # Messages stamped between cycles (the Service thread's) still go through
                    # the time map, one period on so that they meet their cycle.
                    delay = (
                        0 if self._auto_schedule else max(0, int(round((self.schedule_latency - ahead) * self.rate)))
                    )
                    self.key_latency = ahead + delay / self.rate
                    if self._auto_schedule:  # one JACK period, whatever --blocksize says
                        self.schedule_latency = ahead + int(first["frames"]) / self.rate + SCHEDULE_MARGIN
                    lib.ws_set_cycle_delay(self._ptr, delay)
                    self._apply_mode()
                elif self._auto_schedule and self._out_latency < ahead < 1.0:
                    # On JACK, PortAudio's stream latency is a period short of the real DAC offset.
                    self.schedule_latency = ahead + self.blocksize / self.rate + SCHEDULE_MARGIN
                    self._apply_mode()
            if self._auto_schedule and self.jack is None:
                self._learn_period(obs)
            if self.corrector is not None:
                c = self.corrector
                for frame, dac, broke in zip(
                    obs["frame"].tolist(), obs["dac_time"].tolist(), obs["discontinuity"].tolist()
                ):
                    if broke:
                        c.discontinuity(dac, frame)
                        self.discontinuities += 1
                    else:
                        c.observe(dac, frame)
                lib.ws_set_time_map(self._ptr, int(c._ra), float(c._sa), float(c.slope))
            self.observations += n
            n_total += n
        return n_total

    def _learn_period(self, obs) -> None:
        """The host's real period: a JACK server at 512 frames calls a 256-frame stream twice
        per cycle, back to back, so a message waits up to 512 frames for its callback. The
        scheduled latency covers the longest wait seen between callbacks (its 90th
        percentile, over the first second or so), not just our block."""
        self._wake.extend(obs["now"].tolist())
        if self._period_known or len(self._wake) < PERIOD_OBSERVATIONS:
            return
        gaps = np.diff(np.asarray(self._wake, dtype=np.int64)) / REF_PER_SECOND
        period = float(np.percentile(gaps, 90))
        self._period_known = True
        if period > self.blocksize / self.rate * 1.25:
            self.schedule_latency += period - self.blocksize / self.rate
            self._apply_mode()

    def poll_trace(self) -> np.ndarray:
        """MIDI messages as applied since the last call (when tracing)."""
        parts = []
        while True:
            n = int(
                lib.ws_poll_trace(self._ptr, ffi.cast("ws_trace *", ffi.from_buffer(self._trace)), len(self._trace))
            )
            if n:
                parts.append(self._trace[:n].copy())
            if n < len(self._trace):
                break
        return np.concatenate(parts) if parts else self._trace[:0].copy()

    def stats(self) -> dict:
        lib.ws_get_stats(self._ptr, self._stats)
        return {f: getattr(self._stats, f) for f in _STATS_FIELDS}

    def check_alive(self) -> None:
        """Raise DeviceLost when a running stream has stopped calling back."""
        if not self.running:
            return
        st = self.stats()
        now = int(lib.ws_clock_now())
        last = st["last_callback"] or self._start_ref
        if (now - last) / REF_PER_SECOND > STALL_SECONDS:
            raise DeviceLost("the audio device stopped (is the JACK server still running?)")

    # ------------------------------------------------------------------ control
    def start(self) -> None:
        self._start_ref = int(lib.ws_clock_now())
        if self.jack is not None:
            if lib.jm_enable_audio(self.jack, self._ptr) != 0:
                raise OSError("cannot register dlsynth's JACK audio ports")
            self._connect_playback()
        else:
            self.stream.start()
        self.running = True

    def _connect_playback(self) -> None:
        """Our outputs to the first two physical playback ports, as PortAudio would."""
        buf = ffi.new("char[]", 1 << 14)
        lib.jm_list_playback(self.jack, buf, len(buf))
        ports = [p for p in ffi.string(buf).decode(errors="replace").split("\n") if p]
        for ch, dest in enumerate(ports[:2]):
            lib.jm_connect_output(self.jack, ch, dest.encode())

    def silence(self, on: bool = True) -> None:
        """Send zeros from now on (the last step before stopping)."""
        lib.ws_set_silent(self._ptr, 1 if on else 0)

    def stop(self, timeout: float = 2.0) -> bool:
        """Stop and close the stream; False if PortAudio did not return within `timeout`
        (a dead server can make it hang: the caller should then exit without waiting)."""
        self.running = False
        done = threading.Event()
        if self.jack is not None:
            lib.jm_disable_audio(self.jack)
            # The process callback may be in ws_callback right now: let two cycles pass.
            first = self.stats()["callbacks"]
            wait_until(lambda: self.stats()["callbacks"] >= first + 2, min(timeout, 0.2))
            lib.ws_set_frame_clock(self._ptr, ffi.NULL)
            return True

        def _stop():
            try:
                self.stream.stop()
                self.stream.close()
            except Exception:
                pass
            done.set()

        th = threading.Thread(target=_stop, name="dlsynth-stream-stop", daemon=True)
        th.start()
        return done.wait(timeout)

    def close(self) -> None:
        """Free the C side (after `stop` returned True, and no input pushes any more)."""
        if self._ptr is not None:
            lib.ws_destroy(self._ptr)
            self._ptr = None

    @property
    def latency(self) -> float:
        """Seconds from a note's arrival to its sound leaving the device, as scheduled (JACK
        as the device: for a JACK MIDI key, played at the frame it arrived at)."""
        if not self.scheduled:
            return self._out_latency + self.blocksize / self.rate
        return self.key_latency if self.key_latency is not None else self.schedule_latency


def wait_until(pred, timeout: float, step: float = 0.01) -> bool:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if pred():
            return True
        time.sleep(step)
    return pred()
