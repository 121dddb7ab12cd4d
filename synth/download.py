"""The DLS download: a `dls.model.Instrument` compiled into the engine's region and
connection arrays (DirectMusic: the DMUS_DOWNLOADINFO_INSTRUMENT2 a synth receives).

Everything here happens once, when an instrument is downloaded; the C engine evaluates the
result at note-on and at control rate and never sees a DLS structure.

What the compile does, per region:

- picks the region's own ``wsmp`` (else the wave's, else the defaults): unity note, fine
  tune, attenuation (``lAttenuation`` is a relative gain, negative = quieter, as DDKSynth,
  FluidSynth and SpessaSynth all read it) and the first loop (forward or release);
- picks the wave: a two-channel wave becomes one two-channel voice; two mono regions that
  form a DLS2 stereo pair (multichannel wave links LEFT and RIGHT, same ranges, same sample
  format and articulation) are merged into one two-channel voice so the pair stays in phase;
  a lone multichannel wave link to one side is panned to that side. In a bank of SF2 origin
  a constant pan that puts such a wave on its own side (the SF2 stereo pair's -500/+500,
  which the DLS keeps for readers that ignore ``ulChannel``) is left out: the link says it. Without the
  multichannel flag the channel field places nothing (DLS2: ``ulChannel`` places a wave of
  a multichannel set): the wave is mono and panned as articulated, as FluidSynth's and
  SpessaSynth's DLS readers play it (SpessaSynth's SF2-to-DLS conversion writes channel 2,
  without the flag, for every SF2 right sample, panned by the articulation as the SF2 did);
- keeps the region's velocity range at both levels: DLS1 defines it in ``rgnh`` too, and
  FluidSynth, SpessaSynth, Wine and Sonivox honour it for ``rgn `` regions (a velocity-split
  Level 1 bank would otherwise play every layer at once); a range whose low end is above
  its high end matches nothing, as in those readers, and is warned of;
- merges the articulation: the default connections (DLS2's; for a bank converted from SF2,
  SF2's where they differ, see `SF2_DEFAULT_CONNECTIONS`; a drum instrument has no RPN 2
  coarse tune), then the region's own articulation
  if it has one, else the instrument's (a region's ``lart``/``lar2`` replaces the
  instrument's as a whole). An articulation's connection with the same source, control and
  destination as a DEFAULT connection replaces that default (DLS2: the defaults are
  overridden by any connection of the same kind, whatever its transform); the
  articulation's own connections all apply, and those of the same kind add up (SpessaSynth
  writes a concave velocity-to-gain of scale 0 to cancel the default, next to the linear
  one that is the real curve). Level-1 (``art1``) transforms are output transforms: they
  are moved onto the source; a DLS1 LFO also drives the vibrato LFO's frequency and delay;
- plays loop type 2 as a release loop: the Windows 2000 ``dls2.h`` defined
  WLOOP_TYPE_RELEASE as 2, later headers as 1;
- fixes what real files get wrong in a way that can still be played and says so in the
  warnings: a non-inverted concave velocity/CC7/CC11-to-gain connection with a negative
  scale is read as inverted (as FluidSynth does); a key-number-to-EG hold/decay time
  connection is read as scale * key / 128 (DLS1's definition, DDKSynth's and SpessaSynth's
  reading) even when its source is marked bipolar, as SpessaSynth's SF2-to-DLS conversion
  writes it (its own reader ignores the bit; honouring it would turn an SF2
  keynum-to-decay of 101 timecents per key into 202 around key 64).

Scales are handed over as ``lScale / 65536`` in the destination's units.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from dlsynth.dls import constants as C
from dlsynth.dls import units as U
from dlsynth.dls.model import Articulation, Instrument
from dlsynth.native import lib
from dlsynth.native.engine import ENGINE_CONN_DTYPE, REGION_DTYPE

from . import compile_tables as T

__all__ = [
    "REGION_DTYPE",
    "ENGINE_CONN_DTYPE",
    "DEFAULT_CONNECTIONS",
    "SF2_DEFAULT_CONNECTIONS",
    "DEFAULT_CONNECTIONS_SF2_ORIGIN",
    "CompiledInstrument",
    "compile_instrument",
    "merge_articulation",
    "download_instrument",
    "instrument_defaults",
    "sf2_origin",
]

# The engine's region flags and loop kinds (native/engine.h, ENG_RGN_* and ENG_LOOP_*).
RGN_SELF_NON_EXCLUSIVE = lib.ENG_RGN_SELF_NON_EXCLUSIVE
RGN_MODENV_CONVEX_ATTACK = lib.ENG_RGN_MODENV_CONVEX_ATTACK  # EG2 is SF2's modulation envelope
RGN_ATTENUATION_FLOOR = lib.ENG_RGN_ATTENUATION_FLOOR  # note-on and controller gain at most 0 dB
RGN_TRIANGLE_LFOS = lib.ENG_RGN_TRIANGLE_LFOS  # both LFOs are SF2's triangles, not DLS's sines
RGN_SF2 = RGN_MODENV_CONVEX_ATTACK | RGN_ATTENUATION_FLOOR | RGN_TRIANGLE_LFOS  # a bank made for SF2
LOOP_NONE, LOOP_FORWARD, LOOP_RELEASE = lib.ENG_LOOP_NONE, lib.ENG_LOOP_FORWARD, lib.ENG_LOOP_RELEASE

_CONCAVE_INVERTED = (C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT) | C.TRN_SOURCE_INVERT
_F = float(U.UNITS_PER)


_tc = U.seconds_to_timecents_float  # seconds -> timecents (unscaled)
_abs_cents = U.hz_to_cents  # Hz -> absolute cents (6900 = 440 Hz)


# DLS Level 2 default connections (source, control, destination, transform, scale in the
# destination's units). Those whose scale is 0 (CC1/pressure to LFO depth and the like) are
# left out: an instrument's connection with the same key adds exactly what it would have
# replaced.
DEFAULT_CONNECTIONS: list[tuple[int, int, int, int, float]] = [
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_LFO_FREQUENCY, 0, _abs_cents(5.0)),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_LFO_STARTDELAY, 0, _tc(0.01)),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_VIB_FREQUENCY, 0, _abs_cents(5.0)),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_VIB_STARTDELAY, 0, _tc(0.01)),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_DELAYTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_ATTACKTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_HOLDTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_SUSTAINLEVEL, 0, 1000.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_RELEASETIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_SHUTDOWNTIME, 0, _tc(0.015)),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_DELAYTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_ATTACKTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_HOLDTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_DECAYTIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_SUSTAINLEVEL, 0, 1000.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_RELEASETIME, 0, -32768.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF, 0, U.FILTER_CUTOFF_OFF / _F),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_FILTER_Q, 0, 0.0),
    (C.CONN_SRC_KEYONVELOCITY, C.CONN_SRC_NONE, C.CONN_DST_GAIN, _CONCAVE_INVERTED, -960.0),
    (C.CONN_SRC_CC7, C.CONN_SRC_NONE, C.CONN_DST_GAIN, _CONCAVE_INVERTED, -960.0),
    (C.CONN_SRC_CC11, C.CONN_SRC_NONE, C.CONN_DST_GAIN, _CONCAVE_INVERTED, -960.0),
    (C.CONN_SRC_PITCHWHEEL, C.CONN_SRC_RPN0, C.CONN_DST_PITCH, 0, 12800.0),
    (C.CONN_SRC_RPN1, C.CONN_SRC_NONE, C.CONN_DST_PITCH, 0, 100.0),
    (C.CONN_SRC_RPN2, C.CONN_SRC_NONE, C.CONN_DST_KEYNUMBER, 0, 6400.0),
    (C.CONN_SRC_KEYNUMBER, C.CONN_SRC_NONE, C.CONN_DST_PITCH, 0, 12800.0),
    (C.CONN_SRC_CC10, C.CONN_SRC_NONE, C.CONN_DST_PAN, C.TRN_SOURCE_BIPOLAR, 508.0),
    (C.CONN_SRC_CC91, C.CONN_SRC_NONE, C.CONN_DST_REVERB, 0, 1000.0),
    (C.CONN_SRC_CC93, C.CONN_SRC_NONE, C.CONN_DST_CHORUS, 0, 1000.0),
]

_SF2_MIN_TC = -12000.0  # SF2's default for every envelope and LFO time: 2^-10 s (about 1 ms)

# The defaults of a DLS bank converted from SF2 (see `sf2_origin`): SF2 2.04's generator
# defaults and default modulators (section 8.4) where DLS2's differ. The author built the
# bank for them; FluidSynth and SpessaSynth play every DLS bank with SF2's defaults for what
# the articulation leaves out, since both read DLS into SF2 generators. Each entry replaces
# the DLS2 default of the same source, control and destination, or is added:
# - LFO and vibrato LFO: 8.176 Hz (freqModLFO/freqVibLFO 0 absolute cents), delay -12000 tc
#   (DLS2: 5 Hz, 10 ms);
# - EG1 and EG2 delay, attack, hold, decay and release: -12000 tc (DLS2: 0);
# - CC1 (mod wheel) and channel pressure to vibrato depth: 50 cents at full scale
#   (SF2 8.4.3, 8.4.4; DLS2: 0, the instrument must ask);
# - CC91 to reverb and CC93 to chorus: 200 permille (SF2 8.4.8, 8.4.9; DLS2: 1000);
# - CC10 to pan: 500 (SF2 8.4.6; DLS2: 508).
# Beyond connections, such a bank's regions carry RGN_SF2: the LFOs are SF2's triangles and
# EG2's attack is SF2's convex one, as FluidSynth and SpessaSynth play every bank, and the
# note-on and controller gain is clamped at 0 dB as SF2's modulated initialAttenuation is.
# SF2's velocity-to-cutoff modulator (8.4.2) is left out, as SpessaSynth and FluidSynth's
# DLS loader leave it out (FluidSynth's own reading of it depends on the version); the
# filter's SF2 default cutoff (13500 cents) is the engine's rule for every bank
# (native/eng_conn_compile.c, filter_rule).
SF2_DEFAULT_CONNECTIONS: list[tuple[int, int, int, int, float]] = [
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_LFO_FREQUENCY, 0, 0.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_LFO_STARTDELAY, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_VIB_FREQUENCY, 0, 0.0),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_VIB_STARTDELAY, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_DELAYTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_ATTACKTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_HOLDTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_DECAYTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG1_RELEASETIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_DELAYTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_ATTACKTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_HOLDTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_DECAYTIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_EG2_RELEASETIME, 0, _SF2_MIN_TC),
    (C.CONN_SRC_VIBRATO, C.CONN_SRC_CC1, C.CONN_DST_PITCH, 0, 50.0),
    (C.CONN_SRC_VIBRATO, C.CONN_SRC_CHANNELPRESSURE, C.CONN_DST_PITCH, 0, 50.0),
    (C.CONN_SRC_CC10, C.CONN_SRC_NONE, C.CONN_DST_PAN, C.TRN_SOURCE_BIPOLAR, 500.0),
    (C.CONN_SRC_CC91, C.CONN_SRC_NONE, C.CONN_DST_REVERB, 0, 200.0),
    (C.CONN_SRC_CC93, C.CONN_SRC_NONE, C.CONN_DST_CHORUS, 0, 200.0),
]


def _replace_defaults(base, changes):
    keys = {(s, c, d) for s, c, d, _t, _v in changes}
    return [m for m in base if (m[0], m[1], m[2]) not in keys] + list(changes)


DEFAULT_CONNECTIONS_SF2_ORIGIN = _replace_defaults(DEFAULT_CONNECTIONS, SF2_DEFAULT_CONNECTIONS)

_COARSE_TUNE = (C.CONN_SRC_RPN2, C.CONN_SRC_NONE, C.CONN_DST_KEYNUMBER)

# What a DLS file's INFO says when an SF2 bank was converted into it (`sf2_origin`):
# SpessaSynth's DLS writer names itself in ISFT ("SpessaSynth" unless the caller gives another
# name; this project's conversions say "spessasynth_core") and carries the SF2's IPRD over;
# an SF2's IPRD names the E-mu/Creative hardware it was made for ("SBAWE32" in FluidR3 and in
# the SoundFont spec test bank), which no native DLS bank names. An SF2 read into the model
# keeps its isng (sound engine), which only SF2 has.
_SF2_SOFTWARE = ("spessasynth",)
_SF2_PRODUCTS = ("sbawe32", "sbawe64", "awe32", "awe64", "emu8000", "emu10k", "e-mu 10k", "sblive", "sb live")


def sf2_origin(info: dict[str, str] | None) -> bool:
    """Whether a collection's INFO marks it as converted from a SoundFont 2 bank (it then
    plays with `SF2_DEFAULT_CONNECTIONS`): ISFT names SpessaSynth, IPRD names the SoundFont
    hardware the bank was made for, or the INFO has SF2's own isng."""
    if not info:
        return False
    software = str(info.get("ISFT", "")).lower()
    product = str(info.get("IPRD", "")).lower()
    return any(n in software for n in _SF2_SOFTWARE) or any(n in product for n in _SF2_PRODUCTS) or "isng" in info


@dataclass
class CompiledInstrument:
    """What eng_instrument_create takes: regions and their connections, plus notes."""

    regions: np.ndarray  # REGION_DTYPE
    connections: np.ndarray  # ENGINE_CONN_DTYPE
    wave_ids: set[int] = field(default_factory=set)  # engine waves referenced
    warnings: list[str] = field(default_factory=list)


def merge_articulation(
    articulations: list[Articulation], warnings: list[str] | None = None, where: str = "", defaults=None
) -> list[tuple[int, int, int, int, float]]:
    """The defaults (`DEFAULT_CONNECTIONS` unless given), less those the given articulation
    chunks override (a connection with the same source, control and destination), then every
    connection of the chunks in order (connections of the same kind within them add): one
    region's list as `compile_instrument` merges it (`compile_tables.Merged`), as
    (source, control, destination, transform, scale) tuples."""
    if defaults is None:
        defaults = DEFAULT_CONNECTIONS
    conns = T.ConnectionTable((tuple(articulations),), [])
    merged = T.Merged(conns, 1, defaults, np.zeros(1, dtype=np.int64))
    one = np.zeros(1, dtype=np.int64)
    words, values = merged.lists(one, (merged.defaults.word, merged.word), (merged.defaults.v, merged.v))
    if warnings is not None:
        warnings.extend(f"{where}: {text}" for text in merged.notes.get(0, []))
    return [
        (w & 0xFFFF, (w >> 16) & 0xFFFF, (w >> 32) & 0xFFFF, (w >> 48) & 0xFFFF, v)
        for w, v in zip(words.tolist(), values.tolist())
    ]


def instrument_defaults(instrument: Instrument, sf2_defaults: bool = False):
    """The default connections an instrument's articulation merges onto: DLS2's, or those of
    a bank converted from SF2; a drum instrument leaves out RPN 2 (coarse tune) to the key
    number: DDKSynth adds the channel's coarse tune only on channels that are not drums, and
    SpessaSynth leaves RPN 2 out of a drum channel's key shift. (A drum kit whose own
    articulation connects RPN 2 still has it.)"""
    defaults = DEFAULT_CONNECTIONS_SF2_ORIGIN if sf2_defaults else DEFAULT_CONNECTIONS
    if instrument.is_drum:
        defaults = [m for m in defaults if (m[0], m[1], m[2]) != _COARSE_TUNE]
    return defaults


def compile_instrument(instrument: Instrument, wave_ids, wave_of, sf2_defaults: bool = False) -> CompiledInstrument:
    """Compile `instrument` for the engine.

    wave_ids maps a wave link's table index to an engine wave id (a dict or a sequence);
    wave_of(engine_id) returns the downloaded `dls.model.Wave`. Regions whose wave is missing
    or unplayable are left out (with a warning). sf2_defaults: the bank was converted from
    SF2 (`sf2_origin` of its INFO): its articulation merges onto SF2's defaults, its LFOs are
    SF2's triangles, its EG2 is SF2's modulation envelope, whose attack is convex (SF2 2.04
    8.1.2 #26), and its gain at
    note-on and from controllers stops at 0 dB, as SF2 clamps the modulated initialAttenuation
    to 0..144 dB (a negative preset attenuation offsets velocity and CC7/CC11 attenuation
    but never boosts: FluidSynth, and the Sound Blaster hardware the SoundFont spec test
    describes).

    The work is done over whole tables (`synth.compile_tables`): what each region gives is
    what the region-by-region rules in this module's docstring give.
    """
    cols = T.RegionColumns(instrument.regions)
    waves = T.WaveLookup(cols.table_indices, wave_ids, wave_of)
    rows = np.flatnonzero(waves.status == 0)  # the regions compiled
    if len(rows) < len(cols.key_lo):
        cols = cols.subset(rows)
    ws = T.SampleColumns(cols.samples, rows, waves)
    stereo = waves.channels[rows] >= 2
    side = np.where(stereo, 0, cols.side)  # out_mask before pairing
    conns = T.ConnectionTable(cols.articulations, instrument.articulations)
    defaults = instrument_defaults(instrument, sf2_defaults)
    merged = T.Merged(conns, len(rows), defaults, side if sf2_defaults else np.zeros_like(side))
    warnings = _warnings(instrument, waves, rows, cols, ws, merged.notes)
    if not len(rows):
        return CompiledInstrument(
            regions=np.zeros(0, dtype=REGION_DTYPE), connections=np.zeros(0, dtype=ENGINE_CONN_DTYPE), warnings=warnings
        )
    flags = np.where(cols.self_non_exclusive, RGN_SELF_NON_EXCLUSIVE, 0) | (RGN_SF2 if sf2_defaults else 0)
    content, lists = merged.content_ids()  # lists: the region that first uses each list
    wid = waves.wid[rows]
    out = np.zeros(len(rows), dtype=REGION_DTYPE)
    for name, value in (
        ("key_lo", cols.key_lo),
        ("key_hi", cols.key_hi),
        ("vel_lo", cols.vel_lo),
        ("vel_hi", cols.vel_hi),
        ("key_group", cols.key_group),
        ("flags", flags),
        ("unity_note", ws.unity),
        ("fine_tune", ws.fine),
        ("attenuation", ws.attenuation),
        ("loop_type", ws.loop_kind),
        ("loop_start", ws.loop_start),
        ("loop_length", ws.loop_length),
        ("out_mask", side),
    ):
        out[name] = value
    out["wave_id"][:, 0] = wid
    out["wave_id"][:, 1] = np.where(stereo, wid, -1)
    out["wave_channel"][:, 1] = stereo
    kept = None
    if side.any():
        kept = _pair_stereo(out, cols, ws, waves.rate[rows], waves.frames[rows], content)
    if kept is not None and len(kept) < len(rows):
        out = out[kept]
        content, first = T.first_use(content[kept])
        lists = kept[first]
    # a connection list given once: regions with the same one share it (first use first)
    count = merged.count[lists]
    offset = np.cumsum(count) - count
    out["conn_offset"] = offset[content]
    out["conn_count"] = count[content]
    return CompiledInstrument(
        regions=out, connections=merged.engine_rows(lists), wave_ids=set(wid.tolist()), warnings=warnings
    )


def _pair_stereo(out: np.ndarray, cols, ws, rate, frames, content) -> np.ndarray:
    """Stereo pairs of mono regions: each LEFT region takes the first RIGHT region left that
    matches it in full (all but its wave and side) and becomes one two-channel voice; the
    rows that stay (all but those RIGHT regions)."""
    key = np.stack(
        (
            *(out[f].astype(np.int64) for f in ("key_lo", "key_hi", "vel_lo", "vel_hi", "key_group", "flags")),
            ws.unity,
            (ws.fine + 0.0).view(np.int64),  # (-0.0 is 0.0)
            ws.attenuation.view(np.int64),
            ws.loop_kind,
            ws.loop_start,
            ws.loop_length,
            content,
            rate,
            frames,
            cols.phase_group,
        ),
        axis=1,
    )
    left, right = T.stereo_pairs(out["out_mask"].astype(np.int64), key)
    out["wave_id"][left, 1] = out["wave_id"][right, 0]
    out["out_mask"][left] = 0
    kept = np.ones(len(out), dtype=bool)
    kept[right] = False
    return np.flatnonzero(kept)


def _warnings(instrument: Instrument, waves, rows: np.ndarray, cols, ws, notes: dict[int, list[str]]) -> list[str]:
    """What the compile says, region by region in order (only the few regions with something
    to say are visited): a wave missing or unplayable, more than one loop, an unknown loop
    type, the merge's notes, an empty velocity range."""
    odd = (ws.n_loops > 1) | ws.odd_loop_type | (cols.vel_lo > cols.vel_hi)
    odd[list(notes)] = True
    missing = len(rows) < len(waves.status)
    if not missing and not odd.any():
        return []
    said = np.union1d(np.flatnonzero(waves.status != 0), rows[odd]) if missing else rows[odd]
    name = instrument.name or f"bank {instrument.bank:#x} program {instrument.program}"
    local = np.full(len(waves.status), -1, dtype=np.int64)
    local[rows] = np.arange(len(rows))
    regions = instrument.regions
    out: list[str] = []
    for ri in said.tolist():
        where = f"{name} region {ri}"
        status, k = int(waves.status[ri]), int(local[ri])
        if status:
            what = "is not downloaded" if status == 1 else "cannot be played"
            out.append(f"{where}: wave {regions[ri].wave_link.table_index} {what}; region left out")
            continue
        loops = ws.samples[k].loops
        if len(loops) > 1:
            out.append(f"{where}: {len(loops)} loops, only the first is played")
        if ws.odd_loop_type[k]:
            out.append(f"{where}: loop type {loops[0].type} played as a forward loop")
        out.extend(f"{where}: {text}" for text in notes.get(k, ()))
        vel_lo, vel_hi = int(cols.vel_lo[k]), int(cols.vel_hi[k])
        if vel_lo > vel_hi:
            out.append(f"{where}: velocity range {vel_lo}..{vel_hi} matches no velocity; the region never plays")
    return out


def download_instrument(engine, instrument: Instrument, wave_ids, sf2_defaults: bool = False) -> int:
    """Compile a `dls.model.Instrument` and hand it to the engine (the instrument half of
    ``IDirectMusicSynth::Download``); returns its engine instrument id.

    wave_ids maps the instrument's wave-link table indices to ids from
    ``engine.download_wave`` (a list in pool-table order, or a dict). sf2_defaults: see
    `compile_instrument`. After `keep_compiled`, an instrument compiled before is not
    compiled again.
    """
    if _cache is None:
        compiled = compile_instrument(instrument, wave_ids, engine.wave, sf2_defaults)
    else:
        compiled = _compiled_from_cache(instrument, wave_ids, engine.wave, sf2_defaults)
    return engine.download_compiled(compiled, instrument)


# --------------------------------------------------------------------------- compile cache
_cache: dict | None = None


def keep_compiled(on: bool = True) -> None:
    """From now on (until ``keep_compiled(False)``), `download_instrument` keeps what it
    compiles, per instrument object, and gives it again to the next engine the same
    instrument goes to (with that engine's wave ids): a render worker compiles each
    instrument of its banks once, however many songs it renders. Only for collections that
    nothing changes meanwhile (banks as read)."""
    global _cache
    if not on:
        _cache = None
    elif _cache is None:
        _cache = {}


@contextlib.contextmanager
def compile_cache():
    """`keep_compiled` for the duration of a with block."""
    was = _cache
    keep_compiled(True)
    try:
        yield
    finally:
        if was is None:
            keep_compiled(False)


def _wave_id(wave_ids, ti: int):
    try:
        wid = wave_ids[ti]
    except (KeyError, IndexError, TypeError):
        return None
    return None if wid is None or wid < 0 else int(wid)


def _compiled_from_cache(instrument: Instrument, wave_ids, wave_of, sf2_defaults: bool) -> CompiledInstrument:
    """`compile_instrument`'s result, compiled once against the wave-link table indices
    themselves, then given this engine's wave ids (the same arrays as compiling anew)."""
    tis = sorted({int(r.wave_link.table_index) for r in instrument.regions})
    present = tuple(ti for ti in tis if _wave_id(wave_ids, ti) is not None)
    key = (id(instrument), bool(sf2_defaults), present)
    hit = _cache.get(key)
    if hit is None or hit[0] is not instrument:
        by_table = {ti: ti for ti in present}
        compiled = compile_instrument(instrument, by_table, lambda ti: wave_of(_wave_id(wave_ids, ti)), sf2_defaults)
        hit = _cache[key] = (instrument, compiled)
    compiled = hit[1]
    regions = compiled.regions.copy()
    if len(regions):
        lut = np.full(max(present) + 2 if present else 1, -1, dtype=np.int64)
        for ti in present:
            lut[ti] = _wave_id(wave_ids, ti)
        table = regions["wave_id"]
        regions["wave_id"] = np.where(table >= 0, lut[np.where(table >= 0, table, len(lut) - 1)], table)
    return CompiledInstrument(
        regions=regions,
        connections=compiled.connections,
        wave_ids={_wave_id(wave_ids, ti) for ti in compiled.wave_ids},
        warnings=list(compiled.warnings),
    )
