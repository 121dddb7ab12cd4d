"""The checks of the library's options: each bad value raises ValueError (TypeError for a
value of the wrong type) with one line naming the parameter, before anything is read or
rendered. The limits are the engine's (``dlsynth.native.engine``), said there once; the
command line checks its options with these same functions (``name=`` gives the option's name).

The defaults and the choice lists every layer starts from (the engine, Synth, the library's
render, and the render and play commands) are said here once. Here rather than in
``native/engine.py``: this module imports nothing heavy, so the command line builds its
parser (defaults, choices, help) without loading NumPy or the C core, and the engine, which
may not import ``synth/``, imports these few names from here."""

from __future__ import annotations

import math
import operator

#: output sample rate in Hz
DEFAULT_SAMPLE_RATE = 48000
#: polyphony (the engine's most is ``native.engine.MAX_VOICES``)
DEFAULT_VOICES = 256
#: sample interpolation, and the choices (the engine's codes: ``native.engine.INTERPOLATION``)
INTERPOLATIONS = ("linear", "cubic", "sinc")
DEFAULT_INTERPOLATION = "cubic"
#: the WAV sample formats a render writes, each with its libsndfile subtype
FORMATS = {"pcm16": "PCM_16", "pcm24": "PCM_24", "float": "FLOAT"}
DEFAULT_FORMAT = "pcm16"
#: what a stem gathers (the engine's codes: ``native.engine.STEMS_BY``)
STEMS_BY = ("channel", "program", "track")
DEFAULT_STEMS_BY = "channel"
#: Headroom for polyphony: a GM bank's single notes peak near full scale, so the mix is turned
#: down as FluidSynth does (its synth.gain 0.2 is -14 dB). Users change it with gain_db.
DEFAULT_GAIN_DB = -12.0


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


def rate(value: object, name: str = "rate") -> int:
    from dlsynth.native.engine import RATE_RANGE

    return integer(name, value, RATE_RANGE[0], RATE_RANGE[1])


def voices(value: object, name: str = "voices") -> int:
    from dlsynth.native.engine import MAX_VOICES

    return integer(name, value, 1, MAX_VOICES)


def threads(value: object, name: str = "threads") -> int:
    from dlsynth.native.engine import MAX_THREADS

    return integer(name, value, 1, MAX_THREADS)


def choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    """One of the names in choices."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def interpolation(value: object, name: str = "interpolation") -> str:
    return choice(name, value, INTERPOLATIONS)


def flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


#: the master gain's range in dB, for the library and every command: from inaudible to 24 dB of
#: boost (a quiet song at most needs that; the output is clipped at 0 dBFS beyond)
GAIN_DB_RANGE = (-60.0, 24.0)


def gain_db(value: object, name: str = "gain_db") -> float:
    return real(name, value, *GAIN_DB_RANGE)


def tail(value: object) -> float | None:
    """'auto' (None: until silent, at most the render's AUTO_TAIL_MAX_SECONDS) or seconds."""
    from dlsynth.apps.render import TAIL_MAX_SECONDS

    if value == "auto":
        return None
    if isinstance(value, str):
        raise ValueError(f"tail must be a number of seconds or 'auto', not {value!r}")
    return real("tail", value, 0.0, TAIL_MAX_SECONDS)


def max_length(value: object, name: str = "max_length") -> float | None:
    from dlsynth.apps.render import MAX_LENGTH_SECONDS

    if value is None:
        return None
    v = real(name, value)
    if not 0 < v <= MAX_LENGTH_SECONDS:
        raise ValueError(
            f"{name} must be a number of seconds above 0 (at most {MAX_LENGTH_SECONDS:,.0f}), got {value!r}"
        )
    return v
