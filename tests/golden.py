"""Golden renders: a fixed set of real songs rendered with fixed options, kept as FLAC
(24-bit) in tests/data/golden/, so that a change to the engine, the readers or the built-in
bank cannot alter the sound unnoticed (after FluidSynth's regression renders).

``tests/test_golden_render.py`` renders each case with the command, as a user does, and
compares it with the kept file: the same samples to within rounding (one 24-bit step), and
the SNR is reported. A change that is meant to alter the sound is accepted by re-rendering
the kept files, which then shows in the commit:

    python -m tests.golden --update          # re-render every kept file
    python -m tests.golden                    # compare only, print the SNR per case
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from benchmarks.peers import TIMGM_SF2 as TIMGM

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
MIDI = ROOT / "tests" / "data" / "midi"

#: what every golden render uses: a low rate and a short cut keep the kept files small
RATE = 22050
SECONDS = 12
#: one step of 24-bit PCM: a render that differs by more than this has changed
ROUNDING = 1.0 / (1 << 23)
#: below this SNR (dB) against the kept render the sound has plainly changed
MIN_SNR_DB = 60.0


@dataclass(frozen=True)
class Case:
    name: str
    song: Path
    bank: Path | None  # None: the built-in bank
    interpolation: str = "cubic"

    @property
    def kept(self) -> Path:
        return GOLDEN / f"{self.name}.flac"

    def args(self, out: Path) -> list[str]:
        a = [
            "render",
            str(self.song),
            "-o",
            str(out),
            "-q",
            "--rate",
            str(RATE),
            "--format",
            "pcm24",
            "--max-length",
            str(SECONDS),
            "--tail",
            "0",
            "--interpolation",
            self.interpolation,
        ]
        if self.bank is not None:
            a += ["--bank", str(self.bank)]
        return a


CASES = (
    Case("e1m1-builtin", MIDI / "freedoom" / "d_e1m1.mid", None),
    Case("e1m1-timgm", MIDI / "freedoom" / "d_e1m1.mid", TIMGM),
    Case("mountain-king-builtin", MIDI / "mutopia" / "grieg-mountain-king-piano.mid", None),
    Case("mountain-king-timgm-sinc", MIDI / "mutopia" / "grieg-mountain-king-piano.mid", TIMGM, "sinc"),
    Case("map24-timgm-linear", MIDI / "freedoom" / "d_map24.mid", TIMGM, "linear"),
)


def render(case: Case, out: Path) -> np.ndarray:
    """The case rendered by the command (a subprocess) to `out` (WAV), as float samples."""
    p = subprocess.run(
        [sys.executable, "-m", "dlsynth", *case.args(out)], capture_output=True, text=True, timeout=600, cwd=str(ROOT)
    )
    if p.returncode != 0:
        raise RuntimeError(f"dlsynth {' '.join(case.args(out))} failed ({p.returncode}): {p.stderr.strip()}")
    data, rate = sf.read(out, dtype="float64", always_2d=True)
    assert rate == RATE
    return data


def kept(case: Case) -> np.ndarray:
    data, rate = sf.read(case.kept, dtype="float64", always_2d=True)
    assert rate == RATE
    return data


def snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal to difference ratio in dB (inf when identical)."""
    n = max(len(reference), len(test))
    a = np.zeros((n, 2))
    a[: len(reference)] = reference
    b = np.zeros((n, 2))
    b[: len(test)] = test
    err = float(np.sum((a - b) ** 2))
    sig = float(np.sum(a**2))
    return float("inf") if err == 0 else 10 * np.log10(max(sig, 1e-30) / err)


def compare(case: Case, rendered: np.ndarray) -> tuple[float, float, int, int]:
    """(SNR dB, max abs difference, rendered frames, kept frames)."""
    ref = kept(case)
    n = min(len(ref), len(rendered))
    diff = float(np.max(np.abs(ref[:n] - rendered[:n]))) if n else 0.0
    return snr_db(ref, rendered), diff, len(rendered), len(ref)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.golden", description=__doc__.split("\n\n")[0])
    ap.add_argument("--update", action="store_true", help="re-render and keep every case")
    a = ap.parse_args(argv)
    status = 0
    with tempfile.TemporaryDirectory(prefix="dlsynth-golden-") as tmp:
        for case in CASES:
            out = Path(tmp) / f"{case.name}.wav"
            data = render(case, out)
            if a.update:
                sf.write(case.kept, data, RATE, subtype="PCM_24", format="FLAC")
                print(f"{case.name}: kept ({len(data)} frames, {case.kept.stat().st_size // 1024} KiB)")
                continue
            snr, diff, n, m = compare(case, data)
            ok = n == m and diff <= ROUNDING
            status |= not ok
            print(
                f"{case.name}: SNR {snr:.1f} dB, max difference {diff:.2e}, frames {n} (kept {m}): "
                f"{'same' if ok else 'CHANGED'}"
            )
    return status


if __name__ == "__main__":
    raise SystemExit(main())
