"""Velocity layers x key splits found again: flat zones factored into preset and instrument zones.

An SF2 preset zone layers an instrument: every (preset zone, instrument zone) pair whose
ranges meet sounds, with the preset zone's generators added to the instrument zone's (SF2
2.04 section 9.4). Read into DLS, a preset of 9 velocity layers over an instrument of 32
key splits is 288 regions; written back one zone per region it would need nine times the
generators, and SF2's 16-bit generator indices hold 65535 in a whole file (FluidR3_GM's
16912 regions would not fit). `factor` finds such grids again:

- zones are grouped into columns by what an instrument zone holds alone (sample, the
  generators a preset zone cannot offset, modulators); every column must have the same
  number R >= 2 of copies, one per row;
- the copies of each column are put in a common row order by their ranges and then by
  their generator values (the rows differ by the same offsets in every column, so the
  first generator in which two rows differ orders them the same way everywhere);
- each range (key, velocity) belongs either to the columns (the same in every copy of a
  column) or to the rows (the same in every zone of a row);
- with row 0 as the reference, a row's offsets are its difference from row 0 in the first
  column, and must give every zone exactly: ``zone = column + row offsets``.

Anything else (or a grid that would not save generators) is left flat: `factor` returns
None. The result plays exactly as the flat zones do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import generators as G

_FULL = (0, 127)


@dataclass
class Row:
    """A preset zone: its ranges and generator offsets (generator -> amount)."""

    key: tuple[int, int]
    vel: tuple[int, int]
    offsets: dict[int, int]


def _value(z, op: int) -> int:
    return z.gens.get(op, int(G.DEFAULTS[op]))


def factor(zones: list) -> tuple[list[Row], list] | None:
    """(rows, column zones) such that the rows layered onto the columns give `zones`
    (objects with ``gens``, ``mods``, ``key``, ``vel``, ``sample``), or None. Columns are
    tried as told apart by their key range (velocity layers), by their velocity range
    (key splits over one layer each) and by neither (layers of the same ranges, e.g.
    detuned); the grid that saves the most generators is taken."""
    if len(zones) < 4:
        return None
    best = None
    for by in (("key",), ("vel",), ()):
        grid = _grid(zones, by)
        if grid is not None and (best is None or grid[0] < best[0]):
            best = grid
    return None if best is None else best[1:]


_ADDITIVE = [op for op in range(G.COUNT) if G.PRESET_ADDITIVE[op]]
_FIXED = [
    op
    for op in range(G.COUNT)
    if not G.PRESET_ADDITIVE[op] and op not in (G.KEY_RANGE, G.VEL_RANGE, G.SAMPLE_ID, G.INSTRUMENT)
]


def _grid(zones: list, by: tuple[str, ...]):
    def column_key(z):
        return (
            z.sample,
            *(getattr(z, d) for d in by),
            tuple(_value(z, op) for op in _FIXED),
            tuple(sorted(z.mods.items())),
        )

    columns: dict[tuple, list] = {}
    for z in zones:
        columns.setdefault(column_key(z), []).append(z)
    sizes = {len(v) for v in columns.values()}
    if len(sizes) != 1:
        return None
    rows_n = sizes.pop()
    if rows_n < 2 or len(columns) < 2:
        return None
    order = lambda z: (z.vel, z.key, tuple(_value(z, op) for op in _ADDITIVE))  # noqa: E731
    cols = [sorted(v, key=order) for v in columns.values()]
    # ranges: the columns' or the rows'
    owner = {}
    for dim in ("key", "vel"):
        if all(len({getattr(z, dim) for z in col}) == 1 for col in cols):
            owner[dim] = "column"
        elif all(len({getattr(col[r], dim) for col in cols}) == 1 for r in range(rows_n)):
            owner[dim] = "row"
        else:
            return None
    vals = np.array([[[_value(z, op) for op in _ADDITIVE] for z in col] for col in cols], dtype=np.int64)
    offsets = vals[0] - vals[0, 0][None, :]  # (rows, additive): row r minus row 0, first column
    if not np.array_equal(vals, vals[:, :1, :] + offsets[None, :, :]):
        return None
    rows = []
    for r in range(rows_n):
        ref = cols[0][r]
        rows.append(
            Row(
                key=ref.key if owner["key"] == "row" else _FULL,
                vel=ref.vel if owner["vel"] == "row" else _FULL,
                offsets={op: int(v) for op, v in zip(_ADDITIVE, offsets[r].tolist()) if v},
            )
        )
    column_zones = []
    for col in cols:
        z = col[0]
        column_zones.append(
            type(z)(
                dict(z.gens),
                dict(z.mods),
                z.key if owner["key"] == "column" else _FULL,
                z.vel if owner["vel"] == "column" else _FULL,
                z.sample,
            )
        )
    flat_cost = sum(len(z.gens) + 3 for z in zones)
    grid_cost = sum(len(z.gens) + 3 for z in column_zones) + sum(len(r.offsets) + 3 for r in rows)
    if grid_cost >= flat_cost:
        return None
    return grid_cost, rows, column_zones
