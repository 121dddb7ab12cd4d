"""The fuzz harness (tests/fuzzing.py) as part of every run: a bounded, fixed slice of each
layer (reader, download-and-play, command line), and every input that ever failed, replayed.
DLSYNTH_FUZZ_SLICE scales the slice (1 = CI's; the long run is dev/fuzz.sh)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from . import fuzzing

SCALE = float(os.environ.get("DLSYNTH_FUZZ_SLICE", "1"))
SLICE = {"reader": int(600 * SCALE), "play": int(150 * SCALE), "cli": int(12 * SCALE)}
CI_SEED = 20261201


@pytest.fixture(scope="module")
def seeds():
    return fuzzing.seed_banks(), fuzzing.seed_songs()


@pytest.mark.parametrize("layer", fuzzing.LAYERS)
def test_bounded_slice(layer, seeds, tmp_path):
    banks, songs = seeds
    outcomes: dict[str, int] = {}
    failures = []
    for case in range(SLICE[layer]):
        outcome, why = fuzzing.run_case(layer, CI_SEED, case, banks, songs, workdir=tmp_path)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        if why is not None:
            saved = fuzzing.save_failure(layer, CI_SEED, case, banks, songs)
            failures.append(f"case {case}: {why} (input: {saved})")
    print(layer, outcomes)
    assert not failures, "\n".join(failures[:10])
    # the slice reaches past the parsers: some cases are read (and played, and rendered)
    good = {"reader": "read", "play": "played", "cli": "rendered"}[layer]
    assert outcomes.get(good, 0) >= SLICE[layer] // 10, outcomes


def _regressions():
    for layer in fuzzing.LAYERS:
        for p in sorted((fuzzing.REGRESSIONS / layer).glob("*")):
            if p.suffix in (".dls", ".sf2", ".sf3", ".mid"):
                yield pytest.param(layer, p, id=f"{layer}/{p.name}")


@pytest.mark.parametrize("layer,path", list(_regressions()))
def test_every_input_that_ever_failed(layer, path: Path, tmp_path):
    kind = "song" if path.suffix == ".mid" else "bank"
    outcome, why = fuzzing.run_input(layer, kind, path.read_bytes(), workdir=tmp_path)
    assert why is None, why
