"""SyncToMaster: keep RefTimeToSample true while the sample clock drifts against the master.

The audio device plays samples on its own crystal; the master clock (``synth.masterclock``) runs
on another. They disagree by up to a few hundred ppm, so a fixed map from reference time
to sample position walks off by tens of milliseconds a minute. The wave sink reports, for
each buffer, the master-clock time at which that buffer reaches the DAC and the buffer's
sample position; ``DriftCorrector`` turns that jittery stream into a smooth, continuous
map and the rate/phase correction the synth's time map applies.

DirectMusic names: ``DriftCorrector.observe`` is ``CSampleClock::SyncToMaster``,
``ref_time_to_sample`` / ``sample_to_ref_time`` are ``RefTimeToSample`` /
``SampleToRefTime``. (The DDK sample's own method, kept for comparison, is in the tests:
``tests/ddksynth_drift.py``.)

How it works
------------
Two stages, each O(1) per observation.

1. The estimator: a two-state Kalman filter with the sample position as its independent
   variable (sample counts are exact; only the time stamps jitter). Over nominal seconds
   ``u = (s - s0) / fs`` since an anchor, the master time of sample ``s`` is modelled as
   ``t0 + u * (1 + rho)``; the state is the phase at the anchor (re-anchored on every
   accepted observation, so it is always 0 after an update) and ``rho``, the master-time
   length of one nominal device second minus one. The rate is a random walk (crystals
   drift slowly with temperature). The measurement noise is learnt from the innovations
   (winsorised, so outliers do not inflate it). Observations whose innovation lies
   outside ``GATE_SIGMAS`` standard deviations are rejected as outliers.

2. The output map: a straight line ``sample = sa + (ref - ra) * k`` that is re-anchored on
   every call at its own current value, so it never jumps; only its slope ``k`` moves.
   The slope is steered towards the estimated rate plus a phase term that closes the gap
   to the estimator: linear (time constant ``PHASE_TIME_CONSTANT_S``) near zero, and
   further out no faster than ``sqrt(a * e)`` for slope-change limit ``a`` and gap ``e``
   (so it can always brake in time and lands without overshoot), capped at
   ``MAX_PHASE_SLEW`` (seconds of phase per second). The slope itself changes by at most
   ``MAX_SLOPE_ACCEL_PPM`` per second (timed by the exact sample count, not the jittery
   time stamps) and ``MAX_SLOPE_STEP_PPM`` per call.

Discontinuities
---------------
- Device restart (sample position goes backwards): re-anchor at once on the new
  observation; the output map jumps to it (nothing else could be true).
- xrun (sample position jumps) and master clock step: the observations are rejected as
  outliers, but ``STEP_CONFIRM`` consecutive rejected observations that agree with one
  another are a new truth, not noise: the estimator re-anchors on them (keeping its rate
  estimate, which a step does not change). If the step is larger than
  ``SNAP_THRESHOLD_S`` the output map jumps too (slewing 200 ms at 1 ms/s would take
  minutes, and an xrun is already audible); smaller steps are slewed.

Every jump of the output map is counted in ``relocks`` (with ``last_relock`` saying why:
"restart", "step", or "phase" for a gap wider than the snap threshold, e.g. after a long
silence in the observations); every step the estimator detects, jumped or slewed, in
``steps``. After a jump the map follows the estimator directly for
``RELOCK_FOLLOW_OBSERVATIONS`` observations (``relocking`` is True) while the phase is
re-learnt; smooth steering resumes after.

Figures (tests/test_drift.py, 48 kHz, an observation per 512 frames, 0.3 ms jitter, rare
late outliers): settles under 0.2 ms in about 6 s from a cold start at +-500 ppm and stays
within about 0.06 ms for an hour (rms 0.018 ms); DDKSynth's method lags 0.5-0.6 ms.

Real-time use: ``observe`` does arithmetic on floats and, only while outliers are pending,
sorts a list of at most ``STEP_CONFIRM`` numbers. No locks, no I/O, no logging.
"""

from __future__ import annotations

import math

from dlsynth.native.engine import REF_PER_SECOND

_SEC_PER_REF = 1.0 / REF_PER_SECOND

# --- estimator ---------------------------------------------------------------------
#: Outlier gate, in standard deviations of the innovation.
GATE_SIGMAS = 5.0
#: Consecutive mutually consistent rejected observations that make a step.
STEP_CONFIRM = 6
#: Initial guess of the time-stamp jitter (seconds, std), refined from the data.
INITIAL_JITTER_S = 0.5e-3
#: Bounds of the learnt jitter (seconds, std).
MIN_JITTER_S = 5e-6
MAX_JITTER_S = 5e-3
#: Weight of one observation in the learnt jitter once warmed up (1 / observations).
JITTER_LEARN_RATE = 1.0 / 500.0
#: The first guess counts as this many observations.
JITTER_PRIOR_WEIGHT = 20
_MIN_R = MIN_JITTER_S * MIN_JITTER_S
_MAX_R = MAX_JITTER_S * MAX_JITTER_S
#: Initial uncertainty of the sample clock's rate (ppm, std).
INITIAL_RATE_STD_PPM = 1000.0
#: Rate uncertainty added on a device restart (it may be another device) and on a step.
RESTART_RATE_STD_PPM = 200.0
STEP_RATE_STD_PPM = 5.0
#: Rate random walk of the sample clock against the master (1/s, spectral density).
#: 1e-11 allows the rate to wander about 25 ppm per minute (far more than a warming
#: crystal does) and gives a loop bandwidth of about 0.3 rad/s at 0.3 ms of jitter every
#: 10.7 ms (the bandwidth grows as the learnt jitter shrinks: (q / (R * interval))^(1/4)).
RATE_RANDOM_WALK = 1e-11
#: Phase random walk (s^2/s): sample-clock phase noise, and numerical safety.
PHASE_RANDOM_WALK = 1e-13

# --- output map ---------------------------------------------------------------------
#: Time constant of the linear phase correction near lock (seconds).
PHASE_TIME_CONSTANT_S = 2.0
#: Fastest phase slew of the output map (seconds of phase per second): 1 ms/s = 1000 ppm.
MAX_PHASE_SLEW = 1e-3
#: Fastest change of the output map's slope (ppm per second of master time).
MAX_SLOPE_ACCEL_PPM = 200.0
#: Largest change of the output map's slope in one call (ppm), whatever the gap.
MAX_SLOPE_STEP_PPM = 20.0
#: A phase error larger than this (seconds) is corrected by a jump, not slewed.
SNAP_THRESHOLD_S = 5e-3
#: After a jump, the output map follows the estimator directly for this many observations
#: (it is re-learning the phase from scratch; smoothness resumes after).
RELOCK_FOLLOW_OBSERVATIONS = 16

# --- lock ------------------------------------------------------------------------------
LOCK_PHASE_STD_S = 50e-6
LOCK_RATE_STD_PPM = 20.0
LOCK_OUTPUT_ERROR_S = 0.1e-3


class DriftCorrector:
    """``CSampleClock`` with a real SyncToMaster: rate and phase of the sample clock.

    ``observe(ref_time, sample_position)`` per buffer (the master time at which that
    buffer's first frame reaches the DAC, and its frame position). Then
    ``ref_time_to_sample`` / ``sample_to_ref_time`` give the corrected map, and
    ``correction()`` the (rate_ratio, phase_offset_samples) pair for a time map of the form
    ``sample = sample_origin + (ref - ref_origin) * fs / 10^7 * rate_ratio + phase_offset``.

    Properties: ``rate_ppm`` (the device clock's rate error against the master: +500 means
    it plays 500 ppm more samples per master second than nominal), ``locked``,
    ``error_estimate`` (seconds: the estimator's phase uncertainty plus the output map's
    remaining distance from it), and counters ``observations``, ``rejected``, ``relocks``.
    """

    def __init__(
        self,
        sample_rate: float,
        *,
        initial_jitter_s: float = INITIAL_JITTER_S,
        initial_rate_ppm: float = 0.0,
        rate_random_walk: float = RATE_RANDOM_WALK,
        phase_time_constant_s: float = PHASE_TIME_CONSTANT_S,
        max_phase_slew: float = MAX_PHASE_SLEW,
        max_slope_accel_ppm: float = MAX_SLOPE_ACCEL_PPM,
        max_slope_step_ppm: float = MAX_SLOPE_STEP_PPM,
        snap_threshold_s: float = SNAP_THRESHOLD_S,
        gate_sigmas: float = GATE_SIGMAS,
        step_confirm: int = STEP_CONFIRM,
    ) -> None:
        fs = float(sample_rate)
        if not (fs > 0.0 and math.isfinite(fs)):
            raise ValueError(f"sample_rate must be a positive number, not {sample_rate!r}")
        if step_confirm < 2:
            raise ValueError("step_confirm must be at least 2")
        self._fs = fs
        self._q = float(rate_random_walk)
        self._q_phi = PHASE_RANDOM_WALK
        self._tau = float(phase_time_constant_s)
        self._slew = float(max_phase_slew) * fs  # samples per second
        self._accel = float(max_slope_accel_ppm) * 1e-6 * fs  # samples per second per second
        self._max_dk = float(max_slope_step_ppm) * 1e-6 * fs  # samples per second, per call
        self._snap = float(snap_threshold_s) * fs  # samples
        self._gate2 = float(gate_sigmas) ** 2
        self._confirm = int(step_confirm)
        self._initial_R = float(initial_jitter_s) ** 2
        # rho: master seconds per nominal device second, minus one.
        self._initial_rho = 1.0 / (1.0 + initial_rate_ppm * 1e-6) - 1.0
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything: the next observation starts afresh."""
        self._started = False
        # estimator
        self._t0 = 0.0  # master time of sample _s0 (ref units)
        self._s0 = 0.0
        self._rho = self._initial_rho
        self._p00 = self._initial_R
        self._p01 = 0.0
        self._p11 = (INITIAL_RATE_STD_PPM * 1e-6) ** 2
        self._R = self._initial_R
        self._n_learn = 0
        self._last_s = 0.0
        # output map: sample = _sa + (ref - _ra) * _k * 1e-7
        self._ra = 0.0
        self._sa = 0.0
        self._k = self._fs / (1.0 + self._initial_rho)
        self._last_steer_s = 0.0
        self._e = 0.0  # last (estimator - output) phase, samples
        self._follow = 0  # observations left in the post-relock follow window
        # step candidates: ring of (t, s)
        self._cand_t = [0.0] * self._confirm
        self._cand_s = [0.0] * self._confirm
        self._cand_n = 0
        self._cand_i = 0
        # origin for correction()
        self._origin_ref = 0.0
        self._origin_sample = 0.0
        # counters
        self.observations = 0
        self.rejected = 0
        self.relocks = 0
        self.steps = 0
        self.last_relock: str | None = None

    @property
    def sample_rate(self) -> float:
        return self._fs

    @property
    def started(self) -> bool:
        return self._started

    @property
    def rate_ppm(self) -> float:
        """Estimated rate error of the sample clock against the master clock, in ppm."""
        return (1.0 / (1.0 + self._rho) - 1.0) * 1e6

    @property
    def error_estimate(self) -> float:
        """Estimated error of the map, in seconds (phase std plus output-map lag)."""
        if not self._started:
            return math.inf
        return math.sqrt(max(self._p00, 0.0)) + abs(self._e) / self._fs

    @property
    def locked(self) -> bool:
        """True when rate and phase are known and the output map has closed on them."""
        return (
            self._started
            and 2 * self._cand_n < self._confirm  # no step suspected
            and self._p00 < LOCK_PHASE_STD_S**2
            and self._p11 < (LOCK_RATE_STD_PPM * 1e-6) ** 2
            and abs(self._e) < LOCK_OUTPUT_ERROR_S * self._fs
        )

    @property
    def relocking(self) -> bool:
        """True just after a jump, while the map follows the estimator directly."""
        return self._follow > 0

    @property
    def slope(self) -> float:
        """The output map's current slope, in samples per master second."""
        return self._k

    @property
    def origin(self) -> tuple[float, float]:
        """(ref_time, sample) that ``correction()`` is relative to by default."""
        return (self._origin_ref, self._origin_sample)

    # ------------------------------------------------------------------ the map
    def ref_time_to_sample(self, ref_time: float) -> float:
        """``RefTimeToSample``: the (fractional) sample position at master time ``ref_time``."""
        return self._sa + (ref_time - self._ra) * _SEC_PER_REF * self._k

    def sample_to_ref_time(self, sample: float) -> float:
        """``SampleToRefTime``: the master time (100 ns units) of sample position ``sample``."""
        return self._ra + (sample - self._sa) / self._k * REF_PER_SECOND

    def correction(self, ref_origin: float | None = None, sample_origin: float | None = None) -> tuple[float, float]:
        """(rate_ratio, phase_offset_samples) for the synth's time map.

        With them, ``sample_origin + (ref - ref_origin) * fs / 10^7 * rate_ratio +
        phase_offset`` equals ``ref_time_to_sample(ref)`` for every ``ref`` until the next
        ``observe``. The origin defaults to ``origin`` (the first observation).
        """
        r0 = self._origin_ref if ref_origin is None else float(ref_origin)
        s0 = self._origin_sample if sample_origin is None else float(sample_origin)
        return (self._k / self._fs, self.ref_time_to_sample(r0) - s0)

    # ------------------------------------------------------------------ observations
    def observe(self, ref_time: float, sample_position: float) -> None:
        """``SyncToMaster``: buffer at ``sample_position`` reaches the DAC at ``ref_time``."""
        t = float(ref_time)
        s = float(sample_position)
        self.observations += 1
        if not self._started:
            self._start(t, s)
            return
        if s < self._last_s:
            self._relock(t, s, "restart", RESTART_RATE_STD_PPM, snap=True)
            return
        self._last_s = s

        # Predict from the anchor to s.
        du = (s - self._s0) / self._fs
        p01 = self._p01
        p11 = self._p11
        q = self._q
        du2 = du * du
        pp00 = self._p00 + 2.0 * du * p01 + du2 * p11 + q * du2 * du / 3.0 + self._q_phi * du
        pp01 = p01 + du * p11 + 0.5 * q * du2
        pp11 = p11 + q * du
        # Innovation (seconds): measured minus predicted master time of sample s.
        nu = (t - self._t0) * _SEC_PER_REF - du * (1.0 + self._rho)
        R = self._R
        S = pp00 + R
        nu2 = nu * nu
        if pp00 < R:
            # Innovations are mostly measurement noise now: learn the jitter from them,
            # E[nu^2] = P00(pred) + R. Winsorised at 3 sigma (a Gaussian loses 0.5 % of its
            # variance to that), so outliers and steps move it little; rejected observations
            # count too, so a jitter larger than the first guess is learnt, not rejected.
            n = self._n_learn
            self._n_learn = n + 1
            w = 1.0 / (n + JITTER_PRIOR_WEIGHT)
            if w < JITTER_LEARN_RATE:
                w = JITTER_LEARN_RATE
            x = nu2 if nu2 < 9.0 * S else 9.0 * S
            r_new = R + w * (x - pp00 - R)
            if r_new < _MIN_R:
                r_new = _MIN_R
            elif r_new > _MAX_R:
                r_new = _MAX_R
            self._R = r_new
        if nu2 > self._gate2 * S:
            self.rejected += 1
            self._candidate(t, s)
            self._steer(s)
            return
        self._cand_n = 0

        # Update, then re-anchor the estimator's line at s.
        k0 = pp00 / S
        k1 = pp01 / S
        self._t0 += (du * (1.0 + self._rho) + k0 * nu) * REF_PER_SECOND
        self._s0 = s
        self._rho += k1 * nu
        self._p00 = pp00 - k0 * pp00
        self._p01 = pp01 - k0 * pp01
        self._p11 = pp11 - k1 * pp01
        self._steer(s)

    # ------------------------------------------------------------------ internals
    def _start(self, t: float, s: float) -> None:
        self._started = True
        self._t0 = t
        self._s0 = s
        self._last_s = s
        self._ra = t
        self._sa = s
        self._last_steer_s = s
        self._origin_ref = t
        self._origin_sample = s

    def discontinuity(self, ref_time: float, sample_position: float) -> None:
        """The wave sink saw the stream break here (an xrun: the device skipped or repeated
        time): re-anchor on this observation at once, map included, keeping the rate. The
        sound has already glitched; slewing would leave events late for seconds."""
        if not self._started:
            self._start(float(ref_time), float(sample_position))
            return
        self.observations += 1
        self.steps += 1
        self._relock(float(ref_time), float(sample_position), "discontinuity", STEP_RATE_STD_PPM, snap=True)

    def _line_time(self, s: float) -> float:
        """The estimator's master time (ref units) of sample s."""
        return self._t0 + (s - self._s0) / self._fs * (1.0 + self._rho) * REF_PER_SECOND

    def _relock(self, t: float, s: float, reason: str, rate_std_ppm: float, snap: bool) -> None:
        self._t0 = t
        self._s0 = s
        self._last_s = s
        self._p00 = self._R
        self._p01 = 0.0
        self._p11 += (rate_std_ppm * 1e-6) ** 2
        self._cand_n = 0
        if snap:
            self._ra = t
            self._sa = s
            self._k = self._fs / (1.0 + self._rho)
            self._last_steer_s = s
            self._e = 0.0
            self._follow = RELOCK_FOLLOW_OBSERVATIONS
            self.relocks += 1
            self.last_relock = reason

    def _candidate(self, t: float, s: float) -> None:
        """A rejected observation: noise, or the first sight of a step?"""
        m = self._confirm
        i = self._cand_i
        self._cand_t[i] = t
        self._cand_s[i] = s
        self._cand_i = (i + 1) % m
        if self._cand_n < m:
            self._cand_n += 1
            if self._cand_n < m:
                return
        # Residuals (seconds) of the last m rejected observations against the line.
        res = sorted((self._cand_t[j] - self._line_time(self._cand_s[j])) * _SEC_PER_REF for j in range(m))
        med = res[m // 2]
        tol = math.sqrt(self._gate2 * self._R)
        inliers = [r for r in res if abs(r - med) <= tol]
        if len(inliers) < m - 1:
            return  # scattered outliers, not a step: keep sliding
        offset = sum(inliers) / len(inliers)
        self.steps += 1
        t_new = self._line_time(s) + offset * REF_PER_SECOND
        big = abs(offset) * self._fs > self._snap
        self._relock(t_new, s, "step", STEP_RATE_STD_PPM, snap=big)
        self._p00 = 2.0 * self._R / len(inliers)

    def _steer(self, s: float) -> None:
        """Move the output map one step towards the estimator, continuously."""
        t_e = self._line_time(s)  # estimator: sample s plays at t_e
        k = self._k
        sa = self._sa + (t_e - self._ra) * _SEC_PER_REF * k  # output map at t_e
        self._ra = t_e
        e = s - sa  # samples the output map is behind the estimator
        if self._follow > 0 or abs(e) > self._snap:
            if self._follow > 0:
                self._follow -= 1
            else:
                self.relocks += 1
                self.last_relock = "phase"
                self._follow = RELOCK_FOLLOW_OBSERVATIONS
            self._sa = s
            self._k = self._fs / (1.0 + self._rho)
            self._e = 0.0
            self._last_steer_s = s
            return
        self._sa = sa
        self._e = e
        # Elapsed time from the exact sample count (jitter-free), for the slope-change limit.
        dt = (s - self._last_steer_s) / self._fs
        self._last_steer_s = s
        if dt <= 0.0:
            return
        ae = abs(e)
        corr = ae / self._tau
        brake = math.sqrt(self._accel * ae)
        if brake < corr:
            corr = brake
        if self._slew < corr:
            corr = self._slew
        if e < 0.0:
            corr = -corr
        want = self._fs / (1.0 + self._rho) + corr
        lim = self._accel * dt
        if lim > self._max_dk:
            lim = self._max_dk
        d = want - k
        if d > lim:
            d = lim
        elif d < -lim:
            d = -lim
        self._k = k + d
