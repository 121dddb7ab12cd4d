"""Test kit: the built-in reverb and chorus (C: native/effects.c, prefix ``fx_``) as standalone units.

Both units read a mono send bus and ADD a stereo wet signal into left/right buffers, like
FluidSynth's ``fluid_revmodel_processmix`` / ``fluid_chorus_processmix``. Arrays are checked
(float32, 1-D, C-contiguous, matching lengths) once at the boundary and handed to C as
pointers; ``out=`` lets a hot call allocate nothing. The C objects own their memory and
are freed when the Python object is garbage-collected (or by ``close()``).

Reverb parameters follow FluidSynth (``synth.reverb.*``): room size, damping, width and
level in 0..1, defaults 0.2 / 0.0 / 0.5 / 0.9. Chorus parameters follow FluidSynth
(``synth.chorus.*``): voices (nr), level, speed (Hz), depth (ms), type (sine/triangle),
defaults 3 / 2.0 / 0.3 / 8.0 / sine. ``GS_REVERB_DEFAULT`` and ``GS_CHORUS_DEFAULT`` give
approximate equivalents of the Roland GS power-on settings (reverb Hall 2, level 64,
time 64; chorus "Chorus 3", level 64, rate 3, depth 19).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dlsynth.native import ffi, lib

__all__ = [
    "Reverb",
    "Chorus",
    "ReverbParams",
    "ChorusParams",
    "FLUID_REVERB_DEFAULT",
    "FLUID_CHORUS_DEFAULT",
    "GS_REVERB_DEFAULT",
    "GS_CHORUS_DEFAULT",
    "CHORUS_SINE",
    "CHORUS_TRIANGLE",
    "rt60_for_room_size",
    "room_size_for_rt60",
]

CHORUS_SINE = 0
CHORUS_TRIANGLE = 1

# Freeverb's decay reference (mirrors FX_REV_REF_SECONDS in effects.c).
_REF_SECONDS = 1617.0 / 44100.0


def rt60_for_room_size(room_size: float) -> float:
    """Reverb time at DC (seconds) for a room size (Freeverb's concave response)."""
    g = 0.7 + 0.28 * min(max(float(room_size), 0.0), 1.0)
    return -3.0 * _REF_SECONDS / math.log10(g)


def room_size_for_rt60(rt60: float) -> float:
    """Inverse of :func:`rt60_for_room_size`, clamped to 0..1 (0.70 s .. 12.5 s)."""
    g = 10.0 ** (-3.0 * _REF_SECONDS / float(rt60))
    return min(max((g - 0.7) / 0.28, 0.0), 1.0)


@dataclass(frozen=True)
class ReverbParams:
    room_size: float = 0.2
    damping: float = 0.0
    width: float = 0.5
    level: float = 0.9


@dataclass(frozen=True)
class ChorusParams:
    voices: int = 3
    level: float = 2.0
    speed_hz: float = 0.3
    depth_ms: float = 8.0
    type: int = CHORUS_SINE


FLUID_REVERB_DEFAULT = ReverbParams()
FLUID_CHORUS_DEFAULT = ChorusParams()
# Roland GS power-on reverb: Hall 2, time 64 (about 2.4 s), level 64/127. An approximation:
# the GS unit's tone (pre-LPF 0, moderate high damping) is mapped to damping 0.3.
GS_REVERB_DEFAULT = ReverbParams(room_size=room_size_for_rt60(2.4), damping=0.3, width=1.0, level=64 / 127)
# Roland GS power-on chorus: "Chorus 3", level 64, rate 3 (~0.4 Hz), depth 19 (~6 ms).
GS_CHORUS_DEFAULT = ChorusParams(voices=3, level=64 / 127, speed_hz=0.4, depth_ms=6.0, type=CHORUS_SINE)


def _check_in(x, name: str = "in_mono") -> np.ndarray:
    a = np.asarray(x)
    if a.dtype != np.float32:
        raise TypeError(f"{name} must be float32, got {a.dtype.name}")
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D (mono), got shape {a.shape}")
    return np.ascontiguousarray(a)


def _check_out(out, frames: int) -> np.ndarray:
    if out is None:
        return np.zeros((2, frames), dtype=np.float32)
    if not isinstance(out, np.ndarray):
        raise TypeError("out must be a numpy array")
    # Each row must be contiguous (C gets one pointer per row); the rows themselves may be
    # apart, so a (2, n) slice of a longer (2, N) buffer is accepted.
    if (
        out.dtype != np.float32
        or out.shape != (2, frames)
        or not out.flags.writeable
        or (frames > 1 and out.strides[1] != out.itemsize)
    ):
        raise ValueError(f"out must be a writable float32 array of shape (2, {frames}) with contiguous rows")
    return out


def _fptr(a: np.ndarray):
    return ffi.cast("float *", ffi.from_buffer(a))


class _Effect:
    _new = _free = _process = None  # set by subclasses

    def __init__(self, sample_rate: float):
        if not (1000.0 <= float(sample_rate) <= 768000.0):
            raise ValueError(f"sample rate {sample_rate} Hz out of range 1000..768000")
        ptr = type(self)._new(float(sample_rate))
        if ptr == ffi.NULL:
            raise MemoryError("effect allocation failed")
        self._ptr = ffi.gc(ptr, type(self)._free)
        self.sample_rate = float(sample_rate)

    def close(self) -> None:
        """Free the C object now (it is otherwise freed by garbage collection)."""
        if self._ptr is not None:
            ffi.release(self._ptr)
            self._ptr = None

    def process(self, in_mono, out: np.ndarray | None = None) -> np.ndarray:
        """Add the wet signal for ``in_mono`` (float32, shape (frames,)) into ``out``.

        ``out`` is a float32 array of shape (2, frames) with contiguous rows (row 0 left,
        row 1 right; a column slice of a longer buffer is fine); its contents are added
        to, not replaced. Without ``out`` a zeroed array is
        returned, i.e. the wet signal alone.
        """
        if self._ptr is None:
            raise ValueError("effect is closed")
        a = _check_in(in_mono)
        o = _check_out(out, a.shape[0])
        if a.shape[0]:
            type(self)._process(self._ptr, _fptr(a), _fptr(o[0]), _fptr(o[1]), a.shape[0])
        return o

    def process_into(self, in_mono, out_left: np.ndarray, out_right: np.ndarray) -> None:
        """Like :meth:`process` with separate float32 left/right buffers (added to)."""
        if self._ptr is None:
            raise ValueError("effect is closed")
        a = _check_in(in_mono)
        for b in (out_left, out_right):
            if (
                not isinstance(b, np.ndarray)
                or b.dtype != np.float32
                or b.shape != a.shape
                or not b.flags.c_contiguous
                or not b.flags.writeable
            ):
                raise ValueError(f"outputs must be writable C-contiguous float32 arrays of shape {a.shape}")
        if a.shape[0]:
            type(self)._process(self._ptr, _fptr(a), _fptr(out_left), _fptr(out_right), a.shape[0])


class Reverb(_Effect):
    """Stereo FDN reverb on a mono send bus (FluidSynth's reverb unit, ``fluid_revmodel``)."""

    _new = lib.fx_reverb_new
    _free = lib.fx_reverb_free
    _process = lib.fx_reverb_process

    def __init__(self, sample_rate: float = 44100.0, params: ReverbParams = FLUID_REVERB_DEFAULT):
        super().__init__(sample_rate)
        self.params = params
        self.set(**params.__dict__)

    def set(
        self,
        room_size: float | None = None,
        damping: float | None = None,
        width: float | None = None,
        level: float | None = None,
    ) -> None:
        """Change any parameters (others keep their values). Values are clamped to 0..1."""
        p = self.params
        self.params = ReverbParams(
            p.room_size if room_size is None else float(room_size),
            p.damping if damping is None else float(damping),
            p.width if width is None else float(width),
            p.level if level is None else float(level),
        )
        q = self.params
        lib.fx_reverb_set(self._ptr, q.room_size, q.damping, q.width, q.level)

    def reset(self) -> None:
        """Silence the tail and return to the initial state (like a fresh object)."""
        lib.fx_reverb_reset(self._ptr)

    @property
    def avx2(self) -> bool:
        """The AVX2 loop runs (the same output bit for bit as the scalar one)."""
        return bool(lib.fx_reverb_avx2(self._ptr))

    @avx2.setter
    def avx2(self, on: bool) -> None:
        lib.fx_reverb_set_avx2(self._ptr, int(bool(on)))

    @property
    def rt60(self) -> tuple[float, float]:
        """Designed reverb time (seconds) at DC and at Nyquist."""
        dc = ffi.new("double *")
        ny = ffi.new("double *")
        lib.fx_reverb_get_rt60(self._ptr, dc, ny)
        return dc[0], ny[0]


class Chorus(_Effect):
    """Multi-voice modulated-delay chorus on a mono send bus (FluidSynth's ``fluid_chorus``)."""

    _new = lib.fx_chorus_new
    _free = lib.fx_chorus_free
    _process = lib.fx_chorus_process

    def __init__(self, sample_rate: float = 44100.0, params: ChorusParams = FLUID_CHORUS_DEFAULT):
        super().__init__(sample_rate)
        self.params = params
        self.set(**params.__dict__)

    def set(
        self,
        voices: int | None = None,
        level: float | None = None,
        speed_hz: float | None = None,
        depth_ms: float | None = None,
        type: int | None = None,
    ) -> None:
        """Change any parameters (others keep their values); out-of-range values are clamped."""
        p = self.params
        self.params = ChorusParams(
            p.voices if voices is None else int(voices),
            p.level if level is None else float(level),
            p.speed_hz if speed_hz is None else float(speed_hz),
            p.depth_ms if depth_ms is None else float(depth_ms),
            p.type if type is None else int(type),
        )
        q = self.params
        lib.fx_chorus_set(self._ptr, q.voices, q.level, q.speed_hz, q.depth_ms, q.type)

    def reset(self) -> None:
        """Empty the delay line and restart the LFO (like a fresh object)."""
        lib.fx_chorus_reset(self._ptr)

    @property
    def avx2(self) -> bool:
        """The AVX2 tap reads run (the same output bit for bit as the scalar ones)."""
        return bool(lib.fx_chorus_avx2(self._ptr))

    @avx2.setter
    def avx2(self, on: bool) -> None:
        lib.fx_chorus_set_avx2(self._ptr, int(bool(on)))

    @property
    def delay_range_ms(self) -> tuple[float, float]:
        """(min, max) delay in ms swept by the voices at the current settings."""
        lo = ffi.new("double *")
        hi = ffi.new("double *")
        lib.fx_chorus_get_delay_range_ms(self._ptr, lo, hi)
        return lo[0], hi[0]
