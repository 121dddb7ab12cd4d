"""The time map following the drift corrector through a step (SyncToMaster after an xrun
smaller than the map's own resync threshold): it jumps once with the corrector's re-lock
instead of slewing towards the stale map."""

from __future__ import annotations

import numpy as np

from sink.drift import DriftCorrector
from synth.timebase import TimeMap

RATE = 48000
BLOCK = 512
ERROR_LIMIT_MS = 0.2
RELOCK_WITHIN_BLOCKS = 20


def test_map_follows_a_relock_after_a_small_xrun():
    tm = TimeMap(RATE, estimator=DriftCorrector(RATE))
    rng = np.random.default_rng(3)
    ppm = 200e-6
    ref0 = 10_000_000_000
    tm.start(ref0, 0)
    sample = 0
    skip = 2400  # a 50 ms xrun: below the map's own 100 ms resync threshold
    errors_after = []
    for i in range(6000):
        if i == 3000:
            sample += skip
        true_ref = ref0 + (sample - (skip if i >= 3000 else 0)) * 1e7 / (RATE * (1 + ppm)) + (skip * 1e7 / RATE if i >= 3000 else 0)
        obs_ref = int(true_ref + rng.normal(0, 0.3e-3) * 1e7)
        tm.sync_to_master(obs_ref, sample)
        if i >= 3000 + RELOCK_WITHIN_BLOCKS:
            err_samples = tm.ref_time_to_sample_float(int(true_ref)) - sample
            errors_after.append(abs(err_samples) / RATE * 1000)
        sample += BLOCK
    assert max(errors_after) < ERROR_LIMIT_MS
