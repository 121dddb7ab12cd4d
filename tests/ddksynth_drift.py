"""The DDK sample synth's SyncToMaster (``CSampleClock`` / ``CPhaseLockClock``), reproduced so
the tests can compare dlsynth's drift correction (``dlsynth.synth.drift.DriftCorrector``) with it.
Not part of the product."""

from __future__ import annotations

import math

from dlsynth.native.engine import REF_PER_SECOND

_SEC_PER_REF = 1.0 / REF_PER_SECOND


class DDKSynthCorrector:
    """The DDK sample's SyncToMaster, for comparison (``CSampleClock`` / ``CPhaseLockClock``).

    The sample position is converted to a "slave" reference time at the nominal rate
    (integer arithmetic), and an offset maps it onto the master clock. Each SyncToMaster
    measures ``slave + offset - master`` and subtracts a hundredth of it (C integer
    division, truncating towards zero) from the offset: a first-order phase loop with no
    rate estimate. Against a rate error it settles with a standing lag of
    ``rate_error * call_interval / 0.01`` (about 0.53 ms at 500 ppm and 10.7 ms calls),
    and any error below 100 units (10 us) is never corrected.

    No detection of restarts, xruns or clock steps: it just converges back at 1 % per call.
    Same interface as ``DriftCorrector``.
    """

    GAIN_DIVISOR = 100

    def __init__(self, sample_rate: float) -> None:
        fs = int(round(float(sample_rate)))
        if fs <= 0:
            raise ValueError(f"sample_rate must be a positive number, not {sample_rate!r}")
        self._fs = fs
        self.reset()

    def reset(self) -> None:
        self._started = False
        self._start_sample = 0
        self._offset = 0  # ref units: master = slave + offset
        self._last_err = 0
        self._origin_ref = 0.0
        self._origin_sample = 0.0
        self.observations = 0
        self.rejected = 0
        self.relocks = 0
        self.last_relock = None

    @property
    def sample_rate(self) -> float:
        return float(self._fs)

    @property
    def rate_ppm(self) -> float:
        return 0.0

    @property
    def locked(self) -> bool:
        return self._started

    @property
    def error_estimate(self) -> float:
        return abs(self._last_err) * _SEC_PER_REF if self._started else math.inf

    @property
    def origin(self) -> tuple[float, float]:
        return (self._origin_ref, self._origin_sample)

    def _slave(self, sample: int) -> int:
        return (sample - self._start_sample) * REF_PER_SECOND // self._fs

    def observe(self, ref_time: float, sample_position: float) -> None:
        t = int(round(ref_time))
        s = int(round(sample_position))
        self.observations += 1
        if not self._started:  # CSampleClock::Start: offset = master - 0
            self._started = True
            self._start_sample = s
            self._offset = t
            self._origin_ref = float(t)
            self._origin_sample = float(s)
            return
        err = self._slave(s) + self._offset - t
        self._last_err = err
        step = abs(err) // self.GAIN_DIVISOR
        self._offset -= step if err > 0 else -step

    def ref_time_to_sample(self, ref_time: float) -> float:
        return (ref_time - self._offset) * self._fs / REF_PER_SECOND + self._start_sample

    def sample_to_ref_time(self, sample: float) -> float:
        return (sample - self._start_sample) * REF_PER_SECOND / self._fs + self._offset

    def correction(self, ref_origin: float | None = None, sample_origin: float | None = None) -> tuple[float, float]:
        r0 = self._origin_ref if ref_origin is None else float(ref_origin)
        s0 = self._origin_sample if sample_origin is None else float(sample_origin)
        return (1.0, self.ref_time_to_sample(r0) - s0)
