"""The master clock (IMasterClock) and the simulated clock the tests drive by hand."""

from __future__ import annotations

import threading
import time

import pytest

from dlsynth.synth.masterclock import (
    REF_PER_SECOND,
    MasterClock,
    SimulatedClock,
    monotonic_to_ref,
    ref_to_seconds,
    seconds_to_ref,
)

SLEEP_S = 0.05
SLEEP_TOLERANCE_S = 0.05  # a loaded CI machine may oversleep; never undersleep


def test_units():
    assert REF_PER_SECOND == 10_000_000
    assert seconds_to_ref(1.5) == 15_000_000
    assert seconds_to_ref(1e-7) == 1
    assert ref_to_seconds(25_000_000) == 2.5
    assert monotonic_to_ref(1_234_567_899) == 12_345_678


def test_master_clock_is_integer_100ns_and_monotonic():
    clock = MasterClock()
    readings = [clock.get_time() for _ in range(10_000)]
    assert all(type(r) is int for r in readings)
    assert all(b >= a for a, b in zip(readings, readings[1:]))
    # Same time base as time.monotonic_ns, in 100 ns units.
    before = time.monotonic_ns() // 100
    now = clock.get_time()
    after = time.monotonic_ns() // 100
    assert before <= now <= after


def test_master_clock_advances_with_real_time():
    clock = MasterClock()
    t0 = clock.get_time()
    time.sleep(SLEEP_S)
    elapsed = ref_to_seconds(clock.get_time() - t0)
    assert SLEEP_S <= elapsed < SLEEP_S + SLEEP_TOLERANCE_S


def test_master_clock_resolution_is_fine_enough():
    """Distinct readings within a short busy loop: the clock resolves well under 0.1 ms."""
    clock = MasterClock()
    start = clock.get_time()
    distinct = {start}
    while clock.get_time() - start < 20_000:  # 2 ms
        distinct.add(clock.get_time())
    assert len(distinct) > 20


def test_master_clock_monotonic_across_threads():
    clock = MasterClock()
    out: list[int] = []

    def worker():
        out.append(clock.get_time())

    t0 = clock.get_time()
    th = threading.Thread(target=worker)
    th.start()
    th.join()
    assert out[0] >= t0 and clock.get_time() >= out[0]


def test_conversions_from_other_readings():
    ns = time.monotonic_ns()
    assert MasterClock.from_monotonic_ns(ns) == ns // 100
    assert MasterClock.from_monotonic(2.5) == 25_000_000
    assert abs(MasterClock.from_monotonic(time.monotonic()) - MasterClock().get_time()) < seconds_to_ref(0.01)


def test_simulated_clock():
    c = SimulatedClock(1000)
    assert c.get_time() == 1000
    assert c.advance(500) == 1500
    assert c.advance_seconds(0.001) == 1500 + 10_000
    c.set_time(50_000)
    assert c.get_time() == 50_000
    with pytest.raises(ValueError):
        c.set_time(10)
    with pytest.raises(ValueError):
        c.advance(-1)
    c.set_time(10, allow_backwards=True)  # a deliberate discontinuity, for tests
    assert c.get_time() == 10
    assert type(c.get_time()) is int
    assert "SimulatedClock" in repr(c) and "MasterClock" in repr(MasterClock())


def test_simulated_clock_drives_the_drift_corrector():
    """The two pieces fit: a simulated master clock, an exact sample clock, a locked map."""
    from dlsynth.synth.drift import DriftCorrector

    fs, block = 48_000, 256
    clock = SimulatedClock(123_000_000)
    corr = DriftCorrector(fs)
    for i in range(2000):
        corr.observe(clock.get_time(), i * block)
        clock.advance(block * REF_PER_SECOND // fs)  # 256 frames = 53333 units (rounded down)
    # The master clock ran 1/3 unit per buffer short: the corrector sees the sample clock
    # as slightly fast (+6.25 ppm) and maps accordingly.
    assert corr.rate_ppm == pytest.approx(
        1e6 * (block * REF_PER_SECOND / fs / (block * REF_PER_SECOND // fs) - 1), abs=0.5
    )
    assert corr.ref_time_to_sample(clock.get_time()) == pytest.approx(2000 * block, abs=0.5)
