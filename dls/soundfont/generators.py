"""The SoundFont 2 generators (SF2 2.04 section 8.1): numbers, names, defaults and ranges.

A generator is one parameter of a zone (``sfGenOper`` with a 16-bit ``genAmount``). The
table below is the specification's: the default is the value a zone has when neither it
nor its instrument's global zone sets the generator; the range is where the final value
(instrument value plus preset offset) is clamped.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Gen(NamedTuple):
    """One row of the SF2 generator table (SFGenerator)."""

    name: str
    default: int
    low: int
    high: int
    preset: bool  # allowed at preset level (additive); False: instrument level only


START_ADDRS_OFFSET = 0
END_ADDRS_OFFSET = 1
STARTLOOP_ADDRS_OFFSET = 2
ENDLOOP_ADDRS_OFFSET = 3
START_ADDRS_COARSE_OFFSET = 4
MOD_LFO_TO_PITCH = 5
VIB_LFO_TO_PITCH = 6
MOD_ENV_TO_PITCH = 7
INITIAL_FILTER_FC = 8
INITIAL_FILTER_Q = 9
MOD_LFO_TO_FILTER_FC = 10
MOD_ENV_TO_FILTER_FC = 11
END_ADDRS_COARSE_OFFSET = 12
MOD_LFO_TO_VOLUME = 13
CHORUS_EFFECTS_SEND = 15
REVERB_EFFECTS_SEND = 16
PAN = 17
DELAY_MOD_LFO = 21
FREQ_MOD_LFO = 22
DELAY_VIB_LFO = 23
FREQ_VIB_LFO = 24
DELAY_MOD_ENV = 25
ATTACK_MOD_ENV = 26
HOLD_MOD_ENV = 27
DECAY_MOD_ENV = 28
SUSTAIN_MOD_ENV = 29
RELEASE_MOD_ENV = 30
KEYNUM_TO_MOD_ENV_HOLD = 31
KEYNUM_TO_MOD_ENV_DECAY = 32
DELAY_VOL_ENV = 33
ATTACK_VOL_ENV = 34
HOLD_VOL_ENV = 35
DECAY_VOL_ENV = 36
SUSTAIN_VOL_ENV = 37
RELEASE_VOL_ENV = 38
KEYNUM_TO_VOL_ENV_HOLD = 39
KEYNUM_TO_VOL_ENV_DECAY = 40
INSTRUMENT = 41
KEY_RANGE = 43
VEL_RANGE = 44
STARTLOOP_ADDRS_COARSE_OFFSET = 45
KEYNUM = 46
VELOCITY = 47
INITIAL_ATTENUATION = 48
ENDLOOP_ADDRS_COARSE_OFFSET = 50
COARSE_TUNE = 51
FINE_TUNE = 52
SAMPLE_ID = 53
SAMPLE_MODES = 54
SCALE_TUNING = 56
EXCLUSIVE_CLASS = 57
OVERRIDING_ROOT_KEY = 58
END_OPER = 60
COUNT = 61  # generator numbers 0..60; larger ones are unknown and ignored (SF2 2.04 9.4)

_T = -12000  # the shortest time: 1 ms

TABLE: dict[int, Gen] = {
    0: Gen("startAddrsOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    1: Gen("endAddrsOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    2: Gen("startloopAddrsOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    3: Gen("endloopAddrsOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    4: Gen("startAddrsCoarseOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    5: Gen("modLfoToPitch", 0, -12000, 12000, True),
    6: Gen("vibLfoToPitch", 0, -12000, 12000, True),
    7: Gen("modEnvToPitch", 0, -12000, 12000, True),
    8: Gen("initialFilterFc", 13500, 1500, 13500, True),
    9: Gen("initialFilterQ", 0, 0, 960, True),
    10: Gen("modLfoToFilterFc", 0, -12000, 12000, True),
    11: Gen("modEnvToFilterFc", 0, -12000, 12000, True),
    12: Gen("endAddrsCoarseOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    13: Gen("modLfoToVolume", 0, -960, 960, True),
    15: Gen("chorusEffectsSend", 0, 0, 1000, True),
    16: Gen("reverbEffectsSend", 0, 0, 1000, True),
    17: Gen("pan", 0, -500, 500, True),
    21: Gen("delayModLFO", _T, -12000, 5000, True),
    22: Gen("freqModLFO", 0, -16000, 4500, True),
    23: Gen("delayVibLFO", _T, -12000, 5000, True),
    24: Gen("freqVibLFO", 0, -16000, 4500, True),
    25: Gen("delayModEnv", _T, -12000, 5000, True),
    26: Gen("attackModEnv", _T, -12000, 8000, True),
    27: Gen("holdModEnv", _T, -12000, 5000, True),
    28: Gen("decayModEnv", _T, -12000, 8000, True),
    29: Gen("sustainModEnv", 0, 0, 1000, True),
    30: Gen("releaseModEnv", _T, -12000, 8000, True),
    31: Gen("keynumToModEnvHold", 0, -1200, 1200, True),
    32: Gen("keynumToModEnvDecay", 0, -1200, 1200, True),
    33: Gen("delayVolEnv", _T, -12000, 5000, True),
    34: Gen("attackVolEnv", _T, -12000, 8000, True),
    35: Gen("holdVolEnv", _T, -12000, 5000, True),
    36: Gen("decayVolEnv", _T, -12000, 8000, True),
    37: Gen("sustainVolEnv", 0, 0, 1440, True),
    38: Gen("releaseVolEnv", _T, -12000, 8000, True),
    39: Gen("keynumToVolEnvHold", 0, -1200, 1200, True),
    40: Gen("keynumToVolEnvDecay", 0, -1200, 1200, True),
    41: Gen("instrument", 0, 0, 65535, True),
    43: Gen("keyRange", 0, 0, 0, True),
    44: Gen("velRange", 0, 0, 0, True),
    45: Gen("startloopAddrsCoarseOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    46: Gen("keynum", -1, -1, 127, False),
    47: Gen("velocity", -1, -1, 127, False),
    48: Gen("initialAttenuation", 0, 0, 1440, True),
    50: Gen("endloopAddrsCoarseOffset", 0, -(1 << 15), (1 << 15) - 1, False),
    51: Gen("coarseTune", 0, -120, 120, True),
    52: Gen("fineTune", 0, -99, 99, True),
    53: Gen("sampleID", 0, 0, 65535, False),
    54: Gen("sampleModes", 0, 0, 3, False),
    56: Gen("scaleTuning", 100, 0, 1200, True),
    57: Gen("exclusiveClass", 0, 0, 127, False),
    58: Gen("overridingRootKey", -1, -1, 127, False),
}


def name(oper: int) -> str:
    g = TABLE.get(oper)
    return g.name if g is not None else f"generator {oper}"


# Column vectors over all COUNT generator numbers (unused numbers: default 0, range 0..0).
DEFAULTS = np.zeros(COUNT, dtype=np.int32)
LOW = np.full(COUNT, -(1 << 15), dtype=np.int32)
HIGH = np.full(COUNT, (1 << 15) - 1, dtype=np.int32)
# Generators a preset zone may offset (added to the instrument's value); the others
# (sample addresses, keynum, velocity, sampleModes, exclusiveClass, overridingRootKey,
# and the index and range generators) are ignored at preset level.
PRESET_ADDITIVE = np.zeros(COUNT, dtype=bool)
for _op, _g in TABLE.items():
    DEFAULTS[_op] = _g.default
    if _op not in (KEY_RANGE, VEL_RANGE):
        LOW[_op], HIGH[_op] = _g.low, _g.high
    PRESET_ADDITIVE[_op] = _g.preset and _op not in (INSTRUMENT, KEY_RANGE, VEL_RANGE)
del _op, _g
# initialAttenuation's range bounds the value after its modulators, not the sum of the two
# levels: FluidSynth clips the modulated value to 0..1440 cB, and the engine's attenuation
# floor (ENG_RGN_ATTENUATION_FLOOR) stops the gain at 0 dB. So a preset's negative offset
# survives the sum and cancels velocity or CC attenuation instead of vanishing (the
# SoundFont spec test's "negative attenuation"); the sum is only kept within +-1440.
LOW[INITIAL_ATTENUATION] = -HIGH[INITIAL_ATTENUATION]

# Generators that only move the sample's addresses (instrument level; in sample points).
ADDRESS_GENERATORS = (
    START_ADDRS_OFFSET,
    END_ADDRS_OFFSET,
    STARTLOOP_ADDRS_OFFSET,
    ENDLOOP_ADDRS_OFFSET,
    START_ADDRS_COARSE_OFFSET,
    END_ADDRS_COARSE_OFFSET,
    STARTLOOP_ADDRS_COARSE_OFFSET,
    ENDLOOP_ADDRS_COARSE_OFFSET,
)
