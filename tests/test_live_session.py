"""`dlsynth play` end to end, run the way a user runs it.

Every test starts `dlsynth play` as a subprocess on a JACK dummy server of its own (a real,
clocked audio graph on a machine with no sound card), with ``--midi-api jack --virtual-port
keys --no-status``; a probe in another process (tests/liveprobe.py, a JACK-Client client)
sends MIDI into dlsynth's virtual port at exact graph frames and captures dlsynth's audio
outputs; the test judges from the captured samples (tests/liveanalysis.py, unit-tested in
tests/test_live_analysis.py) and from dlsynth's exit status and stderr.

The probe finds dlsynth by its ports, not by its client names: the MIDI input is the port
whose name ends with ":keys", the audio is the first two audio outputs of a client other
than "system" and the probe.

With the default ``--midi-in all`` dlsynth also opens the probe's own MIDI output (it is
an output port like any keyboard's), so every message would arrive twice: once directly,
once through ':keys'. Tests that count voices or events, or that are about the virtual
port itself, pass ``--no-midi-in``; the README recipe and the hot-plug test keep the
default.

Periods: 512 frames for the functional tests; 256 and 128 where the test is about
dropouts (the dummy driver itself xruns now and then at 128 on 2 cores). With CI=true in the environment a missing tool fails a test instead of
skipping it.

Run them (about 4 minutes; the 30-second ones are marked ``slow`` but run by default):

    .venv/bin/python -m pytest tests/test_live_session.py tests/test_live_analysis.py

The first tests (``test_rig_...``) hold the yardstick against JACK's own C example client:
when they fail, the machine cannot keep that period (a busy or shared VM) and the dropout
tests' failures at it say nothing about dlsynth. jackd's log is quoted in the dropout
failures: which clients were late.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dlsynth.apps.jackserver import prune_stale_servers
from tests import jackrig
from tests import liveanalysis as A
from tests.vcpucanary import StallWatch, stall_ms, stalls_between
from tests.livesession import (
    PLAY_ARGS,
    REPO,
    Proc,
    ProbeProc,
    Session,
    cc,
    child_env,
    client_audio_outputs,
    dlsynth_script,
    jack_connections,
    jack_ports,
    note_off,
    note_on,
    program,
    stderr_lines,
    wait_for,
)

FS = jackrig.SAMPLE_RATE
FUNCTIONAL_PERIOD = 512
PITCH_CENTS = 5.0
ZERO_RUN_LIMIT = 16  # an exact-zero run this long while a note sounds is a dropout
RELEASE_DB = 40.0  # a released note is at least this far down ...
RELEASE_WITHIN_S = 1.5  # ... this long after the release
TAIL_S = 0.3  # after a stop, the release tail sounds at least this long (no cut to zero)
START_TIMEOUT_S = 45.0  # from dlsynth's start to its audio ports being connected to the probe

ORGAN = 19  # GM Church Organ (program change data byte): a sustained tone
PIANO = 0
# Sharp attacks and releases that end in exact silence within 0.2 s (with --no-effects):
# harpsichord, clavi, xylophone, acoustic bass, pizzicato strings, banjo. Measured offline
# with `dlsynth render`: every one is within 1 cent of its key, starts exactly one frame
# after its note-on (the first sample of every envelope is zero) and is digital silence
# before it.
PLUCKED = (6, 7, 13, 32, 45, 105)

TRACEBACK = "Traceback (most recent call last)"
FEW_LINES = 3  # at most this many lines on stderr when dlsynth ends on an error


# ----------------------------------------------------------------------------- the rig
@pytest.fixture(scope="module")
def rig():
    """Fails (under CI) or skips when a tool the live tests need is missing; builds the
    built-in bank's cache once so no test's start-up includes building it."""
    missing = [t for t in ("jackd", "jack_lsp", "jack_connect") if shutil.which(t) is None]
    if missing:
        jackrig.skip_or_fail(f"{', '.join(missing)} not found. {jackrig.SKIP_REASON}")
    try:
        import jack  # noqa: F401
    except Exception as exc:  # ImportError, or OSError when libjack is missing
        jackrig.skip_or_fail(f"JACK-Client is not usable ({exc}): pip install JACK-Client")
    try:
        import rtmidi
    except Exception as exc:
        jackrig.skip_or_fail(f"python-rtmidi is not usable ({exc})")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        jackrig.skip_or_fail("python-rtmidi was built without its JACK API")
    if not os.path.exists(dlsynth_script()):
        jackrig.skip_or_fail(
            f"the dlsynth command is not installed next to {sys.executable} (pip install -e '.[test]')"
        )
    from dlsynth.gmbank import default_bank_path

    default_bank_path()
    return True


class Live:
    """One test's servers, processes and clean-ups."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.session = Session(tmp_path)
        self.servers: list[jackrig.JackServer] = []
        self.cleanups: list = []
        self.watch: StallWatch | None = None
        self.closed = False

    def server(self, period: int = FUNCTIONAL_PERIOD) -> jackrig.JackServer:
        if self.watch is None:
            self.watch = StallWatch(self.tmp).start()  # the machine's own stalls, from now on
        srv = jackrig.JackServer(period=period)
        srv.start()
        self.servers.append(srv)
        self.session.server = srv
        return srv

    def stalls(self) -> dict:
        """The CPUs' stalls seen so far (the canaries stop at the first call)."""
        return self.watch.stop() if self.watch is not None else {"realtime": False, "stalls": []}

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.watch is not None:
            self.watch.stop()
        # Servers first, then the processes: a jackd stopped right after one of its clients
        # was killed can die of SIGPIPE (and leave its entry in JACK's server registry:
        # see dlsynth.apps.jackserver.prune_stale_servers).
        for fn in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                fn()
        for srv in reversed(self.servers):
            with contextlib.suppress(Exception):
                srv.stop()
        self.session.close()


@pytest.fixture
def live(rig, tmp_path):
    lv = Live(tmp_path)
    try:
        yield lv
    finally:
        lv.close()


def wait_started(probe: ProbeProc, dl: Proc, timeout: float = START_TIMEOUT_S) -> dict:
    """The probe's 'started' event; fails at once with dlsynth's stderr if dlsynth ends
    first."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe.wait_event("started", 0.2)
        except TimeoutError:
            pass
        if dl.returncode is not None:
            pytest.fail(
                f"{dl.label} ended (status {dl.returncode}) before its audio reached the probe; "
                f"stderr:\n{dl.stderr()[-3000:]}",
                pytrace=False,
            )
        if time.monotonic() > deadline:
            pytest.fail(
                f"dlsynth's ports were not connected to the probe within {timeout} s; probe events "
                f"{probe.brief_events()}; dlsynth stderr:\n{dl.stderr()[-3000:]}",
                pytrace=False,
            )


def start_session(
    live: Live,
    *args: str,
    period: int = FUNCTIONAL_PERIOD,
    schedule=(),
    seconds: float = 3.0,
    cmd: list[str] | None = None,
    probe_kw: dict | None = None,
):
    """A server, the probe (MIDI into ':keys', audio from dlsynth), and `dlsynth play`."""
    srv = live.server(period)
    probe = live.session.probe(
        midi_to=":keys", schedule=[[t, list(b)] for t, b in schedule], seconds=seconds, **(probe_kw or {})
    )
    probe.wait_event("active", 20)
    dl = live.session.dlsynth(*PLAY_ARGS, "--blocksize", str(period), *args, cmd=cmd)
    started = wait_started(probe, dl)
    return srv, probe, dl, started


def capture(res: dict) -> np.ndarray:
    """The captured frames (up to the last cycle the probe ran)."""
    cyc = res["cyc_frame"]
    n = 0 if len(cyc) == 0 else int(cyc[-1] - res["base"] + res["period"])
    return res["capture"][: min(n, len(res["capture"]))]


def xruns_since_start(res: dict) -> list[int]:
    """The graph frames (relative to the capture's start) of the server's xruns from the
    start of the capture on."""
    xf = np.asarray(res["xrun_frame"], dtype=np.int64)
    return [int(f - res["base"]) for f in xf if f >= res["base"]]


def assert_clean_exit(dl: Proc, status=0) -> None:
    err = dl.stderr()
    assert TRACEBACK not in err, f"a traceback on stderr:\n{err[-3000:]}"
    assert "internal error" not in err, f"an internal error:\n{err[-3000:]}"
    assert dl.returncode == status, f"exit status {dl.returncode}, want {status}; stderr:\n{err[-3000:]}"


def assert_note(x: np.ndarray, start: int, end: int, key: int, what: str = "the note", min_db: float = -50.0):
    """x[start:end] sounds (RMS above min_db) at key's pitch within PITCH_CENTS."""
    seg = x[start:end]
    lvl = A.rms_db(seg)
    assert lvl > min_db, f"{what} is not heard: {lvl:.1f} dBFS between {start / FS:.3f} and {end / FS:.3f} s"
    c = A.pitch_cents(seg, FS, key)
    assert not math.isnan(c), f"{what} is not at key {key} ({A.key_hz(key):.2f} Hz): no such peak in the spectrum"
    assert abs(c) <= PITCH_CENTS, f"{what}: {c:+.2f} cents off key {key}"
    return c


def heard_after(x: np.ndarray, frame: int, threshold: float = 1e-3, within: float = 1.0) -> int:
    """The first frame after ``frame`` where the capture exceeds ``threshold``."""
    at = A.first_above(x, threshold, max(frame, 0), min(len(x), frame + int(within * FS)))
    assert at is not None, (
        f"nothing heard within {within} s of frame {frame} (capture {len(x) / FS:.2f} s; "
        f"peak after it {np.abs(x[max(frame, 0) :]).max() if frame < len(x) else 0:.2g})"
    )
    return at


#: A dropout test passes when one of this many 30-second sessions has no dropout at all.
#: These 2-core VMs are shared: even JACK's own C example client sees an xrun now and then
#: under load (see the rig test above). dlsynth before its C callback dropped out every
#: second, so no attempt of it was ever clean; a systematic fault fails every attempt.
DROPOUT_ATTEMPTS = 3


def with_attempts(tmp_path, body, attempts: int = DROPOUT_ATTEMPTS) -> None:
    failures = []
    for i in range(attempts):
        lv = Live(tmp_path / f"attempt{i + 1}")
        (tmp_path / f"attempt{i + 1}").mkdir()
        try:
            body(lv)
        except AssertionError as exc:
            failures.append(f"attempt {i + 1}: {exc}")
            continue
        finally:
            lv.close()
        if failures:
            print(f"\nclean on attempt {i + 1} of {attempts}; before: " + " | ".join(failures))
        return
    pytest.fail("no attempt was free of dropouts:\n" + "\n".join(failures), pytrace=False)


# ============================================================================ 0. the rig itself
# (JACK's own C example client, captured by the probe, was a test here: on these VMs it
# fails at 128 frames now and then by itself, so it cannot gate CI. The dropout tests below
# tell machine noise from a client's fault through jackd's log instead.)


#: The rig test's client at fault: it sleeps this long in its callback, every FAULT_EVERY_S.
FAULT_SLEEP_S = 0.015
FAULT_EVERY_S = 0.5
FAULT_SECONDS = 6.0


#: the chance a correct judge fails the faulty-client test (its count of unexplained xruns)
FAULT_COUNT_QUANTILE = 0.001


@pytest.mark.timeout(60)
def test_a_client_that_misses_its_cycles_is_not_taken_for_machine_noise(live):
    """The dropout tests forgive an xrun only at a CPU stall the canaries saw. A client that
    sleeps in its own callback every half second (its own fault: the CPU runs) makes xruns
    the judge must not forgive, and the canaries must be real-time (under CI, where the
    tests run as root)."""
    import jack

    period = 256
    srv = live.server(period)
    client = jack.Client("faulty", servername=srv.name, no_start_server=True)
    client.inports.register("in")
    base_frame, xrun_mono, xrun_frame, faults = [], [], [], []
    next_fault = [time.monotonic() + 1.0]

    @client.set_process_callback
    def process(frames):
        if not base_frame:
            base_frame.append(client.last_frame_time)
        if time.monotonic() > next_fault[0] and len(faults) < FAULT_SECONDS / FAULT_EVERY_S:
            next_fault[0] += FAULT_EVERY_S
            faults.append(time.monotonic_ns())
            time.sleep(FAULT_SLEEP_S)

    @client.set_xrun_callback
    def xrun(delay_usecs):
        xrun_mono.append(time.monotonic_ns())
        xrun_frame.append(client.frame_time)

    t0_mono = time.monotonic_ns()
    client.activate()
    try:
        time.sleep(FAULT_SECONDS + 1.5)
    finally:
        client.deactivate()
        client.close()
    info = live.stalls()
    if not info["realtime"]:
        jackrig.skip_or_fail("the CPU stall canaries could not run at real-time priority (SCHED_FIFO needs root)")
    res = {
        "base": base_frame[0],
        "period": period,
        "xrun_mono": np.array(xrun_mono, dtype=np.int64),
        "xrun_frame": np.array(xrun_frame, dtype=np.int64),
        "cyc_mono": np.array([t0_mono, time.monotonic_ns()], dtype=np.int64),  # the session's span
    }
    bursts = _xrun_bursts(res)
    at_fault = [b for b in bursts if any(b[0] - 2 * FAULT_SLEEP_S * 1e9 <= f <= b[1] for f in faults)]
    assert len(at_fault) >= 0.8 * len(faults), f"only {len(at_fault)} xrun bursts at the {len(faults)} faults"
    unexplained = [b for b in at_fault if not _burst_stalls(res, info["stalls"], b)]
    # A fault falls at a CPU stall by chance as often as any moment does: on a noisy host,
    # often. Each fault is then left unexplained with odds 1 - chance, a binomial count: the
    # judge must leave half the expected count or, where that is less, the count's
    # FAULT_COUNT_QUANTILE (a judge that blamed the stalls for every fault leaves none): at
    # half the expected count alone, a host stalling half the time failed 2 % of runs by
    # chance (3 of 12 once in CI).
    from scipy.stats import binom

    chance = stall_coverage(res, info["stalls"])
    half = 0.5 * (1 - chance) * len(at_fault)  # half the expected count: never asked for more
    need = max(1, min(half, int(binom.ppf(FAULT_COUNT_QUANTILE, len(at_fault), 1 - chance))))
    assert len(unexplained) >= need, (
        f"only {len(unexplained)} of the {len(at_fault)} xruns the faulty client caused were not blamed on "
        f"CPU stalls (a random moment is near a stall with odds {chance:.2f})"
    )
    if chance < 0.5:
        assert machine_noise(res, live, srv, []) is None, "a faulty client's xruns were taken for machine noise"


# ============================================================================ 1. the README
README_SCRIPT = """set -e
eval "$(bash dev/jack.sh start)"
dlsynth play --midi-api jack --virtual-port keys --duration 4 --no-status
"""


def _jack_sh_default_name() -> str:
    """The server name dev/jack.sh uses when JACK_NAME is not set."""
    from dlsynth.apps.jackserver import DEFAULT_NAME

    return DEFAULT_NAME


def _readme_recipe(live: Live, jack_name: str | None) -> None:
    server = jack_name or _jack_sh_default_name()
    extra = {} if jack_name is None else {"JACK_NAME": jack_name}
    stop_env = child_env(None, **extra)
    for k in ("JACK_DEFAULT_SERVER", "JACK_NO_START_SERVER"):
        stop_env.pop(k, None)

    def stop():
        subprocess.run(["bash", "dev/jack.sh", "stop"], cwd=REPO, env=stop_env, capture_output=True, timeout=30)
        prune_stale_servers()  # in case it died rather than stopped

    live.cleanups.append(stop)
    sh = live.session.shell(README_SCRIPT, "readme", **extra)
    wait_for(lambda: jack_ports(server) is not None or sh.returncode is not None, 20, "the README's JACK server")
    assert jack_ports(server) is not None, f"dev/jack.sh did not start server {server!r}: {sh.stderr()}"
    probe = live.session.probe(
        server_name=server, midi_to=":keys", seconds=2.0, schedule=[[0.3, note_on(0, 69, 100)], [1.3, note_off(0, 69)]]
    )
    try:
        wait_started(probe, sh)
    except pytest.fail.Exception as exc:
        alive = "still answers" if jack_ports(server) is not None else "no longer answers"
        pytest.fail(f"{exc} (the JACK server {server!r} {alive} jack_lsp)", pytrace=False)
    res = probe.results(15)
    rc = sh.wait(20)
    ports = jack_ports(server)
    x = capture(res)
    on = int(res["ev_frame"][0] - res["base"])
    at = heard_after(x, on)
    assert_note(x, at + int(0.05 * FS), at + int(0.6 * FS), 69, "the note sent to dlsynth")
    assert ports is not None, (
        f"the JACK server {server!r} no longer answers jack_lsp after `dlsynth play` ended; "
        f"dlsynth's stderr:\n{sh.stderr()[-2000:]}"
    )
    assert rc == 0, f"the README's commands ended with status {rc}; stderr:\n{sh.stderr()[-3000:]}"
    assert TRACEBACK not in sh.stderr()


@pytest.mark.timeout(90)
def test_readme_jack_recipe_with_its_own_server_name(live):
    _readme_recipe(live, f"dlsreadme{os.getpid()}")


@pytest.mark.timeout(150)
def test_readme_jack_recipe_as_written_with_the_default_server_name(live):
    """Exactly as the README says: no JACK_NAME, so the server has dev/jack.sh's default name;
    also with the server named "dlsynth", like dlsynth's own clients (the name that once
    took the server down)."""
    lock = open(os.path.join(os.environ.get("TMPDIR", "/tmp"), "dlsynth-tests-jack-default-name.lock"), "w")
    live.cleanups.append(lock.close)
    deadline = time.monotonic() + 60
    while True:  # other test runs on this machine may want the name too
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            if time.monotonic() > deadline:
                jackrig.skip_or_fail("another test run holds the default JACK server name 'dlsynth'")
            time.sleep(0.5)
    if jack_ports(_jack_sh_default_name()) is not None:
        jackrig.skip_or_fail(f"a JACK server named {_jack_sh_default_name()!r} is already running here")
    _readme_recipe(live, None)


@pytest.mark.timeout(90)
def test_readme_jack_recipe_with_a_server_named_like_dlsynth(live):
    if jack_ports("dlsynth") is not None:
        jackrig.skip_or_fail("a JACK server named 'dlsynth' is already running here")
    _readme_recipe(live, "dlsynth")


# ============================================================================ 2, 3. dropouts
HOLD_S = 30.0
HOLD_ON_S = 0.5


def _held_schedule(notes: int):
    """``notes`` organ notes held from HOLD_ON_S for HOLD_S: one (key 60) or many across
    channels 0-3, 16 each, every key distinct."""
    sched = [(0.05, program(ch, ORGAN)) for ch in range(4)]
    keys = [(0, 60, 100)] if notes == 1 else [(ch, 36 + 3 * j + ch, 45) for ch in range(4) for j in range(notes // 4)]
    assert len(keys) == notes
    sched += [(HOLD_ON_S + 0.0005 * i, note_on(ch, k, v)) for i, (ch, k, v) in enumerate(keys)]
    sched += [(HOLD_ON_S + HOLD_S, note_off(ch, k)) for ch, k, _ in keys]
    return sched, keys


def server_xrun_report(srv) -> str:
    """What jackd's log says about its xruns: which clients were not finished in time, and
    how often the dummy driver itself woke too late (the machine, not a client)."""
    text = srv.log_text() if srv is not None else ""
    late = collections.Counter(re.findall(r"client = (\S+) was not finished", text))
    driver = text.count(jackrig.DRIVER_LATE)
    if not late and not driver:
        return ""
    who = ", ".join(f"{c} x{n}" for c, n in late.most_common())
    return (
        f" [jackd's log over the server's life: clients not finished in time: {who or 'none'} (a client"
        f" waiting on a late one is listed too); the dummy driver itself late: x{driver}]"
    )


#: Xruns closer together than this (seconds) are one burst (one late cycle shows as several).
XRUN_BURST_S = 0.05
#: A canary waking this much past its tick saw its CPU stall (the host ran something else).
#: A stall that short can make a client miss a 5 ms cycle when the host is busy: the client's
#: own time stretches too, and a 1 ms tick sees only part of a stall that began mid-sleep.
STALL_MIN_S = 0.001
#: An xrun is blamed on a stall that overlaps the time from this many periods before the
#: burst's first notification (JACK notices a late client at a later cycle) to its last.
STALL_LEAD_PERIODS = 4
#: Of a session's xrun bursts, this share (at least one) may lack a stall and still be the
#: machine's: a stall at the start of a sleep or between the canary's ticks is missed. A
#: client's own fault (the old dlsynth: a dropout every second) is far above it.
UNEXPLAINED_SHARE = 0.05
#: A dropout (a missing cycle, a zero run, a level drop) this close to an xrun is that xrun's.
DROPOUT_NEAR_XRUN_S = 0.1


def _xrun_bursts(res: dict) -> list[tuple[int, int]]:
    """The session's xruns as bursts: (first, last) CLOCK_MONOTONIC ns of each."""
    mono = sorted(int(t) for t, f in zip(res["xrun_mono"], res["xrun_frame"]) if f >= res["base"] and t > 0)
    bursts: list[list[int]] = []
    for t in mono:
        if bursts and t - bursts[-1][1] <= XRUN_BURST_S * 1e9:
            bursts[-1][1] = t
        else:
            bursts.append([t, t])
    return [(a, b) for a, b in bursts]


def machine_noise(res: dict, live, srv, dropout_frames: list[int]) -> str | None:
    """Why the session's xruns and dropouts are the machine's, not a client's, or None.

    The xrun bursts must be explained by CPU stalls the canaries saw (tests/vcpucanary.py:
    real-time processes no client can delay, so a late wake-up means the virtual CPU did not
    run), at least STALL_MIN_S long, from STALL_LEAD_PERIODS before a burst on: all but
    UNEXPLAINED_SHARE of them. Where the canaries cannot run at real-time priority, the old
    rule stands in: as many bursts as jackd logged its dummy driver's own clock thread waking
    late (it runs above every client). And every dropout (graph frames, from the capture's
    start) must be within DROPOUT_NEAR_XRUN_S of an xrun: a dropout with no xrun is the
    client sending silence."""
    bursts = _xrun_bursts(res)
    if not bursts:
        return None
    info = live.stalls() if live is not None else {"realtime": False, "stalls": []}
    if info["realtime"]:
        blamed = [_burst_stalls(res, info["stalls"], burst) for burst in bursts]
        unexplained = sum(1 for b in blamed if not b)
        if unexplained > unexplained_allowed(len(bursts)):
            return None
        chance = stall_coverage(res, info["stalls"])
        why = (
            f"{len(bursts) - unexplained} of {len(bursts)} xrun burst(s) at a CPU stall of "
            f"{STALL_MIN_S * 1e3:g} ms or more (the longest {max_stall_ms(blamed):.1f} ms; a random "
            f"moment of the session has one near it with odds {chance:.2f})"
        )
    else:
        driver = srv.driver_late_count() if srv is not None else 0
        if len(bursts) > driver:
            return None
        why = f"{len(bursts)} xrun burst(s), with jackd's own driver late x{driver} (no real-time canaries here)"
    xf = np.array(xruns_since_start(res), dtype=np.int64)
    near = int(DROPOUT_NEAR_XRUN_S * FS)
    for f in dropout_frames:
        if not len(xf) or np.min(np.abs(xf - f)) > near:
            return None
    return why


def unexplained_allowed(n_bursts: int) -> int:
    return max(1, int(UNEXPLAINED_SHARE * n_bursts))


def max_stall_ms(blamed) -> float:
    return max((stall_ms(s) for b in blamed for s in b), default=0.0)


def stall_coverage(res: dict, stalls, samples: int = 2000) -> float:
    """The share of the session's moments that a stall would explain an xrun at: how often the
    canaries' explanation fits by chance (1.0 on a machine that stalls all the time)."""
    t0, t1 = int(res["cyc_mono"][0]), int(res["cyc_mono"][-1])
    if t1 <= t0:
        return 0.0
    ts = np.linspace(t0, t1, samples).astype(np.int64)
    qual = [(a, b) for a, b, _ in stalls if stall_ms((a, b)) >= STALL_MIN_S * 1e3]
    if not qual:
        return 0.0
    st = np.array(qual, dtype=np.int64)
    lead = int(STALL_LEAD_PERIODS * res["period"] / FS * 1e9)
    hit = (st[None, :, 1] >= ts[:, None] - lead) & (st[None, :, 0] <= ts[:, None])
    return float(hit.any(axis=1).mean())


def _burst_stalls(res: dict, stalls, burst: tuple[int, int], min_s: float = STALL_MIN_S) -> list:
    """The canaries' stalls that can have caused an xrun burst (first, last notification, ns)."""
    period_ns = res["period"] / FS * 1e9
    lo = int(burst[0] - STALL_LEAD_PERIODS * period_ns)
    return stalls_between(stalls, lo, burst[1], int(min_s * 1e9))


class HeldVerdict:
    """What a held-note session's capture shows: its problems (empty when clean), the graph
    frames (from the capture's start) of its xruns and dropouts, and, when the canaries blame
    every problem on the machine, why (``noise``)."""

    def __init__(self, problems: list[str], frames: list[int], noise: str | None, detail: str, start: int):
        self.problems, self.frames, self.noise, self.detail = problems, frames, noise, detail
        self.start = start  # capture frame the steady note is judged from (0.1 s after its onset)

    @property
    def bad_windows(self) -> int:
        """How many BAD_WINDOW_S windows of the session hold an xrun or a dropout."""
        return len({int(f // (BAD_WINDOW_S * FS)) for f in self.frames})

    def describe(self, what: str) -> str:
        return f"{what}: " + "; ".join(self.problems) + self.detail

    def say_noise(self, what: str) -> None:
        """Said, not failed: the host did not run a CPU in time, which no client can cause or
        prevent. (dlsynth's old dropouts came every second with every CPU running.)"""
        print(f"\n{what}: machine noise only ({self.noise}): " + "; ".join(self.problems) + self.detail)

    def assert_held_note(self, res: dict, keys) -> None:
        """One held key: its pitch over the second from ``start``."""
        if len(keys) == 1:
            assert_note(capture(res), self.start, self.start + FS, keys[0][1], "the held note")


def _held_verdict(res: dict, keys, srv=None, live=None) -> HeldVerdict:
    x = capture(res)
    period = res["period"]
    n_on = 4 + len(keys)
    on = int(res["ev_frame"][4] - res["base"])
    off = int(res["ev_frame"][n_on] - res["base"])
    assert off > on > 0
    onset = heard_after(x, on)
    start = onset + int(0.1 * FS)
    problems = []
    dropouts = []  # graph frames of what went wrong
    gaps = A.cycle_gaps(res["cyc_frame"], period)
    if gaps:
        problems.append(
            f"{len(gaps)} missing capture cycles (first at {gaps[0][0] * period / FS:.2f} s: "
            f"{gaps[0][1]} frames between cycles)"
        )
        dropouts += [int(res["cyc_frame"][i] - res["base"]) for i, _ in gaps]
    xr = xruns_since_start(res)
    if xr:
        problems.append(f"{len(xr)} JACK xruns (at {', '.join(f'{f / FS:.2f} s' for f in xr[:8])})")
    run, where = A.longest_zero_run(x, start, off)
    if run >= ZERO_RUN_LIMIT:
        problems.append(f"a run of {run} exact zero samples at {where / FS:.3f} s while the notes sound")
        dropouts.append(where)
    hop = FS // 2
    lv = A.level_db(x[start:off], hop)
    if len(lv) and lv.min() < -50:
        problems.append(f"the level falls to {lv.min():.1f} dBFS at {(start + int(np.argmin(lv)) * hop) / FS:.1f} s")
        dropouts += [start + int(i) * hop + hop // 2 for i in np.flatnonzero(lv < -50)]
    if not problems:
        return HeldVerdict([], [], None, "", start)
    probe_us = res["cyc_us"]
    noise = machine_noise(res, live, srv, dropouts)
    detail = (
        f" (the probe's own callback: max {probe_us.max():.0f} us, p99 {np.percentile(probe_us, 99):.0f} us)"
        + server_xrun_report(srv)
        + ("" if noise is not None else stall_report(res, live))
    )
    return HeldVerdict(problems, [*xr, *dropouts], noise, detail, start)


def _judge_held(res: dict, keys, what: str, srv=None, live=None) -> None:
    v = _held_verdict(res, keys, srv, live)
    if v.problems and v.noise is not None:
        v.say_noise(what)
        return
    assert not v.problems, v.describe(what)
    v.assert_held_note(res, keys)


def stall_report(res: dict, live) -> str:
    """The canaries' view, for a failure message: stalls near each xrun burst."""
    if live is None:
        return ""
    info = live.stalls()
    if not info["realtime"]:
        return " [CPU stall canaries: not real-time here, so no xrun is blamed on the machine]"
    bursts = _xrun_bursts(res)
    blamed = [_burst_stalls(res, info["stalls"], b) for b in bursts]
    unexplained = sum(1 for b in blamed if not b)
    return (
        f" [CPU stall canaries: {len(info['stalls'])} stalls in all; {unexplained} of {len(bursts)} xrun bursts "
        f"with no stall of {STALL_MIN_S * 1e3:g} ms or more near them (at most {unexplained_allowed(len(bursts))} "
        f"may be); a random moment has one with odds {stall_coverage(res, info['stalls']):.2f}]"
    )


@pytest.mark.slow
@pytest.mark.timeout(150 * DROPOUT_ATTEMPTS)
# 64 voices at 128 frames would be the stricter test. On these shared 2-core VMs a 30 s session
# at 128 frames gets a few scheduling xruns more often than not whoever the clients are
# (jackd's log lists every client late together), so it could not gate CI; 128 frames is
# measured by `dlsynth bench latency --blocksize 128` and `bench voices` instead.
@pytest.mark.parametrize("period,notes", [(256, 1), (256, 64)], ids=["256-frames-1-note", "256-frames-64-notes"])
def test_held_notes_for_30_seconds_without_a_dropout(rig, tmp_path, period, notes):
    sched, keys = _held_schedule(notes)
    seconds = HOLD_ON_S + HOLD_S + 0.5

    def session(live):
        srv, probe, dl, started = start_session(
            live, "--no-midi-in", "--duration", str(seconds + 3), period=period, schedule=sched, seconds=seconds
        )
        res = probe.results(seconds + 30)
        _judge_held(res, keys, f"{notes} note(s) held for {HOLD_S:.0f} s at {period} frames", srv, live)
        dl.wait(15)

    with_attempts(tmp_path, session)


#: The hostile load: a thread spinning in bytecode and another forcing gc.collect() in a
#: loop, from the moment FLAG exists. The same code runs in dlsynth's process (HOSTILE_IN_DLSYNTH)
#: or, as the control, in a process of its own (HOSTILE_ALONE).
HOSTILE_LOAD = """
import gc, os, sys, threading, time

FLAG, REPORT = {flag!r}, {report!r}
state = {{"spins": 0, "collections": 0}}

def armed():  # hostile from the moment the test says so (the audio is running)
    while not os.path.exists(FLAG):
        time.sleep(0.01)

def spin():  # pure bytecode, holding the GIL as long as the interpreter lets it
    armed()
    while True:
        state["spins"] += 1

def collect():  # the cyclic collector forced over and over, with plenty to walk
    armed()
    live = []
    while True:
        live.append([[{{}}, []] for _ in range(2000)])
        if len(live) > 100:
            live = []
        loop = []
        loop.append(loop)
        del loop
        gc.collect()
        state["collections"] += 1
        if state["collections"] % 20 == 0:
            with open(REPORT, "w") as f:
                f.write("%d %d" % (state["spins"], state["collections"]))

threading.Thread(target=spin, name="hostile-spin", daemon=True).start()
threading.Thread(target=collect, name="hostile-gc", daemon=True).start()
"""
HOSTILE_IN_DLSYNTH = (
    HOSTILE_LOAD
    + """
from dlsynth.apps.cli import main
sys.exit(main({args!r}))
"""
)
HOSTILE_ALONE = (
    HOSTILE_LOAD
    + """
time.sleep({seconds!r})
"""
)

#: The control may have this many times the hostile session's bad windows, plus
#: CONTROL_SLACK, for the hostile session's problems to be the load's on this machine rather
#: than Python's in dlsynth's process. An audio thread that waited on the interpreter would
#: miss a cycle at nearly every one of the ~20 forced collections a second (each holds the
#: GIL for milliseconds): nearly every window of the 30 s, against a control's few.
CONTROL_RATIO = 2.0
CONTROL_SLACK = 3
#: Bad windows are counted in slices of this length (seconds).
BAD_WINDOW_S = 0.1


def _hostile_report(report) -> tuple[int, int]:
    spins, collections = (int(v) for v in report.read_text().split()) if report.exists() else (0, 0)
    if not (spins > 1_000_000 and collections >= 40):
        pytest.fail(f"rig: the hostile threads hardly ran ({spins} spins, {collections} collections)")
    return spins, collections


def _hostile_session(live, in_dlsynth: bool) -> tuple[HeldVerdict, str]:
    """A note held for HOLD_S at 256 frames under HOSTILE_LOAD, in dlsynth's process or
    beside it: the session's verdict and what it was."""
    period = 256
    sched, keys = _held_schedule(1)
    seconds = HOLD_ON_S + HOLD_S + 0.5
    flag, report = live.tmp / "hostile.go", live.tmp / "hostile.report"
    code = dict(flag=str(flag), report=str(report))
    if in_dlsynth:
        args = ["play", *PLAY_ARGS, "--no-midi-in", "--blocksize", str(period), "--duration", str(seconds + 3)]
        cmd = [sys.executable, "-c", HOSTILE_IN_DLSYNTH.format(args=args, **code)]
        srv, probe, dl, _ = start_session(live, period=period, schedule=sched, seconds=seconds, cmd=cmd)
    else:
        load = Proc(
            [sys.executable, "-c", HOSTILE_ALONE.format(seconds=seconds + 10, **code)],
            child_env(None),
            REPO,
            live.tmp,
            "hostile-load",
        )
        live.session.procs.append(load)
        srv, probe, dl, _ = start_session(
            live, "--no-midi-in", "--duration", str(seconds + 3), period=period, schedule=sched, seconds=seconds
        )
    flag.touch()  # the note-on follows HOLD_ON_S later
    res = probe.results(seconds + 30)
    _, collections = _hostile_report(report)
    where = "in dlsynth's process" if in_dlsynth else "in a process beside dlsynth's (the control)"
    what = (
        f"a note held for 30 s at {period} frames with a spinning thread and {collections} forced collections {where}"
    )
    verdict = _held_verdict(res, keys, srv, live)
    if not verdict.problems:
        verdict.assert_held_note(res, keys)
    dl.wait(15)
    return verdict, what


@pytest.mark.slow
@pytest.mark.timeout(240 * DROPOUT_ATTEMPTS)
def test_held_note_without_a_dropout_while_python_in_the_process_is_hostile(rig, tmp_path):
    """A thread spinning in bytecode and another forcing gc.collect() in a loop, inside
    dlsynth's own process, from the moment its audio runs: the audio must not care (its
    thread runs no Python). Clean, or every problem at a CPU stall the canaries saw; or, on a
    machine this load makes drop out by itself, no worse than the control: the same load in
    a process of its own beside a plain `dlsynth play`, run right after."""

    def session(live):
        verdict, what = _hostile_session(live, in_dlsynth=True)
        if not verdict.problems:
            return
        if verdict.noise is not None:
            verdict.say_noise(what)
            return
        live.close()  # its server and processes gone, so that the control runs beside nothing of it
        control = Live(live.tmp / "control")
        (live.tmp / "control").mkdir()
        try:
            base, base_what = _hostile_session(control, in_dlsynth=False)
        finally:
            control.close()
        allowed = CONTROL_RATIO * base.bad_windows + CONTROL_SLACK
        summary = (
            f"{verdict.bad_windows} bad {BAD_WINDOW_S:g} s windows in dlsynth's process against the "
            f"control's {base.bad_windows} (at most {allowed:g})"
        )
        if not (base.problems and verdict.bad_windows <= allowed):
            raise AssertionError(
                f"{verdict.describe(what)} || control: "
                + (base.describe(base_what) if base.problems else f"{base_what}: clean")
                + f" || {summary}"
            )
        print(f"\n{what}: no worse than the same load beside dlsynth: {summary}; " + "; ".join(verdict.problems))

    with_attempts(tmp_path, session)


# ============================================================================ 4. start-up storm
STORM = [
    cc(0, 64, 127),
    note_on(0, 40, 10),
    note_on(1, 52, 10),
    [0xA0, 40, 30],
    [0xD0, 20],
    [0xE0, 0x00, 0x40],
    cc(0, 7, 100),
    cc(0, 1, 0),
    [0xF8],
    [0xFE],
    note_off(0, 40),
    note_off(1, 52),
    cc(0, 64, 0),
    program(1, PIANO),
    [0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7],
]


@pytest.mark.timeout(120)
def test_midi_from_the_instant_the_port_appears_never_silences_the_session(live):
    """The probe connects to ':keys' as soon as it appears and writes a burst of messages in
    every cycle while dlsynth starts, until 0.5 s after its audio appears; a note sent 1 s
    after the audio appeared is heard, in tune; dlsynth exits 0 with no traceback."""
    live.server(FUNCTIONAL_PERIOD)
    sched = [(1.0, note_on(0, 81, 100)), (2.0, note_off(0, 81))]
    probe = live.session.probe(
        midi_to=":keys", seconds=3.0, storm=STORM, storm_until=0.5, schedule=[[t, b] for t, b in sched]
    )
    probe.wait_event("active", 20)
    dl = live.session.dlsynth(*PLAY_ARGS, "--blocksize", str(FUNCTIONAL_PERIOD), "--duration", "4")
    wait_started(probe, dl)
    res = probe.results(20)
    assert dl.wait(20) is not None, "dlsynth did not end after --duration 4"
    assert res["storm_cycles"] > 10, f"the storm ran only {res['storm_cycles']} cycles"
    x = capture(res)
    on = int(res["ev_frame"][0] - res["base"])
    at = heard_after(x, on, within=0.5)
    assert_note(x, at + int(0.05 * FS), at + int(0.8 * FS), 81, "the note sent 1 s after the audio appeared")
    assert A.rms_db(x[at : at + int(0.5 * FS)]) > A.rms_db(x[on - int(0.2 * FS) : on]) + 20, (
        "the note does not stand out of what the storm left sounding"
    )
    assert_clean_exit(dl, 0)


# ============================================================================ 5. hot-plug
@pytest.mark.timeout(120)
def test_a_keyboard_plugged_in_after_start_is_opened_and_its_held_note_released_when_unplugged(live):
    srv = live.server(FUNCTIONAL_PERIOD)
    cap = live.session.probe(label="capture", midi_to=None, seconds=12.0)
    cap.wait_event("active", 20)
    dl = live.session.dlsynth(*PLAY_ARGS, "--blocksize", str(FUNCTIONAL_PERIOD))  # --midi-in all, by default
    wait_started(cap, dl)
    time.sleep(0.5)
    kb = live.session.probe(
        label="usbkeys",
        midi_to=None,
        audio=False,
        start="peer",
        seconds=60.0,
        report_sent=True,
        schedule=[[0.05, program(0, ORGAN)], [0.1, note_on(0, 69, 100)]],
    )
    kb.wait_event("active", 20)
    peer = None
    with contextlib.suppress(TimeoutError):
        peer = kb.wait_event("peer_connected", 5.0)
    if peer is None:
        pytest.fail(
            f"a keyboard plugged in after dlsynth started was not opened within 5 s "
            f"(JACK connections:\n{jack_connections(srv.name)}); dlsynth stderr:\n{dl.stderr()[-2000:]}",
            pytrace=False,
        )
    assert peer["t"] <= 2.0, f"the new keyboard was opened {peer['t']:.2f} s after it appeared (at most 2 s)"
    sent = kb.wait_event("sent", 5)
    sent = kb.wait_event("sent", 5)  # the note-on
    _vanish_with_a_key_down(cap, kb, sent, dl, "the keyboard's note", "the note held on the unplugged keyboard")


def _vanish_with_a_key_down(cap, source, sent, dl, what: str, held: str) -> None:
    """Kill the MIDI source a second into its held note; the note must be released (at
    least RELEASE_DB down within RELEASE_WITHIN_S)."""
    time.sleep(1.2)
    kill_frame = cap.mark("kill")
    source.kill()  # unplugged with its key down
    time.sleep(RELEASE_WITHIN_S + 0.7)
    cap.send("stop")
    res = cap.results(15)
    x = capture(res)
    on = int(sent["frame"] - res["base"])
    at = heard_after(x, on)
    kill = kill_frame - res["base"]
    assert_note(x, at + int(0.1 * FS), kill, 69, what)
    drop, ref, late = A.release_drop_db(x, kill, FS, within=RELEASE_WITHIN_S)
    assert drop >= RELEASE_DB, (
        f"{held} is only {drop:.1f} dB down {RELEASE_WITHIN_S} s after it went ({ref:.1f} -> {late:.1f} dBFS)"
    )
    dl.signal(signal.SIGINT)
    assert dl.poll_until_exit(5) is not None


@pytest.mark.timeout(120)
def test_a_sender_connected_to_the_virtual_port_vanishing_with_a_key_down_releases_the_note(live):
    live.server(FUNCTIONAL_PERIOD)
    cap = live.session.probe(label="capture", midi_to=None, seconds=7.0)
    cap.wait_event("active", 20)
    dl = live.session.dlsynth(*PLAY_ARGS, "--no-midi-in", "--blocksize", str(FUNCTIONAL_PERIOD))
    wait_started(cap, dl)
    snd = live.session.probe(
        label="sender",
        midi_to=":keys",
        audio=False,
        start="midi",
        seconds=60.0,
        report_sent=True,
        schedule=[[0.05, program(0, ORGAN)], [0.1, note_on(0, 69, 100)]],
    )
    snd.wait_event("midi_connected", 20)
    snd.wait_event("sent", 5)
    sent = snd.wait_event("sent", 5)
    _vanish_with_a_key_down(cap, snd, sent, dl, "the sender's note", "the note held by the vanished sender")


# ============================================================================ 6. server death
@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_the_jack_server_dying_ends_dlsynth_with_one_line_of_error(live, sig):
    srv, probe, dl, started = start_session(live, schedule=[(0.2, note_on(0, 60, 100))], seconds=10.0)
    time.sleep(1.0)
    assert dl.returncode is None, f"dlsynth ended by itself: {dl.stderr()[-2000:]}"
    t_kill = time.monotonic()
    srv.process.send_signal(sig)
    rc = dl.poll_until_exit(10)
    took = (dl.t_end or time.monotonic()) - t_kill
    err = dl.stderr()
    lines = stderr_lines(err)
    assert rc is not None and took <= 3.0, f"dlsynth still running {took:.1f} s after the server died:\n{err[-2000:]}"
    assert TRACEBACK not in err, f"a traceback:\n{err[-3000:]}"
    assert rc == 2, f"exit status {rc}, want 2; stderr:\n{err[-3000:]}"
    assert lines, "no error message on stderr"
    assert len(lines) <= FEW_LINES, (
        f"{len(lines)} lines on stderr (one line of error wanted, a few at most):\n{err[-3000:]}"
    )
    last = lines[-1]
    assert "error" in last.lower() and "internal error" not in last, f"the last line is not an error message: {last!r}"


# ============================================================================ 7. Ctrl-C
@pytest.fixture(scope="module")
def slow_bank(tmp_path_factory):
    """A bank that takes `dlsynth play` over a second to load here (4000 instruments of
    8 regions): Ctrl-C can land in the middle of loading it."""
    from dlsynth import dls
    from dlsynth.dls.model import Instrument

    from tests import synthkit as K

    path = tmp_path_factory.mktemp("bank") / "many.dls"
    n, regions = 4000, 8
    waves = [K.sine_wave(frames=441, cycles=10) for _ in range(2 * n)]
    ins = []
    for i in range(n):
        regs = [
            dls.Region(key_low=16 * r, key_high=16 * r + 15, wave_link=dls.WaveLink(2 * i + r % 2))
            for r in range(regions)
        ]
        ins.append(dls.Instrument(name=f"i{i}", bank=Instrument.make_bank(msb=i // 128), program=i % 128, regions=regs))
    dls.write(dls.Collection(instruments=ins, waves=waves, info={"INAM": "slow to load"}), str(path))
    return path


def _has_file_open(pid: int, path) -> bool:
    """Whether process ``pid`` has ``path`` open or memory-mapped (Linux /proc)."""
    target = os.path.realpath(path)
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return True
    return target in _mapped_files(pid)


NUMPY_CORE = "_multiarray_umath"  # the name of NumPy's core extension module's file


def _mapped_files(pid: int) -> list[str]:
    """The paths of the files process ``pid`` has memory-mapped (Linux /proc; [] once it has gone)."""
    with contextlib.suppress(OSError):
        with open(f"/proc/{pid}/maps") as f:
            return [fields[5].rstrip("\n") for fields in (line.split(maxsplit=5) for line in f) if len(fields) == 6]
    return []


def _audio_ports(server: str) -> list[str]:
    return client_audio_outputs(server)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("moment", ["imports", "bank-loading", "midi-port-open", "audio-start", "playing"])
def test_ctrl_c_at_any_moment_exits_130_quietly_and_quickly(live, slow_bank, moment):
    srv = live.server(FUNCTIONAL_PERIOD)
    args = [*PLAY_ARGS, "--blocksize", str(FUNCTIONAL_PERIOD)]
    if moment == "bank-loading":
        args += ["--bank", str(slow_bank)]
    dl = live.session.dlsynth(*args)
    if moment == "imports":
        # Once dlsynth's own imports are under way (NumPy's core mapped): a Ctrl-C inside
        # CPython's start-up, before any of dlsynth's code has run (site's .pth files, on a
        # slow machine the first 50 ms), is CPython's to report ("Fatal Python error:
        # init_import_site" with a traceback), whatever the program.
        wait_for(
            lambda: any(NUMPY_CORE in path for path in _mapped_files(dl.p.pid)) or dl.returncode is not None,
            30,
            "dlsynth importing NumPy",
            step=0.001,
        )
    elif moment == "bank-loading":
        # As soon as dlsynth has the bank open (or mapped): it takes over a second to load.
        wait_for(
            lambda: _has_file_open(dl.p.pid, slow_bank) or dl.returncode is not None,
            30,
            "dlsynth opening the bank",
            step=0.002,
        )
        time.sleep(0.25)  # into the middle of it (it took 1.5 s here, on today's code)
    elif moment == "midi-port-open":
        wait_for(
            lambda: any(p.endswith(":keys") for p in jack_ports(srv.name) or []) or dl.returncode is not None,
            30,
            "dlsynth's virtual port",
            step=0.005,
        )
    elif moment == "audio-start":
        wait_for(lambda: _audio_ports(srv.name) or dl.returncode is not None, 30, "dlsynth's audio ports", step=0.005)
    elif moment == "playing":
        wait_for(lambda: _audio_ports(srv.name) or dl.returncode is not None, 30, "dlsynth's audio ports")
        time.sleep(1.0)
    assert dl.returncode is None, f"dlsynth ended before the Ctrl-C (status {dl.returncode}):\n{dl.stderr()[-2000:]}"
    t_int = time.monotonic()
    dl.signal(signal.SIGINT)
    rc = dl.poll_until_exit(10)
    took = (dl.t_end or time.monotonic()) - t_int
    err = dl.stderr()
    assert rc is not None and took <= 3.0, f"dlsynth still running {took:.1f} s after Ctrl-C ({moment}):\n{err[-2000:]}"
    assert TRACEBACK not in err, f"a traceback after Ctrl-C ({moment}):\n{err[-3000:]}"
    # 130 as a shell reports it: exit(130), or death by SIGINT (which the shell shows as 130).
    assert rc in (130, -signal.SIGINT), f"exit status {rc} after Ctrl-C ({moment}), want 130; stderr:\n{err[-2000:]}"


def _tail_problems(x: np.ndarray, stop: int) -> list[str]:
    problems = []
    seg_end = min(len(x), stop + int(TAIL_S * FS))
    if seg_end - stop < int(TAIL_S * FS):
        problems.append("the capture ends too soon after the stop")
    run, where = A.longest_zero_run(x, stop, seg_end)
    if run >= ZERO_RUN_LIMIT:
        problems.append(
            f"the sound is cut to zero {(where - stop) / FS * 1000:.0f} ms after the stop "
            f"({run} zero samples from there; level just before: "
            f"{A.rms_db(x[max(stop, where - 480) : where]) if where > stop else float('nan'):.1f} dBFS)"
        )
    return problems


@pytest.mark.timeout(60)
def test_ctrl_c_while_a_note_sounds_lets_its_release_tail_finish(live):
    srv, probe, dl, started = start_session(
        live, schedule=[(0.05, program(0, ORGAN)), (0.3, note_on(0, 69, 100))], seconds=5.0
    )
    time.sleep(1.4)
    stop_frame = probe.mark("sigint")
    t_int = time.monotonic()
    dl.signal(signal.SIGINT)
    rc = dl.poll_until_exit(10)
    took = (dl.t_end or time.monotonic()) - t_int
    res = probe.results(20)
    x = capture(res)
    stop = stop_frame - res["base"]
    assert A.rms_db(x[stop - int(0.2 * FS) : stop]) > -40, "rig: the note was not sounding at the Ctrl-C"
    problems = _tail_problems(x, stop)
    if rc is None or took > 2.5:
        problems.append(f"dlsynth still running {took:.2f} s after Ctrl-C (at most 2.5 s)")
    assert not problems, "; ".join(problems)
    assert_clean_exit(dl, -signal.SIGINT if rc == -signal.SIGINT else 130)


@pytest.mark.timeout(60)
def test_the_end_of_duration_lets_the_release_tail_finish(live):
    duration = 2.5
    srv, probe, dl, started = start_session(
        live,
        "--duration",
        str(duration),
        schedule=[(0.05, program(0, ORGAN)), (0.3, note_on(0, 69, 100))],
        seconds=duration + 3.5,
    )
    rc = dl.poll_until_exit(duration + 10)
    res = probe.results(20)
    x = capture(res)
    on = heard_after(x, int(res["ev_frame"][1] - res["base"]))
    held = A.rms_db(x[on + int(0.3 * FS) : on + int(1.3 * FS)])
    lv = A.level_db(x, 480)  # 10 ms windows
    sustained = np.flatnonzero(lv >= held - 3.0)
    assert len(sustained), "rig: the held note was not found"
    stop = int(sustained[-1] + 1) * 480  # where the release begins
    problems = _tail_problems(x, stop)
    t_stop = started["_t"] + stop / FS  # the test's clock at that frame (to a period or so)
    if rc is None or dl.t_end - t_stop > 2.5:
        problems.append(
            f"dlsynth ended {(dl.t_end or time.monotonic()) - t_stop:.2f} s after its release began (at most 2.5 s)"
        )
    assert not problems, "; ".join(problems)
    assert_clean_exit(dl, 0)


# ============================================================================ 8. levels, arguments
@pytest.mark.timeout(60)
def test_the_highest_gain_with_loud_chords_never_exceeds_full_scale(live):
    """The loudest --gain allowed (beyond it: a one-line error, tested below) on loud chords:
    nothing over 0 dBFS reaches the device."""
    from dlsynth.apps.play import GAIN_RANGE_DB

    top = f"{GAIN_RANGE_DB[1]:g}"
    sched = [(0.05, program(ch, p)) for ch, p in ((0, ORGAN), (1, PIANO), (2, 48), (3, 61))]
    chord = [36, 43, 48, 52, 55, 60, 64, 67, 72, 76]
    sched += [(0.3 + 0.001 * i, note_on(ch, k + ch, 127)) for ch in range(4) for i, k in enumerate(chord)]
    sched += [(1.5, note_off(ch, k + ch)) for ch in range(4) for k in chord]
    srv, probe, dl, started = start_session(live, "--gain", top, schedule=sched, seconds=2.5)
    res = probe.results(20)
    x = capture(res)
    peak = float(np.abs(x).max())
    assert peak > 0.1, f"rig: the chords were not heard (peak {peak:.3g})"
    over = np.flatnonzero(np.abs(x).max(axis=1) > 1.0)
    assert peak <= 1.0, (
        f"with --gain {top} the output reaches {peak:.2f} ({20 * math.log10(peak):+.1f} dBFS); "
        f"{len(over)} frames over full scale"
    )
    dl.signal(signal.SIGINT)
    dl.poll_until_exit(5)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "bad",
    [
        ["--rate", "0"],
        ["--voices", "0"],
        ["--voices", "100000"],
        ["--blocksize", "3"],
        ["--latency", "-1"],
        ["--duration", "-5"],
        ["--gain", "1000"],
    ],
    ids=lambda a: " ".join(a),
)
def test_a_bad_argument_is_one_line_and_status_2(live, bad):
    live.server(FUNCTIONAL_PERIOD)
    dl = live.session.dlsynth(*PLAY_ARGS, *bad)
    rc = dl.poll_until_exit(15)
    err = dl.stderr()
    if rc is None:
        pytest.fail(f"`dlsynth play {' '.join(bad)}` was accepted: still running after 15 s", pytrace=False)
    lines = stderr_lines(err)
    assert TRACEBACK not in err and "internal error" not in err, err[-3000:]
    assert rc == 2, f"`{' '.join(bad)}`: exit status {rc}, want 2; stderr:\n{err[-2000:]}"
    assert len(lines) == 1, f"`{' '.join(bad)}`: {len(lines)} lines on stderr, want one:\n{err[-2000:]}"


# ============================================================================ 9. accuracy
N_NOTES = 50
NOTE_LEN_S = 0.15
NOTE_EVERY_S = 0.5
SILENCE_FRAMES = int(0.1 * FS)  # the silent gap before every onset (releases end within 0.2 s)


def _accuracy_plan(seed: int = 9):
    rng = np.random.default_rng(seed)
    sched = [(0.1, program(ch, p)) for ch, p in enumerate(PLUCKED)]
    notes = []
    t = 0.5
    for i in range(N_NOTES):
        ch = i % len(PLUCKED)
        key = int(rng.integers(45, 85))
        t_on = t + float(rng.integers(0, 2400)) / FS  # onsets land anywhere in a block
        notes.append((t_on, ch, key))
        sched.append((t_on, note_on(ch, key, 100)))
        sched.append((t_on + NOTE_LEN_S, note_off(ch, key)))
        t += NOTE_EVERY_S
    sched.sort(key=lambda e: e[0])
    return sched, notes, t + 0.5


#: An onset may be this many frames from its scheduled place (relative to the first note).
ONSET_FRAMES = 1


def _xrun_steps_removed(err: np.ndarray, onsets: np.ndarray, xruns: list[int], period: int):
    """The onset errors with the graph's xrun losses taken out, and how many were taken out.

    When a cycle of the JACK graph is lost (an xrun), everything dlsynth rendered after it
    reaches the capture a whole number of periods later than before, however exact its
    timing. A step in the error is forgiven only when it is a whole number of periods (within
    ONSET_FRAMES) and the server reported an xrun between the two onsets it falls between;
    any other step, or jitter within a stretch, still fails."""
    err = np.asarray(err, dtype=np.int64).copy()
    xf = np.asarray(xruns, dtype=np.int64)
    steps = 0
    for i in range(1, len(err)):
        d = int(err[i] - err[i - 1])
        k = round(d / period)
        if k == 0 or abs(d - k * period) > ONSET_FRAMES:
            continue
        lo, hi = int(onsets[i - 1]) - period, int(onsets[i]) + period
        if not np.any((xf >= lo) & (xf <= hi)):
            continue
        err[i:] -= k * period
        steps += abs(k)
    return err, steps


def read_event_log(path) -> list[dict]:
    entries = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                e = json.loads(line)
                missing = {"stamp", "frame", "group", "data", "late"} - set(e)
                assert not missing, f"event log line {n} lacks {sorted(missing)}: {line.strip()}"
                entries.append(e)
    return entries


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_fifty_notes_at_the_right_pitch_and_at_their_scheduled_frames(live):
    sched, notes, seconds = _accuracy_plan()
    log = live.tmp / "events.jsonl"
    srv, probe, dl, started = start_session(
        live,
        "--no-midi-in",
        "--no-effects",
        "--event-log",
        str(log),
        "--duration",
        str(seconds + 2),
        schedule=sched,
        seconds=seconds,
    )
    res = probe.results(seconds + 30)
    rc = dl.poll_until_exit(20)
    x = capture(res)
    gaps = A.cycle_gaps(res["cyc_frame"], res["period"])
    graph = (
        f" (the graph: {len(xruns_since_start(res))} xruns, {len(gaps)} cycles not following on)"
        if gaps or len(xruns_since_start(res))
        else ""
    )
    # dlsynth's own account of where it applied each note-on.
    entries = read_event_log(log)
    ons = [e for e in entries if (e["data"][0] & 0xF0) == 0x90 and len(e["data"]) > 2 and e["data"][2] > 0]
    ons.sort(key=lambda e: e["frame"])
    logged = [(e["data"][0] & 0x0F, e["data"][1]) for e in ons]
    assert logged == [(ch, key) for _, ch, key in notes], (
        f"the event log's note-ons (channel, key) are not the notes sent, in order: {logged}"
    )
    frames = np.array([e["frame"] for e in ons], dtype=np.int64)
    # The capture's onsets: the first non-zero sample after a silent gap.
    onsets = A.onsets_after_silence(x, 0.0, SILENCE_FRAMES)
    sent = np.array([f for f, (_, b) in zip(res["ev_frame"], sched) if (b[0] & 0xF0) == 0x90], dtype=np.int64)
    sent -= res["base"]
    assert len(onsets) == N_NOTES, (
        f"{len(onsets)} onsets after silence in the capture, want {N_NOTES} "
        f"(first ones at {[round(o / FS, 3) for o in onsets[:8]]} s; notes sent at "
        f"{[round(s / FS, 3) for s in sent[:8]]} s){graph}"
    )
    lat = onsets - sent
    assert np.all((lat > 0) & (lat < FS)), f"onsets do not follow the notes sent: latencies {lat.tolist()}"
    d_capture = onsets - onsets[0]
    d_engine = frames - frames[0]
    err = d_capture - d_engine
    late = [i for i, e in enumerate(ons) if e["late"]]
    err, steps = _xrun_steps_removed(err, onsets, xruns_since_start(res), res["period"])
    if steps:
        print(f"\nonsets: the graph lost {steps} cycle(s) at its xruns; timing judged between them{graph}")
    bad = np.flatnonzero(np.abs(err) > ONSET_FRAMES)
    assert len(bad) == 0, (
        f"{len(bad)} of {N_NOTES} onsets are not at their scheduled frame (relative to the first) "
        f"within {ONSET_FRAMES} frame: errors (frames) {err.tolist()}; notes logged late: {late}{graph}"
    )
    off = []
    for i, (o, (_, ch, key)) in enumerate(zip(onsets, notes)):
        seg = x[o + int(0.03 * FS) : o + int((NOTE_LEN_S - 0.005) * FS)]
        c = A.pitch_cents(seg, FS, key)
        if math.isnan(c) or abs(c) > PITCH_CENTS:
            off.append((i, PLUCKED[ch], key, None if math.isnan(c) else round(c, 2)))
    assert not off, f"notes off pitch (index, program, key, cents): {off}{graph}"
    assert rc == 0, f"exit status {rc} after --duration; stderr:\n{dl.stderr()[-2000:]}"
