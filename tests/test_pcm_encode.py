"""The WAV writer's float-to-integer pass (native/pcm.c, used by sink/filesink.py): the same
integers and peak as the NumPy chain it replaced (scale by full scale, round half to even,
clip to [-full, full - 1]), for 16- and 24-bit output, at every length (the SIMD body and the
scalar tail), on ties, clipped values and full-scale edges."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dlsynth.sink.filesink import WavFileSink

FORMATS = ((32768.0, np.int16, 0), (8388608.0, np.int32, 8))  # full scale, dtype, shift of 16- and 24-bit


def _numpy_chain(block, full, dtype, shift):
    f = (block * np.float32(full)).astype(np.float32)
    peak = float(max(f.max(), -f.min())) / full
    out = np.empty(block.shape, dtype)
    np.clip(np.rint(f), -full, full - 1.0, out=out, casting="unsafe")
    if shift:
        out <<= shift
    return peak, out


def _encode(block, full, dtype, shift):
    sink = WavFileSink.__new__(WavFileSink)  # only its scratch is needed
    sink._scratch = {}
    return sink._to_int(block, full, dtype, shift)


def _check(block):
    for full, dtype, shift in FORMATS:
        peak, out = _encode(block, full, dtype, shift)
        want_peak, want = _numpy_chain(block, full, dtype, shift)
        assert peak == want_peak
        assert out.dtype == want.dtype and np.array_equal(out, want)


def test_ties_round_to_even_and_full_scale_clips():
    half_steps = (np.arange(-70000, 70000, 7) + 0.5) / 32768.0  # ties at 16 bits; beyond full scale at both ends
    edges = np.array([1.0, -1.0, 32767.5 / 32768, -32768.5 / 32768, 0.0, -0.0, 3.0, -3.0])
    block = np.concatenate([half_steps, edges]).astype(np.float32)
    _check(block.reshape(-1, 2) if len(block) % 2 == 0 else block[:-1].reshape(-1, 2))


@settings(max_examples=200, deadline=None)
@given(
    frames=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([0.001, 0.5, 1.0, 4.0]),
)
def test_every_length_gives_the_numpy_chains_integers(frames, seed, scale):
    rng = np.random.default_rng(seed)
    _check((rng.standard_normal((frames, 2)) * scale).astype(np.float32))


def test_a_nan_is_written_as_silence_and_left_out_of_the_peak():
    """The engine never makes one; a NaN that reached the writer is not a full-scale click."""
    block = np.full((13, 2), 0.25, np.float32)  # the SIMD body and the scalar tail
    block[3, 0] = block[12, 1] = np.nan
    for full, dtype, shift in FORMATS:
        peak, out = _encode(block, full, dtype, shift)
        assert peak == 0.25
        assert out[3, 0] == 0 and out[12, 1] == 0 and out[0, 0] == int(0.25 * full) << shift
