"""The native (C) core of dlsynth, built with cffi in out-of-line API mode.

``ffi`` and ``lib`` come from the compiled extension ``native._engine``. The helpers here
check shape, dtype and contiguity once at the boundary and hand C a pointer, after the
model of python-soundfile; each accepts ``out=`` so a hot call can allocate nothing.
"""

from __future__ import annotations

import numpy as np

try:
    from ._engine import ffi, lib  # type: ignore[import-not-found]
except ImportError as exc:  # pragma: no cover - reported to the user by apps
    raise ImportError(
        "dlsynth's native engine is not built: run `pip install -e .` (or "
        "`python setup.py build_ext --inplace`) in the project folder"
    ) from exc

__all__ = ["ffi", "lib", "u8_to_s16"]


def _ptr(ctype: str, arr: np.ndarray):
    return ffi.cast(ctype, ffi.from_buffer(arr)) if arr.size else ffi.NULL


def _c_in(arr, dtype) -> np.ndarray:
    a = np.asarray(arr)
    if a.dtype != dtype:
        raise TypeError(f"expected {np.dtype(dtype).name} samples, got {a.dtype.name}")
    return np.ascontiguousarray(a)


def _c_out(out, shape, dtype) -> np.ndarray:
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.dtype != dtype or out.shape != shape or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"out must be a writable C-contiguous {np.dtype(dtype).name} array of shape {shape}")
    return out


def u8_to_s16(src, out: np.ndarray | None = None) -> np.ndarray:
    """8-bit unsigned PCM to 16-bit signed PCM (same shape)."""
    a = _c_in(src, np.uint8)
    o = _c_out(out, a.shape, np.int16)
    lib.dls_u8_to_s16(_ptr("uint8_t *", a), _ptr("int16_t *", o), a.size)
    return o
