"""The JACK test rig itself: a dummy server, PortAudio playing into it, a JACK client
capturing, xruns counted, and JACK MIDI from an RtMidi output to an RtMidi input.

Everything the live-path tests will lean on, proven here on its own.
"""

from __future__ import annotations

import glob
import os
import threading
import time

import numpy as np
import pytest

from tests import jackrig
from tests.jackrig import JackServer, capture_client as _capture_client

FS = jackrig.SAMPLE_RATE
BLOCK = jackrig.PERIOD
SINE_HZ = 440.0
SINE_AMPLITUDE = 0.5
PITCH_TOLERANCE_HZ = 1.0
LEVEL_TOLERANCE = 0.01  # relative, on the RMS of the captured sine
CLEAN_RESIDUAL = 1e-3  # residual RMS / signal RMS after fitting a sine (no gaps, no clicks)
CAPTURE_SECONDS = 1.5
ANALYSIS_SECONDS = 1.0
MIDI_TIMEOUT_S = 2.0
MIDI_NOTES = 20
STALL_S = 0.05  # a capture callback this late makes the server report an xrun


class _Sine:
    """A PortAudio output callback writing a phase-continuous sine; counts status flags."""

    def __init__(self, freq: float, amplitude: float) -> None:
        self.step = 2 * np.pi * freq / FS
        self.amplitude = amplitude
        self.phase = 0.0
        self.calls = 0
        self.underflows = 0
        self._ramp = np.arange(8192, dtype=np.float64)
        self._tmp = np.zeros(8192, dtype=np.float64)

    def __call__(self, outdata, frames, time_info, status):
        self.calls += 1
        if status.output_underflow:
            self.underflows += 1
        tmp = self._tmp[:frames]
        np.multiply(self._ramp[:frames], self.step, out=tmp)
        tmp += self.phase
        np.sin(tmp, out=tmp)
        tmp *= self.amplitude
        outdata[:, 0] = tmp
        self.phase = (self.phase + self.step * frames) % (2 * np.pi)


def _peak_hz(x: np.ndarray) -> float:
    """Frequency of the strongest component: Hann window, 8x zero padding, parabolic peak."""
    n = len(x)
    pad = 8 * n
    spec = np.abs(np.fft.rfft(x * np.hanning(n), pad))
    k = int(np.argmax(spec[1:-1])) + 1
    a, b, c = np.log(spec[k - 1 : k + 2] + 1e-30)
    delta = 0.5 * (a - c) / (a - 2 * b + c)
    return (k + delta) * FS / pad


def _sine_residual(x: np.ndarray, freq: float) -> float:
    """RMS of what a least-squares sine at freq (with DC) leaves, relative to the signal."""
    t = np.arange(len(x)) / FS
    basis = np.column_stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t), np.ones_like(t)])
    coef, *_ = np.linalg.lstsq(basis, x, rcond=None)
    return float(np.sqrt(np.mean((x - basis @ coef) ** 2)) / np.sqrt(np.mean(x**2)))


def _play_and_capture(server: JackServer, seconds: float, stall_at: float | None = None):
    sd = server.sounddevice()
    device = jackrig.jack_hostapi_output_device(sd)
    client, port, state = _capture_client(server, seconds)
    sine = _Sine(SINE_HZ, SINE_AMPLITUDE)
    stream = None
    try:
        client.activate()
        stream = sd.OutputStream(
            device=device, samplerate=FS, blocksize=BLOCK, channels=1, dtype="float32", callback=sine
        )
        stream.start()
        ours = {p.name for p in client.inports}
        sources = [
            p.name
            for p in client.get_ports(is_audio=True, is_output=True)
            if not p.name.startswith("system:") and p.name not in ours
        ]
        assert sources, f"PortAudio's JACK output port not found among {server.lsp()}"
        client.connect(sources[0], port)
        time.sleep(2 * BLOCK / FS)  # let the connection take effect before recording
        state["armed"] = True
        t0 = time.monotonic()
        stalled = False
        while state["pos"] < len(state["buf"]) - 2 * BLOCK:
            if time.monotonic() - t0 > seconds + 10:
                raise AssertionError(f"capture stalled at {state['pos']} frames")
            if stall_at is not None and not stalled and time.monotonic() - t0 > stall_at:
                state["stall"] = STALL_S
                stalled = True
            time.sleep(0.01)
        time.sleep(4 * BLOCK / FS)  # let the xrun notifications arrive
    finally:
        if stream is not None:
            stream.stop()
            stream.close()
        client.deactivate()
        client.close()
    return state, sine, sources[0]


# ------------------------------------------------------------------------------ tests
@pytest.mark.timeout(60)
def test_server_starts_and_stops_cleanly():
    if not jackrig.jack_tools_available():
        pytest.skip(jackrig.SKIP_REASON)
    before = os.environ.get("JACK_DEFAULT_SERVER")
    server = JackServer()
    with server:
        assert server.running and os.environ["JACK_DEFAULT_SERVER"] == server.name
        assert os.environ["JACK_NO_START_SERVER"] == "1"
        ports = server.lsp()
        assert {"system:playback_1", "system:playback_2", "system:capture_1"} <= set(ports)
        assert glob.glob(f"/dev/shm/jack_sem.*_{server.name}_*")
        print(f"\njackd {server.name} ready in {server.startup_seconds * 1e3:.0f} ms")
        pid = server.process.pid
    assert not server.running and server.returncode == 0  # SIGTERM: a clean exit
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not glob.glob(f"/dev/shm/jack_sem.*_{server.name}_*")
    assert not glob.glob(f"/dev/shm/jack_{server.name}_*")
    assert os.environ.get("JACK_DEFAULT_SERVER") == before


@pytest.mark.timeout(60)
def test_two_servers_do_not_collide():
    if not jackrig.jack_tools_available():
        pytest.skip(jackrig.SKIP_REASON)
    with JackServer() as a, JackServer(period=256) as b:
        assert a.name != b.name and a.running and b.running
        assert "system:playback_1" in a.lsp() and "system:playback_1" in b.lsp()


@pytest.mark.timeout(60)
def test_portaudio_sine_captured_by_jack_client(jack_server):
    state, sine, source = _play_and_capture(jack_server, CAPTURE_SECONDS)
    x = state["buf"][: state["pos"]].astype(np.float64)
    seg = x[len(x) - int(ANALYSIS_SECONDS * FS) :]
    f = _peak_hz(seg)
    rms = float(np.sqrt(np.mean(seg**2)))
    xruns = state["xruns"]
    residual = _sine_residual(seg, f)
    print(
        f"\nPortAudio ({source}) -> JACK -> capture: {f:.3f} Hz (sent {SINE_HZ}), rms {rms:.4f}, "
        f"residual {residual:.1e}, xruns: JACK {xruns}, PortAudio underflows {sine.underflows}, "
        f"{sine.calls} callbacks"
    )
    assert abs(f - SINE_HZ) < PITCH_TOLERANCE_HZ
    assert rms == pytest.approx(SINE_AMPLITUDE / np.sqrt(2), rel=LEVEL_TOLERANCE)
    assert isinstance(xruns, int) and xruns >= 0
    if xruns == 0 and sine.underflows == 0:
        assert residual < CLEAN_RESIDUAL  # no gaps or repeats in the captured sine


@pytest.mark.timeout(60)
def test_xruns_are_counted(jack_server):
    """A capture client that overruns its period once: the server reports the xrun to every
    client (JACK-Client's xrun callback) and PortAudio flags an output underflow."""
    state, sine, _ = _play_and_capture(jack_server, CAPTURE_SECONDS, stall_at=0.5)
    print(
        f"\nafter one {STALL_S * 1e3:.0f} ms stall: JACK xruns {state['xruns']}, PortAudio underflows {sine.underflows}"
    )
    assert state["xruns"] >= 1
    assert sine.underflows >= 1


@pytest.mark.timeout(60)
def test_jack_midi_loop(jack_server):
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without its JACK API")
    out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="dlsynth-test-out")
    inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name="dlsynth-test-in")
    received: list[tuple[list[int], float]] = []  # note-ons, with arrival times
    note_offs: list[list[int]] = []
    got = threading.Event()

    def on_message(event, data=None):
        message, _delta = event
        if message[0] & 0xF0 == 0x90 and message[2] > 0:
            received.append((message, time.monotonic()))
            got.set()
        else:
            note_offs.append(message)

    try:
        out.open_virtual_port("out")
        inp.open_virtual_port("in")
        inp.set_callback(on_message)
        jack_server.wait_for_port("dlsynth-test-out:out")
        jack_server.wait_for_port("dlsynth-test-in:in")
        jack_server.connect("dlsynth-test-out:out", "dlsynth-test-in:in")
        assert "dlsynth-test-in:in" in out.get_ports() or any("dlsynth-test-in" in p for p in out.get_ports())
        latencies = []
        for i in range(MIDI_NOTES):
            got.clear()
            n = len(received)
            note = 60 + i % 12
            sent = time.monotonic()
            out.send_message([0x90, note, 100])
            assert got.wait(MIDI_TIMEOUT_S), f"note-on {note} not delivered within {MIDI_TIMEOUT_S} s"
            message, at = received[n]
            assert message == [0x90, note, 100]
            latencies.append(at - sent)
            out.send_message([0x80, note, 0])
            time.sleep(0.003)
        deadline = time.monotonic() + MIDI_TIMEOUT_S
        while len(note_offs) < MIDI_NOTES and time.monotonic() < deadline:
            time.sleep(0.005)
        assert note_offs == [[0x80, 60 + i % 12, 0] for i in range(MIDI_NOTES)]
        assert len(received) == MIDI_NOTES
        lat_ms = np.array(latencies) * 1e3
        period_ms = BLOCK / FS * 1e3
        print(
            f"\nJACK MIDI out -> in: {MIDI_NOTES} note-ons, median {np.median(lat_ms):.2f} ms, "
            f"max {lat_ms.max():.2f} ms (period {period_ms:.2f} ms)"
        )
        # JACK MIDI moves once per period: a message arrives within about two periods.
        assert np.median(lat_ms) < 3 * period_ms
    finally:
        inp.cancel_callback()
        inp.close_port()
        out.close_port()
        del inp, out


# ------------------------------------------------------------------------------ dlsynth devices
def _devices_json(env: dict) -> dict:
    import json
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "-m", "dlsynth", "devices", "--json"], env=env, capture_output=True, text=True, timeout=30
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.timeout(60)
def test_devices_lists_the_jack_server(jack_server):
    """`dlsynth devices` (a fresh process) sees the JACK output device and a JACK MIDI port."""
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without its JACK API")
    keyboard = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="test-keyboard")
    try:
        keyboard.open_virtual_port("keys")
        jack_server.wait_for_port("test-keyboard:keys")
        d = _devices_json(jack_server.env)
    finally:
        keyboard.close_port()
        del keyboard
    jack_apis = [a for a in d["audio"]["host_apis"] if "JACK" in a["name"]]
    assert jack_apis and jack_apis[0]["devices"], d["audio"]
    assert jack_apis[0]["default_output"] is not None
    midi = {a["api"]: a for a in d["midi"]["apis"]}
    assert midi["jack"]["available"] and "test-keyboard:keys" in midi["jack"]["inputs"]
    assert not d["empty"]


@pytest.mark.timeout(60)
def test_devices_without_any_server_says_so_and_exits_0():
    env = dict(os.environ, JACK_DEFAULT_SERVER="dlsynth-no-such-server", JACK_NO_START_SERVER="1")
    d = _devices_json(env)
    midi = {a["api"]: a for a in d["midi"]["apis"]}
    if "jack" in midi:
        assert not midi["jack"]["available"] and "JACK" in midi["jack"]["error"]
    for api in midi.values():
        assert api["available"] or api["error"]  # one line for each API that cannot be opened
