"""`dlsynth render --labels`: one row per note as the engine played it. Start frames are
where the engine started the voices (each onset in the audio is there, within a frame);
stolen, key-group-cut and still-sounding notes say so."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from . import stemkit as S

ONSET_TOLERANCE_FRAMES = 1
SILENT = 1e-4  # |sample| above this is sound (the probe's onset is a full-scale cosine)
FADE_FRAMES = 48000 // 70 + 64  # a stolen voice's fade (1/70 s), to the next control tick


def _render(tmp_path, tracks, *extra, labels="labels.csv"):
    bank = S.probe_bank(tmp_path / "probe.dls")
    midi = S.song(tmp_path / "s.mid", tracks)
    out = tmp_path / "mix.wav"
    r = S.cli(
        midi,
        "-o",
        out,
        "--bank",
        bank,
        "--format",
        "float",
        "--no-effects",
        "--gain",
        "0",
        "-q",
        "--labels",
        tmp_path / labels,
        *extra,
    )
    assert r.returncode == 0, r.stderr
    return sf.read(out, dtype="float32")[0], tmp_path / labels


def test_each_onset_is_at_its_labels_start_frame(tmp_path):
    ticks = [0, 121, 247, 480, 733, 999, 1501]  # odd ticks, silence between the notes
    notes = [(t, t + 100, 60 + i, i % 3, i % 2) for i, t in enumerate(ticks)]
    mix, path = _render(tmp_path, [notes])
    rows = sorted(S.read_labels(path), key=lambda r: int(r["start_frame"]))
    assert len(rows) == len(notes)
    x = np.abs(mix).max(axis=1)
    prev_end = 0
    for row, (on, off, key, ch, prog) in zip(rows, notes):
        start = int(row["start_frame"])
        assert start == on * S.FRAMES_PER_TICK
        assert int(row["key_off_frame"]) == off * S.FRAMES_PER_TICK
        assert (int(row["key"]), int(row["channel"]), int(row["program"])) == (key, ch + 1, prog)
        assert row["reason"] == "released" and row["track"] == "1" and row["voices"] == "1"
        end = int(row["end_frame"])
        assert end > int(row["key_off_frame"])
        heard = prev_end + int(np.argmax(x[prev_end:] > SILENT))
        assert abs(heard - start) <= ONSET_TOLERANCE_FRAMES, (heard, start)
        assert np.all(x[end : end + 100] <= SILENT), "sound after the labelled end"
        prev_end = end


def test_notes_stolen_for_a_chord_past_the_polyphony_are_labelled_stolen(tmp_path):
    chord = [(0, 960, 48 + 2 * i, 0, 0) for i in range(4)] + [(10, 960, 49 + 2 * i, 0, 0) for i in range(4)]
    mix, path = _render(tmp_path, [chord], "--voices", "4")
    rows = S.read_labels(path)
    assert len(rows) == 8
    first = [r for r in rows if int(r["start_frame"]) == 0]
    later = [r for r in rows if int(r["start_frame"]) == 10 * S.FRAMES_PER_TICK]
    assert [r["reason"] for r in first] == ["stolen"] * 4
    assert [r["reason"] for r in later] == ["released"] * 4
    for r in first:  # their sound ends with the fade, well before their note-off
        assert int(r["end_frame"]) - 10 * S.FRAMES_PER_TICK <= FADE_FRAMES
        assert int(r["key_off_frame"]) == 960 * S.FRAMES_PER_TICK


def test_an_exclusive_class_pair_cuts_the_first_hat(tmp_path):
    hats = [(0, 400, S.HAT_OPEN, 9, 0), (200, 300, S.HAT_CLOSED, 9, 0)]
    mix, path = _render(tmp_path, [hats])
    rows = sorted(S.read_labels(path), key=lambda r: int(r["start_frame"]))
    assert [(int(r["key"]), r["reason"], r["drum"]) for r in rows] == [
        (S.HAT_OPEN, "key_group", "1"),
        (S.HAT_CLOSED, "released", "1"),
    ]
    cut = int(rows[0]["end_frame"])
    assert 200 * S.FRAMES_PER_TICK < cut < 400 * S.FRAMES_PER_TICK  # ended by the cut, before its note-off
    assert rows[0]["instrument"] == "Standard Kit"


def test_a_note_still_sounding_at_the_end_is_labelled_end_of_file(tmp_path):
    mix, path = _render(
        tmp_path, [[(0, 40000, 60, 0, 0), (10, 20, 64, 0, 0)]], "--max-length", "1", "--tail", "0", labels="labels.json"
    )
    doc = json.loads(path.read_text())
    assert doc["sample_rate"] == 48000
    rows = {n["key"]: n for n in doc["notes"]}
    assert rows[60]["reason"] == "end_of_file" and rows[60]["end_frame"] == 48000
    assert rows[60]["key_off_frame"] is None
    assert rows[64]["reason"] == "released"
    assert len(mix) == 48000


def test_a_labels_file_of_another_kind_is_one_clear_line(tmp_path):
    midi = S.song(tmp_path / "s.mid", [[(0, 10, 60, 0, 0)]])
    r = S.cli(midi, "-o", tmp_path / "m.wav", "--labels", tmp_path / "l.txt")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and ".csv or .json" in r.stderr
    assert not (tmp_path / "m.wav").exists() and not (tmp_path / "l.txt").exists()
