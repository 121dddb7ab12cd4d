"""The checks of the library's options: each bad value raises ValueError (TypeError for a
value of the wrong type) with one line naming the parameter, before anything is read or
rendered. The limits are the engine's (``dlsynth.native.engine``), said there once; the
command line checks the same limits for its options."""

from __future__ import annotations

import math
import operator


def integer(name: str, value: object, lo: int, hi: int) -> int:
    """An int (not a bool) in lo..hi."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not a bool")
    try:
        v = operator.index(value)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"{name} must be an int, not {type(value).__name__}") from None
    if not lo <= v <= hi:
        raise ValueError(f"{name} must be between {lo} and {hi}, got {v}")
    return v


def real(name: str, value: object, lo: float | None = None, hi: float | None = None) -> float:
    """A finite real number, within [lo, hi] where given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v) or (lo is not None and v < lo) or (hi is not None and v > hi):
        span = f" between {lo:g} and {hi:g}" if lo is not None and hi is not None else ""
        raise ValueError(f"{name} must be a finite number{span}, got {value!r}")
    return v


def rate(value: object) -> int:
    from dlsynth.native.engine import RATE_RANGE

    return integer("rate", value, RATE_RANGE[0], RATE_RANGE[1])


def voices(value: object) -> int:
    from dlsynth.native.engine import MAX_VOICES

    return integer("voices", value, 1, MAX_VOICES)


def threads(value: object) -> int:
    from dlsynth.native.engine import MAX_THREADS

    return integer("threads", value, 1, MAX_THREADS)


def interpolation(value: object) -> str:
    from dlsynth.native.engine import INTERPOLATION

    if value not in INTERPOLATION:
        raise ValueError(f"interpolation must be one of {', '.join(map(repr, INTERPOLATION))}, got {value!r}")
    return str(value)


def flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


#: the master gain's range in dB, for the library and every command: from inaudible to 24 dB of
#: boost (a quiet song at most needs that; the output is clipped at 0 dBFS beyond)
GAIN_DB_RANGE = (-60.0, 24.0)


def gain_db(value: object) -> float:
    return real("gain_db", value, *GAIN_DB_RANGE)


def tail(value: object) -> float | None:
    """'auto' (None: until silent, at most the render's AUTO_TAIL_MAX_SECONDS) or seconds."""
    from dlsynth.apps.render import TAIL_MAX_SECONDS

    if value == "auto":
        return None
    if isinstance(value, str):
        raise ValueError(f"tail must be a number of seconds or 'auto', not {value!r}")
    return real("tail", value, 0.0, TAIL_MAX_SECONDS)


def max_length(value: object) -> float | None:
    from dlsynth.apps.render import MAX_LENGTH_SECONDS

    if value is None:
        return None
    v = real("max_length", value)
    if not 0 < v <= MAX_LENGTH_SECONDS:
        raise ValueError(
            f"max_length must be a number of seconds above 0 (at most {MAX_LENGTH_SECONDS:,.0f}), got {value!r}"
        )
    return v
