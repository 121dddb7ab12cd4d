"""Running `dlsynth play` the way a user does, for the live end-to-end tests
(tests/test_live_session.py): a JACK dummy server of its own, dlsynth as a subprocess, the
probe (tests/liveprobe.py) as another subprocess sending MIDI and capturing the audio.

Every wait has a timeout and every process started here is killed at the end of the test
(`Session.close`), whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from tests import jackrig

REPO = Path(__file__).resolve().parents[1]
FS = jackrig.SAMPLE_RATE
PLAY_ARGS = ["--midi-api", "jack", "--virtual-port", "keys", "--no-status"]
PORT_TIMEOUT_S = 30.0  # dlsynth's first start can build the built-in bank (cached after)


def child_env(server_name: str | None, **extra: str) -> dict[str, str]:
    """The environment for a process on server ``server_name``: no DLSYNTH_DEBUG (tracebacks
    are a failure here), the repository importable, the venv's scripts on PATH."""
    env = dict(os.environ)
    env.pop("DLSYNTH_DEBUG", None)
    if server_name is not None:
        env["JACK_DEFAULT_SERVER"] = server_name
        env["JACK_NO_START_SERVER"] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    env.update(extra)
    return env


def dlsynth_script() -> str:
    """The `dlsynth` console script of the interpreter running the tests (the venv's)."""
    return os.path.join(os.path.dirname(sys.executable), "dlsynth")


# ----------------------------------------------------------------------------- messages
def note_on(ch: int, key: int, vel: int = 100) -> list[int]:
    return [0x90 | ch, key, vel]


def note_off(ch: int, key: int) -> list[int]:
    return [0x80 | ch, key, 0]


def program(ch: int, prog: int) -> list[int]:
    return [0xC0 | ch, prog]


def cc(ch: int, num: int, val: int) -> list[int]:
    return [0xB0 | ch, num, val]


# ----------------------------------------------------------------------------- processes
class Proc:
    """A subprocess with stdout and stderr in files (never a full pipe), or stdout read
    line by line as JSON events (``events=True``) by a thread."""

    def __init__(
        self, cmd, env, cwd, workdir: Path, label: str, events: bool = False, stdin: bool = False, shell: bool = False
    ):
        self.label = label
        self.cmd = cmd
        self.err_path = workdir / f"{label}.stderr"
        self.out_path = workdir / f"{label}.stdout"
        self._err = open(self.err_path, "wb")
        self._out = None if events else open(self.out_path, "wb")
        self.events: list[dict] = []
        self._q: queue.Queue = queue.Queue()
        self.t_start = time.monotonic()
        self.t_end: float | None = None
        self.p = subprocess.Popen(
            cmd,
            env=env,
            cwd=str(cwd),
            shell=shell,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if events else self._out,
            stderr=self._err,
            text=events or None,
            bufsize=1 if events else -1,
            start_new_session=True,
        )
        if events:
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()

    def _read(self) -> None:
        for line in self.p.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"event": "text", "text": line}
            ev["_t"] = time.monotonic()
            self.events.append(ev)
            self._q.put(ev)
        self._q.put(None)

    def wait_event(self, name: str, timeout: float) -> dict:
        """The next event called ``name`` (earlier ones already seen count too)."""
        for ev in self.events:
            if ev.get("event") == name and not ev.get("_taken"):
                ev["_taken"] = True
                return ev
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{self.label}: no {name!r} event within {timeout} s; "
                    f"events {self.brief_events()}; stderr: {self.stderr()[-2000:]}"
                )
            try:
                ev = self._q.get(timeout=min(left, 0.2))
            except queue.Empty:
                continue
            if ev is None:
                self._q.put(None)
                raise RuntimeError(
                    f"{self.label} ended (status {self.p.poll()}) before a {name!r} event; "
                    f"events {self.brief_events()}; stderr: {self.stderr()[-2000:]}"
                )
            if ev.get("event") == "error":
                raise RuntimeError(f"{self.label}: {ev.get('text')}")
            if ev.get("event") == name and not ev.get("_taken"):
                ev["_taken"] = True
                return ev

    def brief_events(self) -> list:
        return [{k: v for k, v in e.items() if not k.startswith("_")} for e in self.events][-12:]

    def send(self, line: str) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self.p.stdin.write(line + "\n")
            self.p.stdin.flush()

    def signal(self, sig) -> None:
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.p.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if it is still running after ``timeout`` seconds."""
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.t_end is None:
            self.t_end = time.monotonic()
        return rc

    def poll_until_exit(self, timeout: float, step: float = 0.01) -> int | None:
        """Like wait, but notes the end time to within ``step``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.p.poll()
            if rc is not None:
                self.t_end = time.monotonic()
                return rc
            time.sleep(step)
        return None

    @property
    def returncode(self):
        return self.p.poll()

    def stderr(self) -> str:
        with contextlib.suppress(OSError):
            self._err.flush()
            return self.err_path.read_text(errors="replace")
        return ""

    def stdout(self) -> str:
        if self._out is None:
            return ""
        with contextlib.suppress(OSError):
            self._out.flush()
            return self.out_path.read_text(errors="replace")
        return ""

    def kill(self) -> None:
        """SIGKILL the process group (the process and anything it started)."""
        if self.p.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.p.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.p.wait(5)

    def close(self) -> None:
        self.kill()
        for f in (self._err, self._out, self.p.stdin, self.p.stdout):
            if f is not None:
                with contextlib.suppress(Exception):
                    f.close()


class ProbeProc(Proc):
    """tests/liveprobe.py in a subprocess."""

    def __init__(self, server_name: str, workdir: Path, label: str = "probe", **cfg):
        self.out_npz = workdir / f"{label}.npz"
        cfg.setdefault("name", label)
        if "schedule" in cfg:  # in time order, as the probe plays it (stable: ties keep their order)
            cfg["schedule"] = sorted(([float(t), list(b)] for t, b in cfg["schedule"]), key=lambda e: e[0])
        cfg = {"server": server_name, "out": str(self.out_npz), **cfg}
        cfg_path = workdir / f"{label}.json"
        cfg_path.write_text(json.dumps(cfg))
        self.cfg = cfg
        super().__init__(
            [sys.executable, "-m", "tests.liveprobe", str(cfg_path)],
            child_env(server_name),
            REPO,
            workdir,
            label,
            events=True,
            stdin=True,
        )

    def mark(self, name: str, timeout: float = 5.0) -> int:
        """The graph frame now, as the probe's JACK client sees it."""
        self.send(f"mark {name}")
        return int(self.wait_event("mark", timeout)["frame"])

    def results(self, timeout: float) -> dict:
        """Wait for the probe to finish and load what it saved."""
        ev = self.wait_event("done", timeout)
        self.wait(5)
        with np.load(self.out_npz) as z:
            res = {k: (z[k].item() if z[k].ndim == 0 else z[k]) for k in z.files}
        res["done"] = ev
        res["marks"] = dict(zip([str(s) for s in res["marks_name"]], [int(f) for f in res["marks_frame"]]))
        return res


class Session:
    """One test's processes and temporary files; `close` kills whatever still runs."""

    def __init__(self, workdir: Path, server: "jackrig.JackServer | None" = None):
        self.workdir = Path(workdir)
        self.server = server
        self.procs: list[Proc] = []

    @property
    def server_name(self) -> str:
        return self.server.name

    def dlsynth(
        self,
        *args: str,
        label: str = "dlsynth",
        cmd: list[str] | None = None,
        server_name: str | None = None,
        **env_extra,
    ) -> Proc:
        """`dlsynth play ARGS` as a subprocess: ``python -m dlsynth play ...`` unless ``cmd``."""
        cmd = cmd or [sys.executable, "-m", "dlsynth", "play", *args]
        p = Proc(cmd, child_env(server_name or self.server_name, **env_extra), REPO, self.workdir, label)
        self.procs.append(p)
        return p

    def shell(self, script: str, label: str, server_name: str | None = None, **env_extra) -> Proc:
        env = child_env(server_name, **env_extra)
        if server_name is None:
            env.pop("JACK_DEFAULT_SERVER", None)
            env.pop("JACK_NO_START_SERVER", None)
        p = Proc(["bash", "-c", script], env, REPO, self.workdir, label)
        self.procs.append(p)
        return p

    def probe(self, label: str = "probe", server_name: str | None = None, **cfg) -> ProbeProc:
        p = ProbeProc(server_name or self.server_name, self.workdir, label, **cfg)
        self.procs.append(p)
        return p

    def close(self) -> None:
        for p in reversed(self.procs):
            p.close()


def wait_for(pred, timeout: float, what: str, step: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        r = pred()
        if r:
            return r
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not within {timeout} s")
        time.sleep(step)


def jack_ports(server_name: str, *args: str) -> list[str] | None:
    """``jack_lsp ARGS`` on that server: port names, or None if it fails (no server)."""
    try:
        r = subprocess.run(["jack_lsp", *args], env=child_env(server_name), capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    return [line for line in r.stdout.splitlines() if line and not line[0].isspace()]


def jack_connections(server_name: str) -> str:
    """``jack_lsp -c`` as text (each port, then the ports connected to it, indented)."""
    try:
        r = subprocess.run(["jack_lsp", "-c"], env=child_env(server_name), capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return "(jack_lsp timed out)"
    return r.stdout if r.returncode == 0 else f"(jack_lsp failed: {r.stderr.strip()})"


def jack_port_table(server_name: str) -> list[tuple[str, str, str]] | None:
    """Every port on that server as (name, "input"|"output", "audio"|"midi"), from
    ``jack_lsp -p -t``; None if the server does not answer."""
    try:
        r = subprocess.run(
            ["jack_lsp", "-p", "-t"], env=child_env(server_name), capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        return None
    if r.returncode != 0:
        return None
    table: list[list[str]] = []
    for line in r.stdout.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            table.append([line, "", ""])
        elif table:
            text = line.strip()
            if text.startswith("properties:"):
                table[-1][1] = "output" if "output" in text else "input"
            elif "audio" in text:
                table[-1][2] = "audio"
            elif "midi" in text:
                table[-1][2] = "midi"
    return [tuple(t) for t in table]


def client_audio_outputs(server_name: str) -> list[str]:
    """Audio output ports of clients other than "system" (dlsynth's, in these tests)."""
    return [
        n
        for n, d, k in jack_port_table(server_name) or []
        if d == "output" and k == "audio" and not n.startswith("system:")
    ]


def stderr_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]
