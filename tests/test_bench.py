"""`dlsynth bench`: the measuring pieces on synthetic data, and short real runs on a JACK
dummy server (notes sent over JACK MIDI, onsets found in the captured audio)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from apps import bench
from tests.jackrig import jack_server  # noqa: F401  (a pytest fixture)

RATE = 48000
BLOCK = 512
NOTES = 20
PERIOD_MS = 1000 * BLOCK / RATE


# ----------------------------------------------------------------------------- pure parts
def test_summarize_gives_percentiles_and_jitter():
    s = bench.summarize([1.0, 2.0, 3.0, float("nan"), 4.0])
    assert s["n"] == 4 and s["min"] == 1.0 and s["max"] == 4.0 and s["p50"] == 2.5
    assert s["std"] == pytest.approx(np.std([1, 2, 3, 4]))
    assert s["p99_p1"] == pytest.approx(s["p99"] - s["p1"])
    assert bench.summarize([]) == {"n": 0}


def test_plan_spreads_note_ons_over_every_place_in_a_block():
    on, keys, dur, gap = bench.make_plan(200, RATE, 128, seed=3)
    assert on[0] == 0 and np.all(np.diff(on) >= gap) and dur < gap
    phases = on % 128
    assert len(np.unique(phases // 16)) == 8  # every eighth of a block is hit
    assert np.array_equal(on, bench.make_plan(200, RATE, 128, seed=3)[0])  # reproducible


def test_onsets_are_found_at_the_first_loud_frame():
    x = np.zeros(10000, dtype=np.float32)
    x[1234:1300] = 0.4
    x[5000:5100] = -0.3
    x[7000:7010] = 0.01  # below the threshold: not a note
    onsets, quiet = bench.detect_onsets(x, cap0=100, event_frames=[1200, 5050, 7050], window=2000)
    assert onsets.tolist() == [1334, 5100, -1]
    assert quiet[:2].tolist() == [True, True]


# ----------------------------------------------------------------------------- real runs
def _run(server, *argv, timeout=150):
    env = dict(os.environ, **server.env)
    return subprocess.run([sys.executable, "-m", "apps.cli", "bench", *argv], env=env, capture_output=True,
                          text=True, timeout=timeout)


def _need_jack_python():
    pytest.importorskip("jack", reason="JACK-Client is not installed (pip install JACK-Client)")
    rtmidi = pytest.importorskip("rtmidi")
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        pytest.skip("python-rtmidi was built without its JACK API")


@pytest.mark.timeout(180)
def test_bench_latency_measures_every_note_through_the_graph(jack_server, tmp_path):
    _need_jack_python()
    out = tmp_path / "latency.json"
    r = _run(jack_server, "latency", "--notes", str(NOTES), "--blocksize", str(BLOCK), "--json", str(out),
             "--warmup", "1")
    assert r.returncode == 0, r.stderr
    assert "MIDI event -> onset" in r.stdout and "reported" in r.stdout
    res = json.loads(out.read_text())
    assert res["jack"]["server"] == jack_server.name and not res["jack"]["started_here"]
    assert res["blocksize"] == BLOCK and res["mode"] == "scheduled"
    notes = res["notes"]
    assert notes["planned"] == notes["sent"] == notes["received"] == notes["detected"] == NOTES
    assert notes["matched"] and notes["quiet_before"] == NOTES
    lat = res["latency_ms"]
    assert lat["n"] == NOTES
    assert 0 < lat["min"] <= lat["p50"] <= lat["p99"] <= lat["max"] < 4 * PERIOD_MS + 5
    for key in ("p50", "p99", "max", "std", "p99_p1"):
        assert np.isfinite(lat[key])
    for key in ("transport_ms", "arrival_to_output_ms", "arrival_to_start_ms", "arrival_to_return_ms"):
        assert res[key]["n"] == NOTES, key
        assert 0 < res[key]["p50"] < 4 * PERIOD_MS + 5, key
    assert set(res["xruns"]) >= {"portaudio", "jack"}
    assert res["schedule_latency_ms"] > 0 and res["dac_offset_ms"] > 0
    assert len(res["per_note"]["latency_ms"]) == NOTES
    assert res["reference_ms_reported"]


@pytest.mark.timeout(180)
def test_bench_voices_runs_a_couple_of_steps(jack_server, tmp_path):
    _need_jack_python()
    out = tmp_path / "voices.json"
    r = _run(jack_server, "voices", "--blocksize", str(BLOCK), "--start", "16", "--max-voices", "32",
             "--seconds", "0.5", "--retries", "1", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert "most voices without xruns" in r.stdout
    res = json.loads(out.read_text())
    counts = [s["voices"] for s in res["steps"]]
    assert counts[0] == 16 and set(counts) <= {16, 32}
    assert all(s["reached"] and s["voices_active"] == s["voices"] for s in res["steps"])
    assert res["max_voices_without_xruns"] in (0, 16, 32)
    ok = [s for s in res["steps"] if s["ok"]]
    if ok:  # at 512 frames 32 voices are light: the load is well under the block time
        assert 0 < ok[-1]["load_mean"] < 0.5


def test_bench_without_a_server_name_that_runs_is_one_line(tmp_path):
    pytest.importorskip("jack")
    env = dict(os.environ, JACK_NO_START_SERVER="1")
    r = subprocess.run([sys.executable, "-m", "apps.cli", "bench", "voices", "--jack-server", "no-such-server-here"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0 and "no-such-server-here" in r.stderr
