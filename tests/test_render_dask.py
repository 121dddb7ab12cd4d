"""Batch renders on Dask (`render_many`, `dlsynth render --scheduler`): on a real LocalCluster of
worker processes, byte-identical to local renders, a bad file reported while the rest
complete, resumable, and a worker killed mid-run or Ctrl-C on the client losing no file and
leaving none half-written."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import mido
import pytest
from distributed import Client, LocalCluster

from dlsynth import dls
from dlsynth.apps import batch, render
from dlsynth.apps.render import load_banks, render_file

from . import synthkit as K

ROOT = Path(__file__).resolve().parent.parent
#: the CLI on an unreachable scheduler gives up within its timeout plus the interpreter's
#: start-up and imports (Dask's take about a second)
UNREACHABLE_BOUND_S = batch.SCHEDULER_TIMEOUT_SECONDS + 10
SONG_VARIANTS = 4  # distinct songs; the batches are copies of them, each rendered separately


def _bank(path: Path) -> Path:
    ins = [K.instrument(f"sine{p}", 0, program=p) for p in range(SONG_VARIANTS)]
    dls.write(K.bank_of(ins), path)
    return path


def _song(path: Path, variant: int, seconds: float = 1.0) -> Path:
    """A short format 0 song: a program, then a run of notes (the variant picks program and keys)."""
    mf = mido.MidiFile(type=0, ticks_per_beat=480)  # 120 bpm: 960 ticks per second
    tr = mido.MidiTrack([mido.Message("program_change", program=variant, time=0)])
    steps = max(1, int(seconds * 4))
    for k in range(steps):
        key = 48 + (variant * 5 + k * 3) % 36
        tr.append(mido.Message("note_on", note=key, velocity=90, time=0))
        tr.append(mido.Message("note_off", note=key, velocity=0, time=240))
    mf.tracks.append(tr)
    mf.save(path)
    return path


def _songs(folder: Path, n: int, seconds: float = 1.0) -> list[Path]:
    folder.mkdir(exist_ok=True)
    return [_song(folder / f"song{i:03d}.mid", i % SONG_VARIANTS, seconds) for i in range(n)]


def _references(tmp: Path, songs: list[Path], bank: Path) -> dict[str, bytes]:
    """Each distinct song rendered once, locally, in this process: the bytes every copy must have."""
    banks = load_banks([str(bank)])
    ref: dict[str, bytes] = {}
    for p in songs[:SONG_VARIANTS]:
        out = tmp / f"ref-{p.stem}.wav"
        render_file(str(p), str(out), banks)
        ref[p.stem] = out.read_bytes()
        out.unlink()
    return ref


def _reference_for(ref: dict[str, bytes], stem: str) -> bytes:
    return ref[f"song{int(stem[4:]) % SONG_VARIANTS:03d}"]


def _no_temp_files(out: Path) -> list[str]:
    return [p.name for p in out.iterdir() if p.name.endswith(".part") or p.name.endswith(".tmp")]


def _cli(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dlsynth", "render", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
    )


def _cluster() -> tuple[LocalCluster, Client]:
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0")
    return cluster, Client(cluster)


@pytest.fixture(scope="module")
def dask_client():
    cluster, client = _cluster()
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _bank_reads() -> int:
    return render.bank_reads


def test_render_many_on_dask_gives_the_bytes_of_local_renders_and_reads_the_bank_once_per_worker(tmp_path, dask_client):
    bank = _bank(tmp_path / "sine.dls")
    songs = _songs(tmp_path / "in", 12)
    ref = _references(tmp_path, songs, bank)
    out = tmp_path / "out"
    out.mkdir()
    before = dask_client.run(_bank_reads)
    entries = batch.render_many(songs, out, bank=bank, client=dask_client)
    after = dask_client.run(_bank_reads)
    assert [e["status"] for e in entries] == ["rendered"] * len(songs)
    for p, e in zip(songs, entries):
        assert e["file"] == str(p) and e["output"] == str(out / f"{p.stem}.wav")
        assert Path(e["output"]).read_bytes() == _reference_for(ref, p.stem), p
        assert e["voices"] >= 1 and e["audio_seconds"] > 1.0 and e["seconds"] > 0 and e["error"] is None
        host, pid = e["worker"].rsplit(":", 1)
        assert int(pid) in dask_client.run(os.getpid).values() and int(pid) != os.getpid()
    # each worker read the (new) bank at most once, for all its files
    reads = {w: after[w] - before.get(w, 0) for w in after}
    assert all(0 <= n <= 1 for n in reads.values()) and sum(reads.values()) >= 1, reads
    assert json.loads((out / "manifest.json").read_text()) == entries
    assert _no_temp_files(out) == []


def test_a_bad_file_among_good_ones_is_reported_and_the_rest_complete(tmp_path, dask_client):
    bank = _bank(tmp_path / "sine.dls")
    songs = _songs(tmp_path / "in", 6)
    ref = _references(tmp_path, songs, bank)
    bad = tmp_path / "in" / "broken.mid"
    bad.write_bytes(songs[0].read_bytes()[:10])  # half a header
    files = songs[:3] + [bad] + songs[3:]
    out = tmp_path / "out"
    out.mkdir()
    manifest = tmp_path / "runs" / "first.json"
    manifest.parent.mkdir()
    entries = batch.render_many(files, out, bank=[bank], client=dask_client, manifest=manifest)
    assert [e["status"] for e in entries] == ["rendered"] * 3 + ["error"] + ["rendered"] * 3
    assert "broken.mid" in entries[3]["error"] and "\n" not in entries[3]["error"]
    assert not (out / "broken.wav").exists()
    for p in songs:
        assert (out / f"{p.stem}.wav").read_bytes() == _reference_for(ref, p.stem)
    assert json.loads(manifest.read_text()) == entries
    assert sorted(os.listdir(out)) == sorted(f"{p.stem}.wav" for p in songs)  # manifest elsewhere, no temp files


def test_local_workers_give_the_same_bytes_and_manifest(tmp_path):
    bank = _bank(tmp_path / "sine.dls")
    songs = _songs(tmp_path / "in", 6)
    ref = _references(tmp_path, songs, bank)
    out = tmp_path / "out"
    out.mkdir()
    entries = batch.render_many(songs, out, bank=bank, jobs=2)
    assert [e["status"] for e in entries] == ["rendered"] * len(songs)
    for p in songs:
        assert (out / f"{p.stem}.wav").read_bytes() == _reference_for(ref, p.stem)
    assert json.loads((out / "manifest.json").read_text()) == entries


def test_the_cli_on_a_scheduler_renders_reports_and_resumes(tmp_path, dask_client):
    """--scheduler as a user runs it: the bytes of a plain local render, a bad file named while
    the rest complete (exit 2); a re-run renders nothing and says so; a missing output and a
    stale temporary file beside it (a worker died writing it) is rendered again."""
    bank = _bank(tmp_path / "sine.dls")
    songs = _songs(tmp_path / "in", 8)
    bad = tmp_path / "in" / "noise.mid"
    bad.write_bytes(b"RIFF this is not a MIDI file")
    out = tmp_path / "out"
    out.mkdir()
    address = dask_client.scheduler.address
    r = _cli(*songs, bad, "--bank", bank, "-o", f"{out}/", "--scheduler", address)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert lines[-1].startswith(f"dlsynth render: error: {bad}") and len(lines[-1].splitlines()) == 1
    assert lines[-2].startswith("8 rendered, 0 skipped (complete already), 1 failed in ")
    local = tmp_path / "local"
    local.mkdir()
    r = _cli(songs[0], songs[1], "--bank", bank, "-o", f"{local}/", "-q")  # the plain -j path
    assert r.returncode == 0, r.stderr
    for p in songs[:2]:
        assert (out / f"{p.stem}.wav").read_bytes() == (local / f"{p.stem}.wav").read_bytes()
    ref = _references(tmp_path, songs, bank)
    for p in songs:
        assert (out / f"{p.stem}.wav").read_bytes() == _reference_for(ref, p.stem)
    manifest = json.loads((out / "manifest.json").read_text())
    assert [e["status"] for e in manifest] == ["rendered"] * 8 + ["error"]

    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")}
    r = _cli(*songs, "--bank", bank, "-o", f"{out}/", "--scheduler", address)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().startswith("nothing to render: the 8 outputs are complete already"), r.stderr
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.wav")} == stamps
    assert [e["status"] for e in json.loads((out / "manifest.json").read_text())] == ["skipped"] * 8

    victim = out / f"{songs[5].stem}.wav"
    victim.unlink()
    stale = out / f".{victim.name}.k3j_x9q2.part"  # what a worker killed mid-file leaves
    stale.write_bytes(_reference_for(ref, songs[5].stem)[:1000])
    r = _cli(*songs, "--bank", bank, "-o", f"{out}/", "--scheduler", address, "-q")
    assert r.returncode == 0, r.stderr
    statuses = [e["status"] for e in json.loads((out / "manifest.json").read_text())]
    assert statuses == ["skipped"] * 5 + ["rendered"] + ["skipped"] * 2
    assert victim.read_bytes() == _reference_for(ref, songs[5].stem)
    assert _no_temp_files(out) == []


def test_an_unreachable_scheduler_is_one_line_and_exit_2_within_seconds(tmp_path):
    songs = _songs(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = _cli(*songs, "-o", f"{out}/", "--scheduler", f"tcp://127.0.0.1:{port}", timeout=60)
    took = time.monotonic() - t0
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"dlsynth render: error: cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    ), r.stderr
    assert took < UNREACHABLE_BOUND_S, took
    assert os.listdir(out) == []


def test_a_worker_killed_mid_run_has_its_files_redone_elsewhere(tmp_path):
    bank = _bank(tmp_path / "sine.dls")
    songs = _songs(tmp_path / "in", 24, seconds=3.0)
    ref = _references(tmp_path, songs, bank)
    out = tmp_path / "out"
    out.mkdir()
    cluster, client = _cluster()
    killed: dict = {}

    def kill_one_worker(entry, done, total):
        """From the third file done on, the first time a worker has renders in hand: SIGKILL it."""
        if done < 3 or killed:
            return
        pids = client.run(os.getpid)
        busy = {w: keys for w, keys in client.processing().items() if keys}
        if not busy:
            return
        worker = next(iter(busy))
        killed.update(pid=pids[worker], keys=list(busy[worker]))
        os.kill(pids[worker], signal.SIGKILL)

    try:
        entries = batch.render_many(songs, out, bank=bank, client=client, progress=kill_one_worker)
    finally:
        client.close()
        cluster.close()
    assert killed and killed["keys"], "no work was in flight on the killed worker"
    assert [e["status"] for e in entries] == ["rendered"] * len(songs)
    for p in songs:
        assert (out / f"{p.stem}.wav").read_bytes() == _reference_for(ref, p.stem), p
    # what the killed worker held was rendered by another process
    redone = [entries[int(str(k).rsplit("-", 1)[1])] for k in killed["keys"]]
    assert any(not e["worker"].endswith(f":{killed['pid']}") for e in redone), redone
    assert _no_temp_files(out) == []
    assert sorted(os.listdir(out)) == sorted([f"{p.stem}.wav" for p in songs] + ["manifest.json"])


def test_ctrl_c_on_the_client_cancels_leaves_whole_files_and_a_valid_manifest(tmp_path, dask_client):
    bank = _bank(tmp_path / "sine.dls")
    songs = _songs(tmp_path / "in", 40, seconds=3.0)
    ref = _references(tmp_path, songs, bank)
    out = tmp_path / "out"
    out.mkdir()
    address = dask_client.scheduler.address
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dlsynth",
            "render",
            *map(str, songs),
            "--bank",
            str(bank),
            "-o",
            f"{out}/",
            "--scheduler",
            address,
            "-q",
        ],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.wav"))) < 4:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=30)[1]
    assert proc.returncode == 130, err
    assert err.strip() == "dlsynth: interrupted"
    # a render already running on a worker finishes its file; then nothing is left in flight
    deadline = time.monotonic() + 30
    while any(dask_client.processing().values()) or _no_temp_files(out):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    wavs = sorted(out.glob("*.wav"))
    assert 4 <= len(wavs) < len(songs), len(wavs)  # stopped: not every file was rendered
    for w in wavs:
        assert w.read_bytes() == _reference_for(ref, w.stem), w
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest) == len(songs)
    assert {e["status"] for e in manifest} <= {"rendered", "pending"}
    assert all((out / f"{Path(e['file']).stem}.wav").exists() for e in manifest if e["status"] == "rendered")
    # resumable: the re-run renders exactly what is missing
    r = _cli(*songs, "--bank", bank, "-o", f"{out}/", "--scheduler", address, "-q")
    assert r.returncode == 0, r.stderr
    again = json.loads((out / "manifest.json").read_text())
    missing = {w.stem for w in wavs}
    assert [e["status"] for e in again] == ["skipped" if p.stem in missing else "rendered" for p in songs]
    for p in songs:
        assert (out / f"{p.stem}.wav").read_bytes() == _reference_for(ref, p.stem)


def test_batch_options_need_a_folder_and_overwrite_needs_a_batch(tmp_path):
    songs = _songs(tmp_path / "in", 1)
    r = _cli(songs[0], "-o", tmp_path / "x.wav", "--manifest", tmp_path / "m.json")
    assert (
        r.returncode == 2
        and r.stderr.strip() == "dlsynth render: error: --scheduler and --manifest render into a folder: give -o DIR/"
    )
    r = _cli(songs[0], "-o", tmp_path / "x.wav", "--overwrite")
    assert r.returncode == 2 and "--overwrite is for batch runs" in r.stderr
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "m.json").exists()
    out = tmp_path / "out"
    out.mkdir()
    r = _cli(songs[0], "-o", f"{out}/", "--manifest", tmp_path / "m.json", "-q")  # one input is a batch too
    assert r.returncode == 0, r.stderr
    assert [e["status"] for e in json.loads((tmp_path / "m.json").read_text())] == ["rendered"]
    assert sorted(os.listdir(out)) == ["song000.wav"]


def test_a_bad_bank_stops_a_batch_before_anything_is_written(tmp_path):
    songs = _songs(tmp_path / "in", 2)
    bank = tmp_path / "bad.dls"
    bank.write_bytes(b"RIFF\x04\x00\x00\x00DLS ")
    out = tmp_path / "out"
    out.mkdir()
    r = _cli(*songs, "--bank", bank, "-o", f"{out}/", "--manifest", out / "m.json")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("dlsynth render: error: ") and "Traceback" not in r.stderr
    assert os.listdir(out) == []


def test_the_library_keeps_the_programs_ctrl_c_and_a_local_batch_stops_cleanly(tmp_path):
    """render_many in a program of its own (local workers): importing it leaves the program's
    SIGINT handler alone; Ctrl-C raises KeyboardInterrupt out of render_many, with every
    output whole, no temporary file left (the stopped workers' are removed) and a valid
    manifest."""
    bank = _bank(tmp_path / "sine.dls")
    songs = _songs(tmp_path / "in", 40, seconds=3.0)
    ref = _references(tmp_path, songs, bank)
    out = tmp_path / "out"
    out.mkdir()
    script = f"""
import signal, sys
before = signal.getsignal(signal.SIGINT)
from dlsynth.apps.batch import render_many
assert signal.getsignal(signal.SIGINT) is before, signal.getsignal(signal.SIGINT)
try:
    render_many({[str(p) for p in songs]!r}, {str(out)!r}, bank={str(bank)!r}, jobs=2)
except KeyboardInterrupt:
    print("stopped", file=sys.stderr)
    sys.exit(130)
"""
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(list(out.glob("*.wav"))) < 4:
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else ""
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=30)[1]
    assert proc.returncode == 130 and err.strip() == "stopped", err
    wavs = sorted(out.glob("*.wav"))
    assert 4 <= len(wavs) < len(songs)
    for w in wavs:
        assert w.read_bytes() == _reference_for(ref, w.stem), w
    assert _no_temp_files(out) == []
    manifest = json.loads((out / "manifest.json").read_text())
    assert {e["status"] for e in manifest} <= {"rendered", "pending"} and len(manifest) == len(songs)
    assert all((out / f"{Path(e['file']).stem}.wav").exists() for e in manifest if e["status"] == "rendered")


def test_render_many_checks_its_options_before_anything_is_read_or_written(tmp_path):
    songs = _songs(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    bank = _bank(tmp_path / "sine.dls")
    with pytest.raises(ValueError, match="^rate must be between"):
        batch.render_many(songs, out, rate=1000)
    with pytest.raises(ValueError, match="^fmt must be one of"):
        batch.render_many(songs, out, fmt="mp3")
    with pytest.raises(TypeError, match="unknown options block"):
        batch.render_many(songs, out, block=64)
    with pytest.raises(TypeError, match="a path or a list of paths"):
        batch.render_many(songs, out, bank=[load_banks([str(bank)])[0]])
    with pytest.raises(ValueError, match="^rate must be between"):
        batch.render_many(songs, tmp_path / "nowhere" / "deeper", rate=1000)
    assert not (tmp_path / "nowhere").exists()  # a refused call makes no folder
    bad = tmp_path / "bad.dls"
    bad.write_bytes(b"RIFF\x04\x00\x00\x00DLS ")
    with pytest.raises(dls.DLSError):
        batch.render_many(songs, tmp_path / "nowhere" / "deeper", bank=bad)
    assert not (tmp_path / "nowhere").exists()  # nor does a bad bank
    (tmp_path / "a-file").write_bytes(b"")
    with pytest.raises(ValueError, match="a-file: not a folder"):
        batch.render_many(songs, tmp_path / "a-file")
    assert os.listdir(out) == []
    entries = batch.render_many(songs, out, bank=bank, jobs=1, tail="auto", gain_db=-6.0, fmt="float")
    assert [e["status"] for e in entries] == ["rendered"] * 2
    single = tmp_path / "single.wav"
    render_file(str(songs[0]), str(single), load_banks([str(bank)]), gain_db=-6.0, fmt="float")
    assert (out / "song000.wav").read_bytes() == single.read_bytes()
    # A missing out_dir is made (parents too), as -o DIR/ is.
    made = tmp_path / "made" / "deeper"
    entries = batch.render_many(songs[:1], made, bank=bank, jobs=1, tail="auto", gain_db=-6.0, fmt="float")
    assert [e["status"] for e in entries] == ["rendered"]
    assert (made / "song000.wav").read_bytes() == single.read_bytes()
