"""IMiniportDMus::Service as a real thread: everything live play does off the audio path.

Every `interval` seconds it runs SyncToMaster from the wave sink's observations (and
publishes the time map to C), frees what the renderer finished with and turns its reports
into warnings, watches MIDI inputs appearing and disappearing (every `input_interval`),
writes the event log, and checks that the device still calls back. Notes for the user go
to `notes` (a list the status line prints); a lost device is kept in `error` and ends
the loop, for the main thread to report.
"""

from __future__ import annotations

import json
import threading
import time

from dlsynth.native import lib

DOWNLOAD_SLICE_S = 0.02  # background downloads: this long per service round


class ServiceThread:
    """The miniport's Service thread for a live session."""

    def __init__(
        self,
        synth,
        sink,
        inputs=None,
        *,
        interval: float = 0.01,
        input_interval: float = 0.25,
        event_log=None,
        record: list | None = None,
    ):
        self.synth = synth
        self.sink = sink
        self.inputs = inputs
        self.interval = float(interval)
        self.input_interval = float(input_interval)
        self.event_log = event_log  # an open text file, or None
        self.record = record  # a list: (stamp, group, bytes) of every message applied
        self.notes: list[str] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._reported = 0

    def start(self) -> "ServiceThread":
        self._thread = threading.Thread(target=self._run, name="dlsynth-service", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop_recording(self) -> None:
        """Take the trace so far into the recording, then record no more (what dlsynth
        sends itself when stopping is not part of what was played)."""
        with self._lock:
            if self.record is not None:
                self._log(self.sink.poll_trace())
                self.record = None

    def step(self, inputs_too: bool = False) -> None:
        """One round of service (the thread's loop body; callable directly in tests)."""
        with self._lock:
            self._step(inputs_too)

    def _step(self, inputs_too: bool) -> None:
        self.sink.service()
        if self.synth.loading:
            self.synth.download_some(DOWNLOAD_SLICE_S)
        self.synth.service()
        for w in self.synth.take_warnings():
            self.notes.append(f"warning: {w}")
        if self.event_log is not None or self.record is not None:
            self._log(self.sink.poll_trace())
        if inputs_too and self.inputs is not None:
            self.notes.extend(self.inputs.service())
        self.sink.check_alive()

    def _run(self) -> None:
        next_inputs = 0.0
        try:
            while not self._stop.wait(self.interval):
                now = time.monotonic()
                due = now >= next_inputs
                if due:
                    next_inputs = now + self.input_interval
                self.step(inputs_too=due)
        except BaseException as exc:  # DeviceLost, or a bug: the main thread reports it
            self.error = exc

    def _log(self, rows) -> None:
        if not len(rows):
            return
        f = self.event_log
        for r in rows.tolist():
            stamp, frame, _block, group, typ, a, b, late, _pad = r
            data = message_bytes(typ, a, b)
            if self.record is not None and data:
                self.record.append((stamp, group, bytes(data)))
            if f is not None:
                f.write(
                    json.dumps(
                        {
                            "stamp": stamp,
                            "frame": frame,
                            "block": _block,
                            "group": group,
                            "data": data or [typ, a],
                            "late": bool(late),
                        }
                    )
                )
                f.write("\n")
        if f is not None:
            f.flush()


_RESETS = {
    1: [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7],
    2: [0xF0, 0x7E, 0x7F, 0x09, 0x02, 0xF7],
    3: [0xF0, 0x7E, 0x7F, 0x09, 0x03, 0xF7],
    0x41: [0xF0, 0x41, 0x10, 0x42, 0x12, 0x40, 0x00, 0x7F, 0x00, 0x41, 0xF7],
    0x43: [0xF0, 0x43, 0x10, 0x4C, 0x00, 0x00, 0x7E, 0x00, 0xF7],
}


def message_bytes(typ: int, a: int, b: int = 0) -> list[int] | None:
    """The MIDI bytes of an applied message as the trace holds it (an encoded engine event):
    channel messages exactly; a system exclusive message as the canonical message of what
    it did (GM/GS/XG resets, GM master volume, GS "use for rhythm part"), which the engine
    reads back as the same event; None for anything else."""
    if typ == lib.ENG_EV_MIDI:
        n = (a >> 24) & 0xFF
        return [a & 0xFF, (a >> 8) & 0xFF, (a >> 16) & 0xFF][:n]
    if typ == lib.ENG_EV_SYSEX_RESET:
        return list(_RESETS.get(a, _RESETS[1]))
    if typ == lib.ENG_EV_MASTER_VOLUME:
        return master_volume_bytes(a)
    if typ == lib.ENG_EV_GS_RHYTHM:
        return gs_rhythm_bytes(a, b)
    return None


def master_volume_bytes(millibels: int) -> list[int]:
    """GM master volume (F0 7F 7F 04 01 ll mm F7) for a level in millibels (0 full scale,
    -9600 silence): the 14-bit value the engine's encoding maps to that level again."""
    v = 0 if millibels <= -9600 else min(16383, round(16383 * 10 ** (millibels / 2000)))
    return [0xF0, 0x7F, 0x7F, 0x04, 0x01, v & 0x7F, v >> 7, 0xF7]


def gs_rhythm_bytes(channel: int, drums: int) -> list[int]:
    """Roland GS "use for rhythm part" (F0 41 10 42 12 40 1x 15 dd cs F7) for a MIDI channel:
    the part's block x is 0 for channel 10, 1-9 for channels 1-9, A-F for 11-16; dd is map 1
    (drums) or 0 (off); cs the Roland checksum of address and data."""
    block = 0 if channel == 9 else (channel + 1 if channel < 9 else channel)
    body = [0x40, 0x10 | block, 0x15, 1 if drums else 0]
    return [0xF0, 0x41, 0x10, 0x42, 0x12, *body, (128 - sum(body) % 128) % 128, 0xF7]
