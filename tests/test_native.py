"""The first native routines: bulk sample and unit conversion in C (native/convert.c)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dlsynth import native

# Unit conversions in C must agree with the NumPy formulas to double precision.
REL_TOL = 1e-12


def test_u8_to_s16_every_value():
    src = np.arange(256, dtype=np.uint8)
    out = native.u8_to_s16(src)
    assert out.dtype == np.int16
    np.testing.assert_array_equal(out, (src.astype(np.int32) - 128) * 256)
    assert out[128] == 0 and out[0] == -32768 and out[255] == 32512


def test_u8_to_s16_stereo_shape_and_out_argument():
    src = np.random.default_rng(1).integers(0, 256, size=(1000, 2), dtype=np.uint8)
    out = np.empty((1000, 2), dtype=np.int16)
    res = native.u8_to_s16(src, out=out)
    assert res is out
    np.testing.assert_array_equal(out, (src.astype(np.int32) - 128) * 256)


def test_out_argument_is_checked():
    src = np.zeros(10, dtype=np.uint8)
    with pytest.raises(ValueError):
        native.u8_to_s16(src, out=np.empty(9, dtype=np.int16))
    with pytest.raises(ValueError):
        native.u8_to_s16(src, out=np.empty(10, dtype=np.int32))
    with pytest.raises(TypeError):
        native.u8_to_s16(np.zeros(10, dtype=np.int16))


def test_empty_input():
    assert native.u8_to_s16(np.zeros(0, dtype=np.uint8)).size == 0
    assert native.s16_peak(np.zeros(0, dtype=np.int16)) == 0


def test_s16_to_f32_and_peak():
    src = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    np.testing.assert_array_equal(native.s16_to_f32(src), src.astype(np.float32) / 32768.0)
    assert native.s16_peak(src) == 32768
    # A non-contiguous view is accepted (copied once at the boundary).
    assert native.s16_peak(np.array([1, -300, 5, 7], dtype=np.int16)[::2]) == 5


def test_timecents_to_seconds():
    vals = np.array([-0x80000000, 0, 1200 * 65536, -1200 * 65536, -12000 * 65536], dtype=np.int32)
    got = native.timecents_to_seconds(vals)
    assert got[0] == 0.0
    np.testing.assert_allclose(got[1:], [1.0, 2.0, 0.5, 2.0**-10], rtol=REL_TOL)


def test_abs_pitch_and_gain():
    vals = np.array([6900 * 65536, 8100 * 65536, 5700 * 65536], dtype=np.int32)
    np.testing.assert_allclose(native.abs_pitch_to_hz(vals), [440.0, 880.0, 220.0], rtol=REL_TOL)
    np.testing.assert_allclose(native.gain_to_db(np.array([-960 * 65536, 100 * 65536])), [-96.0, 10.0], rtol=REL_TOL)


def test_bulk_conversion_of_a_large_array():
    rng = np.random.default_rng(7)
    vals = rng.integers(-12000 * 65536, 8000 * 65536, size=200_000).astype(np.int32)
    np.testing.assert_allclose(native.timecents_to_seconds(vals), 2.0 ** (vals / 65536.0 / 1200.0), rtol=1e-12)


def test_sanitizer_build_is_the_one_under_test():
    """Under dev/sanitize.sh the extension must be the ASan build, not the normal one."""
    if os.environ.get("DLSYNTH_UNDER_SANITIZER") == "1":
        assert native.lib.dls_built_with_sanitizer() == 1, native.__file__
    else:
        assert native.lib.dls_built_with_sanitizer() == 0, "a sanitizer build outside dev/sanitize.sh"
