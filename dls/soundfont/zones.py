"""Preset zones layered onto instrument zones (SF2 2.04 sections 7.3-7.10 and 9.4), in bulk.

Every (preset zone, instrument zone) pair that can sound becomes one DLS region. For each
pair the generators combine as the specification says:

- instrument level: a local zone's generator replaces its instrument's global zone's,
  which replaces the default (key and velocity ranges included: a local zone without a
  range takes its global zone's, as FluidSynth does since issue #1250);
- preset level: likewise local over global, over 0; only the additive generators count
  (sample addresses, keynum, velocity, sampleModes, exclusiveClass and overridingRootKey
  are ignored there);
- the pair's value is the instrument value plus the preset offset, clamped to the
  generator's range; key and velocity ranges are the intersection of both levels'.

Within a zone, generators after the terminal one (``instrument`` in a preset zone,
``sampleID`` in an instrument zone) are ignored, a repeated generator's last occurrence
counts, and unknown generator numbers are ignored. The first zone of a preset (instrument)
is its global zone when it has no terminal generator; any later zone without one is
ignored. All of this is NumPy over the whole file: the Python work is per preset, not per
generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import DLSError
from . import generators as G
from .hydra import Hydra

# A pathological file could ask for a product of 65535 preset zones and 65535 instrument
# zones; real banks have thousands of pairs (FluidR3_GM 16,912, TimGM6mb 2,063).
MAX_REGIONS = 1 << 18


def distinct(values: np.ndarray) -> list[int]:
    """``np.unique(values).tolist()`` (integers), without the import of numpy.ma that a plain
    np.unique makes on its first call (a fifth of the time a first SF2 open took)."""
    if not len(values):
        return []
    v = np.sort(values, axis=None)
    first = np.ones(len(v), dtype=bool)
    first[1:] = v[1:] != v[:-1]
    return v[first].tolist()


@dataclass
class ZoneLevel:
    """The zones of one level (preset or instrument) as dense generator tables.

    val[z, g] (int32): generator g's amount in zone z (signed; the index generators as
    unsigned); isset[z, g]: whether the zone sets it. term[z]: the zone's terminal
    generator's value (instrument or sample index), -1 without one. owner[z]: the preset or
    instrument the zone belongs to (-1: none). first[o], count[o]: the zones of owner o.
    glob[o]: its global zone (-1: none). mod_start/mod_end[z]: its modulators.
    """

    val: np.ndarray
    isset: np.ndarray
    term: np.ndarray
    owner: np.ndarray
    first: np.ndarray
    count: np.ndarray
    glob: np.ndarray
    mod_start: np.ndarray
    mod_end: np.ndarray

    @property
    def zones(self) -> int:
        return len(self.term)


def _level(owner_bag: np.ndarray, bags: np.ndarray, gens: np.ndarray, terminal: int) -> ZoneLevel:
    owners = len(owner_bag) - 1  # the last record is the terminal one
    # Only the zones the (16-bit) bag indices reach count, however long a hostile chunk is.
    bags = bags[: int(owner_bag[-1]) + 1] if len(owner_bag) else bags[:1]
    nz = len(bags) - 1
    bag_gen = bags["gen"].astype(np.int64)
    bag_mod = bags["mod"].astype(np.int64)
    g_start, g_end = bag_gen[:-1], bag_gen[1:]
    val = np.zeros((nz, G.COUNT), dtype=np.int32)
    isset = np.zeros((nz, G.COUNT), dtype=bool)
    term = np.full(nz, -1, dtype=np.int64)
    if nz and g_end[-1] > g_start[0]:
        counts = g_end - g_start
        zone_of = np.repeat(np.arange(nz, dtype=np.int64), counts)
        idx = np.arange(g_start[0], g_end[-1], dtype=np.int64)
        idx = idx[: len(zone_of)]
        rec = gens[idx]
        oper = rec["oper"].astype(np.int64)
        raw = rec["amount"].astype(np.int32)
        # the first terminal generator of each zone ends it
        is_term = oper == terminal
        first_term = np.full(nz, np.iinfo(np.int64).max, dtype=np.int64)
        if is_term.any():
            np.minimum.at(first_term, zone_of[is_term], idx[is_term])
        keep = (idx <= first_term[zone_of]) & (oper < G.COUNT)
        zone_of, oper, raw, idx = zone_of[keep], oper[keep], raw[keep], idx[keep]
        # a repeated generator: its last occurrence counts
        key = zone_of * G.COUNT + oper
        _, last = np.unique(key[::-1], return_index=True)
        sel = len(key) - 1 - last
        zone_of, oper, raw = zone_of[sel], oper[sel], raw[sel]
        unsigned = (oper == G.INSTRUMENT) | (oper == G.SAMPLE_ID) | (oper == G.KEY_RANGE) | (oper == G.VEL_RANGE)
        amount = np.where(unsigned, raw & 0xFFFF, raw)
        val[zone_of, oper] = amount
        isset[zone_of, oper] = True
        has_term = first_term < np.iinfo(np.int64).max
        term[has_term] = val[has_term, terminal]
    # owners and their zones
    ob = owner_bag.astype(np.int64)
    first = ob[:-1]
    count = ob[1:] - ob[:-1]
    owner = np.full(nz, -1, dtype=np.int64)
    if owners and nz:
        span = np.arange(nz, dtype=np.int64)
        inside = (span >= ob[0]) & (span < ob[-1])
        owner[inside] = np.searchsorted(ob, span[inside], side="right") - 1
    glob = np.full(owners, -1, dtype=np.int64)
    if owners:
        nonempty = count > 0
        cand = first[nonempty]
        is_glob = term[cand] < 0
        glob[np.flatnonzero(nonempty)[is_glob]] = cand[is_glob]
    return ZoneLevel(val, isset, term, owner, first, count, glob, bag_mod[:-1], bag_mod[1:])


def _effective(level: ZoneLevel, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each zone's generators with its global zone's as defaults, then `base`; and each
    zone's key/velocity ranges (local, else global, else 0-127) as (lo, hi) columns."""
    g = np.where(level.owner >= 0, level.glob[np.maximum(level.owner, 0)], -1)
    has_g = g >= 0
    gi = np.maximum(g, 0)
    gval = np.where(has_g[:, None] & level.isset[gi], level.val[gi], base[None, :])
    eff = np.where(level.isset, level.val, gval)
    full = np.int32(0x7F00)  # 0-127
    rng = np.empty((level.zones, 4), dtype=np.int32)
    for k, op in enumerate((G.KEY_RANGE, G.VEL_RANGE)):
        v = np.where(
            level.isset[:, op], level.val[:, op], np.where(has_g & level.isset[gi, op], level.val[gi, op], full)
        )
        rng[:, 2 * k] = v & 0xFF
        rng[:, 2 * k + 1] = (v >> 8) & 0xFF
    return eff, rng


@dataclass
class Pairs:
    """Every (preset zone, instrument zone) pair that can sound, in preset order.

    preset[i], pzone[i], izone[i], instrument[i]; gens[i, g]: the combined generator
    values (int32); key_lo/key_hi/vel_lo/vel_hi[i]; sample[i]: the sample header index.
    first[p], count[p]: the pairs of preset p. notes[p]: structural remarks per preset.
    """

    preset: np.ndarray
    pzone: np.ndarray
    izone: np.ndarray
    instrument: np.ndarray
    gens: np.ndarray
    key_lo: np.ndarray
    key_hi: np.ndarray
    vel_lo: np.ndarray
    vel_hi: np.ndarray
    sample: np.ndarray
    pl: ZoneLevel
    il: ZoneLevel

    def __len__(self) -> int:
        return len(self.preset)


def combine(h: Hydra, file_notes: list[str], preset_notes: list[set[str]]) -> Pairs:
    """All pairs of the file. `preset_notes[p]` collects remarks about preset p (a set, so
    that the same remark is made once); `file_notes` those about instruments."""
    pl = _level(h.phdr["bag"], h.pbag, h.pgen, G.INSTRUMENT)
    il = _level(h.inst["bag"], h.ibag, h.igen, G.SAMPLE_ID)
    n_inst = len(h.inst) - 1
    n_samples = len(h.shdr) - 1

    # Instrument zones that play: local zones with a sample.
    iz_all = np.arange(il.zones, dtype=np.int64)
    i_owner = il.owner
    i_local = (i_owner >= 0) & (il.term >= 0)
    stray = (i_owner >= 0) & (il.term < 0) & (iz_all != np.where(i_owner >= 0, il.first[np.maximum(i_owner, 0)], -1))
    for ins in distinct(i_owner[stray]):
        n = int(np.count_nonzero(stray & (i_owner == ins)))
        file_notes.append(f"instrument #{ins} {_name(h.inst, ins)!r}: {n} zone(s) without a sample ignored")
    iz_play = iz_all[i_local]  # sorted by zone, hence by instrument
    per_inst = np.bincount(i_owner[iz_play], minlength=max(n_inst, 0)).astype(np.int64)
    inst_start = np.concatenate(([0], np.cumsum(per_inst)[:-1])) if n_inst > 0 else np.zeros(0, np.int64)

    # Preset zones that play: local zones with a valid instrument.
    pz_all = np.arange(pl.zones, dtype=np.int64)
    p_owner = pl.owner
    p_first = np.where(p_owner >= 0, pl.first[np.maximum(p_owner, 0)], -1)
    p_stray = (p_owner >= 0) & (pl.term < 0) & (pz_all != p_first)
    for p in distinct(p_owner[p_stray]):
        preset_notes[p].add("a zone without an instrument ignored")
    p_bad = (p_owner >= 0) & (pl.term >= n_inst)
    for p in distinct(p_owner[p_bad]):
        preset_notes[p].add("a zone naming an instrument the file does not have ignored")
    p_local = (p_owner >= 0) & (pl.term >= 0) & (pl.term < n_inst)
    pz_play = pz_all[p_local]
    inst_of = pl.term[pz_play]
    counts = per_inst[inst_of] if len(pz_play) else np.zeros(0, np.int64)
    total = int(counts.sum())
    if total > MAX_REGIONS:
        raise DLSError(f"the presets have {total} zone pairs (regions), more than {MAX_REGIONS}: not a real bank")
    empty_inst = len(pz_play) and (counts == 0)
    if np.any(empty_inst):
        for p in distinct(p_owner[pz_play[counts == 0]]):
            preset_notes[p].add("an instrument without playable zones")

    pz_pair = np.repeat(pz_play, counts)
    offs = np.repeat(inst_start[inst_of] - (np.cumsum(counts) - counts), counts) if total else np.zeros(0, np.int64)
    iz_pair = iz_play[offs + np.arange(total, dtype=np.int64)] if total else np.zeros(0, np.int64)

    ieff, irng = _effective(il, G.DEFAULTS)
    peff, prng = _effective(pl, np.zeros(G.COUNT, dtype=np.int32))
    peff = np.where(G.PRESET_ADDITIVE[None, :], peff, 0)

    ir, pr = irng[iz_pair], prng[pz_pair]
    key_lo = np.maximum(ir[:, 0], pr[:, 0])
    key_hi = np.minimum(np.minimum(ir[:, 1], pr[:, 1]), 127)
    vel_lo = np.maximum(ir[:, 2], pr[:, 2])
    vel_hi = np.minimum(np.minimum(ir[:, 3], pr[:, 3]), 127)
    sample = il.term[iz_pair]
    ok = (key_lo <= key_hi) & (vel_lo <= vel_hi)
    bad_sample = sample >= n_samples
    for p in distinct(p_owner[pz_pair[bad_sample]]):
        preset_notes[p].add("a zone naming a sample the file does not have left out")
    ok &= ~bad_sample
    sel = np.flatnonzero(ok)
    # Both levels' amounts are 16-bit: their sum cannot overflow int32.
    gens = ieff[iz_pair[sel]]
    gens += peff[pz_pair[sel]]
    np.maximum(gens, G.LOW, out=gens)
    np.minimum(gens, G.HIGH, out=gens)
    return Pairs(
        preset=p_owner[pz_pair[sel]],
        pzone=pz_pair[sel],
        izone=iz_pair[sel],
        instrument=il.owner[iz_pair[sel]],
        gens=gens,
        key_lo=key_lo[sel],
        key_hi=key_hi[sel],
        vel_lo=vel_lo[sel],
        vel_hi=vel_hi[sel],
        sample=sample[sel],
        pl=pl,
        il=il,
    )


def _name(arr: np.ndarray, i: int) -> str:
    from .hydra import text

    return text(bytes(arr["name"][i]))
