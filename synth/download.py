"""The DLS download: a `dls.model.Instrument` compiled into the engine's region and
connection arrays (DirectMusic: the DMUS_DOWNLOADINFO_INSTRUMENT2 a synth receives).

Everything here happens once, when an instrument is downloaded; the C engine evaluates the
result at note-on and at control rate and never sees a DLS structure.

What the compile does, per region:

- picks the region's own ``wsmp`` (else the wave's, else the defaults): unity note, fine
  tune, attenuation (``lAttenuation`` is a relative gain, negative = quieter, as DDKSynth,
  FluidSynth and SpessaSynth all read it) and the first loop (forward or release);
- picks the wave: a two-channel wave becomes one two-channel voice; two mono regions that
  form a DLS2 stereo pair (wave links LEFT and RIGHT, same ranges, same sample format and
  articulation) are merged into one two-channel voice so the pair stays in phase; a lone
  wave link to one side is panned to that side;
- merges the articulation: DLS2's default connections, then the region's own articulation
  if it has one, else the instrument's (a region's ``lart``/``lar2`` replaces the
  instrument's as a whole). An articulation's connection with the same source, control and
  destination as a DEFAULT connection replaces that default (DLS2: the defaults are
  overridden by any connection of the same kind, whatever its transform); the
  articulation's own connections all apply, and those of the same kind add up (SpessaSynth
  writes a concave velocity-to-gain of scale 0 to cancel the default, next to the linear
  one that is the real curve). Level-1 (``art1``) transforms are output transforms: they
  are moved onto the source; a DLS1 LFO also drives the vibrato LFO's frequency and delay;
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

from dataclasses import dataclass, field

import numpy as np

from dls import constants as C
from dls.model import Articulation, Instrument, Region, Wave, WaveSample
from native.engine import ENGINE_CONN_DTYPE, REGION_DTYPE

__all__ = [
    "REGION_DTYPE", "ENGINE_CONN_DTYPE", "DEFAULT_CONNECTIONS", "CompiledInstrument",
    "compile_instrument", "merge_articulation", "download_instrument",
]

RGN_SELF_NON_EXCLUSIVE = 1
LOOP_NONE, LOOP_FORWARD, LOOP_RELEASE = -1, 0, 1

_CONCAVE_INVERTED = (C.CONN_TRN_CONCAVE << C.TRN_SOURCE_SHIFT) | C.TRN_SOURCE_INVERT
_F = 65536.0


def _tc(seconds: float) -> float:
    """Seconds to timecents."""
    return 1200.0 * float(np.log2(seconds))


def _abs_cents(hz: float) -> float:
    return 6900.0 + 1200.0 * float(np.log2(hz / 440.0))


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
    (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_FILTER_CUTOFF, 0, 0x7FFFFFFF / _F),
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

_GAIN_SOURCES = (C.CONN_SRC_KEYONVELOCITY, C.CONN_SRC_CC7, C.CONN_SRC_CC11)
_KEY_TIME_DESTS = (C.CONN_DST_EG1_HOLDTIME, C.CONN_DST_EG1_DECAYTIME, C.CONN_DST_EG2_HOLDTIME,
                   C.CONN_DST_EG2_DECAYTIME)


@dataclass
class CompiledInstrument:
    """What eng_instrument_create takes: regions and their connections, plus notes."""

    regions: np.ndarray  # REGION_DTYPE
    connections: np.ndarray  # ENGINE_CONN_DTYPE
    wave_ids: set[int] = field(default_factory=set)  # engine waves referenced
    warnings: list[str] = field(default_factory=list)


def _level1_transform(source: int, control: int, transform: int) -> int:
    """A level-1 usTransform holds an output transform only: move it onto the source (or the
    control when there is no source)."""
    out = transform & C.TRN_OUTPUT_MASK
    if out == C.CONN_TRN_NONE:
        return 0
    if source == C.CONN_SRC_NONE and control != C.CONN_SRC_NONE:
        return out << C.TRN_CONTROL_SHIFT
    return out << C.TRN_SOURCE_SHIFT


def merge_articulation(articulations: list[Articulation], warnings: list[str] | None = None,
                       where: str = "") -> list[tuple[int, int, int, int, float]]:
    """The DLS2 defaults, less those the given articulation chunks override (a connection
    with the same source, control and destination), then every connection of the chunks in
    order (connections of the same kind within them add)."""
    default_index = {(s, c, d): i for i, (s, c, d, _t, _v) in enumerate(DEFAULT_CONNECTIONS)}
    overridden: set[int] = set()
    own: list[tuple[int, int, int, int, float]] = []
    noted: set[str] = set()

    def note(text: str) -> None:
        if warnings is not None and text not in noted:
            noted.add(text)
            warnings.append(text)

    def put(s: int, c: int, d: int, t: int, v: float) -> None:
        i = default_index.get((s, c, d))
        if i is not None:
            overridden.add(i)
        own.append((s, c, d, t, v))

    for art in articulations:
        rows = art.blocks.tolist() if len(art.blocks) else []
        for s, c, d, t, raw in rows:
            s, c, d, t = int(s), int(c), int(d), int(t)
            v = int(raw) / _F
            if art.level == 1:
                t = _level1_transform(s, c, t)
            if (s in _GAIN_SOURCES and c == C.CONN_SRC_NONE and d == C.CONN_DST_GAIN and v < 0
                    and (t >> C.TRN_SOURCE_SHIFT) & 0xF == C.CONN_TRN_CONCAVE and not t & C.TRN_SOURCE_INVERT):
                t |= C.TRN_SOURCE_INVERT
                note(f"{where}: non-inverted concave {C.source_name(s)}-to-gain read as inverted")
            if s == C.CONN_SRC_KEYNUMBER and c == C.CONN_SRC_NONE and d in _KEY_TIME_DESTS and t & C.TRN_SOURCE_BIPOLAR:
                t &= ~C.TRN_SOURCE_BIPOLAR
                note(f"{where}: bipolar key-number-to-{C.destination_name(d)} read as key/128 (SpessaSynth's encoding)")
            put(s, c, d, t, v)
            if art.level == 1 and s == C.CONN_SRC_NONE and c == C.CONN_SRC_NONE:
                # a DLS1 instrument has one LFO: it is the vibrato too
                if d == C.CONN_DST_LFO_FREQUENCY:
                    put(s, c, C.CONN_DST_VIB_FREQUENCY, t, v)
                elif d == C.CONN_DST_LFO_STARTDELAY:
                    put(s, c, C.CONN_DST_VIB_STARTDELAY, t, v)
    return [m for i, m in enumerate(DEFAULT_CONNECTIONS) if i not in overridden] + own


def _loop_of(ws: WaveSample, warnings: list[str], where: str) -> tuple[int, int, int]:
    if not ws.loops:
        return LOOP_NONE, 0, 0
    if len(ws.loops) > 1:
        warnings.append(f"{where}: {len(ws.loops)} loops, only the first is played")
    lp = ws.loops[0]
    kind = LOOP_RELEASE if lp.type == C.WLOOP_TYPE_RELEASE else LOOP_FORWARD
    if lp.type not in (C.WLOOP_TYPE_FORWARD, C.WLOOP_TYPE_RELEASE):
        warnings.append(f"{where}: loop type {lp.type} played as a forward loop")
    start = max(0, int(lp.start))
    length = max(0, int(lp.length))
    return kind, min(start, 0xFFFFFFFF), min(length, 0xFFFFFFFF)


def _out_mask(region: Region) -> int:
    wl = region.wave_link
    if wl.multichannel:
        if wl.channel == C.WAVELINK_CHANNEL_LEFT:
            return 1
        if wl.channel == C.WAVELINK_CHANNEL_RIGHT:
            return 2
        return 0
    return 2 if wl.channel == C.WAVELINK_CHANNEL_RIGHT else 0


def compile_instrument(instrument: Instrument, wave_ids, wave_of) -> CompiledInstrument:
    """Compile `instrument` for the engine.

    wave_ids maps a wave link's table index to an engine wave id (a dict or a sequence);
    wave_of(engine_id) returns the downloaded `dls.model.Wave`. Regions whose wave is missing
    or unplayable are left out (with a warning).
    """
    warnings: list[str] = []
    name = instrument.name or f"bank {instrument.bank:#x} program {instrument.program}"
    rows: list[tuple] = []
    conns: list[tuple[int, int, int, int, float]] = []
    extra: list[dict] = []  # per row: what stereo pairing needs to compare
    used: set[int] = set()
    for ri, region in enumerate(instrument.regions):
        where = f"{name} region {ri}"
        ti = region.wave_link.table_index
        try:
            wid = wave_ids[ti]
        except (KeyError, IndexError, TypeError):
            wid = None
        if wid is None or wid < 0:
            warnings.append(f"{where}: wave {ti} is not downloaded; region left out")
            continue
        wave: Wave = wave_of(int(wid))
        if wave is None or not wave.supported:
            warnings.append(f"{where}: wave {ti} cannot be played; region left out")
            continue
        ws = region.wave_sample or wave.wave_sample or WaveSample()
        loop_type, loop_start, loop_length = _loop_of(ws, warnings, where)
        arts = region.articulations if region.articulations else instrument.articulations
        merged = merge_articulation(arts, warnings, where)
        key_lo, key_hi = int(region.key_low) & 0x7F, int(region.key_high) & 0x7F
        if region.level == 1:
            vel_lo, vel_hi = 0, 127  # DLS Level 1 synths ignore the velocity range
        else:
            vel_lo, vel_hi = int(region.vel_low) & 0x7F, int(region.vel_high) & 0x7F
        stereo_wave = wave.channels >= 2
        out_mask = 0 if stereo_wave else _out_mask(region)
        row = dict(
            key_lo=key_lo, key_hi=key_hi, vel_lo=vel_lo, vel_hi=vel_hi,
            key_group=int(region.key_group) & 0xFFFF,
            flags=RGN_SELF_NON_EXCLUSIVE if region.self_non_exclusive else 0,
            wave_id=(int(wid), int(wid) if stereo_wave else -1),
            wave_channel=(0, 1 if stereo_wave else 0),
            out_mask=out_mask, unity_note=int(ws.unity_note) & 0x7F,
            fine_tune=float(ws.fine_tune), attenuation=-int(ws.attenuation) / _F,
            loop_type=loop_type, loop_start=loop_start, loop_length=loop_length,
            conns=merged,
        )
        extra.append(dict(rate=wave.sample_rate, frames=wave.frames, phase_group=region.wave_link.phase_group))
        rows.append(row)
        used.add(int(wid))

    # stereo pairs of mono regions: merge LEFT + RIGHT into one two-channel voice
    _same = ("key_lo", "key_hi", "vel_lo", "vel_hi", "key_group", "flags", "unity_note", "fine_tune",
             "attenuation", "loop_type", "loop_start", "loop_length", "conns")
    dropped: set[int] = set()
    for i, a in enumerate(rows):
        if a["out_mask"] != 1 or i in dropped:
            continue
        for j, b in enumerate(rows):
            if j == i or j in dropped or b["out_mask"] != 2:
                continue
            if (all(a[k] == b[k] for k in _same) and extra[i]["rate"] == extra[j]["rate"]
                    and extra[i]["frames"] == extra[j]["frames"]
                    and extra[i]["phase_group"] == extra[j]["phase_group"]):
                a["wave_id"] = (a["wave_id"][0], b["wave_id"][0])
                a["wave_channel"] = (a["wave_channel"][0], b["wave_channel"][0])
                a["out_mask"] = 0
                dropped.add(j)
                break

    kept = [r for k, r in enumerate(rows) if k not in dropped]
    regions = np.zeros(len(kept), dtype=REGION_DTYPE)
    shared: dict[tuple, int] = {}  # a connection list given once: regions with the same one share it
    for k, r in enumerate(kept):
        key = tuple(r["conns"])
        off = shared.get(key)
        if off is None:
            off = shared[key] = len(conns)
            conns.extend(r["conns"])
        for f in REGION_DTYPE.names:
            if f == "conn_offset":
                regions[k][f] = off
            elif f == "conn_count":
                regions[k][f] = len(r["conns"])
            else:
                regions[k][f] = r[f]
    carr = np.zeros(len(conns), dtype=ENGINE_CONN_DTYPE)
    if conns:
        carr[:] = [(s, c, d, t, v) for s, c, d, t, v in conns]
    return CompiledInstrument(regions=regions, connections=carr, wave_ids=used, warnings=warnings)


def download_instrument(engine, instrument: Instrument, wave_ids) -> int:
    """Compile a `dls.model.Instrument` and hand it to the engine (the instrument half of
    ``IDirectMusicSynth::Download``); returns its engine instrument id.

    wave_ids maps the instrument's wave-link table indices to ids from
    ``engine.download_wave`` (a list in pool-table order, or a dict).
    """
    compiled = compile_instrument(instrument, wave_ids, engine.wave)
    return engine.download_compiled(compiled, instrument)
