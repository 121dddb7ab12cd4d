#!/usr/bin/env python3
"""A bank as FluidSynth voices its filters: every filter resonance 3.01 dB lower.

dlsynth follows the SF2 2.04 / DLS2 rule: initialFilterQ (cB) is the height of the
resonant peak above the DC gain. FluidSynth takes 3.01 dB off every Q before it designs
its filter (``q_dB = Q / 10 - 3.01``), so its peaks are about 3 dB lower; SpessaSynth
agrees with the rule. benchmarks/fidelity.py's preset sweep renders dlsynth a second time
with the bank this script writes, where each region's static filter resonance is
``max(0, Q - 30.1 cB)``: a preset whose difference from FluidSynth vanishes then is
listed as "known: resonance (FluidSynth -3 dB)" rather than as an unexplained one.

Usage (with PYTHONPATH set to the dlsynth checkout under test)::

    python benchmarks/resonance_bank.py IN.sf2 OUT.dls

Prints one JSON line: how many regions had a resonance, how many were lowered.
"""

from __future__ import annotations

import json
import sys

FLUID_Q_OFFSET_CB = 30.1  # FluidSynth subtracts 3.01 dB from every Q


def lowered(path_in: str, path_out: str) -> dict:
    import numpy as np

    from dlsynth import dls
    from dlsynth.dls import constants as C
    from dlsynth.dls.model import Articulation

    col = dls.read(path_in)
    step = int(round(FLUID_Q_OFFSET_CB * 65536))
    with_q = changed = 0
    for ins in col.instruments:
        for region in ins.regions:
            arts = []
            for art in region.articulations:
                b = np.array(art.blocks, copy=True)
                q = (
                    (b["source"] == C.CONN_SRC_NONE)
                    & (b["control"] == C.CONN_SRC_NONE)
                    & (b["destination"] == C.CONN_DST_FILTER_Q)
                )
                if q.any():
                    with_q += 1
                    new = np.maximum(b["scale"][q].astype(np.int64) - step, 0)
                    changed += int((new != b["scale"][q]).any())
                    b["scale"][q] = new.astype(np.int32)
                arts.append(Articulation(art.level, blocks=b))
            region.articulations = arts
    dls.write(col, path_out, level=2)
    return {"regions_with_resonance": with_q, "regions_lowered": changed}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: resonance_bank.py IN.sf2 OUT.dls", file=sys.stderr)
        return 2
    try:
        print(json.dumps(lowered(argv[0], argv[1])))
    except Exception as exc:  # one line, exit 2 (fidelity.py reports it)
        print(f"resonance_bank: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
