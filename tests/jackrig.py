"""A JACK server with the dummy backend, for testing the live path on a machine with no sound card.

The dummy backend gives a real, clocked audio graph: PortAudio (under sounddevice) and RtMidi
(under python-rtmidi) both speak JACK, and a JACK client can capture what dlsynth plays. The
server is the application's own launcher (`dlsynth.apps.jackserver.DummyServer`); this rig
adds the pytest fixture, port helpers and a capture client.

Use the ``jack_server`` fixture (tests/conftest.py makes it available to every module):

    @pytest.mark.timeout(60)
    def test_something(jack_server):
        sd = jack_server.sounddevice()      # PortAudio re-initialised: it sees the server
        ...

or ``with JackServer() as server:`` outside pytest. While a server runs, the process
environment carries ``JACK_DEFAULT_SERVER=<its unique name>`` and ``JACK_NO_START_SERVER=1``,
so every JACK client in the process (PortAudio, RtMidi, JACK-Client) finds this server and
none of them starts another.

Order matters:
- PortAudio looks for JACK once, when it is initialised (at ``import sounddevice``): start
  the server first, then call ``portaudio_rescan()`` (or ``server.sounddevice()``).
- Stop every PortAudio stream and terminate PortAudio before the server goes away (a server
  that dies first makes PortAudio abort the process at exit, and closing a stream after it
  died can hang). ``JackServer.stop()`` does the terminating: it calls
  ``portaudio_release()`` if sounddevice is loaded, stops the server, then re-initialises
  PortAudio (without JACK) so later users of sounddevice still work.
- python-rtmidi holds the GIL while it waits on the JACK server: open and close MIDI ports
  before an audio stream with a Python callback starts, or after it stops.

Cleanup is thorough even on failure: the fixture stops the server in its teardown, an
``atexit`` hook stops any server still running, and on Linux jackd is asked to die with the
process that started it (PR_SET_PDEATHSIG). Stopping is SIGTERM (a clean shutdown that
removes jackd's shared memory), SIGKILL after a timeout, and then the server's
``/dev/shm/jack_sem.*`` and ``/dev/shm/jack_<name>_*`` files are removed if left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

SAMPLE_RATE = 48_000
PERIOD = 512  # frames: functional tests use 512 (at 128 the dummy driver itself xruns now and then on 2 cores)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.02

_counter = itertools.count(1)
_running: set["JackServer"] = set()


def jackd_path() -> str | None:
    """The jackd executable, or None if JACK is not installed."""
    return shutil.which("jackd")


def jack_tools_available() -> bool:
    return all(shutil.which(t) for t in ("jackd", "jack_lsp", "jack_connect"))


SKIP_REASON = (
    "jackd (JACK2) is not installed: the live-path tests need a JACK dummy server. "
    "Install it with `apt-get install -y --no-install-recommends jackd2 libjack-jackd2-0` "
    "(dev/setup.sh does this in test mode, and CI installs it)"
)


def in_ci() -> bool:
    """CI=true (or 1) in the environment: a test whose tool is missing fails there, never skips."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip the test for lack of a tool; under CI (see `in_ci`) fail it instead."""
    if in_ci():
        pytest.fail(f"{reason} (CI is set: a missing tool fails the test)", pytrace=False)
    pytest.skip(reason)


# The server, the environment and PortAudio helpers are the application's own.
from dlsynth.apps.jackserver import DummyServer, JackUnavailable  # noqa: E402
from dlsynth.apps.jackserver import jack_output_device as jack_hostapi_output_device  # noqa: E402,F401
from dlsynth.apps.jackserver import portaudio_reinit as portaudio_rescan  # noqa: E402
from dlsynth.apps.jackserver import portaudio_terminate as portaudio_release  # noqa: E402,F401


# ----------------------------------------------------------------------------- the server
#: What jackd's log says when the dummy driver woke too late.
DRIVER_LATE = "JackTimedDriver::Process XRun"


class JackServer(DummyServer):
    """The application's dummy server (``jackd -n NAME -d dummy``, unique NAME), with what the
    tests need beside it: port listing and connections, and a stop at exit for any left."""

    def __init__(self, rate: int = SAMPLE_RATE, period: int = PERIOD, name: str | None = None) -> None:
        super().__init__(rate, period, name or f"dlsynth{os.getpid()}n{next(_counter)}")

    def start(self, timeout: float = START_TIMEOUT_S) -> "JackServer":
        if jackd_path() is None:
            raise FileNotFoundError(SKIP_REASON)
        _running.add(self)
        try:
            super().start(timeout)
        except JackUnavailable as exc:
            _running.discard(self)
            raise RuntimeError(str(exc)) from None
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        status = super().stop(timeout)
        _running.discard(self)
        if status is not None and "sounddevice" in sys.modules:
            portaudio_rescan()  # usable again, without this server
        return status

    def driver_late_count(self) -> int:
        """How often jackd's dummy driver has logged its own clock thread waking too late (the
        machine's noise: that thread runs above every client)."""
        return self.log_text().count(DRIVER_LATE)

    def lsp(self, *args: str) -> list[str]:
        """Port names (``jack_lsp ARGS``), one per line."""
        r = subprocess.run(["jack_lsp", *args], env=self.env, capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError(f"jack_lsp failed: {r.stderr.strip()}")
        return [line for line in r.stdout.splitlines() if line and not line.startswith((" ", "\t"))]

    def connect(self, source: str, destination: str) -> None:
        r = subprocess.run(
            ["jack_connect", source, destination], env=self.env, capture_output=True, text=True, timeout=10
        )
        if r.returncode != 0:
            raise RuntimeError(f"jack_connect {source} {destination} failed: {(r.stderr or r.stdout).strip()}")

    def wait_for_port(self, name: str, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while name not in self.lsp():
            if time.monotonic() > deadline:
                raise RuntimeError(f"JACK port {name!r} did not appear within {timeout} s")
            time.sleep(POLL_INTERVAL_S)

    def sounddevice(self):
        """sounddevice with PortAudio re-initialised to see this server."""
        if not self.running:
            raise RuntimeError("the JACK server is not running")
        return portaudio_rescan()

    def __enter__(self) -> "JackServer":
        return self.start()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"JackServer({self.name!r}, {self.rate} Hz, {self.period} frames, {state})"


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


@pytest.fixture
def jack_server():
    """A running JACK dummy server (48 kHz, 512 frames), stopped after the test."""
    if not jack_tools_available():
        pytest.skip(SKIP_REASON)
    server = JackServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# ----------------------------------------------------------------------------- capture
def capture_client(server: JackServer, seconds: float, name: str = "dlsynth-capture"):
    """A JACK-Client client with one input port recording into a preallocated array."""
    jack = pytest.importorskip("jack", reason="JACK-Client is not installed (pip install JACK-Client)")
    client = jack.Client(name, servername=server.name, no_start_server=True)
    port = client.inports.register("in")
    state = {
        "buf": np.zeros(int(seconds * SAMPLE_RATE) + 4 * PERIOD, np.float32),
        "pos": 0,
        "armed": False,
        "xruns": 0,
        "stall": 0.0,
    }

    @client.set_process_callback
    def process(frames):
        if state["stall"]:
            delay, state["stall"] = state["stall"], 0.0
            time.sleep(delay)
        if state["armed"]:
            buf, i = state["buf"], state["pos"]
            n = min(frames, len(buf) - i)
            if n > 0:
                buf[i : i + n] = port.get_array()[:n]
                state["pos"] = i + n

    @client.set_xrun_callback
    def xrun(delay_usecs):
        state["xruns"] += 1

    return client, port, state
