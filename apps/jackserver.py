"""A JACK server with the dummy backend: a real, clocked audio graph where there is no sound card.

The one launcher of such servers: `dlsynth bench` starts one with a unique name, the test rig
(tests/jackrig.py) builds on `DummyServer`, and ``python -m dlsynth.apps.jackserver
start|stop|status`` (what dev/jack.sh runs) keeps one running for `dlsynth play`. The dummy
backend runs its cycles on a timer; with 128 frames or fewer a busy 2-core machine sees
occasional xruns from the server's own driver, so functional tests use 512. This module also
keeps PortAudio (under sounddevice) in step with the server:

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

#: the name ``python -m dlsynth.apps.jackserver start`` (dev/jack.sh) gives its server
DEFAULT_NAME = "dlsynth-dummy"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.02

_serial = itertools.count(1)

INSTALL_HINT = (
    "install JACK with `apt-get install --no-install-recommends jackd2 libjack-jackd2-0` "
    "(Debian/Ubuntu) or name a running server with --jack-server"
)

#: How a user with no sound card gets a clocked audio graph (said by `devices` and `play`).
DUMMY_SERVER_HINT = (
    'a JACK server with its dummy backend: `eval "$(python -m dlsynth.apps.jackserver start)"` '
    "(`python -m dlsynth.apps.jackserver stop` stops it)"
)


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
        import jack
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
        self.startup_seconds: float | None = None  # from the launch to the first client connecting
        self.returncode: int | None = None  # the server's exit status, once stopped
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
        """Launch the server and wait until a client can connect; it dies with this process."""
        if self.running:
            return self
        exe = shutil.which("jackd")
        if exe is None:
            raise JackUnavailable(f"jackd is not installed: {INSTALL_HINT}")
        prune_stale_servers()
        t0 = time.monotonic()
        self._log = tempfile.NamedTemporaryFile(prefix="dlsynth-jackd-", suffix=".log", delete=False)
        cmd = [exe, "-n", self.name, "-d", "dummy", "-r", str(self.rate), "-p", str(self.period)]
        kwargs = {}
        if sys.platform.startswith("linux"):
            kwargs["preexec_fn"] = _die_with_parent
        self.process = subprocess.Popen(
            cmd, env=self.env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, **kwargs
        )
        self._saved = {k: os.environ.get(k) for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER")}
        os.environ.update(JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                log = " ".join(self.log_text().split())[-300:]
                self.stop()
                raise JackUnavailable(f"jackd exited while starting: {log}")
            if probe_server(self.name) is not None:
                self.startup_seconds = time.monotonic() - t0
                return self
            if time.monotonic() > deadline:
                self.stop()
                raise JackUnavailable(f"jackd {self.name} did not become ready in {timeout:.0f} s")
            time.sleep(POLL_S)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> int | None:
        """PortAudio terminated, then the server (SIGTERM, then SIGKILL), its shared memory
        removed; returns its exit status (None if it was not running)."""
        proc = self.process
        if proc is None:
            return None
        portaudio_terminate()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        self.process = None
        self.returncode = proc.returncode
        if proc.returncode != 0:
            prune_stale_servers()  # it died rather than stopped: free its registry slot
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
        return proc.returncode

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
        import sounddevice as sd

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


# ----------------------------------------------------------------------------- JACK's server registry
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
                name = head[off + 4 : off + 4 + 256].split(b"\0")[0]
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


# ----------------------------------------------------------------------------- a server that stays up
def _rundir() -> str:
    return os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()


def _pidfile(name: str) -> str:
    return os.path.join(_rundir(), f"dlsynth-jackd-{name}.pid")


def _running_pid(name: str) -> int | None:
    try:
        with open(_pidfile(name)) as f:
            pid = int(f.read().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def start_detached(name: str, rate: int, period: int, timeout: float = START_TIMEOUT_S) -> int:
    """Start ``jackd -n NAME -d dummy`` in its own session (it outlives this process), or find
    the one already started; returns its pid. Raises JackUnavailable with the reason."""
    pid = _running_pid(name)
    if pid is not None:
        return pid
    exe = shutil.which("jackd")
    if exe is None:
        raise JackUnavailable(f"jackd is not installed: {INSTALL_HINT}")
    prune_stale_servers()
    log_path = os.path.join(_rundir(), f"dlsynth-jackd-{name}.log")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [exe, "-n", name, "-d", "dummy", "-r", str(rate), "-p", str(period)],
            env=_jack_env(name),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    with open(_pidfile(name), "w") as f:
        f.write(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout
    while probe_server(name) is None:
        if proc.poll() is not None:
            raise JackUnavailable(f"jackd exited while starting, see {log_path}")
        if time.monotonic() > deadline:
            raise JackUnavailable(f"jackd {name} not ready after {timeout:.0f} s, see {log_path}")
        time.sleep(POLL_S)
    return proc.pid


def stop_detached(name: str, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop the server `start_detached` started (SIGTERM, then SIGKILL) and remove what it left."""
    pid = _running_pid(name)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _running_pid(name) is not None:
            time.sleep(0.05)
        if _running_pid(name) is not None:
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.unlink(_pidfile(name))
    for pattern in (f"/dev/shm/jack_sem.*_{name}_*", f"/dev/shm/jack_{name}_*"):
        for path in glob.glob(pattern):
            with contextlib.suppress(OSError):
                os.unlink(path)


def main(argv: list[str] | None = None) -> int:
    """``python -m dlsynth.apps.jackserver start|stop|status``: a dummy server for `dlsynth play`.
    `start` prints the shell line that points JACK clients at it (for ``eval``)."""
    import argparse

    ap = argparse.ArgumentParser(
        prog="dev/jack.sh",
        description="a JACK server with the dummy backend, for trying `dlsynth play` on a machine with no sound card",
    )
    ap.add_argument("action", choices=("start", "stop", "status"))
    ap.add_argument("--name", default=os.environ.get("JACK_NAME", DEFAULT_NAME))
    ap.add_argument("--rate", type=int, default=int(os.environ.get("JACK_RATE", "48000")))
    ap.add_argument("--period", type=int, default=int(os.environ.get("JACK_PERIOD", "512")))
    a = ap.parse_args(argv)
    try:
        if a.action == "start":
            pid = start_detached(a.name, a.rate, a.period)
            print(f"jack.sh: server {a.name} running (pid {pid}, {a.rate} Hz, {a.period} frames)", file=sys.stderr)
            print(f"export JACK_DEFAULT_SERVER={a.name} JACK_NO_START_SERVER=1")
        elif a.action == "stop":
            stop_detached(a.name)
        else:
            pid = _running_pid(a.name)
            if pid is None:
                print(f"server {a.name} not running")
                return 1
            got = probe_server(a.name)
            shape = f", {got[0]} Hz, {got[1]} frames" if got and got[0] else ""
            print(f"server {a.name} running (pid {pid}{shape})")
    except JackUnavailable as exc:
        print(f"jack.sh: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
