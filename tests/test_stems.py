"""`dlsynth render --stems DIR/`: one file per instrument from the same pass as the mix, the
mix itself unchanged, the stems (the effects' return one of them) summing to the mix
within float32 rounding, the same samples for every block size and thread count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from benchmarks.peers import FLUID_R3_SF2 as FLUID
from dlsynth.apps.render import load_banks, render_arrays

from . import stemkit as S

DATA = Path(__file__).parent / "data"
SONG = DATA / "midi" / "openmsx" / "keep_on_rolling.mid"  # a band with drums, ten parts
SUM_TOLERANCE = 1e-6  # max |sum of the stems - the mix| at float output


def _stems(folder: Path) -> dict[str, np.ndarray]:
    return {p.stem: sf.read(p, dtype="float32")[0] for p in sorted(folder.glob("*.wav"))}


def _render_stems(midi, out: Path, folder: Path, by: str, *more):
    """`dlsynth render MIDI -o OUT --format float --stems FOLDER --stems-by BY MORE...`."""
    return S.cli(midi, "-o", out, "--format", "float", "--stems", folder, "--stems-by", by, *more)


def _sum_error(mix: np.ndarray, stems: dict[str, np.ndarray]) -> float:
    total = np.zeros(mix.shape, dtype=np.float64)
    for a in stems.values():
        assert a.shape == mix.shape
        total += a
    return float(np.max(np.abs(total - mix)))


def test_stems_of_a_real_song_sum_to_the_unchanged_mix(tmp_path):
    common = (SONG, "--bank", FLUID, "--format", "float", "--max-length", "20", "-q")
    r = S.cli(*common, "-o", tmp_path / "mix.wav", "--stems", tmp_path / "stems/", "--labels", tmp_path / "l.csv")
    assert r.returncode == 0, r.stderr
    r0 = S.cli(*common, "-o", tmp_path / "plain.wav")
    assert r0.returncode == 0, r0.stderr
    mix = sf.read(tmp_path / "mix.wav", dtype="float32")[0]
    plain = sf.read(tmp_path / "plain.wav", dtype="float32")[0]
    assert np.array_equal(mix.view(np.uint32), plain.view(np.uint32)), "stems changed the mix"
    stems = _stems(tmp_path / "stems")
    assert "effects" in stems and "1-10-000-Standard_Kit" in stems and "1-09-034-Electric_Bass_pick" in stems
    assert len(stems) >= 8
    assert _sum_error(mix, stems) < SUM_TOLERANCE
    loud = [n for n, a in stems.items() if np.abs(a).max() > 1e-3]
    assert len(loud) == len(stems), "a stem with nothing in it"
    # every labelled note is in the stem it names
    rows = S.read_labels(tmp_path / "l.csv")
    assert rows and {r["stem"] for r in rows} <= set(stems)


def _probe_song(tmp_path):
    bank = load_banks([str(S.probe_bank(tmp_path / "probe.dls"))])
    midi = S.song(
        tmp_path / "s.mid",
        [
            [(0, 300, 60, 0, 0), (40, 200, 67, 0, 1), (90, 400, 64, 1, 1)],  # two programs on channel 1
            [(10, 250, 48, 2, 0), (20, 180, S.HAT_OPEN, 9, 0), (130, 170, S.HAT_CLOSED, 9, 0)],
        ],
    )
    return midi, bank


@pytest.mark.parametrize(
    "by,names",
    [
        (
            "channel",
            {
                "effects",
                "1-01-000-Acoustic_Grand_Piano",
                "1-01-001-Bright_Acoustic_Piano",
                "1-02-001-Bright_Acoustic_Piano",
                "1-03-000-Acoustic_Grand_Piano",
                "1-10-000-Standard_Kit",
            },
        ),
        ("program", {"effects", "000-Acoustic_Grand_Piano", "001-Bright_Acoustic_Piano", "000-Standard_Kit"}),
        ("track", {"effects", "1-part_1", "2-part_2"}),
    ],
)
def test_stems_by_channel_program_and_track(tmp_path, by, names):
    midi, _ = _probe_song(tmp_path)
    out = tmp_path / "mix.wav"
    r = _render_stems(midi, out, tmp_path / "st", by, "--bank", tmp_path / "probe.dls", "-q")
    assert r.returncode == 0, r.stderr
    stems = _stems(tmp_path / "st")
    assert set(stems) == names
    mix = sf.read(out, dtype="float32")[0]
    assert _sum_error(mix, stems) < SUM_TOLERANCE
    assert np.abs(stems["effects"]).max() > 1e-4  # the reverb's return is there


@pytest.mark.parametrize("by", ["channel", "program"])
@pytest.mark.parametrize(
    "song,parts",
    [("test-c-major-scale.mid", 1), ("test-2-tracks-type-1.mid", 2)],
    ids=["one-channel", "two-channels"],
)
def test_channels_that_never_select_a_program_get_stems_of_their_own(tmp_path, by, song, parts):
    """Real files with no program change: each channel's notes (by program: each program's)
    are a stem of their own, not the overflow's other.wav, with no warning."""
    out = tmp_path / "mix.wav"
    r = _render_stems(DATA / "midi" / "jazz-soft" / song, out, tmp_path / "st", by, "--max-length", "4")
    assert r.returncode == 0, r.stderr
    assert "warning" not in r.stderr, r.stderr
    stems = _stems(tmp_path / "st")
    assert "other" not in stems and "effects" in stems, sorted(stems)
    assert len(stems) == 1 + (parts if by == "channel" else 1), sorted(stems)  # both channels play the piano
    for name, a in stems.items():
        if name != "effects":
            assert np.abs(a).max() > 1e-3, f"stem {name} is silent"
    assert _sum_error(sf.read(out, dtype="float32")[0], stems) < SUM_TOLERANCE


def test_stems_and_labels_are_the_same_for_every_block_size_and_thread_count(tmp_path):
    midi, bank = _probe_song(tmp_path)
    ref = None
    for threads in (1, 2):
        for block in (1, 63, 64, 65, 8193):
            mix, stems, labels = render_arrays(
                str(midi), bank, block=block, threads=threads, max_length=0.3, stems_by="channel"
            )
            got = (mix.tobytes(), {k: v.tobytes() for k, v in stems.items()}, labels)
            if ref is None:
                ref = got
                assert _sum_error(mix, stems) < SUM_TOLERANCE and len(labels) == 6
            else:
                assert got == ref, f"block {block}, threads {threads}"


def test_the_in_memory_mix_is_the_files(tmp_path):
    midi, bank = _probe_song(tmp_path)
    mix, stems, labels = render_arrays(str(midi), bank, stems_by=None, labels=False)
    assert stems is None and labels is None
    r = S.cli(midi, "-o", tmp_path / "m.wav", "--bank", tmp_path / "probe.dls", "--format", "float", "-q")
    assert r.returncode == 0, r.stderr
    assert np.array_equal(sf.read(tmp_path / "m.wav", dtype="float32")[0], mix)


def test_several_inputs_get_a_stems_folder_and_a_labels_file_each(tmp_path):
    """-o DIR/ with --stems ST/ --labels LB/: ST/SONG/ and LB/SONG.csv per input, each song's
    stems summing to its own mix (rendered in parallel with -j 2)."""
    a = S.song(tmp_path / "a.mid", [[(0, 300, 60, 0, 0), (40, 200, 67, 0, 1)]])
    b = S.song(tmp_path / "b.mid", [[(10, 250, 48, 2, 0)], [(20, 180, S.HAT_OPEN, 9, 0)]])
    S.probe_bank(tmp_path / "probe.dls")
    out, st, lb = tmp_path / "out", tmp_path / "st", tmp_path / "lb"
    out.mkdir()
    r = S.cli(
        a,
        b,
        "-o",
        f"{out}/",
        "--bank",
        tmp_path / "probe.dls",
        "--format",
        "float",
        "-q",
        "-j",
        "2",
        "--stems",
        f"{st}/",
        "--labels",
        f"{lb}/",
    )
    assert r.returncode == 0, r.stderr
    for song in ("a", "b"):
        mix = sf.read(out / f"{song}.wav", dtype="float32")[0]
        stems = _stems(st / song)
        assert stems and "effects" in stems
        assert _sum_error(mix, stems) < SUM_TOLERANCE
        assert (lb / f"{song}.csv").read_text().count("\n") >= 2  # a header and the notes
    assert sorted(p.name for p in st.iterdir()) == ["a", "b"]


@pytest.mark.parametrize("case", ["labels-file-with-a-folder", "labels-folder-with-one-file", "stems-in-a-batch"])
def test_stems_and_labels_that_do_not_fit_the_outputs_are_one_clear_line(tmp_path, case):
    midi = S.song(tmp_path / "s.mid", [[(0, 10, 60, 0, 0)]])
    out = tmp_path / "out"
    out.mkdir()
    args = {
        "labels-file-with-a-folder": [midi, "-o", f"{out}/", "--labels", tmp_path / "l.csv"],
        "labels-folder-with-one-file": [midi, "-o", out / "s.wav", "--labels", f"{tmp_path}/lb/"],
        "stems-in-a-batch": [midi, "-o", f"{out}/", "--manifest", out / "m.json", "--stems", tmp_path / "st"],
    }[case]
    r = S.cli(*args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "--labels" in r.stderr or "--stems" in r.stderr
    assert not list(out.iterdir()) and not (tmp_path / "st").exists() and not (tmp_path / "l.csv").exists()


def test_the_library_gives_stems_and_labels_from_the_same_pass(tmp_path):
    """dlsynth.render(..., stems=True, labels=True): the mix is render()'s plain mix, the stems
    sum to it, the labels are the command's."""
    import dlsynth

    midi, _ = _probe_song(tmp_path)
    bank = str(tmp_path / "probe.dls")
    plain = dlsynth.render(str(midi), bank, max_length=0.3)
    got = dlsynth.render(str(midi), bank, max_length=0.3, stems=True, labels=True)
    assert isinstance(got, dlsynth.Rendered)
    assert np.array_equal(got.mix, plain)
    assert _sum_error(got.mix, got.stems) < SUM_TOLERANCE
    _, _, rows = render_arrays(str(midi), load_banks([bank]), max_length=0.3, gain_db=-12.0)
    assert got.labels == rows and len(rows) == 6
    by_program = dlsynth.render(str(midi), bank, max_length=0.3, stems="program")
    assert _sum_error(by_program.mix, by_program.stems) < SUM_TOLERANCE
    with pytest.raises(ValueError, match="stems"):
        dlsynth.render(str(midi), bank, stems="voice")
