"""The engine's connection transforms, for the few values the reader evaluates itself.

A zone with a fixed key number or velocity (SF2 generators ``keynum`` / ``velocity``)
plays every connection that reads the key or the velocity at that fixed value; the reader
turns those connections into constants, so it needs the value the engine would compute:
the DLS2 transform of native/voice.c (``tr_eval``): a 7-bit source normalised to /128,
stretched to /127 under a curve, then inverted, made bipolar, and curved (concave
``-20/96 log10((1 - x)^2)``, convex its mirror, switch at one half).
"""

from __future__ import annotations

import math

from .. import constants as C


def curve(kind: int, x: float) -> float:
    if kind == C.CONN_TRN_CONCAVE:
        if x >= 1.0:
            return 1.0
        r = -(40.0 / 96.0) * math.log10(1.0 - x)
    elif kind == C.CONN_TRN_CONVEX:
        if x <= 0.0:
            return 0.0
        r = 1.0 + (40.0 / 96.0) * math.log10(x)
    elif kind == C.CONN_TRN_SWITCH:
        return 1.0 if x >= 0.5 else 0.0
    else:
        return x
    return min(1.0, max(0.0, r))


def midi_value(value: int, kind: int, bipolar: bool, invert: bool) -> float:
    """A 7-bit MIDI value (velocity or key) through a source or control transform."""
    u = value / 128.0
    if bipolar:
        if invert:
            u = 1.0 - u
        b = 2.0 * u - 1.0
        if kind == C.CONN_TRN_NONE:
            return b
        m = curve(kind, abs(b))
        return -m if b < 0 else m
    if kind != C.CONN_TRN_NONE:
        u = min(1.0, u * 128.0 / 127.0)
    if invert:
        u = 1.0 - u
    return curve(kind, u)
