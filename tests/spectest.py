"""The SoundFont spec test (S. Christian Collins, tests/data/sf-spec-test/) cut into its tests.

The MIDI file announces each test with a spoken sample on channel 0: key 20 + n says
"test n" (keys 21..42: tests 1..22), keys 51..56 say the sub-test letters A..F. A segment
runs from the first note after its announcement that is not itself an announcement (its
test's first note) to the next announcement, or the file's end plus a tail. `segments`
reads that table from the MIDI file itself, so it follows the file.

`compare_renders` compares two renders of the file segment by segment (the reference, then
the one under test, aligned by onset): level and spectral-centroid difference over the whole
segment (as benchmarks/audiometrics.segment_figures takes them) and, for envelope and LFO
behaviour, the loudness contour at CONTOUR_FRAME_S: the median absolute difference of the
two contours after the segment's level difference is taken out, and their correlation
(meaningful where the reference's contour moves: its spread is given too). The features of
a render can be kept in a file (`save_features`), for a peer the tests do not run.

From the command line, the table for two renders, or a render's features kept::

    python -m tests.spectest REF.wav TEST.wav [--midi sf_spec_test.mid] [--offset DB]
    python -m tests.spectest RENDER.wav --save-features OUT.npz [--align-to OTHER.wav]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from benchmarks import audiometrics as M

DATA = Path(__file__).resolve().parent / "data" / "sf-spec-test"
MIDI = DATA / "sf_spec_test.mid"
SF2 = DATA / "sf_spec_test.sf2"
DLS = DATA / "sf_spec_test.dls"

ANNOUNCE_TEST_KEYS = range(21, 43)  # key 20 + n: "test n"
ANNOUNCE_SUB_KEYS = range(51, 57)  # "A" .. "F"
ANNOUNCE_CHANNEL = 0
END_TAIL_S = 2.0  # the last segment runs this long after the last note-off
CONTOUR_FRAME_S = 0.02  # loudness contour resolution for envelopes and LFOs
CONTOUR_RANGE_DB = 30.0  # contour frames more than this under the segment's loudest are left out


@dataclass
class Segment:
    name: str  # "1", "5A", ...
    start_s: float
    end_s: float


def _notes(path: Path) -> tuple[list[tuple[float, float, int, int]], float]:
    """(on_s, off_s, channel, key) of every note, and the time of the last event."""
    mf = mido.MidiFile(str(path))
    t = 0.0
    on: dict[tuple[int, int], float] = {}
    out = []
    for msg in mf:  # iterating a MidiFile yields messages with times in seconds
        t += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            on[(msg.channel, msg.note)] = t
        elif msg.type in ("note_on", "note_off") and (msg.channel, msg.note) in on:
            out.append((on.pop((msg.channel, msg.note)), t, msg.channel, msg.note))
    out.sort()
    return out, t


def segments(path: Path = MIDI) -> list[Segment]:
    """The tests and sub-tests of the spec test file, in order."""
    notes, last = _notes(path)

    def announce(ch: int, key: int) -> bool:
        return ch == ANNOUNCE_CHANNEL and (key in ANNOUNCE_TEST_KEYS or key in ANNOUNCE_SUB_KEYS)

    marks = [(on, key) for on, _off, ch, key in notes if announce(ch, key)]
    out: list[Segment] = []
    test = 0
    for i, (t0, key) in enumerate(marks):
        if key in ANNOUNCE_TEST_KEYS:
            test = key - 20
            nxt = marks[i + 1][1] if i + 1 < len(marks) else None
            if nxt is not None and nxt in ANNOUNCE_SUB_KEYS:
                continue  # the sub-tests are the segments
            name = str(test)
        else:
            name = f"{test}{chr(ord('A') + key - ANNOUNCE_SUB_KEYS.start)}"
        t1 = marks[i + 1][0] if i + 1 < len(marks) else last + END_TAIL_S
        content = [on for on, _off, ch, k in notes if t0 < on < t1 and not announce(ch, k)]
        if content:
            out.append(Segment(name, content[0], t1))
    return out


def _contour(x: np.ndarray, rate: int) -> np.ndarray:
    n = int(round(CONTOUR_FRAME_S * rate))
    k = len(x) // n
    ms = (M.as_2d(x)[: k * n] ** 2).mean(axis=1).reshape(k, n).mean(axis=1)
    return np.maximum(10 * np.log10(np.maximum(ms, 1e-30)), M.FLOOR_DB)


def features(x: np.ndarray, rate: int, seg: Segment) -> dict:
    """What is compared of one render over one segment: its level (mean power over all
    channels, dB, as audiometrics.segment_figures takes it), its spectral centroid (Hz, power
    summed over 100 ms frames) and its loudness contour (dB per CONTOUR_FRAME_S)."""
    a0, a1 = int(round(seg.start_s * rate)), int(round(seg.end_s * rate))
    y = M.as_2d(x)[a0:a1]
    lv = 10 * np.log10(max(float((y**2).mean()), 1e-30)) if len(y) else M.FLOOR_DB
    return {
        "level_db": float(max(lv, M.FLOOR_DB)),
        "centroid_hz": M._power_centroid(y, rate) if len(y) else None,
        "contour": _contour(y, rate),
    }


def compare_features(ref: dict, test: dict, offset_db: float = 0.0) -> dict:
    """test against ref (two `features` of one segment): level difference minus offset_db,
    centroid difference in semitones, and of the contours (over frames where either is within
    CONTOUR_RANGE_DB of its loudest): the reference's spread (standard deviation, dB), the
    correlation (None where the reference barely moves) and the median absolute difference
    after the median difference is taken out."""
    out: dict = {
        "level_diff_db": None,
        "centroid_diff_semitones": None,
        "contour_std_db": None,
        "contour_correlation": None,
        "contour_mad_db": None,
    }
    if ref["level_db"] > M.FLOOR_DB and test["level_db"] > M.FLOOR_DB:
        out["level_diff_db"] = test["level_db"] - ref["level_db"] - offset_db
    if ref["centroid_hz"] and test["centroid_hz"]:
        out["centroid_diff_semitones"] = float(12 * np.log2(test["centroid_hz"] / ref["centroid_hz"]))
    la, lb = np.asarray(ref["contour"], dtype=np.float64), np.asarray(test["contour"], dtype=np.float64)
    n = min(len(la), len(lb))
    la, lb = la[:n], lb[:n]
    if n == 0:
        return out
    on = (la > la.max() - CONTOUR_RANGE_DB) | (lb > lb.max() - CONTOUR_RANGE_DB)
    if on.sum() >= 3:
        out["contour_std_db"] = float(np.std(la[on]))
        d = lb[on] - la[on]
        out["contour_mad_db"] = float(np.median(np.abs(d - np.median(d))))
        if np.std(la[on]) > 0 and np.std(lb[on]) > 0:
            out["contour_correlation"] = float(np.corrcoef(la[on], lb[on])[0, 1])
    return out


def render_features(x: np.ndarray, rate: int, midi: Path = MIDI) -> dict[str, dict]:
    return {s.name: features(x, rate, s) for s in segments(midi)}


def median_level_offset(ref: dict[str, dict], test: dict[str, dict]) -> float:
    """The constant gain between two renders: the median over segments of the level difference."""
    d = [
        test[k]["level_db"] - ref[k]["level_db"]
        for k in ref
        if k in test and ref[k]["level_db"] > M.FLOOR_DB and test[k]["level_db"] > M.FLOOR_DB
    ]
    return float(np.median(d)) if d else 0.0


def compare_renders(
    ref: np.ndarray, test: np.ndarray, rate: int, midi: Path = MIDI, offset_db: float | None = None
) -> tuple[float, float, dict[str, dict]]:
    """Onset-aligned per-segment figures: (lag in seconds, the level offset taken out (the
    median one unless given), {segment name: figures})."""
    lag = M.onset_lag(ref, test, rate)
    a, b = M.align(ref, test, lag)
    fa, fb = render_features(a, rate, midi), render_features(b, rate, midi)
    off = median_level_offset(fa, fb) if offset_db is None else offset_db
    return lag / rate, off, {k: compare_features(fa[k], fb[k], off) for k in fa}


def save_features(path: Path, feats: dict[str, dict]) -> None:
    """Write a render's per-segment features (a reference of a synth the tests do not run)."""
    arrays = {}
    for k, f in feats.items():
        arrays[f"{k}/level_db"] = np.float64(f["level_db"])
        arrays[f"{k}/centroid_hz"] = np.float64(f["centroid_hz"] or 0.0)
        arrays[f"{k}/contour"] = np.round(f["contour"], 2).astype(np.float32)
    np.savez_compressed(path, **arrays)


def load_features(path: Path) -> dict[str, dict]:
    z = np.load(path)
    out: dict[str, dict] = {}
    for key in z.files:
        seg, what = key.split("/")
        v = z[key]
        out.setdefault(seg, {})[what] = (
            v if what == "contour" else (float(v) or None if what == "centroid_hz" else float(v))
        )
    return out


def _fmt(v, spec):
    return "-" if v is None else format(v, spec)


def main(argv=None) -> int:
    import soundfile as sf

    ap = argparse.ArgumentParser(description="Per-test figures of two renders of the SoundFont spec test")
    ap.add_argument("ref", help="reference render (WAV), or with --save-features the render to keep")
    ap.add_argument("test", nargs="?", help="render under test (WAV)")
    ap.add_argument("--midi", type=Path, default=MIDI)
    ap.add_argument(
        "--offset",
        type=float,
        default=None,
        help="gain offset (dB) taken out of level differences (default: the median)",
    )
    ap.add_argument(
        "--align-to", type=Path, metavar="WAV", help="with --save-features: align the render to this one first"
    )
    ap.add_argument(
        "--save-features",
        type=Path,
        metavar="OUT.npz",
        help="write the per-segment features of REF instead of comparing",
    )
    args = ap.parse_args(argv)
    a, ra = sf.read(args.ref, dtype="float64", always_2d=True)
    if args.save_features:
        if args.align_to:
            b, rb = sf.read(args.align_to, dtype="float64", always_2d=True)
            lag = M.onset_lag(b, a, ra)
            _, a = M.align(b, a, lag)
            print(f"aligned by {lag / ra * 1000:.1f} ms")
        save_features(args.save_features, render_features(a, ra, args.midi))
        return 0
    if not args.test:
        ap.error("give two renders, or --save-features")
    b, rb = sf.read(args.test, dtype="float64", always_2d=True)
    if ra != rb:
        ap.error("the two renders differ in rate")
    lag, off, rows = compare_renders(a, b, ra, args.midi, args.offset)
    print(f"lag {lag * 1000:.1f} ms; test minus reference, levels minus {off:+.2f} dB")
    print(
        f"{'seg':5s} {'start':>6s} {'level dB':>8s} {'centroid st':>11s} {'contour sd':>10s} {'r':>6s} {'mad dB':>6s}"
    )
    for s in segments(args.midi):
        r = rows[s.name]
        print(
            f"{s.name:5s} {s.start_s:6.1f} {_fmt(r['level_diff_db'], '+8.2f')} "
            f"{_fmt(r['centroid_diff_semitones'], '+11.2f')} {_fmt(r['contour_std_db'], '10.1f')} "
            f"{_fmt(r['contour_correlation'], '6.3f')} {_fmt(r['contour_mad_db'], '6.2f')}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
