"""CPU stall canaries for the live tests: they tell the machine's noise from a JACK client's fault.

One canary per CPU (tests/c/cpu_canary.c, compiled here on first use), pinned to it, at
SCHED_FIFO priority 99: above jackd's and every JACK client's real-time threads, so no
client can delay it. It sleeps a millisecond at a time and writes down every wake-up more
than half a millisecond late: with nothing in the machine able to preempt it, that means
the virtual CPU itself did not run (the host took it away). A shared 2-core VM does this
often (measured on an idle machine, per CPU over 20 s: 60 to 300 wake-ups more than 1 ms
late, the worst 4 to 9 ms; during the live tests some reached 48 ms); a JACK client on that
CPU then misses its cycle through no fault of its own. The live tests forgive an xrun only when a canary saw a stall long
enough, at that moment (test_live_session.machine_noise).

Without the right to real-time scheduling (not root, no rtprio limit) a canary still runs
but says ``"realtime": false``, and nothing is forgiven by it: an ordinary thread is
delayed by the very clients it would judge.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parent / "c" / "cpu_canary.c"
TICK_NS = 1_000_000  # the canary's sleep (cpu_canary.c's TICK_NS)


def canary_binary() -> Path:
    """cpu_canary, built from its source with the system's C compiler (cached by content)."""
    src = SOURCE.read_bytes()
    exe = Path(tempfile.gettempdir()) / f"dlsynth-cpu-canary-{hashlib.sha256(src).hexdigest()[:12]}"
    if not exe.exists():
        part = exe.with_name(exe.name + f".{os.getpid()}.part")
        subprocess.run(["cc", "-O2", "-o", str(part), str(SOURCE)], check=True, capture_output=True)
        os.replace(part, exe)
    return exe


class StallWatch:
    """Canaries on every CPU of this process's affinity, for the life of a test."""

    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.procs: list[tuple[subprocess.Popen, Path]] = []
        self.result: dict | None = None

    def start(self) -> "StallWatch":
        exe = canary_binary()
        for cpu in sorted(os.sched_getaffinity(0)):
            out = self.workdir / f"canary-cpu{cpu}.json"
            p = subprocess.Popen(
                [str(exe), str(cpu), str(out)],
                stdout=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
            )
            self.procs.append((p, out))
        for p, _ in self.procs:
            p.stdout.readline()  # "ready": pinned and scheduled
        return self

    def stop(self) -> dict:
        """{"realtime": every canary ran at real-time priority, "stalls": [(start_ns, end_ns,
        cpu), ...]} (read once; later calls return the same)."""
        if self.result is not None:
            return self.result
        stalls, realtime = [], bool(self.procs)
        for p, out in self.procs:
            p.send_signal(signal.SIGTERM)
        for p, out in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            p.stdout.close()
            try:
                data = json.loads(out.read_text())
            except (OSError, ValueError):
                realtime = False
                continue
            realtime = realtime and data["realtime"]
            stalls += [(a, b, data["cpu"]) for a, b in data["stalls"]]
        self.result = {"realtime": realtime, "stalls": sorted(stalls)}
        return self.result


def stalls_between(stalls, lo_ns: int, hi_ns: int, min_ns: int) -> list[tuple[int, int, int]]:
    """The stalls of at least ``min_ns`` (late past the tick) that overlap [lo_ns, hi_ns]."""
    return [s for s in stalls if s[1] - s[0] - TICK_NS >= min_ns and s[1] >= lo_ns and s[0] <= hi_ns]


def stall_ms(s) -> float:
    """How late past its tick a stall's wake-up was, in ms."""
    return (s[1] - s[0] - TICK_NS) / 1e6
