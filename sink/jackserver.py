"""A JACK server for measuring the live path where there is no sound card.

`dlsynth bench` needs a real, clocked audio graph: JACK with its dummy backend gives one on
any Linux machine (see ../shared/RIG.md). This module finds a running server or starts a
dummy one with a unique name, and keeps PortAudio (under sounddevice) in step with it:

- PortAudio looks for JACK only when it is initialised: `portaudio_reinit` re-initialises it
  after a server has started.
- PortAudio must be terminated before the server goes away (a server that dies first makes
  PortAudio abort the process at exit): `DummyServer.stop` terminates it first.

Nothing here imports sounddevice or JACK-Client at module level.
"""

from __future__ import annotations

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

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02

_serial = itertools.count(1)

INSTALL_HINT = ("install JACK with `apt-get install --no-install-recommends jackd2 libjack-jackd2-0` "
                "(Debian/Ubuntu) or name a running server with --jack-server")


class JackUnavailable(Exception):
    """No JACK server can be used or started (one line, for the user)."""


def _jack_env(name: str) -> dict[str, str]:
    env = dict(os.environ)
    env["JACK_DEFAULT_SERVER"] = name
    env["JACK_NO_START_SERVER"] = "1"
    return env


@contextlib.contextmanager
def _environ(**values: str | None):
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet_stderr():
    """libjack writes its complaints ("Cannot connect to server socket") straight to fd 2:
    hide them while looking for a server (DLSYNTH_DEBUG=1 shows them)."""
    if os.environ.get("DLSYNTH_DEBUG") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def probe_server(name: str) -> tuple[int, int] | None:
    """(sample rate, period) of the running JACK server `name`, or None if none answers.

    Uses JACK-Client when it is installed (no subprocess), else ``jack_lsp`` to see whether
    the server is up (the rate and period are then unknown: (0, 0))."""
    try:
        import jack  # noqa: PLC0415  (optional: JACK-Client)
    except ImportError:
        jack = None
    if jack is not None:
        with _environ(JACK_NO_START_SERVER="1"), _quiet_stderr():
            try:
                c = jack.Client(f"dlsynth-check{os.getpid()}", servername=name, no_start_server=True)
            except jack.JackError:
                return None
        try:
            return int(c.samplerate), int(c.blocksize)
        finally:
            c.close()
    if shutil.which("jack_lsp") is None:
        return None
    r = subprocess.run(["jack_lsp"], env=_jack_env(name), capture_output=True, text=True, timeout=10)
    return (0, 0) if r.returncode == 0 else None


class DummyServer:
    """``jackd -n NAME -d dummy -r RATE -p PERIOD``, started with a unique name and stopped
    cleanly (PortAudio terminated first, SIGTERM, then SIGKILL, leftover shared memory
    removed). While it runs, this process's environment names it (JACK_DEFAULT_SERVER) so
    every JACK client here (PortAudio, RtMidi, JACK-Client) finds it and none starts another."""

    def __init__(self, rate: int = 48000, period: int = 128, name: str | None = None):
        self.rate = int(rate)
        self.period = int(period)
        self.name = name or f"dlsynth-bench{os.getpid()}-{next(_serial)}"
        self.process: subprocess.Popen | None = None
        self._log = None
        self._saved: dict[str, str | None] = {}

    @property
    def env(self) -> dict[str, str]:
        return _jack_env(self.name)

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

    def start(self, timeout: float = START_TIMEOUT_S) -> "DummyServer":
        exe = shutil.which("jackd")
        if exe is None:
            raise JackUnavailable(f"jackd is not installed: {INSTALL_HINT}")
        self._log = tempfile.NamedTemporaryFile(prefix="dlsynth-jackd-", suffix=".log", delete=False)
        cmd = [exe, "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        kwargs = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        self.process = subprocess.Popen(cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log,
                                        stderr=subprocess.STDOUT, **kwargs)
        self._saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
        os.environ.update(JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = " ".join(self.log_text().split())[-300:]
                self.stop()
                raise JackUnavailable(f"jackd exited while starting: {log}")
            if probe_server(self.name) is not None:
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise JackUnavailable(f"jackd {self.name} did not become ready in {timeout:.0f} s")
            time.sleep(POLL_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        proc = self.process
        if proc is None:
            return
        portaudio_terminate()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.process = None
        for pattern in (f"/dev/shm/jack_sem.*_{self.name}_*", f"/dev/shm/jack_{self.name}_*"):
            for path in glob.glob(pattern):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        self._saved = {}
        if self._log is not None:
            self._log.close()
            with contextlib.suppress(OSError):
                os.unlink(self._log.name)
            self._log = None

    def __enter__(self) -> "DummyServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


# ----------------------------------------------------------------------------- PortAudio
def portaudio_terminate() -> None:
    """Terminate PortAudio completely (if sounddevice is loaded)."""
    sd = sys.modules.get("sounddevice")
    if sd is None:
        return
    while getattr(sd, "_initialized", 0) > 0:
        sd._terminate()


def portaudio_reinit():
    """Re-initialise PortAudio so it sees the JACK server running now; returns sounddevice."""
    with _environ(JACK_NO_START_SERVER="1"):
        import sounddevice as sd  # noqa: PLC0415

        portaudio_terminate()
        sd._initialize()
    return sd


def jack_output_device(sd) -> int:
    """PortAudio's default output device on its JACK host API."""
    for api in sd.query_hostapis():
        if "JACK" in api["name"]:
            dev = api["default_output_device"]
            if dev is not None and dev >= 0:
                return int(dev)
            raise JackUnavailable("PortAudio's JACK host API has no output device")
    raise JackUnavailable("PortAudio has no JACK host API (is libportaudio2 built with JACK?)")
