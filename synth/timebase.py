"""The map between reference time and sample time (``ISynthSinkDMus::RefTimeToSample`` and
``SampleToRefTime``), with smooth corrections for ``SyncToMaster``.

- Reference time: an int in 100 ns units from the master clock (``REFERENCE_TIME``).
- Sample time: an int, frames since the synth started.

Nominally (no correction applied)::

    sample = start_sample + round((ref - ref_offset) * sample_rate / 10**7)

computed with integers only (round half up), so it is exact for any rate and any time, and
``ref_time_to_sample(sample_to_ref_time(s)) == s`` for every ``s`` (every sample spans at least
one 100 ns tick as long as the rate is below 10 MHz).

Corrections (:meth:`TimeMap.set_correction`, fed by a drift estimator or by
:meth:`TimeMap.sync_to_master`) never make the map jump: the map is re-anchored where it
stands at a pivot time, and from there on its slope is ``sample_rate * rate_ratio`` plus, while
a phase offset is being absorbed, a slew of at most ``max_slew`` (default 1 sample per 1000);
once the offset is absorbed the slope returns to ``sample_rate * rate_ratio``.  The rate ratio
itself moves by at most ``max_slew`` per call and stays within ``1 +- max_rate_deviation``.
So the map is continuous and strictly increasing, and after a correction it differs from the
map before it by at most ``max_slew`` samples per sample elapsed since the pivot (plus the
rate change asked for).  The one exception is a hard resynchronisation after a discontinuity
(an xrun, a device restart): :meth:`TimeMap.start`, or :meth:`TimeMap.sync_to_master` seeing an
error beyond ``resync_threshold``; those are counted in ``resyncs``.

The slopes are fixed-point integers (32 fractional bits), and the whole state is one tuple
replaced by a single assignment, so a reader on another thread (the audio thread converting
event times) always sees a consistent map without a lock.
"""

from __future__ import annotations

import math
import sys

import numpy as np
from typing import Optional

__all__ = [
    "REFTIME_PER_SECOND",
    "DEFAULT_MAX_SLEW",
    "DEFAULT_MAX_RATE_DEVIATION",
    "TimeMap",
]

#: Reference time units (100 ns) per second.
from dlsynth.native.engine import REF_PER_SECOND as REFTIME_PER_SECOND

#: Largest slope deviation used to absorb a phase offset: 1 sample per 1000 samples.
DEFAULT_MAX_SLEW = 1e-3
#: The rate ratio accepted from an estimator stays within 1 +- this (1 % is far beyond any
#: real crystal; an estimate outside it is clamped).
DEFAULT_MAX_RATE_DEVIATION = 0.01
#: An error smaller than this (in samples) is left alone by sync_to_master's own correction.
DEFAULT_DEADBAND = 0.5

_FRAC_BITS = 32
_ONE = 1 << _FRAC_BITS
#: Numerator units per sample: N / _Q is a position in samples.
_Q = REFTIME_PER_SECOND << _FRAC_BITS


def _check_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    return value


def _is_fraction(value) -> bool:
    """isinstance(value, fractions.Fraction), without importing fractions (at start-up) for
    it: a Fraction exists only once its module is loaded."""
    fractions = sys.modules.get("fractions")
    return fractions is not None and isinstance(value, fractions.Fraction)


def _check_real(name: str, value) -> float:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) or _is_fraction(value)):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


class TimeMap:
    """Reference time <-> sample time, after DDKSynth's sample clock, but exact and smooth.

    Parameters
    ----------
    sample_rate:
        Nominal frames per second, an int in 1..9_999_999.
    ref_offset, start_sample:
        The anchor: reference time ``ref_offset`` is sample ``start_sample``.
    max_slew:
        Largest relative slope change used to absorb a phase offset (samples per sample).
    max_rate_deviation:
        Bound on ``|rate_ratio - 1|``.
    resync_threshold:
        Samples of error beyond which :meth:`sync_to_master` re-anchors at once instead of
        slewing (None: ``sample_rate // 10``, 100 ms).
    deadband:
        Errors smaller than this many samples are ignored by :meth:`sync_to_master`'s own
        phase correction (used when no estimator is attached).
    estimator:
        Consulted by :meth:`sync_to_master`: a callable
        ``estimator(ref_time, sample_time, error_samples) -> (rate_ratio,
        phase_offset_samples) or None`` (phase relative to where this map stands at
        *ref_time*). (Live play does not use this map: its one clock controller is
        ``synth.drift.DriftCorrector``, whose line the wave sink publishes to C directly.)
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        ref_offset: int = 0,
        start_sample: int = 0,
        max_slew: float = DEFAULT_MAX_SLEW,
        max_rate_deviation: float = DEFAULT_MAX_RATE_DEVIATION,
        resync_threshold: Optional[float] = None,
        deadband: float = DEFAULT_DEADBAND,
        estimator: Optional[object] = None,
    ) -> None:
        _check_int("sample_rate", sample_rate)
        if not 1 <= sample_rate < REFTIME_PER_SECOND:
            raise ValueError(f"sample_rate must be in 1..{REFTIME_PER_SECOND - 1} frames per second, got {sample_rate}")
        _check_real("max_slew", max_slew)
        if not 0 < max_slew <= 0.1:
            raise ValueError(f"max_slew must be in (0, 0.1], got {max_slew!r}")
        _check_real("max_rate_deviation", max_rate_deviation)
        if not 0 <= max_rate_deviation <= 0.5:
            raise ValueError(f"max_rate_deviation must be in [0, 0.5], got {max_rate_deviation!r}")
        if resync_threshold is None:
            resync_threshold = max(1, sample_rate // 10)
        _check_real("resync_threshold", resync_threshold)
        if resync_threshold <= 0:
            raise ValueError(f"resync_threshold must be > 0 samples, got {resync_threshold!r}")
        _check_real("deadband", deadband)
        if deadband < 0:
            raise ValueError(f"deadband must be >= 0 samples, got {deadband!r}")
        if estimator is not None and not callable(estimator):
            raise ValueError(f"estimator must be callable, got {estimator!r}")
        self._rate = sample_rate
        self.max_slew = float(max_slew)
        self.max_rate_deviation = float(max_rate_deviation)
        self.resync_threshold = float(resync_threshold)
        self.deadband = float(deadband)
        self.estimator = estimator
        self.resyncs = 0
        self.corrections = 0
        self.start(ref_offset, start_sample)

    # ------------------------------------------------------------------------------ state
    @property
    def sample_rate(self) -> int:
        """Nominal frames per second."""
        return self._rate

    @property
    def rate_ratio(self) -> float:
        """The rate ratio in force after any phase correction ends (1.0 nominally)."""
        return self._ratio

    @property
    def correction_end(self) -> int:
        """Reference time at which the current phase slew ends (<= the pivot if none)."""
        return self._state[3]

    @property
    def last_sync(self) -> Optional[tuple[int, int]]:
        """The last (ref_time, sample_time) observation given to sync_to_master or start."""
        return self._last_sync

    def _num(self, factor) -> int:
        """Fixed-point slope numerator for ``sample_rate * factor``."""
        from fractions import Fraction

        return round(Fraction(factor) * self._rate * _ONE)

    def start(self, ref_time: int, sample_time: int = 0) -> None:
        """(Re)anchor the map: *ref_time* is *sample_time*, rate nominal, no correction.

        ``SyncToMaster(rt, fStart=TRUE)``; also the hard resynchronisation after an xrun.
        """
        _check_int("ref_time", ref_time)
        _check_int("sample_time", sample_time)
        num = self._rate << _FRAC_BITS
        a = sample_time * _Q
        self._ratio = 1.0
        self._last_sync = (ref_time, sample_time)
        # (anchor ref, numerator at anchor, slew slope, slew end ref, numerator there, slope)
        self._state = (ref_time, a, num, ref_time, a, num)

    # ------------------------------------------------------------------------ conversions
    def ref_time_to_sample(self, ref_time: int) -> int:
        """``ISynthSinkDMus::RefTimeToSample``: the frame at which *ref_time* (100 ns) falls,
        rounded to the nearest frame (half up)."""
        r0, a, num1, r_end, a_end, num2 = self._state
        if ref_time <= r_end:
            n = a + (ref_time - r0) * num1
        else:
            n = a_end + (ref_time - r_end) * num2
        return (2 * n + _Q) // (2 * _Q)

    def ref_times_to_samples(self, ref_times: np.ndarray) -> np.ndarray:
        """:meth:`ref_time_to_sample` of many times at once (int64 frames, same rounding)."""
        t = np.asarray(ref_times, dtype=np.int64)
        r0, a, num1, r_end, a_end, num2 = self._state
        if (
            num1 == num2 == self._rate << _FRAC_BITS
            and a % _Q == 0
            and a_end % _Q == 0
            and (a_end // _Q - a // _Q) * REFTIME_PER_SECOND == (r_end - r0) * self._rate
            and len(t)
            and int(np.abs(t - r0).max()) < (1 << 62) // (2 * self._rate)
        ):
            # The nominal map (no correction in force): exact in int64.
            d = t - r0
            return a // _Q + (2 * d * self._rate + REFTIME_PER_SECOND) // (2 * REFTIME_PER_SECOND)
        return np.array([self.ref_time_to_sample(int(x)) for x in t.tolist()], dtype=np.int64)

    def ref_time_to_sample_float(self, ref_time: int) -> float:
        """The same position, unrounded (for drift estimation and error measurement)."""
        r0, a, num1, r_end, a_end, num2 = self._state
        if ref_time <= r_end:
            n = a + (ref_time - r0) * num1
        else:
            n = a_end + (ref_time - r_end) * num2
        return n / _Q

    def sample_to_ref_time(self, sample_time: int) -> int:
        """``ISynthSinkDMus::SampleToRefTime``: the reference time (100 ns) of a frame,
        rounded half up.  ``ref_time_to_sample(sample_to_ref_time(s)) == s`` for every s."""
        r0, a, num1, r_end, a_end, num2 = self._state
        n = sample_time * _Q
        if n <= a_end:
            return r0 + (2 * (n - a) + num1) // (2 * num1)
        return r_end + (2 * (n - a_end) + num2) // (2 * num2)

    # ------------------------------------------------------------------------ corrections
    def set_correction(self, rate_ratio: float, phase_offset_samples: float, ref_time: Optional[int] = None) -> None:
        """Apply a correction from a drift estimator, smoothly.

        *rate_ratio* is the sample clock's rate against the master clock (samples per
        nominal sample); *phase_offset_samples* how many samples the map should move forward
        (negative: back).  The pivot is *ref_time* (default: the last ``sync_to_master``
        observation): the map is continuous there; from it the slope is
        ``sample_rate * rate_ratio * (1 +- max_slew)`` until the offset is absorbed, then
        ``sample_rate * rate_ratio``.  A new call replaces any unfinished correction (pass
        the total error as measured now).
        """
        _check_real("rate_ratio", rate_ratio)
        _check_real("phase_offset_samples", phase_offset_samples)
        if rate_ratio <= 0:
            raise ValueError(f"rate_ratio must be > 0, got {rate_ratio!r}")
        if ref_time is None:
            ref_time = self._last_sync[0]
        else:
            _check_int("ref_time", ref_time)

        # Where the map stands at the pivot (exact numerator).  A pivot before the current
        # anchor is moved up to it, so that what the map said since then stays said.
        r0, a, num1, r_end, a_end, num2 = self._state
        if ref_time < r0:
            ref_time = r0
        if ref_time <= r_end:
            a_p = a + (ref_time - r0) * num1
        else:
            a_p = a_end + (ref_time - r_end) * num2

        # The rate: clamped to the allowed range, and moved by at most max_slew per call.
        lo = 1.0 - self.max_rate_deviation
        hi = 1.0 + self.max_rate_deviation
        ratio = min(max(float(rate_ratio), lo), hi)
        step = self.max_slew
        ratio = min(max(ratio, self._ratio - step), self._ratio + step)
        new_num2 = self._num(ratio)

        # The phase: absorbed at max_slew, then the slope returns to the rate alone.
        length = 0
        new_num1 = new_num2
        if phase_offset_samples:
            from fractions import Fraction

            sign = 1 if phase_offset_samples > 0 else -1
            new_num1 = self._num(Fraction(ratio) * (1 + sign * Fraction(self.max_slew)))
            diff = new_num1 - new_num2
            if diff:
                length = round(Fraction(phase_offset_samples) * _Q / diff)
                if length < 0:  # cannot happen (same signs), but never go backwards
                    length = 0
        if length == 0:
            new_num1 = new_num2
        self._ratio = ratio
        self.corrections += 1
        self._state = (ref_time, a_p, new_num1, ref_time + length, a_p + length * new_num1, new_num2)

    def follow(self, ref_time: int, target_sample: float, rate_ratio: float) -> float:
        """Steer towards another map: at *ref_time* it says *target_sample* and runs at
        *rate_ratio*.  Applies ``set_correction(rate_ratio, target - here, ref_time)`` and
        returns the phase asked for (samples)."""
        _check_int("ref_time", ref_time)
        _check_real("target_sample", target_sample)
        phase = target_sample - self.ref_time_to_sample_float(max(ref_time, self._state[0]))
        self.set_correction(rate_ratio, phase, ref_time)
        return phase

    def sync_to_master(self, ref_time: int, sample_time: int) -> float:
        """``ISynthSinkDMus::SyncToMaster`` (not starting): the wave sink observed that master
        time *ref_time* corresponds to frame *sample_time*.

        Returns the error in samples (``sample_time - map(ref_time)``, unrounded).  With an
        estimator attached, it decides the correction (it may return None for none); without
        one, errors beyond the deadband are absorbed by slewing at ``max_slew`` with the rate
        unchanged (DDKSynth corrects phase only, by 1 % of the error per call, as a jump).
        An error beyond ``resync_threshold`` re-anchors the map at once (counted).
        """
        _check_int("ref_time", ref_time)
        _check_int("sample_time", sample_time)
        error = sample_time - self.ref_time_to_sample_float(ref_time)
        self._last_sync = (ref_time, sample_time)
        if abs(error) > self.resync_threshold:
            # A discontinuity (xrun, device restart): re-anchor at once, keeping the rate.
            num = self._num(self._ratio)
            a = sample_time * _Q
            self._state = (ref_time, a, num, ref_time, a, num)
            self.resyncs += 1
            return error
        est = self.estimator
        if est is not None:
            result = est(ref_time, sample_time, error)
            if result is not None:
                ratio, phase = result
                self.set_correction(ratio, phase, ref_time)
        elif abs(error) > self.deadband:
            self.set_correction(self._ratio, error, ref_time)
        return error
