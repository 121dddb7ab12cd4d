"""A SoundFont's presets as the DLS collection model (`dls.model.Collection`).

SF2 preset -> `Instrument` (its bank and program; bank 128 is the drum bank, DLS's drum
flag); each (preset zone, instrument zone) pair that can sound -> one `Region` with its own
``wsmp`` (root key, the sample's pitch correction, the loop the zone's sampleModes asks
for), a wave link to the wave of its sample range, the exclusive class as key group (and
no other cut: SF2 regions are self-non-exclusive), and two articulations: the generators
(`dls.soundfont.articulation`) and the modulators (`dls.soundfont.modulators`). A left
(right) sample of a stereo pair panned hard left (right), as SF2 banks pan them, becomes a
DLS2 multichannel wave link of that side, so that the synth plays the two halves as one
stereo voice.

Everything that can go wrong or be odd is found when the file is opened, in bulk, and said
in ``Collection.warnings``: remarks about the file first, then one line per preset listing
what of it the engine cannot do as the bank means it. Regions are then built on first use
of ``Instrument.regions`` (or all at once with ``lazy=False``), which cannot fail.
"""

from __future__ import annotations

import gc
import struct

import numpy as np

from .. import constants as C
from ..errors import DLSError
from ..model import CONNECTION_DTYPE, Articulation, Collection, Instrument, Loop, Region, WaveLink, WaveSample
from ..riff import Chunk
from . import articulation as A
from . import generators as G
from . import modulators as M
from . import samples as S
from . import zones as Z
from .hydra import Hydra, text
from .transforms import midi_value

DRUM_BANK = 128
ERROR_PREFIX = "SoundFont 2 bank: "  # what a refused sfbk file's message starts with
# SF2 has no rule that a key cuts its own earlier note (DLS's default for a region): only
# exclusive classes cut. A struck-again cymbal rings on, as in FluidSynth.
_OPTIONS = C.F_RGN_OPTION_SELFNONEXCLUSIVE
_SOURCE_BITS = 0xF << C.TRN_SOURCE_SHIFT | C.TRN_SOURCE_BIPOLAR | C.TRN_SOURCE_INVERT
_CONTROL_BITS = 0xF << C.TRN_CONTROL_SHIFT | C.TRN_CONTROL_BIPOLAR | C.TRN_CONTROL_INVERT


def read_sfbk(buf, *, lazy: bool = True) -> Collection:
    """Read a ``RIFF sfbk`` file (SF2 2.0x or SF3) from a buffer whose first 12 bytes have
    been checked (RIFF, sfbk)."""
    warnings: list[str] = []
    total = len(buf)
    size = struct.unpack_from("<I", buf, 4)[0]
    end = 8 + size
    if size < 4:
        raise DLSError(f"{ERROR_PREFIX}RIFF at 0x0: size {size} < 4")
    if end > total:
        warnings.append(
            f"RIFF size {size} is larger than the file ({total - 8} bytes after the header); "
            "read to the end of the file"
        )
        end = total
    elif end + 1 < total:
        warnings.append(
            f"RIFF size {size} is smaller than the file ({total - 8} bytes after the header); "
            f"the {total - end} bytes after it are ignored"
        )
    root = Chunk(b"RIFF", b"sfbk", 0, 12, end - 12, None, buf)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _Builder(buf, root, warnings, lazy).collection()
    except DLSError as exc:
        raise DLSError(f"{ERROR_PREFIX}{exc}") from None
    finally:
        if gc_was_enabled:
            gc.enable()


class _Builder:
    def __init__(self, buf, root: Chunk, warnings: list[str], lazy: bool):
        self.buf = buf
        self.root = root
        self.warnings = warnings
        self.lazy = lazy

    def collection(self) -> Collection:
        h = Hydra.read(self.buf, self.root, self.warnings)
        self.h = h
        n_presets = len(h.phdr) - 1
        file_notes: list[str] = []
        notes: list[set[str]] = [set() for _ in range(max(n_presets, 0))]
        if h.sm24_present:
            file_notes.append(
                "24-bit samples (sm24): played from their top 16 bits (the engine's sample pool is 16-bit)"
            )
        pairs = Z.combine(h, file_notes, notes)
        preset_of = pairs.preset

        def notes_of(mask: np.ndarray, remark: str) -> None:
            if mask.any():
                for p in Z.distinct(preset_of[mask]):
                    notes[p].add(remark)

        waves, rs, decoder = S.build(h, self.buf, pairs.gens, pairs.sample, notes_of, file_notes)
        mod_of, mod_full, mod_compact, mod_protect, filter_moved = self._modulators(pairs, notes)
        gens = pairs.gens
        # The filter runs unless the cutoff is SF2's open 13500 cents and nothing moves it or
        # asks for a resonance (FluidSynth filters at 13500 too, and a resonance lowers the
        # passband by half its height: a bank's levels count on that).
        filter_on = (
            (gens[:, G.INITIAL_FILTER_FC] < A.FILTER_OFF_CENTS)
            | (gens[:, G.MOD_LFO_TO_FILTER_FC] != 0)
            | (gens[:, G.MOD_ENV_TO_FILTER_FC] != 0)
            | (gens[:, G.INITIAL_FILTER_Q] > 0)
            | filter_moved
        )
        values, q_clamped = A.scales(gens, filter_on)
        notes_of(q_clamped & filter_on, "filter resonance above 22.5 dB held at 22.5 dB (DLS2's range)")
        # Stereo halves panned to their own side: a multichannel wave link, and the pan kept
        # (readers that place nothing by the link's channel, SpessaSynth's, still pan them;
        # the synth takes the pan as said by the link: synth.download._without_side_pan).
        stype = h.shdr["type"][pairs.sample].astype(np.int64) & 0xF if len(pairs) else np.zeros(0, np.int64)
        pan = gens[:, G.PAN]
        left = (stype == S.TYPE_LEFT) & (pan <= -500)
        right = (stype == S.TYPE_RIGHT) & (pan >= 500)
        blocks, overflow = A.blocks(values)
        notes_of(overflow, "a key scaling (scaleTuning or keynumTo*) beyond what a DLS connection holds, saturated")
        # Each region's generator rows less those that change nothing, as views of one array.
        keep = A.needed(blocks)
        if len(pairs) and mod_protect:
            keep |= np.stack(mod_protect)[mod_of]
        flat = _kept(blocks, keep)
        ends = np.cumsum(keep.sum(axis=1))
        self.flat, self.row_end = flat, ends.tolist()
        fixed = (gens[:, G.KEYNUM] >= 0) | (gens[:, G.VELOCITY] >= 0)
        link = h.shdr["link"][pairs.sample].astype(np.int64) if len(pairs) else np.zeros(0, np.int64)
        playable = rs.wave >= 0
        # What building a region needs, one row per pair (the rest is let go once open).
        self.cols = (
            np.stack(
                [
                    pairs.key_lo,
                    pairs.key_hi,
                    pairs.vel_lo,
                    pairs.vel_hi,
                    gens[:, G.EXCLUSIVE_CLASS],
                    rs.wave,
                    rs.loop_type,
                    rs.loop_start,
                    rs.loop_length,
                    rs.unity,
                    rs.fine,
                    left,
                    right,
                    np.minimum(pairs.sample, link) + 1,
                    mod_of,
                ],
                axis=1,
            ).astype(np.int64)
            if len(pairs)
            else np.zeros((0, 15), dtype=np.int64)
        )
        self.mod_compact = mod_compact
        # Zones with a fixed key or velocity (rare): their connections, worked out now.
        self.fixed_arts = {
            int(i): self._fixed(
                blocks[i], mod_full[mod_of[i]], int(rs.unity[i]), int(gens[i, G.KEYNUM]), int(gens[i, G.VELOCITY])
            )
            for i in np.flatnonzero(fixed & playable)
        }

        # The SoundFont's version is its INFO's ifil ("2.04"); DLS's vers chunk has none.
        col = Collection(waves=waves, info=dict(h.info), level=2)
        # The pairs are in preset order: preset p's are [starts[p], stops[p]).
        every = np.arange(max(n_presets, 0))
        starts = np.searchsorted(preset_of, every, side="left")
        stops = np.searchsorted(preset_of, every, side="right")
        seen: dict[int, int] = {}
        preset_lines: list[str] = []
        for p in range(max(n_presets, 0)):
            rec = h.phdr[p]
            name = text(bytes(rec["name"]))
            bank_no, program = int(rec["bank"]), int(rec["preset"])
            label = f"preset {bank_no}:{program} {name!r}"
            if program > 127:
                file_notes.append(f"{label}: program {program} is not a MIDI program (0-127); preset ignored")
                continue
            if bank_no == DRUM_BANK:
                bank = Instrument.make_bank(0, 0, drum=True)
            elif bank_no < 128:
                bank = Instrument.make_bank(bank_no, 0)
            else:
                bank = Instrument.make_bank((bank_no >> 7) & 0x7F, bank_no & 0x7F)
                notes[p].add(f"bank {bank_no} read as MSB {(bank_no >> 7) & 0x7F}, LSB {bank_no & 0x7F}")
            key = (bank, program)
            if key in seen:
                file_notes.append(f"{label}: the same bank and program as an earlier preset; ignored")
                continue
            seen[key] = p
            ins = Instrument(name=name, bank=bank, program=program, info={"INAM": name} if name else {})
            lo, hi = int(starts[p]), int(stops[p])
            idx = np.arange(lo, hi)[playable[lo:hi]]
            if self.lazy and len(idx):
                ins.defer_regions(self._loader(idx), len(idx))
            else:
                ins.regions = self._regions(idx)
            if not len(idx):
                notes[p].add("no zone that can sound")
            col.instruments.append(ins)
            if notes[p]:
                preset_lines.append(f"{label}: " + "; ".join(sorted(notes[p])))
        if n_presets < 1:
            file_notes.append("the file has no presets")
        # In bank order (melodic banks, then the drum kits; by program), as SF2 players list them.
        col.instruments.sort(key=lambda i: (i.is_drum, i.bank_msb, i.bank_lsb, i.program))
        col.warnings = self.warnings + file_notes + preset_lines
        if decoder is not None:
            decoder.late_warnings = col.warnings
        if not self.lazy:
            for w in waves:
                w.data  # lazy=False: every SF3 sample decoded now
        return col

    # ------------------------------------------------------------------------- modulators
    def _modulators(self, pairs: Z.Pairs, notes: list[set[str]]):
        """Each pair's modulators as connections: (per pair, an index into the lists that
        follow), the connection arrays as written, the same less what the DLS2 defaults
        already give, which generator rows they make necessary (their key appears among
        them), and per pair whether they move the filter cutoff."""
        h = self.h
        pl, il = pairs.pl, pairs.il
        n = len(pairs)
        which = np.zeros(n, dtype=np.int64)
        moved = np.zeros(n, dtype=bool)
        full: list[np.ndarray] = []
        compact: list[np.ndarray] = []
        protect: list[np.ndarray] = []
        if not n:
            return which, full, compact, protect, moved

        # A pair's modulators are its instrument zone's (with their global zone's) and its
        # preset zone's: number the distinct modulator lists of each level, then the pairs'
        # combinations of the two, each converted once.
        i_spans, i_id = _mod_spans(il)
        p_spans, p_id = _mod_spans(pl)
        i_lists, i_content = _mod_contents(h.imod, i_spans)
        p_lists, p_content = _mod_contents(h.pmod, p_spans)
        n_p = len(p_lists)
        uniq, inverse = _numbered(i_content[i_id[pairs.izone]] * n_p + p_content[p_id[pairs.pzone]], len(i_lists) * n_p)
        remarks_of: list[set[str]] = []
        moved_of: list[bool] = []
        for ic, pc in zip(*(x.tolist() for x in np.divmod(uniq, n_p))):
            remarks: set[str] = set()
            rows, fc = M.to_connections(M.effective(*i_lists[ic], *p_lists[pc]), remarks)
            full.append(rows)
            compact.append(rows[A.needed_modulator_rows(rows)])
            keys = {tuple(r) for r in rows[["source", "control", "destination"]].tolist()}
            protect.append(np.array([k in keys for k in A.ROWS], dtype=bool))
            remarks_of.append(remarks)
            moved_of.append(fc)
        which = inverse
        moved = np.array(moved_of, dtype=bool)[which]
        for slot, remarks in enumerate(remarks_of):
            if remarks:
                for p in Z.distinct(pairs.preset[which == slot]):
                    notes[p].update(remarks)
        return which, full, compact, protect, moved

    # ---------------------------------------------------------------------------- regions
    def _loader(self, idx: np.ndarray):
        def load() -> list[Region]:
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                return self._regions(idx)
            except (struct.error, ValueError, IndexError, OverflowError, MemoryError) as exc:  # defensive
                raise DLSError(f"malformed data ({exc.__class__.__name__}: {exc})") from None
            finally:
                if gc_was_enabled:
                    gc.enable()

        return load

    def _regions(self, idx: np.ndarray) -> list[Region]:
        """The regions of pairs `idx` (playable ones), from the columns worked out at open.
        Positional arguments and articulations made without their checks (level 2, blocks
        given): this runs once per region an instrument has when it is first used."""
        out: list[Region] = []
        if not len(idx):
            return out
        flat, row_end, compact, fixed_arts = self.flat, self.row_end, self.mod_compact, self.fixed_arts
        new_art = Articulation.__new__
        append = out.append
        multi, left_ch, right_ch = C.F_WAVELINK_MULTICHANNEL, C.WAVELINK_CHANNEL_LEFT, C.WAVELINK_CHANNEL_RIGHT
        for i, (kl, kh, vl, vh, excl, wave, lt, ls, ll, unity, fine, left, right, phase, mods) in zip(
            idx.tolist(), self.cols[idx].tolist()
        ):
            if left or right:
                link = WaveLink(wave, multi, phase, left_ch if left else right_ch)
            else:
                link = WaveLink(wave, 0, 0, left_ch)
            ws = WaveSample(unity, fine, 0, 0, [Loop(lt, ls, ll)] if lt >= 0 else [])
            if i in fixed_arts:
                gen_blocks, mod_blocks = fixed_arts[i]
            else:
                gen_blocks = flat[(row_end[i - 1] if i else 0) : row_end[i]]
                mod_blocks = compact[mods]
            art = new_art(Articulation)
            art.level, art.blocks = 2, gen_blocks
            arts = [art]
            if len(mod_blocks):
                art = new_art(Articulation)
                art.level, art.blocks = 2, mod_blocks
                arts.append(art)
            append(Region(kl, kh, vl, vh, _OPTIONS, excl, None, link, ws, arts, 2))
        return out

    @staticmethod
    def _fixed(gen_blocks: np.ndarray, mod_blocks: np.ndarray, unity: int, key: int, vel: int):
        """A zone with a fixed key (keynum) or velocity: connections reading them become
        constants of their value at that key or velocity (the key-to-pitch one around the
        root key, as the engine evaluates it)."""
        fixed = {}
        if key >= 0:
            fixed[C.CONN_SRC_KEYNUMBER] = key
        if vel >= 0:
            fixed[C.CONN_SRC_KEYONVELOCITY] = vel

        def fix(arr: np.ndarray) -> np.ndarray:
            rows = []
            for s, c, d, t, scale in arr.tolist():
                value = float(scale)
                if s in fixed:
                    kind, bip, inv = (
                        (t >> C.TRN_SOURCE_SHIFT) & 0xF,
                        bool(t & C.TRN_SOURCE_BIPOLAR),
                        bool(t & C.TRN_SOURCE_INVERT),
                    )
                    f = midi_value(fixed[s], kind, bip, inv)
                    if s == C.CONN_SRC_KEYNUMBER and d == C.CONN_DST_PITCH:
                        f -= midi_value(unity, kind, bip, inv)
                    value *= f
                    s, t = C.CONN_SRC_NONE, t & ~_SOURCE_BITS
                if c in fixed:
                    kind, bip, inv = (
                        (t >> C.TRN_CONTROL_SHIFT) & 0xF,
                        bool(t & C.TRN_CONTROL_BIPOLAR),
                        bool(t & C.TRN_CONTROL_INVERT),
                    )
                    value *= midi_value(fixed[c], kind, bip, inv)
                    c, t = C.CONN_SRC_NONE, t & ~_CONTROL_BITS
                if s == C.CONN_SRC_NONE and c != C.CONN_SRC_NONE:
                    s, c = c, C.CONN_SRC_NONE
                    t = (
                        ((t >> C.TRN_CONTROL_SHIFT) & 0xF) << C.TRN_SOURCE_SHIFT
                        | (C.TRN_SOURCE_BIPOLAR if t & C.TRN_CONTROL_BIPOLAR else 0)
                        | (C.TRN_SOURCE_INVERT if t & C.TRN_CONTROL_INVERT else 0)
                    )
                rows.append((s, c, d, t, max(-(1 << 31), min((1 << 31) - 1, int(round(value))))))
            return np.array(rows, dtype=CONNECTION_DTYPE) if rows else np.zeros(0, dtype=CONNECTION_DTYPE)

        gen_fixed, mod_fixed = fix(gen_blocks), fix(mod_blocks)

        # A default whose replacing connection became a constant would apply again:
        # cancel it with a connection of its key and scale 0.
        def keys(*arrs):
            return {tuple(r) for a in arrs for r in a[["source", "control", "destination"]].tolist()}

        lost = sorted((keys(gen_blocks, mod_blocks) - keys(gen_fixed, mod_fixed)) & A.CANCEL_KEYS)
        if lost:
            extra = np.array([(s, c, d, 0, 0) for s, c, d in lost], dtype=CONNECTION_DTYPE)
            gen_fixed = np.concatenate([gen_fixed, extra])
        return gen_fixed, mod_fixed


def _mod_spans(level: Z.ZoneLevel) -> tuple[np.ndarray, np.ndarray]:
    """The modulator spans a zone of `level` brings to a pair, its owner's global zone's and
    its own, as the distinct rows (global start, end, own start, end; an empty span is 0, 0)
    and, per zone, the index of its row."""
    z = np.arange(level.zones, dtype=np.int64)
    owner = level.owner
    glob = np.where(owner >= 0, level.glob[np.maximum(owner, 0)], -1)

    def packed(zone: np.ndarray) -> np.ndarray:
        ok = zone >= 0
        zi = np.maximum(zone, 0)
        a = np.where(ok, level.mod_start[zi], 0)
        b = np.where(ok, level.mod_end[zi], 0)
        some = b > a
        a, b = np.where(some, a, 0), np.where(some, b, 0)
        return (a.astype(np.uint64) << np.uint64(16)) | b.astype(np.uint64)  # both are 16-bit bag indices

    key = (packed(glob) << np.uint64(32)) | packed(z)
    uniq, ids = np.unique(key, return_inverse=True)
    parts = [(uniq >> np.uint64(shift)) & np.uint64(0xFFFF) for shift in (48, 32, 16, 0)]
    return np.stack(parts, axis=1).astype(np.int64), ids.reshape(-1).astype(np.int64)


def _numbered(keys: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` for keys in 0..size-1: by a table when that is
    small (no sort), else by np.unique."""
    if size > 4 * len(keys) + 4096:
        uniq, inverse = np.unique(keys, return_inverse=True)
        return uniq, inverse.reshape(-1).astype(np.int64)
    present = np.zeros(size, dtype=bool)
    present[keys] = True
    number = np.cumsum(present) - 1
    return np.flatnonzero(present), number[keys]


def _mod_contents(arr: np.ndarray, spans: np.ndarray) -> tuple[list[tuple], np.ndarray]:
    """The distinct modulator lists of `_mod_spans`' rows: (global zone's, own) pairs of
    modulator lists, and per row the index of its pair among them."""
    records = arr.tolist()
    index: dict[tuple, int] = {}
    lists: list[tuple] = []
    content = np.empty(len(spans), dtype=np.int64)
    for k, (ga, gb, oa, ob) in enumerate(spans.tolist()):
        pair = (M.modulator_list(records[ga:gb]), M.modulator_list(records[oa:ob]))
        key = (tuple(pair[0]), tuple(pair[1]))
        at = index.get(key)
        if at is None:
            at = index[key] = len(lists)
            lists.append(pair)
        content[k] = at
    return lists, content


def _kept(blocks: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``blocks[keep]``: the connection blocks (regions, rows) that `keep` marks, row by row,
    gathered as three 32-bit words a block (a structured array's own mask is far slower)."""
    words = np.ascontiguousarray(blocks).view("<i4").reshape(-1, 3)
    picked = words.take(np.flatnonzero(keep.reshape(-1)), axis=0)
    return picked.view(CONNECTION_DTYPE).reshape(-1)
