"""A region's SF2 generators as DLS2 connection blocks, for every region of a file at once.

Each region gets the same ROWS (source, control, destination, transform); only the scales
differ, so the blocks of all regions are one (regions, len(ROWS)) structured array and a
region's articulation is a view of its row. Every destination the DLS2 defaults of
`synth.download` would otherwise fill is written, so a SoundFont region sounds with SF2's
defaults, not DLS's (LFOs at 8.176 Hz after 1 ms, envelope times of 1 ms, ...).

Units (SF2 generator -> DLS connection scale, as the engine reads it):

- times (delays, attack, hold, decay, release): timecents both sides;
  keynumTo{Vol,Mod}Env{Hold,Decay} (timecents per key, around key 60) become a constant
  ``60 x k`` plus a key-number connection of ``-128 x k`` (the engine's key source is
  key / 128);
- sustainVolEnv (cB of attenuation, SF2 spec) -> 0.1 % of the engine's 96 dB envelope scale:
  ``1000 x (1 - cB / 960)``; FluidSynth reads it as ``1 - cB / 1000``, 4 % shallower;
- sustainModEnv (0.1 % decrease) -> ``1000 - value``;
- LFO frequencies: SF2 absolute cents (0 = 8.176 Hz) are DLS absolute pitch cents;
- initialFilterFc (absolute cents) -> cutoff; 13500 cents or more with nothing moving the
  cutoff and no resonance means "no filter" (DLS 0x7FFFFFFF), as the SF2 default intends.
  initialFilterQ
  (cB of resonance above DC gain) -> resonance in cB, the engine's peak height above the
  passband (FluidSynth's peak is about 3 dB lower); the engine holds DLS2's 0..22.5 dB;
- initialAttenuation (cB) -> a constant gain of ``-0.4 x cB``: E-mu's hardware and FluidSynth
  scale the generator by 0.4 (EMU_ATTENUATION_FACTOR), and banks are voiced for that, so
  960 cB sounds 38.4 dB down. A negative value (a preset's offset) is kept: the engine clamps
  the gain of it and its modulators (velocity, CC7, CC11) at 0 dB, as FluidSynth clamps the
  modulated generator to 0..144 dB;
- coarseTune (semitones) and fineTune (cents) -> one constant pitch offset in cents;
  scaleTuning (cents per key) -> the key-number-to-pitch connection ``128 x cents`` (the
  DLS default 12800 is 100 cents per key), acting around the root key;
- pan, chorus and reverb sends: 0.1 % both sides;
- modLfoToPitch, vibLfoToPitch, modEnvToPitch (cents), modLfoToFilterFc,
  modEnvToFilterFc (cents), modLfoToVolume (cB, positive louder): LFO / vibrato / EG2
  connections of that scale. SF2's LFOs are triangles, as the synth plays them for
  a bank of SF2 origin.
"""

from __future__ import annotations

import numpy as np

from .. import constants as C
from ..model import CONNECTION_DTYPE
from ..units import FILTER_CUTOFF_OFF, UNITS_PER
from . import generators as G

EMU_ATTENUATION_FACTOR = 0.4  # SF2 initialAttenuation as E-mu hardware and FluidSynth play it
FILTER_OFF_CENTS = 13500  # SF2 default initialFilterFc: the filter is open
MAX_RESONANCE_CB = 225  # the engine's (DLS2's) largest filter resonance

_N, _K = C.CONN_SRC_NONE, C.CONN_SRC_KEYNUMBER
ROWS = (
    (_N, _N, C.CONN_DST_LFO_FREQUENCY),
    (_N, _N, C.CONN_DST_LFO_STARTDELAY),
    (_N, _N, C.CONN_DST_VIB_FREQUENCY),
    (_N, _N, C.CONN_DST_VIB_STARTDELAY),
    (_N, _N, C.CONN_DST_EG1_DELAYTIME),
    (_N, _N, C.CONN_DST_EG1_ATTACKTIME),
    (_N, _N, C.CONN_DST_EG1_HOLDTIME),
    (_N, _N, C.CONN_DST_EG1_DECAYTIME),
    (_N, _N, C.CONN_DST_EG1_SUSTAINLEVEL),
    (_N, _N, C.CONN_DST_EG1_RELEASETIME),
    (_K, _N, C.CONN_DST_EG1_HOLDTIME),
    (_K, _N, C.CONN_DST_EG1_DECAYTIME),
    (_N, _N, C.CONN_DST_EG2_DELAYTIME),
    (_N, _N, C.CONN_DST_EG2_ATTACKTIME),
    (_N, _N, C.CONN_DST_EG2_HOLDTIME),
    (_N, _N, C.CONN_DST_EG2_DECAYTIME),
    (_N, _N, C.CONN_DST_EG2_SUSTAINLEVEL),
    (_N, _N, C.CONN_DST_EG2_RELEASETIME),
    (_K, _N, C.CONN_DST_EG2_HOLDTIME),
    (_K, _N, C.CONN_DST_EG2_DECAYTIME),
    (_N, _N, C.CONN_DST_FILTER_CUTOFF),
    (_N, _N, C.CONN_DST_FILTER_Q),
    (C.CONN_SRC_LFO, _N, C.CONN_DST_PITCH),
    (C.CONN_SRC_VIBRATO, _N, C.CONN_DST_PITCH),
    (C.CONN_SRC_EG2, _N, C.CONN_DST_PITCH),
    (C.CONN_SRC_LFO, _N, C.CONN_DST_FILTER_CUTOFF),
    (C.CONN_SRC_EG2, _N, C.CONN_DST_FILTER_CUTOFF),
    (C.CONN_SRC_LFO, _N, C.CONN_DST_GAIN),
    (_N, _N, C.CONN_DST_PAN),
    (_N, _N, C.CONN_DST_REVERB),
    (_N, _N, C.CONN_DST_CHORUS),
    (_N, _N, C.CONN_DST_PITCH),
    (_K, _N, C.CONN_DST_PITCH),
    (_N, _N, C.CONN_DST_GAIN),
)
ROW_PAN = 28
ROW_KEY_PITCH = 32
ROW_CUTOFF = 20
C_FILTER_OFF = FILTER_CUTOFF_OFF / UNITS_PER  # the DLS2 'no filter' cutoff, in cents


def _g(gens: np.ndarray, op: int) -> np.ndarray:
    return gens[:, op].astype(np.float64)


def scales(gens: np.ndarray, filter_on: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (regions, len(ROWS)) scales in destination units (float64), and per region
    whether a value had to be clamped to fit the engine (a resonance above 22.5 dB)."""
    n = len(gens)
    out = np.empty((n, len(ROWS)), dtype=np.float64)
    out[:, 0] = _g(gens, G.FREQ_MOD_LFO)
    out[:, 1] = _g(gens, G.DELAY_MOD_LFO)
    out[:, 2] = _g(gens, G.FREQ_VIB_LFO)
    out[:, 3] = _g(gens, G.DELAY_VIB_LFO)
    for base, (d, a, h, dc, s, r, kh, kd) in (
        (
            4,
            (
                G.DELAY_VOL_ENV,
                G.ATTACK_VOL_ENV,
                G.HOLD_VOL_ENV,
                G.DECAY_VOL_ENV,
                G.SUSTAIN_VOL_ENV,
                G.RELEASE_VOL_ENV,
                G.KEYNUM_TO_VOL_ENV_HOLD,
                G.KEYNUM_TO_VOL_ENV_DECAY,
            ),
        ),
        (
            12,
            (
                G.DELAY_MOD_ENV,
                G.ATTACK_MOD_ENV,
                G.HOLD_MOD_ENV,
                G.DECAY_MOD_ENV,
                G.SUSTAIN_MOD_ENV,
                G.RELEASE_MOD_ENV,
                G.KEYNUM_TO_MOD_ENV_HOLD,
                G.KEYNUM_TO_MOD_ENV_DECAY,
            ),
        ),
    ):
        out[:, base] = _g(gens, d)
        out[:, base + 1] = _g(gens, a)
        out[:, base + 2] = _g(gens, h) + 60.0 * _g(gens, kh)
        out[:, base + 3] = _g(gens, dc) + 60.0 * _g(gens, kd)
        if base == 4:
            out[:, base + 4] = np.clip(1000.0 * (1.0 - _g(gens, s) / 960.0), 0.0, 1000.0)
        else:
            out[:, base + 4] = np.clip(1000.0 - _g(gens, s), 0.0, 1000.0)
        out[:, base + 5] = _g(gens, r)
        out[:, base + 6] = -128.0 * _g(gens, kh)
        out[:, base + 7] = -128.0 * _g(gens, kd)
    out[:, ROW_CUTOFF] = np.where(filter_on, _g(gens, G.INITIAL_FILTER_FC), C_FILTER_OFF)
    q = _g(gens, G.INITIAL_FILTER_Q)
    clamped = q > MAX_RESONANCE_CB
    out[:, 21] = q
    out[:, 22] = _g(gens, G.MOD_LFO_TO_PITCH)
    out[:, 23] = _g(gens, G.VIB_LFO_TO_PITCH)
    out[:, 24] = _g(gens, G.MOD_ENV_TO_PITCH)
    out[:, 25] = _g(gens, G.MOD_LFO_TO_FILTER_FC)
    out[:, 26] = _g(gens, G.MOD_ENV_TO_FILTER_FC)
    out[:, 27] = _g(gens, G.MOD_LFO_TO_VOLUME)
    out[:, ROW_PAN] = _g(gens, G.PAN)
    out[:, 29] = _g(gens, G.REVERB_EFFECTS_SEND)
    out[:, 30] = _g(gens, G.CHORUS_EFFECTS_SEND)
    out[:, 31] = 100.0 * _g(gens, G.COARSE_TUNE) + _g(gens, G.FINE_TUNE)
    out[:, ROW_KEY_PITCH] = 128.0 * _g(gens, G.SCALE_TUNING)
    out[:, 33] = -EMU_ATTENUATION_FACTOR * _g(gens, G.INITIAL_ATTENUATION)
    return out, clamped


def _row_words() -> np.ndarray:
    """ROWS as the 32-bit little-endian words of one region's connection blocks (source and
    control, destination and transform 0, scale 0): three words a block."""
    words = np.zeros((len(ROWS), 3), dtype="<i4")
    for k, (s, c, d) in enumerate(ROWS):
        words[k, 0] = s | c << 16
        words[k, 1] = d
    assert words.view(CONNECTION_DTYPE).shape == (len(ROWS), 1)
    return words.reshape(-1)


_ROW_WORDS = _row_words()
_I32 = np.iinfo(np.int32)


def blocks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connection blocks (regions, len(ROWS)) from `scales`' values; and per region whether
    a scale overflowed the 32-bit field (and was saturated). Built as words (three per block)
    and viewed as CONNECTION_DTYPE: a structured array's fields are slow to fill."""
    n = len(values)
    raw = values * 65536.0
    np.rint(raw, out=raw)
    over = (raw > _I32.max) | (raw < _I32.min)
    np.minimum(raw, _I32.max, out=raw)
    np.maximum(raw, _I32.min, out=raw)
    words = np.tile(_ROW_WORDS, (n, 1))
    words[:, 2::3] = raw
    cutoff = words[:, 3 * ROW_CUTOFF + 2]
    cutoff[values[:, ROW_CUTOFF] == C_FILTER_OFF] = FILTER_CUTOFF_OFF
    return words.view(CONNECTION_DTYPE), over.any(axis=1)


def _i(v: float) -> int:
    return int(round(v * 65536.0))


_CONCAVE_INVERTED = (C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT) | C.TRN_SOURCE_INVERT
# The DLS2 default connections (DLS2 specification, table of defaults; synth.download
# applies them before a region's own): (source, control, destination) -> (transform,
# lScale). A region's connection of the same key replaces the default, so a row whose
# value equals its default can be left out, and a default must be cancelled (a row of
# scale 0) where the reader removes the row that replaced it.
DLS2_DEFAULTS: dict[tuple[int, int, int], tuple[int, int]] = {
    (_N, _N, C.CONN_DST_LFO_FREQUENCY): (0, _i(6900.0 + 1200.0 * np.log2(5.0 / 440.0))),
    (_N, _N, C.CONN_DST_LFO_STARTDELAY): (0, _i(1200.0 * np.log2(0.01))),
    (_N, _N, C.CONN_DST_VIB_FREQUENCY): (0, _i(6900.0 + 1200.0 * np.log2(5.0 / 440.0))),
    (_N, _N, C.CONN_DST_VIB_STARTDELAY): (0, _i(1200.0 * np.log2(0.01))),
    (_N, _N, C.CONN_DST_EG1_DELAYTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG1_ATTACKTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG1_HOLDTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG1_DECAYTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG1_SUSTAINLEVEL): (0, _i(1000.0)),
    (_N, _N, C.CONN_DST_EG1_RELEASETIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG1_SHUTDOWNTIME): (0, _i(1200.0 * np.log2(0.015))),
    (_N, _N, C.CONN_DST_EG2_DELAYTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG2_ATTACKTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG2_HOLDTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG2_DECAYTIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_EG2_SUSTAINLEVEL): (0, _i(1000.0)),
    (_N, _N, C.CONN_DST_EG2_RELEASETIME): (0, _i(-32768.0)),
    (_N, _N, C.CONN_DST_FILTER_CUTOFF): (0, FILTER_CUTOFF_OFF),
    (_N, _N, C.CONN_DST_FILTER_Q): (0, 0),
    (C.CONN_SRC_KEYONVELOCITY, _N, C.CONN_DST_GAIN): (_CONCAVE_INVERTED, _i(-960.0)),
    (C.CONN_SRC_CC7, _N, C.CONN_DST_GAIN): (_CONCAVE_INVERTED, _i(-960.0)),
    (C.CONN_SRC_CC11, _N, C.CONN_DST_GAIN): (_CONCAVE_INVERTED, _i(-960.0)),
    (C.CONN_SRC_PITCHWHEEL, C.CONN_SRC_RPN0, C.CONN_DST_PITCH): (0, _i(12800.0)),
    (C.CONN_SRC_RPN1, _N, C.CONN_DST_PITCH): (0, _i(100.0)),
    (C.CONN_SRC_RPN2, _N, C.CONN_DST_KEYNUMBER): (0, _i(6400.0)),
    (_K, _N, C.CONN_DST_PITCH): (0, _i(12800.0)),
    (C.CONN_SRC_CC10, _N, C.CONN_DST_PAN): (C.TRN_SOURCE_BIPOLAR, _i(508.0)),
    (C.CONN_SRC_CC91, _N, C.CONN_DST_REVERB): (0, _i(1000.0)),
    (C.CONN_SRC_CC93, _N, C.CONN_DST_CHORUS): (0, _i(1000.0)),
}
ROW_KEYS = frozenset(ROWS)


def _sf2_default_rows() -> dict[tuple[int, int, int], tuple[int, int]]:
    """The connections a zone that sets nothing makes: SF2's generator defaults (with the
    filter off) and its default modulators, key -> (transform, lScale)."""
    from . import modulators as M

    gens = G.DEFAULTS[None, :].astype(np.int32)
    gen_rows, _ = blocks(scales(gens, np.zeros(1, dtype=bool))[0])
    mod_rows, _ = M.to_connections(list(M.DEFAULT_MODULATORS), set())
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in np.concatenate([gen_rows[0], mod_rows]).tolist()}


# A bank read from SF2 is played with the DLS2 defaults or, as a bank of SF2 origin (its INFO
# says so: synth.download.sf2_origin), with SF2's where they differ (LFO rates and delays,
# envelope times, CC1 and pressure to vibrato, CC10/CC91/CC93 amounts). So a row may be left
# out only where it equals a default both define alike (SHARED_DEFAULTS: the default then
# applies whichever the player takes), and a zone that removes a default modulator (an
# identical one of amount 0) must write a row of scale 0 with its key (CANCEL_KEYS) to
# cancel the player's default.
SF2_DEFAULTS = _sf2_default_rows()
SHARED_DEFAULTS = {k: v for k, v in DLS2_DEFAULTS.items() if SF2_DEFAULTS.get(k) == v}
CANCEL_KEYS = frozenset(DLS2_DEFAULTS) | frozenset(
    k for k in SF2_DEFAULTS if k not in ROW_KEYS
)  # the default modulators' keys


def needed(arr: np.ndarray) -> np.ndarray:
    """Which rows of generator blocks (regions, len(ROWS)) change anything: a row with a
    default of either kind is needed unless it equals a shared default (which then
    applies); one without is needed unless its scale is 0 (it adds nothing)."""
    keep = arr["scale"] != 0
    for k, key in enumerate(ROWS):
        if key in DLS2_DEFAULTS:
            d = SHARED_DEFAULTS.get(key)
            keep[:, k] = True if d is None else ~((arr["scale"][:, k] == d[1]) & (arr["transform"][:, k] == d[0]))
    return keep


def needed_modulator_rows(rows: np.ndarray) -> np.ndarray:
    """Modulator connections that change anything: one equal to a shared default is left out
    when no other connection of the region has its key (the default then applies); one of
    scale 0 is kept only where it cancels a default (its key is in CANCEL_KEYS)."""
    keys = [tuple(r) for r in rows[["source", "control", "destination"]].tolist()]
    keep = np.ones(len(rows), dtype=bool)
    for k, (key, t, s) in enumerate(zip(keys, rows["transform"].tolist(), rows["scale"].tolist())):
        d = SHARED_DEFAULTS.get(key)
        if d is not None and d == (t, s) and keys.count(key) == 1 and key not in ROW_KEYS:
            keep[k] = False
        elif s == 0 and (key not in CANCEL_KEYS or keys.count(key) > 1):
            keep[k] = False
    return keep
