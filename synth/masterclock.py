"""The master clock: reference time in 100 ns units (DirectMusic's REFERENCE_TIME).

``MasterClock`` stands for ``IMasterClock`` (``IMasterClock::GetTime``): every event is
stamped with it at arrival, and the wave sink maps each buffer's DAC time onto it, so the
synth can turn presentation times into sample positions (RefTimeToSample).

``SimulatedClock`` has the same interface and is moved by hand; tests drive drift
correction, scheduling and the sinks with it instead of waiting on the wall clock.
"""

from __future__ import annotations

import time

#: Reference-time units per second (REFERENCE_TIME counts 100 ns).
from dlsynth.native.engine import REF_PER_SECOND

#: Nanoseconds per reference-time unit.
NS_PER_REF = 100


def seconds_to_ref(seconds: float) -> int:
    """Seconds to reference time (100 ns units), rounded to the nearest unit."""
    return int(round(seconds * REF_PER_SECOND))


def ref_to_seconds(ref: int | float) -> float:
    """Reference time (100 ns units) to seconds."""
    return ref / REF_PER_SECOND


def monotonic_to_ref(ns: int) -> int:
    """A ``time.monotonic_ns()`` value to reference time (floor to 100 ns)."""
    return ns // NS_PER_REF


class MasterClock:
    """``IMasterClock``: monotonic reference time in 100 ns units.

    Based on ``time.monotonic_ns()`` (CLOCK_MONOTONIC on Linux): never goes backwards, is
    not stepped by NTP or the user setting the date, and counts from an arbitrary origin
    (boot on Linux). The value is an ``int``; compare and subtract, never interpret it as a
    date. ``time.monotonic_ns`` is a plain C call: safe on the MIDI and audio threads.
    """

    __slots__ = ()

    def get_time(self) -> int:
        """``IMasterClock::GetTime``: the current reference time (100 ns units)."""
        return time.monotonic_ns() // NS_PER_REF

    @staticmethod
    def from_monotonic_ns(ns: int) -> int:
        """Reference time of a ``time.monotonic_ns()`` reading taken elsewhere."""
        return ns // NS_PER_REF

    @staticmethod
    def from_monotonic(seconds: float) -> int:
        """Reference time of a ``time.monotonic()`` reading, e.g. one a library reports.

        (PortAudio's stream times on Linux come from the same CLOCK_MONOTONIC.)
        """
        return int(round(seconds * REF_PER_SECOND))

    def __repr__(self) -> str:
        return f"MasterClock(t={self.get_time()})"


class SimulatedClock:
    """A master clock moved by hand, for tests: same ``get_time()`` as ``MasterClock``.

    ``advance`` takes 100 ns units; ``advance_seconds`` takes seconds. Going backwards is
    refused unless ``allow_backwards=True`` (a real monotonic clock never does; a test of a
    clock discontinuity can ask for it explicitly with ``set_time(..., allow_backwards=True)``).
    """

    __slots__ = ("_now",)

    def __init__(self, start: int = 0) -> None:
        self._now = int(start)

    def get_time(self) -> int:
        return self._now

    def set_time(self, ref: int, *, allow_backwards: bool = False) -> None:
        ref = int(ref)
        if ref < self._now and not allow_backwards:
            raise ValueError(f"SimulatedClock: time would go backwards ({self._now} -> {ref})")
        self._now = ref

    def advance(self, delta_ref: int) -> int:
        """Move forwards by ``delta_ref`` 100 ns units; returns the new time."""
        delta_ref = int(delta_ref)
        if delta_ref < 0:
            raise ValueError("SimulatedClock.advance: negative step (use set_time)")
        self._now += delta_ref
        return self._now

    def advance_seconds(self, seconds: float) -> int:
        """Move forwards by ``seconds`` (rounded to 100 ns); returns the new time."""
        return self.advance(seconds_to_ref(seconds))

    def __repr__(self) -> str:
        return f"SimulatedClock(t={self._now})"
