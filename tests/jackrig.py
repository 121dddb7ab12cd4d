"""A JACK server with the dummy backend, for testing the live path on a machine with no sound card.

The dummy backend gives a real, clocked audio graph: PortAudio (under sounddevice) and RtMidi
(under python-rtmidi) both speak JACK, and a JACK client can capture what dlsynth plays.
See ../shared/RIG.md for what was learnt setting this up.

Use the ``jack_server`` fixture (import it into the test module):

    from tests.jackrig import jack_server  # noqa: F401  (a pytest fixture)

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
import glob
import itertools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

SAMPLE_RATE = 48_000
PERIOD = 512  # frames: functional tests use 512 (RIG.md: 128 sees occasional xruns here)
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


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_prctl = _load_prctl()  # looked up here: the child after fork must not import anything
_PR_SET_PDEATHSIG = 1


def _set_pdeathsig() -> None:
    """Runs in the child between fork and exec: die (SIGTERM) when the test process dies."""
    _prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


# The environment and PortAudio helpers are the application's own (sink/jackserver.py,
# which `dlsynth bench` uses); the test rig shares them rather than keeping a copy.
from dlsynth.sink.jackserver import jack_output_device as jack_hostapi_output_device  # noqa: E402,F401
from dlsynth.sink.jackserver import portaudio_reinit as portaudio_rescan  # noqa: E402,F401
from dlsynth.sink.jackserver import portaudio_terminate as portaudio_release  # noqa: E402,F401


# ----------------------------------------------------------------------------- the server
class JackServer:
    """``jackd -n NAME -d dummy -r RATE -p PERIOD`` with a unique NAME, started and stopped cleanly."""

    def __init__(self, rate: int = SAMPLE_RATE, period: int = PERIOD, name: str | None = None) -> None:
        self.rate = int(rate)
        self.period = int(period)
        self.name = name or f"dlsynth{os.getpid()}n{next(_counter)}"
        self.process: subprocess.Popen | None = None
        self._log = None
        self._saved_env: dict[str, str | None] = {}
        self.startup_seconds: float | None = None

    # --- environment for subprocesses (jack_lsp, jack_connect, helper programs)
    @property
    def env(self) -> dict[str, str]:
        e = dict(os.environ)
        e["JACK_DEFAULT_SERVER"] = self.name
        e["JACK_NO_START_SERVER"] = "1"
        return e

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_text(self) -> str:
        if self._log is None:
            return ""
        try:
            self._log.flush()
            with open(self._log.name, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self, timeout: float = START_TIMEOUT_S) -> "JackServer":
        if self.running:
            return self
        exe = jackd_path()
        if exe is None:
            raise FileNotFoundError(SKIP_REASON)
        prune_stale_servers()
        self._log = tempfile.NamedTemporaryFile(prefix=f"jackd-{self.name}-", suffix=".log", delete=False)
        cmd = [exe, "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        t0 = time.monotonic()
        self.process = subprocess.Popen(
            cmd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_set_pdeathsig if _prctl is not None else None,
        )
        _running.add(self)
        # Point this process's JACK clients at the new server.
        self._saved_env = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
        os.environ["JACK_DEFAULT_SERVER"] = self.name
        os.environ["JACK_NO_START_SERVER"] = "1"
        try:
            self._wait_ready(t0 + timeout)
        except BaseException:
            log = self.log_text()
            status = self.process.poll()
            self.stop()
            if status is not None:
                raise RuntimeError(f"jackd exited with status {status} while starting:\n{log}") from None
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _wait_ready(self, deadline: float) -> None:
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("jackd exited while starting")
            # jack_lsp rather than jack_wait (which polls only once a second).
            left = max(deadline - time.monotonic(), 0.5)
            r = subprocess.run(["jack_lsp"], env=self.env, capture_output=True, text=True, timeout=left)
            if r.returncode == 0 and "system:" in r.stdout:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"jackd {self.name} not ready in time:\n{self.log_text()}")
            time.sleep(POLL_INTERVAL_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """Terminate PortAudio, then the server (SIGTERM, then SIGKILL); clean /dev/shm."""
        proc = self.process
        if proc is None:
            return None
        portaudio_release()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        _running.discard(self)
        if proc.returncode != 0:
            prune_stale_servers()  # it died rather than stopped: free its registry slot
        for pattern in (f"/dev/shm/jack_sem.*_{self.name}_*", f"/dev/shm/jack_{self.name}_*"):
            for path in glob.glob(pattern):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved_env = {}
        if self._log is not None:
            self._log.close()
            with contextlib.suppress(OSError):
                os.unlink(self._log.name)
            self._log = None
        if "sounddevice" in sys.modules:
            portaudio_rescan()  # usable again, without this server
        return proc.returncode

    # --- helpers
    def lsp(self, *args: str) -> list[str]:
        """Port names (``jack_lsp ARGS``), one per line."""
        r = subprocess.run(["jack_lsp", *args], env=self.env, capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise RuntimeError(f"jack_lsp failed: {r.stderr.strip()}")
        return [line for line in r.stdout.splitlines() if line and not line.startswith((" ", "\t"))]

    def connect(self, source: str, destination: str) -> None:
        r = subprocess.run(["jack_connect", source, destination], env=self.env, capture_output=True, text=True, timeout=10)
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

    def __exit__(self, *exc) -> None:
        self.stop()

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
    state = {"buf": np.zeros(int(seconds * SAMPLE_RATE) + 4 * PERIOD, np.float32), "pos": 0, "armed": False, "xruns": 0, "stall": 0.0}

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


_REGISTRY = "/dev/shm/jack-shm-registry"
_REGISTRY_MAGIC = b"KCAJ"
_SERVER_SLOTS = 8  # JACK2's MAX_SERVERS
_SLOT_BYTES = 264  # jack_shm_server_t: pid_t pid; char name[256]; padded
_SLOTS_AT = 24  # after the header's magic, protocol, type, size, hdr_len, entry_len


def prune_stale_servers(path: str = _REGISTRY) -> int:
    """Free the registry slots of JACK servers that died without unregistering (killed by
    a test on purpose, or by SIGKILL). JACK2 only reclaims a dead server's slot when a new
    server of the SAME name starts, and holds 8 slots, so test servers with unique names
    that die hard would, after eight, stop any server from starting ("Too many servers
    already active"). Returns how many slots were freed; leaves a file it does not
    recognise alone."""
    import struct

    try:
        with open(path, "r+b") as f:
            head = f.read(_SLOTS_AT + _SERVER_SLOTS * _SLOT_BYTES)
            if head[:4] != _REGISTRY_MAGIC or len(head) < _SLOTS_AT + _SERVER_SLOTS * _SLOT_BYTES:
                return 0
            freed = 0
            for i in range(_SERVER_SLOTS):
                off = _SLOTS_AT + i * _SLOT_BYTES
                pid = struct.unpack_from("<i", head, off)[0]
                name = head[off + 4:off + 4 + 256].split(b"\0")[0]
                if pid <= 0 or not name.startswith(b"jack-"):
                    continue
                try:
                    os.kill(pid, 0)
                    continue  # alive
                except ProcessLookupError:
                    pass
                except PermissionError:
                    continue  # someone else's, alive
                f.seek(off)
                f.write(b"\0" * (4 + 256))
                freed += 1
            return freed
    except OSError:
        return 0
