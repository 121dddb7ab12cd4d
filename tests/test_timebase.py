"""synth.timebase: the reference time <-> sample time map and its smooth corrections."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dlsynth.synth.timebase import REFTIME_PER_SECOND, TimeMap

RATES = [8000, 11025, 22050, 44100, 48000, 96000]
HOUR_REF = 3600 * REFTIME_PER_SECOND
#: Phase absorbed by a correction matches the request to within this many samples.
PHASE_TOLERANCE_SAMPLES = 1e-3
#: Floating-point slack when comparing unrounded positions (samples).
POSITION_EPS = 1e-6
#: Phase error that sync_to_master's own correction must hold once settled (samples).
SETTLED_ERROR_SAMPLES = 2.0

rates = st.sampled_from(RATES)
refs = st.integers(min_value=-10 * HOUR_REF, max_value=10 * HOUR_REF)
samples = st.integers(min_value=-10 * 3600 * 96000, max_value=10 * 3600 * 96000)
offsets = st.integers(min_value=0, max_value=HOUR_REF)
starts = st.integers(min_value=0, max_value=10**9)


def reference_sample(ref, rate, ref_offset=0, start_sample=0):
    """The nominal formula with exact rationals, rounded half up."""
    x = Fraction((ref - ref_offset) * rate, REFTIME_PER_SECOND)
    return start_sample + (x + Fraction(1, 2)).__floor__()


# ------------------------------------------------------------------------------ nominal map
@settings(max_examples=300, deadline=None)
@given(rate=rates, ref=refs, off=offsets, start=starts)
def test_nominal_map_matches_exact_formula(rate, ref, off, start):
    m = TimeMap(rate, ref_offset=off, start_sample=start)
    assert m.ref_time_to_sample(ref) == reference_sample(ref, rate, off, start)


@settings(max_examples=300, deadline=None)
@given(rate=rates, s=samples, off=offsets, start=starts)
def test_round_trip_sample_ref_sample_is_exact(rate, s, off, start):
    m = TimeMap(rate, ref_offset=off, start_sample=start)
    assert m.ref_time_to_sample(m.sample_to_ref_time(s)) == s


@settings(max_examples=300, deadline=None)
@given(rate=rates, a=refs, b=refs, off=offsets)
def test_monotonic(rate, a, b, off):
    m = TimeMap(rate, ref_offset=off)
    lo, hi = min(a, b), max(a, b)
    assert m.ref_time_to_sample(lo) <= m.ref_time_to_sample(hi)
    s_lo, s_hi = lo // 1000, hi // 1000
    assert m.sample_to_ref_time(s_lo) <= m.sample_to_ref_time(s_hi)


@pytest.mark.parametrize("rate", RATES)
def test_every_sample_of_the_first_second_round_trips(rate):
    m = TimeMap(rate)
    prev = None
    for s in range(rate + 1):
        r = m.sample_to_ref_time(s)
        assert m.ref_time_to_sample(r) == s
        assert prev is None or r > prev  # strictly increasing
        prev = r
    assert m.sample_to_ref_time(rate) == REFTIME_PER_SECOND


@pytest.mark.parametrize("rate", RATES)
def test_odd_rates_rounding_at_known_points(rate):
    m = TimeMap(rate)
    assert m.ref_time_to_sample(REFTIME_PER_SECOND) == rate
    assert m.ref_time_to_sample(10 * HOUR_REF) == 36000 * rate
    # one 100 ns tick converts by rounding to the nearest frame, half up
    for ref in (1, 2, 113, 1133, 1134, 4999, 5000, 99_999):
        assert m.ref_time_to_sample(ref) == reference_sample(ref, rate)


def test_large_times_hours():
    m = TimeMap(44100, ref_offset=123_456_789)
    ref = 123_456_789 + 27 * HOUR_REF + 1
    assert m.ref_time_to_sample(ref) == reference_sample(ref, 44100, 123_456_789)
    s = 27 * 3600 * 44100 + 17
    assert m.ref_time_to_sample(m.sample_to_ref_time(s)) == s


def test_time_map_validation():
    for bad in (0, -1, 10_000_000, 44100.0, True):
        with pytest.raises(ValueError, match="sample_rate"):
            TimeMap(bad)
    with pytest.raises(ValueError, match="max_slew"):
        TimeMap(48000, max_slew=0)
    m = TimeMap(48000)
    with pytest.raises(ValueError, match="rate_ratio"):
        m.set_correction(0.0, 0.0)
    with pytest.raises(ValueError, match="finite"):
        m.set_correction(1.0, float("nan"))
    with pytest.raises(ValueError, match="ref_time"):
        m.sync_to_master(1.5, 0)


# ------------------------------------------------------------------------------ corrections
corrections = st.lists(
    st.tuples(
        st.floats(min_value=0.98, max_value=1.02),
        st.floats(min_value=-500.0, max_value=500.0),
        st.integers(min_value=0, max_value=2 * REFTIME_PER_SECOND),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=200, deadline=None)
@given(rate=rates, corr=corrections, probe=st.lists(refs, min_size=2, max_size=10), s=samples)
def test_corrected_map_stays_monotonic_and_round_trips(rate, corr, probe, s):
    m = TimeMap(rate)
    pivot = 0
    for ratio, phase, step in corr:
        pivot += step
        m.set_correction(ratio, phase, pivot)
    values = [m.ref_time_to_sample(r) for r in sorted(probe)]
    assert values == sorted(values)
    assert m.ref_time_to_sample(m.sample_to_ref_time(s)) == s
    refs_back = [m.sample_to_ref_time(v) for v in sorted(probe)]
    assert refs_back == sorted(refs_back)


@settings(max_examples=200, deadline=None)
@given(rate=rates, corr=corrections)
def test_correction_is_continuous_at_the_pivot(rate, corr):
    m = TimeMap(rate)
    pivot = 0
    for ratio, phase, step in corr:
        pivot += step
        before = m.ref_time_to_sample_float(pivot)
        m.set_correction(ratio, phase, pivot)
        assert m.ref_time_to_sample_float(pivot) == before


@settings(max_examples=200, deadline=None)
@given(
    rate=rates, phase=st.floats(min_value=-200.0, max_value=200.0), pivot=st.integers(min_value=0, max_value=HOUR_REF)
)
def test_phase_slews_at_most_max_slew_and_is_fully_absorbed(rate, phase, pivot):
    m = TimeMap(rate, max_slew=1e-3)
    nominal = TimeMap(rate)
    m.set_correction(1.0, phase, pivot)
    end = m.correction_end
    span = max(end - pivot, 1)
    for frac in (0.0, 0.1, 0.5, 0.9, 1.0, 1.5, 3.0):
        r = pivot + int(span * frac)
        elapsed = (r - pivot) * rate / REFTIME_PER_SECOND
        moved = m.ref_time_to_sample_float(r) - nominal.ref_time_to_sample_float(r)
        assert abs(moved) <= 1e-3 * elapsed + POSITION_EPS
        assert abs(moved) <= abs(phase) + PHASE_TOLERANCE_SAMPLES
    after = end + REFTIME_PER_SECOND
    moved = m.ref_time_to_sample_float(after) - nominal.ref_time_to_sample_float(after)
    assert abs(moved - phase) <= PHASE_TOLERANCE_SAMPLES


def test_rate_ratio_moves_by_at_most_max_slew_per_call_and_is_clamped():
    m = TimeMap(48000, max_slew=1e-3, max_rate_deviation=0.01)
    m.set_correction(1.5, 0.0, 0)
    assert m.rate_ratio == pytest.approx(1.001)
    for _ in range(50):
        m.set_correction(1.5, 0.0, 0)
    assert m.rate_ratio == pytest.approx(1.01)
    m.set_correction(1.0095, 0.0, 0)
    assert m.rate_ratio == pytest.approx(1.0095)


def test_rate_ratio_changes_the_slope():
    m = TimeMap(48000)
    m.set_correction(1.0001, 0.0, 0)
    assert m.ref_time_to_sample_float(100 * REFTIME_PER_SECOND) == pytest.approx(
        100 * 48000 * 1.0001, abs=POSITION_EPS * 1000
    )


def test_interleaved_queries_and_corrections_never_go_back():
    m = TimeMap(48000)
    last = -1
    ref = 0
    for k in range(2000):
        ref += 100_000  # 10 ms
        s = m.ref_time_to_sample(ref)
        assert s >= last
        last = s
        # a noisy estimator pulling both ways
        m.set_correction(1.0 + ((k % 7) - 3) * 2e-4, ((k * 37) % 41 - 20) * 1.5, ref)


def test_pivot_before_anchor_is_moved_up():
    m = TimeMap(48000)
    m.set_correction(1.0, 10.0, 5 * REFTIME_PER_SECOND)
    at = m.ref_time_to_sample_float(6 * REFTIME_PER_SECOND)
    m.set_correction(1.0, -10.0, REFTIME_PER_SECOND)  # stale pivot
    assert m.ref_time_to_sample_float(5 * REFTIME_PER_SECOND) == pytest.approx(5 * 48000, abs=POSITION_EPS)
    assert m.ref_time_to_sample_float(6 * REFTIME_PER_SECOND) <= at


# --------------------------------------------------------------------------- sync_to_master
def test_sync_to_master_tracks_a_drifting_device_without_jumps():
    rate = 48000
    device_ratio = 1.0001  # a device 100 ppm fast
    m = TimeMap(rate)
    period = 100_000  # the wave sink syncs every 10 ms
    errors = []
    prev_map = m.ref_time_to_sample_float(0)
    for k in range(1, 6001):  # one minute
        ref = k * period
        device_sample = round(ref * rate * device_ratio / REFTIME_PER_SECOND)
        now = m.ref_time_to_sample_float(ref)
        assert now > prev_map  # no backward steps
        # per 10 ms the map advances 480 samples, give or take the slew
        assert abs((now - prev_map) - 480) <= 480 * 1e-3 + 0.5
        prev_map = now
        errors.append(m.sync_to_master(ref, device_sample))
    assert max(abs(e) for e in errors[-1000:]) <= SETTLED_ERROR_SAMPLES
    assert m.resyncs == 0


def test_sync_to_master_uses_an_estimator():
    seen = []

    def estimator(ref, sample, error):
        seen.append((ref, sample, error))
        return (1.0002, error)

    m = TimeMap(48000, estimator=estimator)
    err = m.sync_to_master(REFTIME_PER_SECOND, 48010)
    assert err == pytest.approx(10.0)
    assert seen == [(REFTIME_PER_SECOND, 48010, pytest.approx(10.0))]
    assert m.rate_ratio == pytest.approx(1.0002)
    assert m.correction_end > REFTIME_PER_SECOND


def test_sync_to_master_deadband_leaves_small_errors():
    m = TimeMap(48000, deadband=0.5)
    m.sync_to_master(REFTIME_PER_SECOND, 48000)
    assert m.corrections == 0


def test_large_discontinuity_resyncs_at_once():
    m = TimeMap(48000, resync_threshold=4800)
    m.set_correction(1.0003, 0.0, 0)
    ref = 10 * REFTIME_PER_SECOND
    target = m.ref_time_to_sample(ref) + 48000  # an xrun lost a second of samples
    m.sync_to_master(ref, target)
    assert m.resyncs == 1
    assert m.ref_time_to_sample(ref) == target
    assert m.rate_ratio == pytest.approx(1.0003)
    s = target + 12345
    assert m.ref_time_to_sample(m.sample_to_ref_time(s)) == s


def test_start_reanchors():
    m = TimeMap(44100)
    m.set_correction(1.001, 50.0, 0)
    m.start(7 * REFTIME_PER_SECOND, 100)
    assert m.rate_ratio == 1.0
    assert m.ref_time_to_sample(8 * REFTIME_PER_SECOND) == 100 + 44100
    assert m.last_sync == (7 * REFTIME_PER_SECOND, 100)


def test_follow_steers_towards_a_target_map_within_the_slew():
    m = TimeMap(48000)
    phase = m.follow(REFTIME_PER_SECOND, 48000 + 20.0, 1.0001)
    assert phase == pytest.approx(20.0)
    assert m.rate_ratio == pytest.approx(1.0001)
    assert m.ref_time_to_sample_float(REFTIME_PER_SECOND) == 48000  # continuous
    later = 3 * REFTIME_PER_SECOND
    expected = 48000 + 2 * 48000 * 1.0001 + 20.0
    assert m.ref_time_to_sample_float(later) == pytest.approx(expected, abs=PHASE_TOLERANCE_SAMPLES)


def test_estimator_must_be_usable():
    with pytest.raises(ValueError, match="estimator"):
        TimeMap(48000, estimator=object())
