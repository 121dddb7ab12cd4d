"""Mutated banks fed to the reader: only DLSError, never another exception, never a hang.

A bounded fuzz run (FUZZ_CASES mutations of real and generated banks, fixed seed, so CI
sees the same cases every time) plus hypothesis properties. Set DLSYNTH_FUZZ_CASES to run
longer locally.
"""

from __future__ import annotations

import os
import struct
import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dlsynth import dls

from . import riffbuild as rb
from .fuzzing import mutate as _mutate

DATA = Path(__file__).parent / "data"
SEEDS = [
    (DATA / "libgig-generated" / "libgig-generated.dls").read_bytes(),
    (DATA / "libgig-generated" / "libgig-generated-mono.dls").read_bytes(),
    rb.simple_bank(
        region_extra=rb.wsmp(loops=[(0, 10, 100)]) + rb.lst(b"lar2", rb.art(b"art2", [(0, 0, 0x206, 0, 5)]))
    ),
    rb.simple_bank(level2=False),
]
FUZZ_CASES = int(os.environ.get("DLSYNTH_FUZZ_CASES", "4000"))
# One small mutated bank must be read (or refused) well within this.
MAX_SECONDS_PER_CASE = 1.0


def _read_only_dlserror(data: bytes) -> None:
    t0 = time.perf_counter()
    try:
        col = dls.read(data)
    except dls.DLSError as exc:
        assert str(exc)  # a message a person can act on
        assert "\n" not in str(exc)
    else:
        # What reads must also describe (what `dlsynth info` prints) without failing.
        from dlsynth.dls.describe import describe

        describe(col)
    assert time.perf_counter() - t0 < MAX_SECONDS_PER_CASE


def test_bounded_fuzz_run():
    rng = np.random.default_rng(20261124)
    for case in range(FUZZ_CASES):
        seed = SEEDS[case % len(SEEDS)]
        data = seed
        for _ in range(int(rng.integers(1, 4))):
            data = _mutate(rng, data)
        try:
            _read_only_dlserror(data)
        except AssertionError:
            raise
        except Exception as exc:  # pragma: no cover - the failure report
            path = Path(os.environ.get("TMPDIR", "/tmp")) / f"dlsynth-fuzz-case-{case}.dls"
            path.write_bytes(data)
            raise AssertionError(f"case {case}: {exc.__class__.__name__}: {exc} (input saved to {path})") from exc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes(data):
    _read_only_dlserror(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=256))
def test_random_bytes_behind_a_dls_header(body):
    _read_only_dlserror(b"RIFF" + struct.pack("<I", len(body) + 4) + b"DLS " + body)


@settings(max_examples=300, deadline=None)
@given(seed=st.sampled_from(range(len(SEEDS))), pos=st.integers(0, 10**6), value=st.integers(0, 255))
def test_any_single_byte_change(seed, pos, value):
    data = bytearray(SEEDS[seed])
    data[pos % len(data)] = value
    _read_only_dlserror(bytes(data))
