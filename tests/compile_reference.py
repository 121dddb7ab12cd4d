"""The region-by-region compile_instrument as it was before `synth.compile_tables` (commit
6923b1d), with its articulation merge, kept as the reference the table compile must match
bit for bit (tests/test_compile_tables.py)."""

from __future__ import annotations

import operator

import numpy as np

from dlsynth.dls import constants as C
from dlsynth.dls.model import Instrument, Region, Wave, WaveSample
from dlsynth.synth.download import (
    _F,
    ENGINE_CONN_DTYPE,
    LOOP_FORWARD,
    LOOP_NONE,
    LOOP_RELEASE,
    REGION_DTYPE,
    RGN_SELF_NON_EXCLUSIVE,
    RGN_SF2,
    CompiledInstrument,
    instrument_defaults,
)

# The region-by-region articulation merge (it was synth.download's `_merge`).
_GAIN_SOURCES = (C.CONN_SRC_KEYONVELOCITY, C.CONN_SRC_CC7, C.CONN_SRC_CC11)
_SRC_NONE, _SRC_KEYNUMBER, _DST_GAIN = C.CONN_SRC_NONE, C.CONN_SRC_KEYNUMBER, C.CONN_DST_GAIN
_VIB_OF_LFO = {
    C.CONN_DST_LFO_FREQUENCY: C.CONN_DST_VIB_FREQUENCY,
    C.CONN_DST_LFO_STARTDELAY: C.CONN_DST_VIB_STARTDELAY,
}
_KEY_TIME_DESTS = (C.CONN_DST_EG1_HOLDTIME, C.CONN_DST_EG1_DECAYTIME, C.CONN_DST_EG2_HOLDTIME, C.CONN_DST_EG2_DECAYTIME)


def _level1_transform(source: int, control: int, transform: int) -> int:
    """A level-1 usTransform holds an output transform only: move it onto the source (or the
    control when there is no source)."""
    out = transform & C.TRN_OUTPUT_MASK
    if out == C.CONN_TRN_NONE:
        return 0
    if source == C.CONN_SRC_NONE and control != C.CONN_SRC_NONE:
        return out << C.TRN_CONTROL_SHIFT
    return out << C.TRN_SOURCE_SHIFT


def _default_index(defaults) -> dict[tuple[int, int, int], int]:
    return {(s, c, d): i for i, (s, c, d, _t, _v) in enumerate(defaults)}


def _merge(articulations, defaults, default_index) -> tuple[list[tuple[int, int, int, int, float]], list[str]]:
    """`merge_articulation`'s connections, and what it has to say (each text once, in order,
    without the region's name)."""
    overridden: set[int] = set()
    own: list[tuple[int, int, int, int, float]] = []
    notes: list[str] = []

    def note(text: str) -> None:
        if text not in notes:
            notes.append(text)

    def put(s: int, c: int, d: int, t: int, v: float) -> None:
        i = default_index.get((s, c, d))
        if i is not None:
            overridden.add(i)
        own.append((s, c, d, t, v))

    for art in articulations:
        level1 = art.level == 1
        # (tolist gives Python ints: the fields are unsigned 16-bit, the scale signed 32-bit)
        for s, c, d, t, raw in art.blocks.tolist():
            v = raw / _F
            if level1:
                t = _level1_transform(s, c, t)
            if (
                d == _DST_GAIN
                and s in _GAIN_SOURCES
                and c == _SRC_NONE
                and v < 0
                and (t >> C.TRN_SOURCE_SHIFT) & 0xF == C.CONN_TRN_CONCAVE
                and not t & C.TRN_SOURCE_INVERT
            ):
                t |= C.TRN_SOURCE_INVERT
                note(f"non-inverted concave {C.source_name(s)}-to-gain read as inverted")
            if s == _SRC_KEYNUMBER and c == _SRC_NONE and d in _KEY_TIME_DESTS and t & C.TRN_SOURCE_BIPOLAR:
                t &= ~C.TRN_SOURCE_BIPOLAR
                note(f"bipolar key-number-to-{C.destination_name(d)} read as key/128 (SpessaSynth's encoding)")
            put(s, c, d, t, v)
            if level1 and s == _SRC_NONE and c == _SRC_NONE:
                # a DLS1 instrument has one LFO: it is the vibrato too
                vib = _VIB_OF_LFO.get(d)
                if vib is not None:
                    put(s, c, vib, t, v)
    if overridden:
        return [m for i, m in enumerate(defaults) if i not in overridden] + own, notes
    return list(defaults) + own, notes


def _loop_of(ws: WaveSample, warnings: list[str], where: str) -> tuple[int, int, int]:
    if not ws.loops:
        return LOOP_NONE, 0, 0
    if len(ws.loops) > 1:
        warnings.append(f"{where}: {len(ws.loops)} loops, only the first is played")
    lp = ws.loops[0]
    release = (C.WLOOP_TYPE_RELEASE, C.WLOOP_TYPE_RELEASE_WIN2000)
    kind = LOOP_RELEASE if lp.type in release else LOOP_FORWARD
    if lp.type != C.WLOOP_TYPE_FORWARD and lp.type not in release:
        warnings.append(f"{where}: loop type {lp.type} played as a forward loop")
    start = max(0, int(lp.start))
    length = max(0, int(lp.length))
    return kind, min(start, 0xFFFFFFFF), min(length, 0xFFFFFFFF)


def _out_mask(region: Region) -> int:
    """The side a mono wave link is confined to: only a link of a multichannel set places
    its wave (ulChannel); any other link is mono, panned as articulated."""
    wl = region.wave_link
    if wl.multichannel:
        if wl.channel == C.WAVELINK_CHANNEL_LEFT:
            return 1
        if wl.channel == C.WAVELINK_CHANNEL_RIGHT:
            return 2
    return 0


_STATIC_PAN = (C.CONN_SRC_NONE, C.CONN_SRC_NONE, C.CONN_DST_PAN)


def _without_side_pan(merged: tuple, out_mask: int) -> tuple:
    """`merged` less its constant pan where that pan puts the wave on the side its wave link
    already confines it to (at or beyond -500 for LEFT, +500 for RIGHT): an SF2 stereo pair
    pans each half to its side, and a DLS written from one keeps that pan, for readers that
    place nothing by ``ulChannel`` (SpessaSynth's DLS reader); the link's placement says it
    already, so the two halves still compare equal and merge into one stereo voice."""
    pans = [m[4] for m in merged if (m[0], m[1], m[2]) == _STATIC_PAN]
    total = sum(pans)
    if not pans or not (total <= -500.0 if out_mask == 1 else total >= 500.0):
        return merged
    return tuple(m for m in merged if (m[0], m[1], m[2]) != _STATIC_PAN)


_region_record = operator.itemgetter(*REGION_DTYPE.names)  # a row's fields in the engine's order


def reference_compile(instrument: Instrument, wave_ids, wave_of, sf2_defaults: bool = False) -> CompiledInstrument:
    """`synth.download.compile_instrument` as it was, region by region: the same arguments,
    the same result (and warnings)."""
    warnings: list[str] = []
    defaults = instrument_defaults(instrument, sf2_defaults)
    name = instrument.name or f"bank {instrument.bank:#x} program {instrument.program}"
    rows: list[tuple] = []
    conns: list[tuple[int, int, int, int, float]] = []
    extra: list[dict] = []  # per row: what stereo pairing needs to compare
    used: set[int] = set()
    default_index = _default_index(defaults)
    merges: dict[tuple, tuple[tuple, list[str]]] = {}  # articulation contents -> _merge of them
    side_pans: dict[tuple[int, int], tuple[tuple, tuple]] = {}  # (id of a merge, side) -> (it, less its pan)
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
        mkey = tuple((art.level, art.blocks.tobytes()) for art in arts)
        hit = merges.get(mkey)
        if hit is None:
            merged, notes = _merge(arts, defaults, default_index)
            hit = merges[mkey] = (tuple(merged), notes)
        merged, notes = hit
        if notes:
            warnings.extend(f"{where}: {text}" for text in notes)
        key_lo, key_hi = int(region.key_low) & 0x7F, int(region.key_high) & 0x7F
        vel_lo, vel_hi = int(region.vel_low) & 0x7F, int(region.vel_high) & 0x7F
        if vel_lo > vel_hi:
            warnings.append(f"{where}: velocity range {vel_lo}..{vel_hi} matches no velocity; the region never plays")
        stereo_wave = wave.channels >= 2
        out_mask = 0 if stereo_wave else _out_mask(region)
        if out_mask and sf2_defaults:
            side_key = (id(merged), out_mask)
            stripped = side_pans.get(side_key)
            if stripped is None:
                stripped = side_pans[side_key] = (merged, _without_side_pan(merged, out_mask))
            merged = stripped[1]
        row = dict(
            key_lo=key_lo,
            key_hi=key_hi,
            vel_lo=vel_lo,
            vel_hi=vel_hi,
            key_group=int(region.key_group) & 0xFFFF,
            flags=(RGN_SELF_NON_EXCLUSIVE if region.self_non_exclusive else 0) | (RGN_SF2 if sf2_defaults else 0),
            wave_id=(int(wid), int(wid) if stereo_wave else -1),
            wave_channel=(0, 1 if stereo_wave else 0),
            out_mask=out_mask,
            unity_note=int(ws.unity_note) & 0x7F,
            fine_tune=float(ws.fine_tune),
            attenuation=-int(ws.attenuation) / _F,
            loop_type=loop_type,
            loop_start=loop_start,
            loop_length=loop_length,
            conns=merged,
        )
        extra.append(dict(rate=wave.sample_rate, frames=wave.frames, phase_group=region.wave_link.phase_group))
        rows.append(row)
        used.add(int(wid))

    # stereo pairs of mono regions: merge LEFT + RIGHT into one two-channel voice
    _same = (
        "key_lo",
        "key_hi",
        "vel_lo",
        "vel_hi",
        "key_group",
        "flags",
        "unity_note",
        "fine_tune",
        "attenuation",
        "loop_type",
        "loop_start",
        "loop_length",
        "conns",
    )

    def pair_key(k: int) -> tuple:
        r, x = rows[k], extra[k]
        return (*(r[f] for f in _same), x["rate"], x["frames"], x["phase_group"])

    # Each LEFT region (in order) takes the first RIGHT region left that matches it in full.
    rights: dict[tuple, list[int]] = {}
    for j, b in enumerate(rows):
        if b["out_mask"] == 2:
            rights.setdefault(pair_key(j), []).append(j)
    for bucket in rights.values():
        bucket.reverse()  # popped from the end: the first one first
    dropped: set[int] = set()
    for i, a in enumerate(rows):
        if a["out_mask"] != 1:
            continue
        bucket = rights.get(pair_key(i))
        if bucket:
            j = bucket.pop()
            b = rows[j]
            a["wave_id"] = (a["wave_id"][0], b["wave_id"][0])
            a["wave_channel"] = (a["wave_channel"][0], b["wave_channel"][0])
            a["out_mask"] = 0
            dropped.add(j)

    kept = [r for k, r in enumerate(rows) if k not in dropped]
    shared: dict[tuple, int] = {}  # a connection list given once: regions with the same one share it
    offset_of: dict[int, int] = {}  # the same, by the (memoized) list's identity
    records = []
    for r in kept:
        merged = r["conns"]
        off = offset_of.get(id(merged))
        if off is None:
            off = shared.get(merged)
            if off is None:
                off = shared[merged] = len(conns)
                conns.extend(merged)
            offset_of[id(merged)] = off
        r["conn_offset"] = off
        r["conn_count"] = len(merged)
        records.append(_region_record(r))
    regions = np.array(records, dtype=REGION_DTYPE) if records else np.zeros(0, dtype=REGION_DTYPE)
    carr = np.array(conns, dtype=ENGINE_CONN_DTYPE) if conns else np.zeros(0, dtype=ENGINE_CONN_DTYPE)
    return CompiledInstrument(regions=regions, connections=carr, wave_ids=used, warnings=warnings)
