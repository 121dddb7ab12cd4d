"""Conversions between DLS 32-bit connection values and everyday units.

A connection block's ``lScale`` (and a ``wsmp``'s ``lAttenuation``) is a signed 32-bit
integer whose meaning depends on the destination (and, for modulated connections, on the
source). Every unit is a 16.16 fixed-point number of some logarithmic or linear unit:

==================  ==========================  ==============================================
quantity            32-bit value                everyday unit
==================  ==========================  ==============================================
time                timecents * 65536           seconds = 2 ** (timecents / 1200);
                                                0x80000000 (INT32_MIN) means 0 s
absolute pitch      cents * 65536               Hz = 440 * 2 ** ((cents - 6900) / 1200)
relative pitch      cents * 65536               cents (100 per semitone)
gain                centibels * 65536           dB = centibels / 10 (attenuation is -gain)
sustain level       (0.1 %) * 65536             percent = value / 65536 / 10 (1000 = 100 %)
pan                 (0.1 %) * 65536             -500..500: -50 % (left) .. +50 % (right)
==================  ==========================  ==============================================

Functions named ``*_to_<unit>`` decode a 32-bit value; the ``<unit>_to_*`` functions encode
one, rounding to the nearest integer and clamping to the int32 range (so an out-of-range
request saturates instead of wrapping). Decoders accept the value either signed (as stored in
a connection block) or as its unsigned 32-bit pattern (e.g. ``0x80000000``).

The short aliases ``to_seconds`` / ``from_seconds`` are the time conversions.
"""

from __future__ import annotations

import math


__all__ = [
    "INT32_MIN",
    "INT32_MAX",
    "TIME_ZERO",
    "FILTER_CUTOFF_OFF",
    "UNITS_PER",
    "clamp_int32",
    "as_int32",
    "timecents_to_seconds",
    "seconds_to_timecents",
    "to_seconds",
    "from_seconds",
    "abs_pitch_to_cents",
    "cents_to_abs_pitch",
    "abs_pitch_to_hz",
    "hz_to_abs_pitch",
    "rel_pitch_to_cents",
    "cents_to_rel_pitch",
    "gain_to_db",
    "db_to_gain",
    "gain_to_centibels",
    "centibels_to_gain",
    "sustain_to_percent",
    "percent_to_sustain",
    "pan_to_percent",
    "percent_to_pan",
    "hz_to_cents",
    "cents_to_hz",
    "midi_note_to_hz",
]

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
UNITS_PER = 65536  # one unit (cent, centibel, 0.1 %, timecent) in the 32-bit encoding

TIME_ZERO = INT32_MIN  # the time value 0x80000000: exactly 0 seconds
FILTER_CUTOFF_OFF = 0x7FFFFFFF  # DLS2 default initial cutoff: the filter is disabled


def clamp_int32(value: float) -> int:
    """Round to the nearest integer and clamp into the signed 32-bit range."""
    if isinstance(value, float):
        if math.isnan(value):
            raise ValueError("cannot encode NaN as a DLS value")
        if math.isinf(value):
            return INT32_MAX if value > 0 else INT32_MIN
        value = round(value)
    return max(INT32_MIN, min(INT32_MAX, int(value)))


def as_int32(value: int) -> int:
    """Interpret a 32-bit pattern (signed or unsigned) as a signed int32."""
    value = int(value) & 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


# --- time -------------------------------------------------------------------------------


def timecents_to_seconds(value: int) -> float:
    """Decode a 32-bit time value (timecents * 65536) to seconds; 0x80000000 is 0 s."""
    v = as_int32(value)
    if v == TIME_ZERO:
        return 0.0
    return 2.0 ** (v / UNITS_PER / 1200.0)


def seconds_to_timecents(seconds: float) -> int:
    """Encode seconds as a 32-bit time value; 0 s (or less) gives 0x80000000 (as INT32_MIN)."""
    if seconds <= 0.0:
        return TIME_ZERO
    return clamp_int32(1200.0 * math.log2(seconds) * UNITS_PER)


def seconds_to_timecents_float(seconds: float) -> float:
    """Seconds as timecents, unscaled and unrounded (1200 * log2(seconds)); seconds > 0."""
    return 1200.0 * math.log2(seconds)


to_seconds = timecents_to_seconds
from_seconds = seconds_to_timecents


# --- pitch --------------------------------------------------------------------------------


def hz_to_cents(hz: float) -> float:
    """Absolute pitch in cents for a frequency (6900 cents = 440 Hz, 100 cents per semitone)."""
    if hz <= 0.0:
        raise ValueError("frequency must be positive")
    return 6900.0 + 1200.0 * math.log2(hz / 440.0)


def cents_to_hz(cents: float) -> float:
    """Frequency of an absolute pitch in cents (6900 cents = 440 Hz)."""
    return 440.0 * 2.0 ** ((cents - 6900.0) / 1200.0)


def midi_note_to_hz(note: float) -> float:
    """Equal-tempered frequency of a MIDI note number (69 = A4 = 440 Hz)."""
    return cents_to_hz(note * 100.0)


def abs_pitch_to_cents(value: int) -> float:
    """Decode a 32-bit absolute pitch to cents."""
    return as_int32(value) / UNITS_PER


def cents_to_abs_pitch(cents: float) -> int:
    """Encode an absolute pitch in cents (6900 = 440 Hz) as a 32-bit value."""
    return clamp_int32(cents * UNITS_PER)


def abs_pitch_to_hz(value: int) -> float:
    """Decode a 32-bit absolute pitch (cutoff, LFO frequency) to Hz."""
    return cents_to_hz(abs_pitch_to_cents(value))


def hz_to_abs_pitch(hz: float) -> int:
    """Encode a frequency in Hz as a 32-bit absolute pitch."""
    return cents_to_abs_pitch(hz_to_cents(hz))


def rel_pitch_to_cents(value: int) -> float:
    """Decode a 32-bit relative pitch (a pitch offset or depth) to cents."""
    return as_int32(value) / UNITS_PER


def cents_to_rel_pitch(cents: float) -> int:
    """Encode a pitch offset or modulation depth in cents as a 32-bit value."""
    return clamp_int32(cents * UNITS_PER)


# --- gain ---------------------------------------------------------------------------------


def gain_to_centibels(value: int) -> float:
    """Decode a 32-bit gain to centibels."""
    return as_int32(value) / UNITS_PER


def centibels_to_gain(cb: float) -> int:
    """Encode a gain in centibels as a 32-bit value."""
    return clamp_int32(cb * UNITS_PER)


def gain_to_db(value: int) -> float:
    """Decode a 32-bit gain (centibels * 65536) to decibels (negative = quieter)."""
    return gain_to_centibels(value) / 10.0


def db_to_gain(db: float) -> int:
    """Encode a gain in decibels (negative = quieter) as a 32-bit value."""
    return centibels_to_gain(db * 10.0)


# --- levels and pan -------------------------------------------------------------------------


def sustain_to_percent(value: int) -> float:
    """Decode an EG sustain level ((0.1 %) * 65536) to percent (100.0 = full)."""
    return as_int32(value) / UNITS_PER / 10.0


def percent_to_sustain(percent: float) -> int:
    """Encode an EG sustain level in percent (0..100) as a 32-bit value."""
    return clamp_int32(percent * 10.0 * UNITS_PER)


def pan_to_percent(value: int) -> float:
    """Decode a pan value ((0.1 %) * 65536) to percent: -50 = hard left, +50 = hard right."""
    return as_int32(value) / UNITS_PER / 10.0


def percent_to_pan(percent: float) -> int:
    """Encode a pan position in percent (-50 = hard left .. +50 = hard right)."""
    return clamp_int32(percent * 10.0 * UNITS_PER)
