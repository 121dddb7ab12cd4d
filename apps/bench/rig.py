"""The graph the bench measures in: a JACK server (found or started), a control client that
lists and connects ports, and the synths as a user runs them, each in its own process:
`dlsynth play` on JACK MIDI and PortAudio's JACK output, and FluidSynth on JACK."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from ..errors import UserError

PORT_TIMEOUT_S = 30.0  # a synth's ports appear within this (bank loading on a busy machine)
STOP_TIMEOUT_S = 15.0
SERVER_DEFAULT = "default"
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class JackRig:
    """The JACK server and a control client (no process callback: it only lists and
    connects). auto: the running server JACK_DEFAULT_SERVER names (or "default"), else a
    dummy server started here with `period` frames; any other name must be running."""

    def __init__(self, choice: str, rate: int, period: int):
        self.choice, self.want_rate, self.want_period = choice, int(rate), int(period)
        self.server = None
        self.name = None
        self.started = False
        self.ctl = None
        self.rate = self.period = None

    def __enter__(self) -> "JackRig":
        try:
            import jack
        except ImportError:
            raise UserError("the JACK-Client package is needed: pip install JACK-Client") from None
        from dlsynth.apps.jackserver import DummyServer, JackUnavailable, probe_server

        try:
            if self.choice != "auto":
                if probe_server(self.choice) is None:
                    raise UserError(f"no JACK server named {self.choice!r} is running")
                self.name = self.choice
            else:
                name = os.environ.get("JACK_DEFAULT_SERVER") or SERVER_DEFAULT
                if probe_server(name) is not None:
                    self.name = name
                else:
                    self.server = DummyServer(rate=self.want_rate, period=self.want_period).start()
                    self.name, self.started = self.server.name, True
            os.environ["JACK_DEFAULT_SERVER"] = self.name
            os.environ["JACK_NO_START_SERVER"] = "1"
            self.ctl = jack.Client(f"bench-ctl{os.getpid()}", servername=self.name, no_start_server=True)
        except JackUnavailable as exc:
            self.close()
            raise UserError(str(exc)) from None
        except jack.JackError as exc:
            self.close()
            raise UserError(f"cannot open a JACK client on {self.name}: {exc}") from None
        except BaseException:
            self.close()
            raise
        self.rate, self.period = int(self.ctl.samplerate), int(self.ctl.blocksize)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.ctl is not None:
            try:
                self.ctl.close()
            except Exception:
                pass
            self.ctl = None
        if self.server is not None:
            self.server.stop()
            self.server = None

    @property
    def env(self) -> dict:
        return dict(os.environ, JACK_DEFAULT_SERVER=self.name, JACK_NO_START_SERVER="1")

    def ports(self, **kind) -> set[str]:
        return {p.name for p in self.ctl.get_ports(**kind)}

    def snapshot(self) -> dict:
        return {
            "midi_in": self.ports(is_midi=True, is_input=True),
            "audio_out": self.ports(is_audio=True, is_output=True),
        }

    def wait_synth_ports(
        self, before: dict, proc, midi_suffix: str | None = None, timeout: float = PORT_TIMEOUT_S
    ) -> tuple[str, list[str]]:
        """A new synth's MIDI input (ending with midi_suffix, if given) and its audio outputs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return None, []
            midi = sorted(
                p
                for p in self.ports(is_midi=True, is_input=True) - before["midi_in"]
                if midi_suffix is None or p.endswith(":" + midi_suffix)
            )
            audio = sorted(self.ports(is_audio=True, is_output=True) - before["audio_out"])
            clients = {p.split(":")[0] for p in audio}
            if midi and len(audio) >= 2 and len(clients) == 1:
                return midi[0], audio
            time.sleep(0.05)
        return None, []

    def connect(self, source: str, dest: str) -> None:
        self.ctl.connect(source, dest)

    def loop_delay(self, synth_midi_in: str, synth_audio_out: str) -> int:
        """Frames a loop through the probe adds: when the synth's MIDI input and audio
        output are one JACK client (FluidSynth), probe -> synth -> probe is a loop, which
        JACK runs with one of its two connections a cycle late (whichever it is, the sound
        reaches the probe one period later than it reaches the output port)."""
        same = synth_midi_in.split(":")[0] == synth_audio_out.split(":")[0]
        return self.period if same else 0


def _tail(path: str, chars: int = 400) -> str:
    try:
        with open(path, errors="replace") as f:
            return " ".join(f.read().split())[-chars:]
    except OSError:
        return ""


class _Peer:
    """A synth process on the rig: started, its ports found, stopped."""

    label = "synth"

    def __init__(self, rig: JackRig, workdir: str, tag: str):
        self.rig, self.workdir, self.tag = rig, workdir, tag
        self.proc = None
        self.midi_in = None
        self.audio_out: list[str] = []
        self.err_path = os.path.join(workdir, f"{tag}.stderr")
        self.out_path = os.path.join(workdir, f"{tag}.stdout")

    def _spawn(self, cmd: list[str], midi_suffix: str | None, stdin=subprocess.DEVNULL) -> None:
        before = self.rig.snapshot()
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(
            cmd,
            env=self.rig.env,
            cwd=ROOT,
            stdin=stdin,
            stdout=self._out,
            stderr=self._err,
            text=True,
            preexec_fn=_die_with_parent,
        )
        self.midi_in, self.audio_out = self.rig.wait_synth_ports(before, self.proc, midi_suffix)
        if self.midi_in is None:
            self.kill()
            raise UserError(f"{self.label} did not come up on JACK: {_tail(self.err_path) or 'no ports appeared'}")

    @property
    def listen_port(self) -> str:
        """The output the probe listens to: the right one (left/right, out_0/out_1 sort so)."""
        return self.audio_out[1]

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self._close_files()

    def _close_files(self) -> None:
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None:
                f.close()


def _die_with_parent() -> None:  # in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_SUMMARY = re.compile(
    r"(\d+) blocks, (\d+) xruns, (\d+) MIDI messages \((\d+) late, (\d+) dropped\), "
    r"peak voices (\d+), peak callback load (\d+) %"
)


def parse_play_summary(text: str) -> dict | None:
    """The counters of `dlsynth play`'s last line (blocks, xruns, ... peak callback load)."""
    m = None
    for m in _SUMMARY.finditer(text):
        pass
    if m is None:
        return None
    keys = ("callbacks", "xruns", "midi_in", "late", "dropped", "peak_voices", "peak_load_percent")
    return dict(zip(keys, (int(g) for g in m.groups())))


class PlayProcess(_Peer):
    """`dlsynth play --midi-api jack --virtual-port NAME`, as a user runs it, with the
    probe bank and an event log (every MIDI message as applied: arrival stamp, frame)."""

    label = "dlsynth play"

    def __init__(
        self,
        rig: JackRig,
        workdir: str,
        *,
        bank: str,
        blocksize: int,
        voices: int,
        interpolation: str,
        effects: bool,
        immediate: bool = False,
        latency: float | None = None,
        gain_db: float = 0.0,
    ):
        super().__init__(rig, workdir, "dlsynth")
        self.port = f"bench-in{os.getpid()}"
        self.log_path = os.path.join(workdir, "dlsynth-events.jsonl")
        cmd = [
            sys.executable,
            "-m",
            "dlsynth",
            "play",
            "--midi-api",
            "jack",
            "--no-midi-in",
            "--virtual-port",
            self.port,
            "--blocksize",
            str(blocksize),
            "--rate",
            str(rig.rate),
            "--bank",
            bank,
            "--voices",
            str(voices),
            "--interpolation",
            interpolation,
            "--gain",
            f"{gain_db:g}",
            "--no-status",
            "--event-log",
            self.log_path,
        ]
        if not effects:
            cmd.append("--no-effects")
        if immediate:
            cmd.append("--immediate")
        if latency is not None:
            cmd += ["--latency", f"{latency:.6f}"]
        self.cmd = cmd

    def start(self) -> "PlayProcess":
        self._spawn(self.cmd, self.port)
        return self

    def stop(self) -> dict:
        """Ctrl-C (notes released, tails rung out), then its summary and event log."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_files()
        with open(self.err_path, errors="replace") as f:
            text = f.read()
        return {
            "summary": parse_play_summary(text),
            "events": read_event_log(self.log_path),
            "status": self.proc.returncode,
            "stderr_tail": " ".join(text.split())[-400:],
        }


def read_event_log(path: str) -> list[dict]:
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    except (OSError, ValueError):
        pass
    return rows


def find_fluidsynth() -> str | None:
    return shutil.which("fluidsynth")


class FluidProcess(_Peer):
    """FluidSynth on JACK (audio and MIDI, nothing autoconnected), its shell on stdin."""

    label = "FluidSynth"

    def __init__(
        self,
        rig: JackRig,
        workdir: str,
        *,
        bank: str,
        blocksize: int,
        voices: int,
        effects: bool,
        channels: int = 16,
        gain: float = 1.0,
    ):
        super().__init__(rig, workdir, "fluidsynth")
        exe = find_fluidsynth()
        if exe is None:
            raise UserError("fluidsynth is not installed")
        name = f"bench-fluid{os.getpid()}"
        onoff = "1" if effects else "0"
        self.cmd = [
            exe,
            "-a",
            "jack",
            "-m",
            "jack",
            "-r",
            str(rig.rate),
            "-z",
            str(blocksize),
            "-c",
            "2",
            "-g",
            f"{gain:g}",
            "-R",
            onoff,
            "-C",
            onoff,
            "-K",
            str(channels),
            "-o",
            "audio.jack.autoconnect=0",
            "-o",
            "midi.autoconnect=0",
            "-o",
            f"audio.jack.id={name}",
            "-o",
            f"midi.jack.id={name}",
            "-o",
            f"synth.polyphony={max(int(voices), 16)}",
            "-o",
            "synth.cpu-cores=1",
            bank,
        ]

    def start(self) -> "FluidProcess":
        self._spawn(self.cmd, None, stdin=subprocess.PIPE)
        return self

    def shell(self, *commands: str, timeout: float = 10.0) -> str:
        """Run shell commands; its whole output up to their end (read back from its stdout file)."""
        mark = f"END{time.monotonic_ns()}"
        self.proc.stdin.write("".join(c + "\n" for c in commands) + f"echo {mark}\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._out.flush()
            with open(self.out_path, errors="replace") as f:
                text = f.read()
            at = text.rfind("\n" + mark + "\n")
            if at >= 0:
                return text[:at]
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise UserError("FluidSynth's shell did not answer")

    def voice_count(self) -> int:
        m = re.findall(r"voice_count:\s*(\d+)", self.shell("voice_count"))
        return int(m[-1]) if m else -1

    def stop(self) -> dict:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(STOP_TIMEOUT_S)
            except (OSError, subprocess.TimeoutExpired):
                self.kill()
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        self._close_files()
        return {"status": self.proc.returncode, "stderr_tail": _tail(self.err_path)}
