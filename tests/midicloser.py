"""Open and close a MIDI input again and again while a keyboard floods it (a child process).

Run by tests/test_live.py as its own process, so a crash in a MIDI library shows as this
process's exit status instead of taking the test run down with it:

    python -m tests.midicloser SERVER BACKEND CYCLES

SERVER is a running JACK server's name; BACKEND is ``jack-c`` (dlsynth's own JACK client) or
``rtmidi`` (RtMidi's C API, driven over JACK here: the path ALSA and CoreMIDI take). The
keyboard is another process (python-rtmidi's MidiOut, a note every half millisecond). Each
cycle opens the input, drains the wave sink's MIDI ring for CYCLE_S, then closes the input
while the notes still come. Prints one JSON line: the messages each cycle received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

CYCLE_S = 0.05
KEYBOARD = "closer-keys"
KEYBOARD_SCRIPT = f"""
import os, time, rtmidi
parent = os.getppid()
k = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name={KEYBOARD!r})
k.open_virtual_port("out")
print("ready", flush=True)
while os.getppid() == parent:  # ends with the process that started it, however that ends
    k.send_message([0x90, 60, 100])
    k.send_message([0x80, 60, 0])
    time.sleep(0.0005)
"""


def main(server: str, backend: str, cycles: int) -> int:
    os.environ["JACK_DEFAULT_SERVER"] = server
    os.environ["JACK_NO_START_SERVER"] = "1"
    from dlsynth.native import ffi, lib
    from dlsynth.synth.live import MidiInputs, _RtMidiBackend
    from dlsynth.synth.synth import Synth

    synth = Synth(48_000, channel_groups=2, effects=False)
    ws = lib.ws_create(synth.engine._ptr, 4096, 64, 4096)
    lib.ws_set_trace(ws, 1)
    buf = ffi.new("float[128]")
    rows = ffi.new("ws_trace[4096]")
    keys = subprocess.Popen([sys.executable, "-c", KEYBOARD_SCRIPT], stdout=subprocess.PIPE, text=True)
    received = []
    try:
        if keys.stdout.readline().strip() != "ready":
            print(json.dumps({"error": "the keyboard process did not start"}))
            return 2
        for _ in range(cycles):
            inputs = MidiInputs(ws, api="jack", names=[KEYBOARD], client_name="dlsynth-closer")
            if backend == "rtmidi":
                inputs.backend = _RtMidiBackend(ws, "jack", "dlsynth-closer")
            inputs.open()
            got = 0
            t_end = time.monotonic() + CYCLE_S
            while time.monotonic() < t_end:
                lib.ws_run_callback(ws, buf, 64, 0.0, 0.0)
                got += lib.ws_poll_trace(ws, rows, 4096)
            inputs.close()  # the keyboard is still playing
            lib.ws_run_callback(ws, buf, 64, 0.0, 0.0)
            lib.ws_poll_trace(ws, rows, 4096)
            received.append(got)
    finally:
        keys.kill()
        keys.wait()
        lib.ws_destroy(ws)
        synth.close()
    print(json.dumps({"received": received}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
