"""SoundFont 2 modulators (SF2 2.04 sections 8.2-8.4 and 9.5) as DLS2 connection blocks.

An SF2 modulator is ``amount x map(source) x map(amount source)`` added to a generator; a
DLS2 connection is ``scale x transform(source) x transform(control)`` added to a
destination. The source operand's fields map one to one: its curve type (linear, concave,
convex, switch) is the DLS transform of the same number, D (negative) is the invert bit,
P (bipolar) the bipolar bit; MIDI controllers are the DLS CC sources 0x80 + n; velocity,
key number, poly and channel pressure, pitch wheel and pitch-wheel sensitivity (RPN 0) are
the DLS sources of those names.

Generators that are depths (modLfoToPitch, vibLfoToPitch, modEnvToPitch, modLfoToFilterFc,
modEnvToFilterFc, modLfoToVolume) become a connection whose source is the LFO or envelope
and whose control is the modulator's source. Units follow the destination (see
`dls.soundfont.articulation`): modulated initialAttenuation is minus a DLS gain (no EMU
0.4 factor: FluidSynth applies it to generators only), sustainVolEnv cB become 0.1 % of
the engine's 96 dB envelope scale, coarseTune semitones become cents.

The default modulators of SF2 2.04 section 8.4 apply to every zone unless a zone has an
identical one (same source, destination and amount source): velocity and CC7/CC11 to
attenuation (960 cB, concave), CC1 and channel pressure to vibrato depth (50 cents),
CC10 to pan (500), CC91/CC93 to the sends (200 = 20 %), pitch wheel x sensitivity to pitch.
Velocity to filter cutoff is left at nothing, as FluidSynth does (its identity, velocity
linear negative with a velocity switch as amount source, is silenced wherever it
appears); a bank's own velocity-to-cutoff modulators of any other form apply as written.
Amounts read by pitch-wheel sensitivity are scaled by 128/127 (SF2 normalises the
semitones by 127, the engine by 128), so the default 12700 bends exactly the RPN 0 range.

What a DLS2 connection cannot hold is left out, with a remark: a modulator fed by another
(link source or destination), one with three factors (a depth generator modulated with an
amount source), the absolute-value transform on a bipolar product, non-controller sources
and destinations that are not realtime in DLS (sample addresses, keynum, velocity, root
key, exclusive class, sample modes).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import constants as C
from ..model import CONNECTION_DTYPE
from . import generators as G


class Modulator(NamedTuple):
    """One pmod/imod record (SFModList)."""

    src: int
    dest: int
    amount: int
    amount_src: int
    transform: int

    @property
    def identity(self) -> tuple[int, int, int]:
        return (self.src, self.dest, self.amount_src)


_CONCAVE, _CONVEX, _SWITCH = 1 << 10, 2 << 10, 3 << 10
_D, _P, _CC = 0x100, 0x200, 0x80
_VEL, _KEY, _POLY, _CHP, _PW, _PWS = 2, 3, 10, 13, 14, 16

DEFAULT_MODULATORS: tuple[Modulator, ...] = (
    Modulator(_VEL | _D | _CONCAVE, G.INITIAL_ATTENUATION, 960, 0, 0),
    Modulator(_CHP, G.VIB_LFO_TO_PITCH, 50, 0, 0),
    Modulator(_CC | 1, G.VIB_LFO_TO_PITCH, 50, 0, 0),
    Modulator(_CC | 7 | _D | _CONCAVE, G.INITIAL_ATTENUATION, 960, 0, 0),
    Modulator(_CC | 10 | _P, G.PAN, 500, 0, 0),
    Modulator(_CC | 11 | _D | _CONCAVE, G.INITIAL_ATTENUATION, 960, 0, 0),
    Modulator(_CC | 91, G.REVERB_EFFECTS_SEND, 200, 0, 0),
    Modulator(_CC | 93, G.CHORUS_EFFECTS_SEND, 200, 0, 0),
    Modulator(_PW | _P, G.FINE_TUNE, 12700, _PWS, 0),
)
# FluidSynth's velocity-to-cutoff default, which it (and we) make contribute nothing.
SILENCED_IDENTITY = (_VEL | _D, G.INITIAL_FILTER_FC, _VEL | _SWITCH)

# MIDI controllers a modulator may not read (SF2 2.04 8.2.1; FluidSynth refuses them too):
# bank select, data entry, (N)RPN numbers and the channel mode messages.
_ILLEGAL_CC = frozenset({0, 6, 32, 38, 98, 99, 100, 101, *range(120, 128)})

_GENERAL_SOURCES = {
    0: C.CONN_SRC_NONE,
    _VEL: C.CONN_SRC_KEYONVELOCITY,
    _KEY: C.CONN_SRC_KEYNUMBER,
    _POLY: C.CONN_SRC_POLYPRESSURE,
    _CHP: C.CONN_SRC_CHANNELPRESSURE,
    _PW: C.CONN_SRC_PITCHWHEEL,
    _PWS: C.CONN_SRC_RPN0,
}

# Depth generators: (the DLS source that drives them, the DLS destination).
_DEPTHS = {
    G.MOD_LFO_TO_PITCH: (C.CONN_SRC_LFO, C.CONN_DST_PITCH),
    G.VIB_LFO_TO_PITCH: (C.CONN_SRC_VIBRATO, C.CONN_DST_PITCH),
    G.MOD_ENV_TO_PITCH: (C.CONN_SRC_EG2, C.CONN_DST_PITCH),
    G.MOD_LFO_TO_FILTER_FC: (C.CONN_SRC_LFO, C.CONN_DST_FILTER_CUTOFF),
    G.MOD_ENV_TO_FILTER_FC: (C.CONN_SRC_EG2, C.CONN_DST_FILTER_CUTOFF),
    G.MOD_LFO_TO_VOLUME: (C.CONN_SRC_LFO, C.CONN_DST_GAIN),
}
# Plain destinations: generator -> (DLS destination, factor from the SF2 amount's unit).
_PLAIN = {
    G.INITIAL_FILTER_FC: (C.CONN_DST_FILTER_CUTOFF, 1.0),
    G.INITIAL_FILTER_Q: (C.CONN_DST_FILTER_Q, 1.0),
    G.CHORUS_EFFECTS_SEND: (C.CONN_DST_CHORUS, 1.0),
    G.REVERB_EFFECTS_SEND: (C.CONN_DST_REVERB, 1.0),
    G.PAN: (C.CONN_DST_PAN, 1.0),
    G.DELAY_MOD_LFO: (C.CONN_DST_LFO_STARTDELAY, 1.0),
    G.FREQ_MOD_LFO: (C.CONN_DST_LFO_FREQUENCY, 1.0),
    G.DELAY_VIB_LFO: (C.CONN_DST_VIB_STARTDELAY, 1.0),
    G.FREQ_VIB_LFO: (C.CONN_DST_VIB_FREQUENCY, 1.0),
    G.DELAY_MOD_ENV: (C.CONN_DST_EG2_DELAYTIME, 1.0),
    G.ATTACK_MOD_ENV: (C.CONN_DST_EG2_ATTACKTIME, 1.0),
    G.HOLD_MOD_ENV: (C.CONN_DST_EG2_HOLDTIME, 1.0),
    G.DECAY_MOD_ENV: (C.CONN_DST_EG2_DECAYTIME, 1.0),
    G.SUSTAIN_MOD_ENV: (C.CONN_DST_EG2_SUSTAINLEVEL, -1.0),  # 0.1 % decrease -> level
    G.RELEASE_MOD_ENV: (C.CONN_DST_EG2_RELEASETIME, 1.0),
    G.DELAY_VOL_ENV: (C.CONN_DST_EG1_DELAYTIME, 1.0),
    G.ATTACK_VOL_ENV: (C.CONN_DST_EG1_ATTACKTIME, 1.0),
    G.HOLD_VOL_ENV: (C.CONN_DST_EG1_HOLDTIME, 1.0),
    G.DECAY_VOL_ENV: (C.CONN_DST_EG1_DECAYTIME, 1.0),
    G.SUSTAIN_VOL_ENV: (C.CONN_DST_EG1_SUSTAINLEVEL, -1000.0 / 960.0),  # cB down -> 0.1 % of 96 dB
    G.RELEASE_VOL_ENV: (C.CONN_DST_EG1_RELEASETIME, 1.0),
    G.INITIAL_ATTENUATION: (C.CONN_DST_GAIN, -1.0),
    G.COARSE_TUNE: (C.CONN_DST_PITCH, 100.0),
    G.FINE_TUNE: (C.CONN_DST_PITCH, 1.0),
}
# keynumTo* generators: (the time destination they move).
_KEY_TIMES = {
    G.KEYNUM_TO_MOD_ENV_HOLD: C.CONN_DST_EG2_HOLDTIME,
    G.KEYNUM_TO_MOD_ENV_DECAY: C.CONN_DST_EG2_DECAYTIME,
    G.KEYNUM_TO_VOL_ENV_HOLD: C.CONN_DST_EG1_HOLDTIME,
    G.KEYNUM_TO_VOL_ENV_DECAY: C.CONN_DST_EG1_DECAYTIME,
}


def records(arr: np.ndarray, start: int, end: int) -> list[Modulator]:
    """The modulators [start, end) of a pmod/imod array, all-zero records dropped."""
    return modulator_list(arr[start:end].tolist())


def modulator_list(rows) -> list[Modulator]:
    """Modulator records (5-tuples, as ``tolist`` gives them) as modulators, all-zero records
    dropped."""
    out = []
    for src, dest, amount, asrc, tr in rows:
        if src == 0 and dest == 0 and asrc == 0 and amount == 0:
            continue
        out.append(Modulator(src, dest, amount, asrc, tr))
    return out


def _layer(base: list[Modulator], over: list[Modulator]) -> list[Modulator]:
    """`over` replaces identical modulators of `base` (SF2 9.5.1) and adds the others."""
    out = list(base)
    index = {m.identity: i for i, m in enumerate(out)}
    for m in over:
        i = index.get(m.identity)
        if i is None:
            index[m.identity] = len(out)
            out.append(m)
        else:
            out[i] = m
    return out


def effective(
    inst_global: list[Modulator],
    inst_local: list[Modulator],
    preset_global: list[Modulator],
    preset_local: list[Modulator],
) -> list[Modulator]:
    """The modulators of one region: defaults < instrument global < instrument local, then
    the preset's (global < local) added: an identical one sums its amount (SF2 9.5.1)."""
    ilist = _layer(_layer(list(DEFAULT_MODULATORS), inst_global), inst_local)
    plist = _layer(preset_global, preset_local)
    if not plist:
        return ilist
    index = {m.identity: i for i, m in enumerate(ilist)}
    for m in plist:
        i = index.get(m.identity)
        if i is None:
            index[m.identity] = len(ilist)
            ilist.append(m)
        else:
            ilist[i] = ilist[i]._replace(amount=ilist[i].amount + m.amount)
    return ilist


def _source(op: int, notes: set[str], what: str):
    """An SF2 source operand as (DLS source, curve, bipolar, invert), or None if unsupported."""
    index, cc = op & 0x7F, op & _CC
    curve = op >> 10
    if curve > 3:
        notes.add(f"{what}: source curve type {curve} is not SF2")
        return None
    if cc:
        if index in _ILLEGAL_CC:
            notes.add(f"{what}: controller {index} cannot be a modulator source")
            return None
        src = 0x80 + index
    else:
        if index == 127:
            notes.add(f"{what}: linked modulators (one modulator's output feeding another)")
            return None
        src = _GENERAL_SOURCES.get(index)
        if src is None:
            notes.add(f"{what}: general controller {index} is not an SF2 source")
            return None
    bipolar, invert = bool(op & _P), bool(op & _D)
    if src == C.CONN_SRC_PITCHWHEEL:
        # DLS's pitch wheel is bipolar by nature (its default connection has no bipolar bit)
        if not bipolar:
            notes.add(f"{what}: a unipolar pitch wheel source (DLS reads the wheel bipolar)")
        bipolar = False
    return src, curve, bipolar, invert


def _bits(curve: int, bipolar: bool, invert: bool, control: bool) -> int:
    if control:
        return (
            (curve << C.TRN_CONTROL_SHIFT)
            | (C.TRN_CONTROL_BIPOLAR if bipolar else 0)
            | (C.TRN_CONTROL_INVERT if invert else 0)
        )
    return (
        (curve << C.TRN_SOURCE_SHIFT)
        | (C.TRN_SOURCE_BIPOLAR if bipolar else 0)
        | (C.TRN_SOURCE_INVERT if invert else 0)
    )


def _scale(value: float) -> int:
    v = int(round(value * 65536.0))
    return max(-(1 << 31), min((1 << 31) - 1, v))


def to_connections(mods: list[Modulator], notes: set[str]) -> tuple[np.ndarray, bool]:
    """The connection blocks of a region's modulators, and whether any of them moves the
    filter (so that it must run even at the 13500-cent cutoff that otherwise means off)."""
    rows: list[tuple[int, int, int, int, int]] = []
    filter_moved = False
    for m in mods:
        if m.identity == SILENCED_IDENTITY:
            continue
        what = f"modulator to {G.name(m.dest & 0x7FFF)}"
        if m.dest & 0x8000:
            notes.add("linked modulators (one modulator's output feeding another)")
            continue
        if m.transform not in (0, 2):
            notes.add(f"{what}: transform {m.transform} is not SF2")
            continue
        prim = _source(m.src, notes, what)
        sec = _source(m.amount_src, notes, what)
        if prim is None or sec is None:
            continue
        if prim[0] == C.CONN_SRC_NONE and sec[0] != C.CONN_SRC_NONE:
            prim, sec = sec, prim  # amount x 1 x b = amount x b x 1
        amount = float(m.amount)
        if m.transform == 2:  # absolute value of the product
            if prim[2] or sec[2] or C.CONN_SRC_PITCHWHEEL in (prim[0], sec[0]):
                notes.add(f"{what}: the absolute-value transform of a bipolar source")
                continue
            amount = abs(amount)
        if C.CONN_SRC_RPN0 in (prim[0], sec[0]):
            amount *= 128.0 / 127.0
        # an amount of 0 stays: where it replaced a default modulator it must cancel the
        # player's default too (articulation.needed_modulator_rows keeps only those)
        dest = m.dest
        if dest in _DEPTHS:
            driver, dst = _DEPTHS[dest]
            if sec[0] != C.CONN_SRC_NONE:
                notes.add(f"{what}: a depth modulated by two sources")
                continue
            rows.append((driver, prim[0], dst, _bits(*prim[1:], control=True), _scale(amount)))
        elif dest in _PLAIN:
            dst, factor = _PLAIN[dest]
            rows.append(
                (
                    prim[0],
                    sec[0],
                    dst,
                    _bits(*prim[1:], control=False) | _bits(*sec[1:], control=True),
                    _scale(amount * factor),
                )
            )
        elif dest == G.SCALE_TUNING or dest in _KEY_TIMES:
            if sec[0] != C.CONN_SRC_NONE:
                notes.add(f"{what}: a key-scaled parameter modulated by two sources")
                continue
            ctl = _bits(*prim[1:], control=True)
            if dest == G.SCALE_TUNING:
                rows.append((C.CONN_SRC_KEYNUMBER, prim[0], C.CONN_DST_PITCH, ctl, _scale(128.0 * amount)))
            else:
                dst = _KEY_TIMES[dest]
                # SF2: the time moves by amount x (60 - key) timecents
                rows.append((C.CONN_SRC_KEYNUMBER, prim[0], dst, ctl, _scale(-128.0 * amount)))
                rows.append((prim[0], C.CONN_SRC_NONE, dst, _bits(*prim[1:], control=False), _scale(60.0 * amount)))
        else:
            notes.add(f"{what} (not a realtime DLS destination)")
            continue
        if rows and rows[-1][2] == C.CONN_DST_FILTER_CUTOFF and rows[-1][4] != 0:
            filter_moved = True
    if not rows:
        return np.zeros(0, dtype=CONNECTION_DTYPE), filter_moved
    return np.array(rows, dtype=CONNECTION_DTYPE), filter_moved
