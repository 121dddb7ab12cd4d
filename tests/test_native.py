"""dls_u8_to_s16 (native/eng_waves.c): 8-bit waves widened for the 16-bit sample pool; which
build is under test (native/build_info.c)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dlsynth import native


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


def test_u8_to_s16_of_a_large_array():
    rng = np.random.default_rng(7)
    src = rng.integers(0, 256, size=200_001).astype(np.uint8)
    np.testing.assert_array_equal(native.u8_to_s16(src), (src.astype(np.int32) - 128) * 256)


def test_sanitizer_build_is_the_one_under_test():
    """Under dev/sanitize.sh the extension must be the ASan build, not the normal one."""
    if os.environ.get("DLSYNTH_UNDER_SANITIZER") == "1":
        assert native.lib.dls_built_with_sanitizer() == 1, native.__file__
    else:
        assert native.lib.dls_built_with_sanitizer() == 0, "a sanitizer build outside dev/sanitize.sh"
