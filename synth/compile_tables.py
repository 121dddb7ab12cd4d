"""`compile_instrument`'s work over whole tables (see `synth.download` for what it does).

The instrument's regions are read out of the model once, as columns (C-level attribute
maps, no Python loop per region), and every region's articulation as one connection table;
from there the wave lookup (once per distinct wave), the wsmp and loop choice, the
articulation merge onto the defaults, the side-pan rule, the stereo pairing and the shared
connection lists are NumPy over those tables. Python writes text only for the few regions
that have a warning, with the same words and in the same order as a region-by-region
compile.
"""

from __future__ import annotations

import contextlib
import operator
from itertools import chain, compress, repeat

import numpy as np

from dlsynth.dls import constants as C
from dlsynth.dls import units as U
from dlsynth.dls.model import CONNECTION_DTYPE, WaveSample
from dlsynth.native import lib
from dlsynth.native.engine import ENGINE_CONN_DTYPE

_F = float(U.UNITS_PER)
_I64_MIN, _I64_MAX = -(1 << 63), (1 << 63) - 1
_U32_MAX = 0xFFFFFFFF

# A region's fields, in the order RegionColumns reads them (ints first).
_REGION = operator.attrgetter(
    "key_low",
    "key_high",
    "vel_low",
    "vel_high",
    "key_group",
    "options",
    "wave_link.options",
    "wave_link.channel",
    "wave_link.phase_group",
    "wave_link.table_index",
    "wave_sample",
    "articulations",
)
_N_INT_FIELDS = 9
_SAMPLE = operator.attrgetter("unity_note", "fine_tune", "attenuation", "loops")
_BLOCKS = operator.attrgetter("blocks")
_LEVEL = operator.attrgetter("level")
_DTYPE = operator.attrgetter("dtype")
_FIRST = operator.itemgetter(0)
_NO_SAMPLE = WaveSample()  # the wsmp of a region and wave that have none (never changed)

# What a region's merge says, by the connection that needs it.
_GAIN_NOTE = "non-inverted concave {}-to-gain read as inverted"
_KEY_NOTE = "bipolar key-number-to-{} read as key/128 (SpessaSynth's encoding)"


def _lut(values) -> np.ndarray:
    """A 16-bit source or destination -> whether it is one of ``values`` (faster than isin)."""
    out = np.zeros(1 << 16, dtype=bool)
    out[list(values)] = True
    return out


_IS_GAIN_SOURCE = _lut((C.CONN_SRC_KEYONVELOCITY, C.CONN_SRC_CC7, C.CONN_SRC_CC11))
_IS_KEY_TIME_DEST = _lut(
    (C.CONN_DST_EG1_HOLDTIME, C.CONN_DST_EG1_DECAYTIME, C.CONN_DST_EG2_HOLDTIME, C.CONN_DST_EG2_DECAYTIME)
)
_IS_LFO_DEST = _lut((C.CONN_DST_LFO_FREQUENCY, C.CONN_DST_LFO_STARTDELAY))
_VIB_OF_LFO = np.arange(1 << 16, dtype=np.int64)  # a DLS1 LFO destination -> the vibrato LFO's
_VIB_OF_LFO[C.CONN_DST_LFO_FREQUENCY] = C.CONN_DST_VIB_FREQUENCY
_VIB_OF_LFO[C.CONN_DST_LFO_STARTDELAY] = C.CONN_DST_VIB_STARTDELAY


# --------------------------------------------------------------------------- model -> columns
def _wrap64(value) -> int:
    """An int's low 64 bits, as a signed int64 (for fields of which only low bits count)."""
    return ((int(value) + (1 << 63)) & ((1 << 64) - 1)) - (1 << 63)


def _clamp64(value) -> int:
    """An int clamped to int64 (for fields clipped or compared whole)."""
    return max(_I64_MIN, min(_I64_MAX, int(value)))


def int_rows(columns: list[tuple], n: int, fix=_wrap64) -> np.ndarray:
    """Columns of n ints each as a (len(columns), n) int64 array; values beyond int64 (only
    from a model built by hand) go through ``fix`` first. Floats are truncated, as ``int()``
    does."""
    try:
        flat = np.fromiter(chain.from_iterable(columns), np.int64, n * len(columns))
    except OverflowError:
        flat = np.fromiter(map(fix, chain.from_iterable(columns)), np.int64, n * len(columns))
    return flat.reshape(len(columns), n)


def _columns(records: list[tuple], width: int) -> list[tuple]:
    """Records (tuples of width fields) as width columns."""
    return list(zip(*records)) if records else [()] * width


class RegionColumns:
    """The fields of an instrument's regions that compile_instrument uses, one array (or
    tuple of objects) per field; ``subset`` keeps some regions."""

    def __init__(self, regions: list):
        n = len(regions)
        fields = _columns(list(map(_REGION, regions)), 12)
        ints = int_rows(fields[:_N_INT_FIELDS], n)
        key_lo, key_hi, vel_lo, vel_hi, key_group, options, link_options, channel, phase_group = ints
        self.key_lo, self.key_hi, self.vel_lo, self.vel_hi = key_lo & 0x7F, key_hi & 0x7F, vel_lo & 0x7F, vel_hi & 0x7F
        self.key_group = key_group & 0xFFFF
        self.self_non_exclusive = (options & C.F_RGN_OPTION_SELFNONEXCLUSIVE) != 0
        multichannel = (link_options & C.F_WAVELINK_MULTICHANNEL) != 0
        # the side a mono link confines its wave to: only a link of a multichannel set places it
        self.side = np.where(multichannel & (channel == C.WAVELINK_CHANNEL_LEFT), 1, 0)
        self.side[multichannel & (channel == C.WAVELINK_CHANNEL_RIGHT)] = 2
        self.phase_group = phase_group
        self.table_indices, self.samples, self.articulations = fields[_N_INT_FIELDS:]

    def subset(self, rows: np.ndarray) -> "RegionColumns":
        """The same for the regions ``rows`` only."""
        out = RegionColumns.__new__(RegionColumns)
        for name, value in vars(self).items():
            if isinstance(value, np.ndarray):
                value = value[rows]
            else:
                value = tuple(value[i] for i in rows.tolist())
            setattr(out, name, value)
        return out


class WaveLookup:
    """The waves the regions link, looked up once per distinct table index: per region
    ``wid`` (engine wave id, -1 if none), ``status`` (0 playable, 1 not downloaded, 2
    cannot be played), channels, rate, frames and the wave's own wsmp."""

    def __init__(self, table_indices: tuple, wave_ids, wave_of):
        index_of: dict = {}
        wids, status, waves = [], [], []
        for ti in dict.fromkeys(table_indices):
            index_of[ti] = len(wids)
            try:
                wid = wave_ids[ti]
            except (KeyError, IndexError, TypeError):
                wid = None
            wave = None
            if wid is None or wid < 0:
                wids.append(-1)
                status.append(1)
            else:
                wave = wave_of(int(wid))
                ok = wave is not None and wave.supported
                wids.append(int(wid))
                status.append(0 if ok else 2)
                wave = wave if ok else None
            waves.append(wave)
        of_region = np.fromiter(map(index_of.__getitem__, table_indices), np.int64, len(table_indices))
        self.of_region = of_region
        self.wid = np.array(wids, dtype=np.int64)[of_region]
        self.status = np.array(status, dtype=np.int64)[of_region]
        present = [w if w is not None else _NO_WAVE for w in waves]
        per_wave = int_rows(_columns([(w.channels, w.sample_rate, w.frames) for w in present], 3), len(waves), _clamp64)
        self.channels, self.rate, self.frames = per_wave[:, of_region]
        self._samples = [w.wave_sample or _NO_SAMPLE for w in present]

    def samples(self, rows: np.ndarray) -> list:
        """The wave's own wsmp (or the empty default) for each of the given regions."""
        return [self._samples[k] for k in self.of_region[rows].tolist()]


class _NoWave:
    """Stands for a wave not there (its fields are never used)."""

    channels = sample_rate = frames = 0
    wave_sample = None


_NO_WAVE = _NoWave()


class SampleColumns:
    """Each region's wsmp (the region's, else the wave's, else the defaults): unity note,
    fine tune, attenuation (as the engine takes it) and the first loop."""

    def __init__(self, samples: tuple, rows: np.ndarray, waves: WaveLookup):
        n = len(samples)
        missing = np.flatnonzero(np.fromiter(map(operator.is_, samples, repeat(None)), bool, n))
        if len(missing):
            samples = list(samples)
            for k, ws in zip(missing.tolist(), waves.samples(rows[missing])):
                samples[k] = ws
        self.samples = samples
        unity, fine, attenuation, loops = _columns(list(map(_SAMPLE, samples)), 4)
        self.unity = int_rows([unity], n)[0] & 0x7F
        self.fine = np.fromiter(fine, np.float64, n)
        self.attenuation = (0.0 - np.trunc(np.fromiter(attenuation, np.float64, n))) / _F  # -int(a) / 65536, not -0.0
        self._loops(loops)

    def _loops(self, loops: tuple) -> None:
        """The first loop of each wsmp: kind, start and length (clipped to 32 bits)."""
        n = len(loops)
        self.n_loops = np.fromiter(map(len, loops), np.int64, n)
        has = self.n_loops > 0
        first = _columns(list(map(_FIRST, compress(loops, has.tolist()))), 3)
        ltype = np.zeros(n, dtype=np.int64)
        start = np.zeros(n, dtype=np.int64)
        length = np.zeros(n, dtype=np.int64)
        ltype[has], start[has], length[has] = int_rows(first, int(has.sum()), _clamp64)
        release = (ltype == C.WLOOP_TYPE_RELEASE) | (ltype == C.WLOOP_TYPE_RELEASE_WIN2000)
        self.loop_kind = np.where(has, np.where(release, lib.ENG_LOOP_RELEASE, lib.ENG_LOOP_FORWARD), lib.ENG_LOOP_NONE)
        self.odd_loop_type = has & ~release & (ltype != C.WLOOP_TYPE_FORWARD)
        self.loop_start = np.minimum(np.maximum(start, 0), _U32_MAX)
        self.loop_length = np.minimum(np.maximum(length, 0), _U32_MAX)


# --------------------------------------------------------------------------- connections
def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The indices start..start+count-1 of each range, one range after another."""
    total = int(counts.sum())
    if not total:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.arange(total, dtype=np.int64) + np.repeat(starts - (ends - counts), counts)


class ConnectionTable:
    """Every connection of the regions' articulations (each region's own, ``own``, else the
    instrument's), one row each: ``region`` (row of ``own``), source, control,
    destination, transform (and the four as one `_pack` word), raw scale and whether it
    comes from a level-1 chunk."""

    def __init__(self, own: tuple, instrument_articulations: list):
        n_art = np.fromiter(map(len, own), np.int64, len(own))
        arts = list(chain.from_iterable(own))
        inherit = not n_art.all()  # some region plays the instrument's articulation
        if inherit:
            arts += instrument_articulations
        blocks = list(map(_BLOCKS, arts))
        size = np.fromiter(map(len, blocks), np.int64, len(blocks))
        table = _joined(blocks)
        self.level1 = np.repeat(np.fromiter(map(_LEVEL, arts), np.int64, len(arts)) == 1, size)
        edge = np.concatenate(([0], np.cumsum(size)))  # first row of each chunk
        first_art = np.cumsum(n_art) - n_art
        count = edge[first_art + n_art] - edge[first_art]
        if inherit:
            n_own = int(n_art.sum())
            start = np.where(n_art > 0, edge[first_art], edge[n_own])
            count = np.where(n_art > 0, count, edge[-1] - edge[n_own])
            take = ranges(start, count)
            table, self.level1 = table[take], self.level1[take]
        self.region = np.repeat(np.arange(len(own), dtype=np.int64), count)
        n = len(table)
        self.s, self.c, self.d, self.t = table.view("<u2").reshape(n, 6)[:, :4].astype(np.int64).T
        self.word = np.ascontiguousarray(table.view(np.uint8).reshape(n, 12)[:, :8]).view("<u8").reshape(n)
        self.raw = table["scale"].astype(np.int64)


def _joined(blocks: list[np.ndarray]) -> np.ndarray:
    """Connection blocks one after another (their bytes joined: np.concatenate takes
    microseconds per structured array)."""
    if set(map(_DTYPE, blocks)) <= {CONNECTION_DTYPE}:
        with contextlib.suppress(BufferError, TypeError, ValueError):
            return np.frombuffer(b"".join(blocks), dtype=CONNECTION_DTYPE)
    if not blocks:
        return np.zeros(0, dtype=CONNECTION_DTYPE)
    return np.concatenate([np.ascontiguousarray(b).astype(CONNECTION_DTYPE) for b in blocks])


class Merged:
    """Each region's merged connection list (the merge of `synth.download`'s docstring, over
    the table; `merge_articulation` gives one region's): the
    defaults it keeps (``overridden`` says which it does not), then its own rows (``word``:
    source, control, destination and transform packed in 16 bits each; ``v``: the scale),
    which lie at ``own_start`` .. + ``own_count`` per region; ``count`` is the list's length.
    ``notes``: region -> what its merge says, in order."""

    def __init__(self, conns: ConnectionTable, n_regions: int, defaults: list, side: np.ndarray):
        s, c, d, word, v, reg = self._own(conns)
        table = self.defaults = _default_table(defaults)
        nd = len(table.v)
        # which defaults the articulation overrides (same source, control and destination)
        keys = word & _KIND
        at = np.minimum(np.searchsorted(table.sorted_keys, keys), nd - 1)
        index = table.order[at]  # the default of the same kind, if hit
        hit = table.sorted_keys[at] == keys
        overridden = np.zeros((n_regions, nd), dtype=bool)
        overridden[reg[hit], index[hit]] = True
        self.overridden = overridden
        same = hit & (word == table.word[index]) & (v == table.v[index])
        self._equal_default = np.where(same, index, -1)  # the default a row repeats exactly
        # the side pan rule leaves out some own rows
        keep = self._without_side_pan(s, c, d, v, reg, n_regions, side)
        if not keep.all():
            word, v, reg, self._equal_default = word[keep], v[keep], reg[keep], self._equal_default[keep]
        self.word, self.v = word, v
        self.own_count = np.bincount(reg, minlength=n_regions).astype(np.int64)
        self.own_start = np.cumsum(self.own_count) - self.own_count
        self.kept_defaults = nd - overridden.sum(axis=1)
        self.count = self.kept_defaults + self.own_count

    def _own(self, conns: ConnectionTable):
        """The articulation's own rows after the level-1 transform move and the fixes, with
        a DLS1 LFO's rows given again for the vibrato LFO; notes for the fixed ones."""
        s, c, d, t, raw, reg = conns.s, conns.c, conns.d, conns.t, conns.raw, conns.region
        v = raw / _F
        level1 = conns.level1
        if level1.any():
            out = t & C.TRN_OUTPUT_MASK
            on_control = (s == C.CONN_SRC_NONE) & (c != C.CONN_SRC_NONE)
            t = np.where(level1, np.where(on_control, out << C.TRN_CONTROL_SHIFT, out << C.TRN_SOURCE_SHIFT), t)
        gain_fix = (
            (d == C.CONN_DST_GAIN)
            & _IS_GAIN_SOURCE[s]
            & (c == C.CONN_SRC_NONE)
            & (v < 0)
            & (((t >> C.TRN_SOURCE_SHIFT) & 0xF) == C.CONN_TRN_CONCAVE)
            & ((t & C.TRN_SOURCE_INVERT) == 0)
        )
        t = np.where(gain_fix, t | C.TRN_SOURCE_INVERT, t)
        key_fix = (
            (s == C.CONN_SRC_KEYNUMBER)
            & (c == C.CONN_SRC_NONE)
            & _IS_KEY_TIME_DEST[d]
            & ((t & C.TRN_SOURCE_BIPOLAR) != 0)
        )
        t = np.where(key_fix, t & ~C.TRN_SOURCE_BIPOLAR, t)
        self.notes = self._notes(reg, s, d, gain_fix, key_fix) if gain_fix.any() or key_fix.any() else {}
        # a DLS1 instrument has one LFO: it is the vibrato too (the copy right after it)
        twice = level1 & (s == C.CONN_SRC_NONE) & (c == C.CONN_SRC_NONE) & _IS_LFO_DEST[d]
        if twice.any():  # (level1 is all False for a DLS2 bank)
            take = np.repeat(np.arange(len(s)), 1 + twice)
            copy = np.zeros(len(take), dtype=bool)
            copy[np.cumsum(1 + twice)[twice] - 1] = True
            s, c, d, t, v, reg = s[take], c[take], d[take], t[take], v[take], reg[take]
            d = d.copy()
            d[copy] = _VIB_OF_LFO[d[copy]]
        word = conns.word if not twice.any() and np.array_equal(t, conns.t) else _pack(s, c, d, t)
        return s, c, d, word, v, reg

    @staticmethod
    def _notes(reg, s, d, gain_fix, key_fix) -> dict[int, list[str]]:
        """Region -> what its merge says (each text once, in connection order)."""
        notes: dict[int, list[str]] = {}
        for k in np.flatnonzero(gain_fix | key_fix).tolist():  # (rare: only for files that need a fix)
            if gain_fix[k]:
                text = _GAIN_NOTE.format(C.source_name(int(s[k])))
            else:
                text = _KEY_NOTE.format(C.destination_name(int(d[k])))
            texts = notes.setdefault(int(reg[k]), [])
            if text not in texts:
                texts.append(text)
        return notes

    @staticmethod
    def _without_side_pan(s, c, d, v, reg, n_regions, side) -> np.ndarray:
        """Which own rows stay: a region's constant pans are left out where, together, they
        put its wave on the side its link confines it to (`_without_side_pan`). (No default
        is a constant pan, so only own rows can be one.)"""
        static = (s == C.CONN_SRC_NONE) & (c == C.CONN_SRC_NONE) & (d == C.CONN_DST_PAN)
        keep = np.ones(len(s), dtype=bool)
        if not (static & (side[reg] != 0)).any():
            return keep
        count = np.bincount(reg[static], minlength=n_regions)
        total = np.bincount(reg[static], weights=v[static], minlength=n_regions)
        strip = (count > 0) & (((side == 1) & (total <= -500.0)) | ((side == 2) & (total >= 500.0)))
        return ~(static & strip[reg])

    def content_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """Per region, an id shared by exactly the regions whose lists are equal (row for
        row: the tuple equality the region-by-region compile shares lists by), numbered in
        order of first use; and the first region of each id (see `first_use`)."""
        if self.overridden.shape[1] > 64 or self._split_is_ambiguous():  # (a mask holds 64 defaults)
            every = np.arange(len(self.count))
            words, v = self.lists(every, (self.defaults.word, self.word), (self.defaults.v, self.v))
            start = np.cumsum(self.count) - self.count
            return _sequence_ids(words, v, start, self.count, np.zeros(len(self.count), dtype=np.uint64))
        mask = (self.overridden.astype(np.uint64) << np.arange(self.overridden.shape[1], dtype=np.uint64)).sum(
            axis=1, dtype=np.uint64
        )
        return _sequence_ids(self.word, self.v, self.own_start, self.own_count, mask)

    def _split_is_ambiguous(self) -> bool:
        """Whether some region's list could also be read as other defaults kept plus other
        own rows: its first own row repeats, exactly, a default after the last one it keeps
        (then lists are compared whole). Otherwise two lists are equal exactly when they
        keep the same defaults and have the same own rows."""
        has = self.own_count > 0
        first = self._equal_default[self.own_start[has]]
        if not (first >= 0).any():
            return False
        kept = ~self.overridden[has]
        last_kept = np.where(kept.any(axis=1), kept.shape[1] - 1 - np.argmax(kept[:, ::-1], axis=1), -1)
        return bool((first > last_kept).any())

    def lists(self, regions: np.ndarray, *parts: tuple[np.ndarray, np.ndarray]) -> list[np.ndarray]:
        """The whole lists of the given regions, one after another, for each part: a pair of
        arrays, a value per default and a value per own row."""
        count = self.count[regions]
        start = np.cumsum(count) - count
        kept = ~self.overridden[regions]
        at, col = np.nonzero(kept)
        at_default = start[at] + (np.cumsum(kept, axis=1) - 1)[at, col]
        own = ranges(self.own_start[regions], self.own_count[regions])
        first = start + self.kept_defaults[regions] - self.own_start[regions]  # + own row = place
        at_own = np.repeat(first, self.own_count[regions]) + own
        out = []
        for default_part, own_part in parts:
            values = np.empty(int(count.sum()), dtype=own_part.dtype)
            values[at_default] = default_part[col]
            values[at_own] = own_part[own]
            out.append(values)
        return out

    def engine_rows(self, regions: np.ndarray) -> np.ndarray:
        """The lists of the given regions, one after another, as ENGINE_CONN_DTYPE."""
        words, v = self.lists(regions, (self.defaults.word, self.word), (self.defaults.v, self.v))
        out = np.empty(len(words), dtype=_WORD_SCALE)
        out["word"], out["scale"] = words, v
        return out.view(ENGINE_CONN_DTYPE)


# ENGINE_CONN_DTYPE seen as its four 16-bit fields in one little-endian word, and the scale
_WORD_SCALE = np.dtype([("word", "<u8"), ("scale", "<f4")])
assert _WORD_SCALE.itemsize == ENGINE_CONN_DTYPE.itemsize
_KIND = np.uint64((1 << 48) - 1)  # a word's source, control and destination


class _Defaults:
    """A default connection list as arrays: packed words, scales, and the words' kinds
    (source, control, destination) sorted, with ``order`` back to list positions."""

    def __init__(self, defaults: tuple):
        if not defaults:
            raise ValueError("an instrument merges onto at least one default connection")
        cols = np.array([m[:4] for m in defaults], dtype=np.uint64)
        self.word = _pack(*cols.T)
        self.v = np.array([m[4] for m in defaults], dtype=np.float64)
        keys = self.word & _KIND
        self.order = np.argsort(keys, kind="stable")
        self.sorted_keys = keys[self.order]


_DEFAULT_TABLES: dict[tuple, _Defaults] = {}


def _default_table(defaults: list) -> _Defaults:
    """`_Defaults` of a list, made once per distinct list."""
    key = tuple(defaults)
    table = _DEFAULT_TABLES.get(key)
    if table is None:
        if len(_DEFAULT_TABLES) > 64:
            _DEFAULT_TABLES.clear()
        table = _DEFAULT_TABLES[key] = _Defaults(key)
    return table


def _pack(s, c, d, t) -> np.ndarray:
    """Source, control, destination and transform (16 bits each) as one uint64, as the
    bytes of a connection read little-endian."""
    s, c, d, t = (np.asarray(x).astype(np.uint64) for x in (s, c, d, t))
    return s | (c << np.uint64(16)) | (d << np.uint64(32)) | (t << np.uint64(48))


def _sequence_ids(words, v, start, count, extra) -> tuple[np.ndarray, np.ndarray]:
    """Per sequence (rows start .. start+count of words and v, plus one ``extra`` word), an
    id shared by exactly the equal sequences, as `first_use` numbers them: hashed, then
    checked row by row against the first sequence of the same hash (compared in Python
    bytes only if two hashes collide)."""
    vbits = v.view(np.uint64)
    pos = np.arange(len(words), dtype=np.int64) - np.repeat(start, count)
    h = _mix(words * _K1 + vbits * _K2 + pos.astype(np.uint64) * _K3)
    edge = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum(h, dtype=np.uint64)))
    ids, first = first_use(_mix((edge[start + count] - edge[start]) + extra * _K1 + count.astype(np.uint64) * _K2))
    rep = first[ids]  # the first sequence with the same hash
    along = np.repeat(start[rep], count) + pos
    if (
        np.array_equal(count, count[rep])
        and np.array_equal(extra, extra[rep])
        and np.array_equal(words, words[along])
        and np.array_equal(vbits, vbits[along])
    ):
        return ids, first
    seen: dict[bytes, int] = {}
    rows = [
        seen.setdefault(extra[k : k + 1].tobytes() + words[a : a + m].tobytes() + vbits[a : a + m].tobytes(), len(seen))
        for k, (a, m) in enumerate(zip(start.tolist(), count.tolist()))
    ]
    return first_use(np.array(rows, dtype=np.int64))


def first_use(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keys renumbered 0, 1, ... in order of first appearance, and where each first appears."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _u, first, ids = np.unique(keys, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return rank[ids.reshape(len(keys))], first[order]


_K1, _K2, _K3 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xC2B2AE3D27D4EB4F), np.uint64(0x165667B19E3779F9)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, elementwise (uint64, wrapping)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# --------------------------------------------------------------------------- stereo pairs
def stereo_pairs(side: np.ndarray, key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LEFT rows (side 1) and the RIGHT rows (side 2) they pair with: each LEFT, in order,
    takes the first RIGHT left whose key row is the same, so the k-th LEFT of a key gets
    its k-th RIGHT."""
    cand = np.flatnonzero(side != 0)
    if not len(cand):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _u, group = np.unique(key[cand], axis=0, return_inverse=True)
    group = group.reshape(len(cand))
    lefts, rights = cand[side[cand] == 1], cand[side[cand] == 2]
    gl, gr = group[side[cand] == 1], group[side[cand] == 2]
    left_keys = gl * (len(cand) + 1) + _rank(gl)
    right_keys = gr * (len(cand) + 1) + _rank(gr)
    _k, li, rj = np.intersect1d(left_keys, right_keys, assume_unique=True, return_indices=True)
    return lefts[li], rights[rj]


def _rank(group: np.ndarray) -> np.ndarray:
    """Each element's place among the earlier elements of its group (0, 1, ...)."""
    order = np.argsort(group, kind="stable")
    sorted_group = group[order]
    first = np.concatenate(([0], np.flatnonzero(np.diff(sorted_group)) + 1))
    counts = np.diff(np.concatenate((first, [len(group)])))
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - np.repeat(first, counts)
    return rank
