"""The SoundFont reader's bulk steps give what the plain NumPy (or per-pair) forms give.

The reader replaces a few slow NumPy idioms with faster equivalents (np.unique over rows,
a structured array's boolean mask, field-by-field filling of connection blocks, one key per
pair for its modulators); each is checked here against the form it replaces, on random data
and on the two real banks (the Debian packages' fluid-soundfont-gm and timgm6mb-soundfont).
"""

from __future__ import annotations

import mmap

import numpy as np
import pytest

from benchmarks.peers import FLUID_R3_SF2 as FLUID_R3
from benchmarks.peers import TIMGM_SF2 as TIMGM
from dlsynth.dls.model import CONNECTION_DTYPE
from dlsynth.dls.riff import Chunk
from dlsynth.dls.soundfont import articulation as A
from dlsynth.dls.soundfont import build as Bu
from dlsynth.dls.soundfont import modulators as M
from dlsynth.dls.soundfont import samples as S
from dlsynth.dls.soundfont import zones as Z
from dlsynth.dls.soundfont.hydra import Hydra

RNG = np.random.default_rng(20261202)


@pytest.mark.parametrize("rows", [0, 1, 7, 500])
def test_distinct_rows_are_np_unique_over_rows(rows):
    cols = [RNG.integers(-3, 4, rows), RNG.integers(0, 3, rows), RNG.integers(0, 1 << 40, rows) % 5]
    uniq, inverse = S._distinct_rows(*cols)
    keys = np.stack(cols, axis=1).astype(np.int64)
    want, want_inverse = np.unique(keys, axis=0, return_inverse=True)
    assert uniq.tolist() == want.tolist()
    assert inverse.tolist() == want_inverse.reshape(-1).tolist()


@pytest.mark.parametrize("n", [0, 1, 50])
def test_distinct_is_np_unique(n):
    values = RNG.integers(0, 10, n)
    assert Z.distinct(values) == np.unique(values).tolist()


@pytest.mark.parametrize("size", [1, 30, 1 << 40])
def test_numbered_keys_are_np_unique_with_inverse(size):
    keys = RNG.integers(0, min(size, 1 << 40), 200) if size > 1 else np.zeros(200, dtype=np.int64)
    uniq, inverse = Bu._numbered(keys, size)
    want, want_inverse = np.unique(keys, return_inverse=True)
    assert uniq.tolist() == want.tolist() and inverse.tolist() == want_inverse.tolist()


def _reference_blocks(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connection blocks filled field by field (the reader's first form of A.blocks)."""
    arr = np.zeros((len(values), len(A.ROWS)), dtype=CONNECTION_DTYPE)
    for k, (s, c, d) in enumerate(A.ROWS):
        arr["source"][:, k] = s
        arr["control"][:, k] = c
        arr["destination"][:, k] = d
    raw = np.rint(values * 65536.0)
    big, small = np.iinfo(np.int32).max, np.iinfo(np.int32).min
    over = (raw > big) | (raw < small)
    arr["scale"] = np.clip(raw, small, big).astype(np.int32)
    off = values[:, A.ROW_CUTOFF] == A.C_FILTER_OFF
    arr["scale"][:, A.ROW_CUTOFF] = np.where(off, A.FILTER_CUTOFF_OFF, arr["scale"][:, A.ROW_CUTOFF])
    return arr, over.any(axis=1)


@pytest.mark.parametrize("n", [0, 1, 300])
def test_blocks_are_the_field_by_field_blocks(n):
    values = RNG.normal(0.0, 3000.0, (n, len(A.ROWS)))
    if n:
        values[::3, A.ROW_CUTOFF] = A.C_FILTER_OFF
        values[1::7, 5] = 1e6  # overflows 32 bits
        values[2::7, 6] = -1e6
    got, over = A.blocks(values)
    want, want_over = _reference_blocks(values)
    assert got.dtype == CONNECTION_DTYPE and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    assert over.tolist() == want_over.tolist()


def test_kept_blocks_are_the_boolean_mask():
    blocks, _ = A.blocks(RNG.normal(0.0, 1000.0, (40, len(A.ROWS))))
    keep = RNG.random(blocks.shape) < 0.4
    got = Bu._kept(blocks, keep)
    assert got.dtype == CONNECTION_DTYPE
    assert got.tobytes() == blocks[keep].tobytes()
    assert Bu._kept(blocks[:0], keep[:0]).shape == (0,)


def _open(path):
    if not path.is_file():
        pytest.skip(f"{path} is not installed")
    f = open(path, "rb")
    buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    f.close()
    return buf


@pytest.mark.parametrize("path", [FLUID_R3, TIMGM], ids=["FluidR3_GM", "TimGM6mb"])
def test_each_pairs_modulators_are_its_zones_modulators(path):
    """Per pair, the connections _modulators gives it are those of its four modulator lists
    (instrument global and local, preset global and local), read pair by pair."""
    buf = _open(path)
    root = Chunk(b"RIFF", b"sfbk", 0, 12, len(buf) - 12, None, buf)
    b = Bu._Builder(buf, root, [], True)
    h = b.h = Hydra.read(buf, root, [])
    notes = [set() for _ in range(len(h.phdr) - 1)]
    pairs = Z.combine(h, [], notes)
    which, full, compact, _, moved = b._modulators(pairs, notes)
    il, pl = pairs.il, pairs.pl

    def records(arr, level, zone):
        if zone < 0:
            return []
        return M.records(arr, int(level.mod_start[zone]), max(int(level.mod_start[zone]), int(level.mod_end[zone])))

    seen: dict[tuple, tuple[int, tuple]] = {}
    for i in range(len(pairs)):
        parts = (
            records(h.imod, il, int(il.glob[pairs.instrument[i]])),
            records(h.imod, il, int(pairs.izone[i])),
            records(h.pmod, pl, int(pl.glob[pairs.preset[i]])),
            records(h.pmod, pl, int(pairs.pzone[i])),
        )
        slot, _ = seen.setdefault(tuple(tuple(x) for x in parts), (int(which[i]), parts))
        assert slot == which[i], "pairs with the same modulators share one slot"
    for slot, parts in seen.values():
        rows, fc = M.to_connections(M.effective(*parts), set())
        assert rows.tobytes() == full[slot].tobytes()
        assert compact[slot].tobytes() == rows[A.needed_modulator_rows(rows)].tobytes()
        assert moved[which == slot].tolist() == [fc] * int(np.count_nonzero(which == slot))
    assert len({slot for slot, _ in seen.values()}) == len(full), "one slot per distinct content"
