"""Comparing two renders of the same music: loudness contour, level and brightness.

Used by tests/test_sf2_render.py on short notes, and from the command line on whole songs
(a bank rendered by dlsynth against FluidSynth's render of the same bank)::

    python -m tests.sf2compare SONG.mid [SONG.mid ...] --bank BANK.sf2 [--bank OTHER.dls]

renders each song with ``python -m dlsynth render`` and with ``fluidsynth -ni -F`` (at
48 kHz, FluidSynth's own defaults otherwise), then prints, per song and bank: the
correlation of the 100 ms RMS levels (dB), the median level difference (dB, dlsynth minus
FluidSynth, over the frames where both sound), and each render's spectral centroid (Hz).
A DLS bank given with --bank is rendered by dlsynth only and compared with FluidSynth's
render of the first SF2 bank. With --timing it times instead how long dlsynth takes to open
the first bank for the first song, against FluidSynth's whole render of that song.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

from benchmarks.peers import fluidsynth_command

FRAME_SECONDS = 0.1
FLOOR_DB = -90.0


def read_mono(path: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(path, dtype="float64", always_2d=True)
    return data.mean(axis=1), rate


def rms_frames_db(x: np.ndarray, rate: int, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """RMS level of consecutive frames, in dB (floor FLOOR_DB)."""
    n = int(round(rate * frame_seconds))
    k = len(x) // n
    if k == 0:
        return np.zeros(0)
    r = np.sqrt(np.mean(np.square(x[: k * n].reshape(k, n)), axis=1))
    return np.maximum(20.0 * np.log10(np.maximum(r, 1e-30)), FLOOR_DB)


def spectral_centroid(x: np.ndarray, rate: int) -> float:
    """Power-weighted mean frequency of the whole signal (Hz), from 8192-point frames."""
    n = 8192
    k = len(x) // n
    if k == 0:
        return float("nan")
    frames = x[: k * n].reshape(k, n) * np.hanning(n)
    p = np.square(np.abs(np.fft.rfft(frames, axis=1))).sum(axis=0)
    f = np.fft.rfftfreq(n, 1.0 / rate)
    return float((p * f).sum() / max(p.sum(), 1e-300))


@dataclass
class Comparison:
    correlation: float  # of the frames' RMS levels in dB (100 ms by default), where either sounds
    median_difference_db: float  # a minus b, over frames where both sound
    centroid_a: float
    centroid_b: float
    frames: int


def compare(
    a: np.ndarray, b: np.ndarray, rate: int, active_db: float = 50.0, frame_seconds: float = FRAME_SECONDS
) -> Comparison:
    """Compare render a with render b (same rate). A frame "sounds" when it is within
    `active_db` of the render's loudest frame."""
    la, lb = rms_frames_db(a, rate, frame_seconds), rms_frames_db(b, rate, frame_seconds)
    n = min(len(la), len(lb))
    la, lb = la[:n], lb[:n]
    on_a = la > la.max() - active_db if n else la
    on_b = lb > lb.max() - active_db if n else lb
    either, both = on_a | on_b, on_a & on_b
    if either.sum() > 2 and np.std(la[either]) > 0 and np.std(lb[either]) > 0:
        corr = float(np.corrcoef(la[either], lb[either])[0, 1])
    else:
        corr = float("nan")
    med = float(np.median(la[both] - lb[both])) if both.any() else float("nan")
    return Comparison(corr, med, spectral_centroid(a, rate), spectral_centroid(b, rate), int(n))


def render_dlsynth(song: str, bank: str, out: str, rate: int = 48000) -> float:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "dlsynth", "render", song, "--bank", bank, "-o", out, "--rate", str(rate), "-q"],
        check=True,
        env=env,
        cwd=root,
        timeout=600,
    )
    return time.perf_counter() - t0


def render_fluidsynth(song: str, bank: str, out: str, rate: int = 48000) -> float:
    t0 = time.perf_counter()
    subprocess.run(
        fluidsynth_command(bank, song, out, rate=rate, effects=True),
        check=True,
        timeout=600,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


def open_seconds(bank: str, song: str) -> tuple[float, float]:
    """(dls.read of the bank, read plus the download of what the song plays): the time a
    render spends before its first block, in this process."""
    from dlsynth import dls
    from dlsynth.synth.filesource import FileSource
    from dlsynth.smf.reader import read_midi
    from dlsynth.synth.miniport import Miniport
    from dlsynth.synth.synth import Synth

    t0 = time.perf_counter()
    col = dls.read(bank)
    t_read = time.perf_counter() - t0
    s = Synth(48000)
    try:
        s.download(col, lazy=True)
        stream = Miniport().init(synth=s, sample_rate=48000, voices=256, channel_groups=1).new_stream("render")
        stream.set_state("run")
        FileSource(read_midi(song), stream).prepare()  # downloads the instruments the song selects
        return t_read, time.perf_counter() - t0
    finally:
        s.close()


def timing(bank: str, song: str, runs: int = 5) -> None:
    """Median over `runs`, in one run of this script: FluidSynth's whole render of the song
    (a process), dlsynth's open of the bank for it (in process) and dlsynth's whole render
    (a process)."""
    import statistics

    fs, reads, opens, ours = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(runs):
            fs.append(render_fluidsynth(song, bank, os.path.join(tmp, "fs.wav")))
            r, o = open_seconds(bank, song)
            reads.append(r)
            opens.append(o)
            ours.append(render_dlsynth(song, bank, os.path.join(tmp, "ours.wav")))
    med = statistics.median
    print(
        f"fluidsynth whole render: {med(fs):.3f} s; dlsynth read {med(reads):.3f} s, open for the song "
        f"{med(opens):.3f} s, whole render {med(ours):.3f} s (medians of {runs})"
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("songs", nargs="+")
    ap.add_argument("--bank", action="append", required=True)
    ap.add_argument(
        "--timing",
        action="store_true",
        help="time opening the first bank against FluidSynth's whole render of the first song, instead of comparing",
    )
    args = ap.parse_args(argv)
    if args.timing:
        timing(args.bank[0], args.songs[0])
        return 0
    sf2 = [b for b in args.bank if b.lower().endswith((".sf2", ".sf3"))]
    with tempfile.TemporaryDirectory() as tmp:
        for song in args.songs:
            refs: dict[str, str] = {}
            for bank in args.bank:
                ref_bank = bank if bank in sf2 else (sf2[0] if sf2 else None)
                if ref_bank is None:
                    continue
                if ref_bank not in refs:
                    refs[ref_bank] = os.path.join(tmp, f"fs{len(refs)}.wav")
                    t_fs = render_fluidsynth(song, ref_bank, refs[ref_bank])
                    print(f"# fluidsynth {os.path.basename(ref_bank)} {os.path.basename(song)}: {t_fs:.2f} s wall")
                ours = os.path.join(tmp, "ours.wav")
                t_us = render_dlsynth(song, bank, ours)
                a, rate = read_mono(ours)
                b, _ = read_mono(refs[ref_bank])
                c = compare(a, b, rate)
                print(
                    f"{os.path.basename(song)}  {os.path.basename(bank)} vs fluidsynth {os.path.basename(ref_bank)}: "
                    f"loudness r={c.correlation:.3f}  median diff {c.median_difference_db:+.1f} dB  "
                    f"centroid {c.centroid_a:.0f} Hz vs {c.centroid_b:.0f} Hz  ({c.frames} frames; "
                    f"dlsynth {t_us:.2f} s wall)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
