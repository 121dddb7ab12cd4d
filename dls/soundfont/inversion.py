"""A region's DLS2 connections as SF2 generators and modulators: the reader's mapping inverted.

The SF2 reader (`dls.soundfont.articulation`, `dls.soundfont.modulators`) says once how
each SF2 generator and modulator becomes DLS connections and in which units. Writing SF2
runs that mapping backwards, taking its facts from there rather than restating them:

- the generator rows: `articulation.scales` is affine in each generator, so probing it
  with each generator at 1 (`_probe`) gives, for each of its ROWS (source, control,
  destination), the generators that drive it, their factors and the row's value at 0;
  a connection of a row's kind is then solved for its generator (timecents, cents,
  0.1 %, sustain as the reader scales it, initialAttenuation through E-mu's 0.4, the
  keynumTo* pair of a base time and a key-number row, scaleTuning from key-to-pitch);
  the constant pitch becomes coarseTune (semitones) plus fineTune (cents);
- everything else with a MIDI source becomes a modulator (SFModList) by the inverse of
  `modulators.to_connections`: DLS sources and their transform bits are SF2 source
  operands (curve, D = invert, P = bipolar), a destination is the generator of
  `modulators._PLAIN` (amounts in its units), an LFO / vibrato / EG2 connection with a
  MIDI control is a modulator of the depth generator (`modulators._DEPTHS`), pitch-wheel
  sensitivity amounts are scaled by 127/128;
- SF2's default modulators (SF2 2.04 section 8.4, `modulators.DEFAULT_MODULATORS`) apply to
  every zone: one the region's connections give exactly is not written, one they give
  with another amount is written with the region's, one they lack is written with amount
  0, which overrides it (section 9.5.1). The velocity-to-cutoff default, which the
  reader and FluidSynth make silent, is written at 0 too, for players that follow the
  specification to the letter.

What SF2 cannot say is collected as short remarks (a set, one per kind): EG1 as a source,
DLS2's multichannel destinations, vibrato to anything but pitch, output transforms, curves
on a key-scaled time, controllers SF2 forbids as sources, values past a generator's range.
The RPN 1 / RPN 2 (fine and coarse tuning) connections and EG1's shutdown time are the
player's business in SF2 and are left out silently when they are DLS2's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .. import constants as C
from . import articulation as A
from . import generators as G
from . import modulators as M

_N, _K = C.CONN_SRC_NONE, C.CONN_SRC_KEYNUMBER
FULL_ATTENUATION_CB = 1000  # sustainVolEnv of a sustain level of 0


def _probe() -> tuple[np.ndarray, np.ndarray]:
    """(value of each ROW with every generator at 0, rows x generators factors)."""
    on = np.ones(G.COUNT, dtype=bool)
    base = A.scales(np.zeros((1, G.COUNT), dtype=np.int32), on[:1])[0][0]
    unit = A.scales(np.eye(G.COUNT, dtype=np.int32), on)[0] - base[None, :]
    factors = np.where(np.abs(unit) > 1e-9, unit, 0.0).T
    return base, factors


_BASE, _FACTORS = _probe()
ROW_OF = {key: k for k, key in enumerate(A.ROWS)}
_ROW_PITCH = ROW_OF[(_N, _N, C.CONN_DST_PITCH)]

# What SF2 zones need not say: the player applies its own tuning (RPN 1 and 2) and voice
# shutdown. Left out when they are DLS2's defaults (any other value is a remark).
_PLAYER_OWN = {
    (C.CONN_SRC_RPN1, _N, C.CONN_DST_PITCH): 100.0,
    (C.CONN_SRC_RPN2, _N, C.CONN_DST_KEYNUMBER): 6400.0,
}
_IGNORED_DESTINATIONS = frozenset(
    {
        C.CONN_DST_NONE,
        C.CONN_DST_EG1_SHUTDOWNTIME,
        C.CONN_DST_RESERVED,
        C.CONN_DST_EG1_RESERVED,
        C.CONN_DST_EG2_RESERVED,
    }
)

# SF2 source operands (SF2 2.04 8.2): index, CC flag, D (invert), P (bipolar), curve type.
_SF2_GENERAL = {dls: sf for sf, dls in M._GENERAL_SOURCES.items() if dls != _N}
_SF2_GENERAL[C.CONN_SRC_MONOPRESSURE] = _SF2_GENERAL[C.CONN_SRC_CHANNELPRESSURE]
_CURVE_SHIFT = 10
_DRIVERS = frozenset({C.CONN_SRC_LFO, C.CONN_SRC_VIBRATO, C.CONN_SRC_EG2, C.CONN_SRC_EG1})
# (driver, DLS destination) -> depth generator; DLS destination -> (generator, amount factor)
_DEPTH_OF = {v: g for g, v in M._DEPTHS.items()}
_PLAIN_OF: dict[int, tuple[int, float]] = {}
for _g, (_d, _f) in M._PLAIN.items():
    if _g != G.COARSE_TUNE:  # pitch modulators in cents: fineTune
        _PLAIN_OF.setdefault(_d, (_g, _f))
del _g, _d, _f
_PW_SENSITIVITY = M._PWS

# Generators whose value past the range is only a rounding of intent (a time shorter than
# SF2's 1 ms, a cutoff above SF2's open 13500 cents, a pan or send past full): clamped silently.
_QUIET_LOW = frozenset(
    {
        G.DELAY_MOD_LFO,
        G.DELAY_VIB_LFO,
        G.DELAY_MOD_ENV,
        G.ATTACK_MOD_ENV,
        G.HOLD_MOD_ENV,
        G.DECAY_MOD_ENV,
        G.RELEASE_MOD_ENV,
        G.DELAY_VOL_ENV,
        G.ATTACK_VOL_ENV,
        G.HOLD_VOL_ENV,
        G.DECAY_VOL_ENV,
        G.RELEASE_VOL_ENV,
        G.FREQ_MOD_LFO,
        G.FREQ_VIB_LFO,
        G.PAN,
        G.CHORUS_EFFECTS_SEND,
        G.REVERB_EFFECTS_SEND,
        G.SUSTAIN_VOL_ENV,
        G.SUSTAIN_MOD_ENV,
        G.INITIAL_FILTER_Q,
        G.INITIAL_ATTENUATION,  # (the writer says what it cannot give)
    }
)
_QUIET_HIGH = frozenset(
    {
        G.INITIAL_FILTER_FC,
        G.PAN,
        G.CHORUS_EFFECTS_SEND,
        G.REVERB_EFFECTS_SEND,
        G.SUSTAIN_VOL_ENV,
        G.SUSTAIN_MOD_ENV,
        G.INITIAL_ATTENUATION,
    }
)


@dataclass
class ZoneArticulation:
    """One zone's generators (number -> amount, SF2 defaults left out) and modulators
    ((src, dest, amount source, transform) -> amount), with remarks on what was lost."""

    generators: dict[int, int] = field(default_factory=dict)
    modulators: dict[tuple[int, int, int, int], int] = field(default_factory=dict)
    notes: set[str] = field(default_factory=set)
    attenuation: float = 0.0  # initialAttenuation unrounded and unclamped (< 0: louder than SF2 allows)


def operand(source: int, curve: int, bipolar: bool, invert: bool, notes: set[str]) -> int | None:
    """A DLS source with its transform bits as an SF2 modulator source operand (None: SF2
    has no such source, with a remark)."""
    if source == _N:
        return 0
    if 0x80 <= source <= 0xFF:
        cc = source - 0x80
        if cc in M._ILLEGAL_CC:
            notes.add(f"controller {cc} as a modulation source (SF2 forbids it)")
            return None
        index = M._CC | cc
    else:
        sf = _SF2_GENERAL.get(source)
        if sf is None:
            notes.add(f"{C.source_name(source)} as a modulation source")
            return None
        index = sf
    if source == C.CONN_SRC_PITCHWHEEL:
        bipolar = True  # the engine reads the wheel bipolar whatever the bit says
    if curve > 3:
        notes.add(f"transform {curve} on {C.source_name(source)}")
        curve = 0
    return index | (M._D if invert else 0) | (M._P if bipolar else 0) | (curve << _CURVE_SHIFT)


def _source_bits(t: int) -> tuple[int, bool, bool]:
    return (t >> C.TRN_SOURCE_SHIFT) & 0xF, bool(t & C.TRN_SOURCE_BIPOLAR), bool(t & C.TRN_SOURCE_INVERT)


def _control_bits(t: int) -> tuple[int, bool, bool]:
    return (t >> C.TRN_CONTROL_SHIFT) & 0xF, bool(t & C.TRN_CONTROL_BIPOLAR), bool(t & C.TRN_CONTROL_INVERT)


def _clamp(op: int, value: float, notes: set[str]) -> int:
    v = int(round(value))
    lo, hi = int(G.LOW[op]), int(G.HIGH[op])
    if v < lo:
        if op not in _QUIET_LOW and v < lo - 1:
            notes.add(f"{G.name(op)} {v} below SF2's {lo}")
        return lo
    if v > hi:
        if op not in _QUIET_HIGH and v > hi + 1:
            notes.add(f"{G.name(op)} {v} above SF2's {hi}")
        return hi
    return v


def invert(connections, *, extra_pitch_cents: float = 0.0, extra_gain_cb: float = 0.0) -> ZoneArticulation:
    """The SF2 generators and modulators of one region, from its merged connections (as
    `synth.download.merge_articulation` gives them: defaults included, scales in the
    destination's units). extra_pitch_cents / extra_gain_cb: what the region's ``wsmp``
    adds on top (fine tune beyond the sample's own correction, lAttenuation as a gain)."""
    out = ZoneArticulation()
    notes = out.notes
    rows = np.zeros(len(A.ROWS), dtype=np.float64)
    mods: dict[tuple[int, int, int, int], float] = {}

    def add_mod(src_op, dest, amt_op, amount) -> None:
        key = (src_op, dest, amt_op, 0)
        mods[key] = mods.get(key, 0.0) + amount

    for s, c, d, t, v in connections:
        s, c, d, t, v = int(s), int(c), int(d), int(t), float(v)
        if d in _IGNORED_DESTINATIONS:
            continue
        if t & C.TRN_OUTPUT_MASK:
            notes.add(f"an output transform on {C.source_name(s)} to {C.destination_name(d)}")
        if s == _N and c != _N:  # 1 x control = control as the source
            curve, bip, inv = _control_bits(t)
            s, c = c, _N
            t = (
                (curve << C.TRN_SOURCE_SHIFT)
                | (C.TRN_SOURCE_BIPOLAR if bip else 0)
                | (C.TRN_SOURCE_INVERT if inv else 0)
            )
        if c in _DRIVERS and s not in _DRIVERS:  # LFO x CC is CC x LFO: the driver first
            sc, tc = _source_bits(t), _control_bits(t)
            s, c = c, s
            t = (
                (tc[0] << C.TRN_SOURCE_SHIFT)
                | (C.TRN_SOURCE_BIPOLAR if tc[1] else 0)
                | (C.TRN_SOURCE_INVERT if tc[2] else 0)
                | (sc[0] << C.TRN_CONTROL_SHIFT)
                | (C.TRN_CONTROL_BIPOLAR if sc[1] else 0)
                | (C.TRN_CONTROL_INVERT if sc[2] else 0)
            )
        key = (s, c, d)
        own = _PLAYER_OWN.get(key)
        if own is not None:
            if abs(v - own) > 1e-6:
                notes.add(f"{C.source_name(s)} to {C.destination_name(d)} of {v:g} (SF2 players apply their own)")
            continue
        row = ROW_OF.get(key)
        if row is not None:
            if s == _K and t & ~C.TRN_SOURCE_BIPOLAR:
                notes.add(f"a curve on key number to {C.destination_name(d)} (SF2's is linear)")
            rows[row] += v
            continue
        if s in _DRIVERS:
            gen = _DEPTH_OF.get((s, d))
            if gen is None or c in _DRIVERS:
                notes.add(f"{C.source_name(s)} to {C.destination_name(d)}")
                continue
            curve, bip, inv = _control_bits(t)
            op = operand(c, curve, bip, inv, notes)
            if op is not None:
                add_mod(op, gen, 0, v * (127.0 / 128.0 if c == C.CONN_SRC_RPN0 else 1.0))
            continue
        if s == _K and d in M._KEY_TIMES.values():
            notes.add(f"key number to {C.destination_name(d)} scaled by {C.source_name(c)}")
            continue
        if s == _K and d == C.CONN_DST_PITCH:  # key-to-pitch scaled by a controller: scaleTuning
            curve, bip, inv = _control_bits(t)
            op = operand(c, curve, bip, inv, notes)
            if op is not None:
                add_mod(op, G.SCALE_TUNING, 0, v / 128.0)
            continue
        plain = _PLAIN_OF.get(d)
        if plain is None:
            notes.add(f"{C.source_name(s)} to {C.destination_name(d)}")
            continue
        gen, factor = plain
        src_op = operand(s, *_source_bits(t), notes)
        amt_op = operand(c, *_control_bits(t), notes)
        if src_op is None or amt_op is None:
            continue
        amount = v / factor
        if C.CONN_SRC_RPN0 in (s, c):
            amount *= 127.0 / 128.0
        add_mod(src_op, gen, amt_op, amount)

    rows[_ROW_PITCH] += extra_pitch_cents
    rows[ROW_OF[(_N, _N, C.CONN_DST_GAIN)]] += extra_gain_cb
    _solve(rows, out, notes)
    _modulators(mods, out, notes)
    return out


def _solve(rows: np.ndarray, out: ZoneArticulation, notes: set[str]) -> None:
    """Generator values from the ROWS' values: rows driven by one unknown generator first
    (the key-number rows fix keynumTo*, then the times they move), repeatedly; the pitch
    row, driven by coarse and fine tune, is written as cents and split at the end."""
    residual = rows - _BASE
    known: dict[int, float] = {}
    pending = [k for k in range(len(A.ROWS)) if np.any(_FACTORS[k])]
    while pending:
        progress = False
        for k in list(pending):
            drivers = np.flatnonzero(_FACTORS[k])
            unknown = [g for g in drivers.tolist() if g not in known]
            if len(unknown) > 1 and k != _ROW_PITCH:
                continue
            rest = residual[k] - sum(_FACTORS[k, g] * known[g] for g in drivers.tolist() if g in known)
            if unknown:
                # the pitch row: in cents, i.e. by its unit-factor driver (fineTune)
                g = min(unknown, key=lambda x: abs(_FACTORS[k, x]))
                known[g] = rest / _FACTORS[k, g]
                for other in unknown:
                    known.setdefault(other, 0.0)
            pending.remove(k)
            progress = True
        if not progress:  # pragma: no cover - the reader's rows always resolve
            raise AssertionError("SF2 generator rows do not resolve")
    # A sustain level of 0 (or less) is silence: SF2's "full attenuation" is conventionally
    # 1000 cB (SF2 2.04 section 8.1.3, sustainVolEnv), which the reader also reads as 0.
    if rows[ROW_OF[(_N, _N, C.CONN_DST_EG1_SUSTAINLEVEL)]] <= 0.0:
        known[G.SUSTAIN_VOL_ENV] = FULL_ATTENUATION_CB
    # cents -> coarseTune + fineTune
    cents = known.pop(G.FINE_TUNE, 0.0) + 100.0 * known.pop(G.COARSE_TUNE, 0.0)
    whole = int(round(cents))
    coarse = int(round(whole / 100.0))
    known[G.COARSE_TUNE] = coarse
    known[G.FINE_TUNE] = whole - 100 * coarse
    out.attenuation = known.get(G.INITIAL_ATTENUATION, 0.0)
    gens = out.generators
    for g, value in known.items():
        amount = _clamp(g, value, notes)
        if amount != int(G.DEFAULTS[g]):
            gens[g] = amount


def _modulators(mods: dict, out: ZoneArticulation, notes: set[str]) -> None:
    """Amounts rounded, SF2's defaults taken into account (see the module docstring)."""
    rounded: dict[tuple[int, int, int, int], int] = {}
    for key, amount in mods.items():
        a = int(round(amount))
        if a > 32767 or a < -32768:
            notes.add(f"a modulation amount of {a} to {G.name(key[1])} held at 16 bits")
            a = max(-32768, min(32767, a))
        rounded[key] = a
    defaults = {(d.src, d.dest, d.amount_src, d.transform): d.amount for d in M.DEFAULT_MODULATORS}
    defaults[(*M.SILENCED_IDENTITY, 0)] = None  # silent in the reader: cancelled unless given
    for key, amount in defaults.items():
        if key not in rounded:
            rounded[key] = 0  # the zone does without it: an identical modulator of 0 overrides it
        elif rounded[key] == amount:
            del rounded[key]  # the default gives exactly this
    out.modulators.update((k, a) for k, a in rounded.items() if a != 0 or k in defaults)
