#!/usr/bin/env python3
"""Batch renders on Dask against local workers: files per second, and the overhead per file.

N short songs (default 200: the first 4 to 12 seconds of the real songs, transposed, as
``render_speed.py --many`` makes them; written to a scratch folder) rendered into a folder by

* ``dlsynth render FILES -o DIR/ -j W --json``: W local worker processes;
* ``dlsynth render FILES -o DIR/ --scheduler ADDR``: a Dask ``LocalCluster`` of W worker
  processes (one thread each) started here beforehand (its start-up time is reported
  apart); the first round's workers read the bank, later rounds find it read (a long-lived
  cluster);

both whole commands, as a user runs them (start-up, bank check and connection included);
and ``render_many(FILES, DIR, client=...)`` in this process on the same cluster with a client
already connected (``dask_warm``: no interpreter start-up, no import of Dask, no connection).
Best of ``--runs``, the three in turn within each round. The bank: ``--bank`` (default the
built-in one). Every Dask output is checked byte for byte against the local one.

The overhead per file is what the workers spend on a file beyond rendering it: (W x the
command's wall time - the sum of the files' render times, from the manifest or the JSON
summary) / N, in milliseconds; and the extra worker time a Dask file costs over a local
one, W x (Dask wall - local wall) / N.

Usage::

    python benchmarks/render_dask.py [--files 200] [--workers 2] [--runs 3] [--bank B.sf2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

from render_speed import _env, dlsynth_command, log, make_short_songs, timed  # noqa: E402


def _command(files: list[Path], out: Path, bank: str | None, *extra: str) -> list[str]:
    return dlsynth_command() + [
        "render",
        *map(str, files),
        "-o",
        f"{out}/",
        "-q",
        *(["--bank", bank] if bank else []),
        *extra,
    ]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bank", default=None, help="a bank (default: the built-in one)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    n, w = a.files, a.workers
    os.environ.update(_env())  # the cluster's workers import this checkout
    from distributed import Client, LocalCluster

    from dlsynth.apps.batch import render_many

    with tempfile.TemporaryDirectory(prefix="dlsynth-dask-") as tmp:
        root = Path(tmp)
        (root / "mid").mkdir()
        files = make_short_songs(root / "mid", n)
        t0 = time.perf_counter()
        cluster = LocalCluster(n_workers=w, processes=True, threads_per_worker=1, dashboard_address=":0")
        cluster_start = time.perf_counter() - t0
        log(f"LocalCluster of {w} workers up in {cluster_start:.2f} s at {cluster.scheduler_address}")
        client = Client(cluster.scheduler_address)
        best: dict[str, float] = {}
        render_sum: dict[str, float] = {}
        audio = 0.0
        try:
            for r in range(a.runs):
                for name in ("local", "dask", "dask_warm"):
                    out = root / name
                    shutil.rmtree(out, ignore_errors=True)
                    out.mkdir()
                    if name == "local":
                        wall, proc = timed(_command(files, out, a.bank, "-j", str(w), "--json"), timeout=3600)
                        results = json.loads(proc.stdout)
                        spent = sum(x["wall_seconds"] for x in results)
                        audio = sum(x["seconds"] for x in results)
                    else:
                        if name == "dask":
                            wall, _ = timed(
                                _command(files, out, a.bank, "--scheduler", cluster.scheduler_address), timeout=3600
                            )
                        else:
                            t0 = time.perf_counter()
                            render_many(files, out, a.bank, client=client)
                            wall = time.perf_counter() - t0
                        entries = json.loads((out / "manifest.json").read_text())
                        if any(e["status"] != "rendered" for e in entries):
                            raise RuntimeError(f"{name}: not every file rendered: {entries}")
                        spent = sum(e["seconds"] for e in entries)
                        for f in files:
                            if (out / f"{f.stem}.wav").read_bytes() != (root / "local" / f"{f.stem}.wav").read_bytes():
                                raise RuntimeError(f"{name}: {f.stem}: the Dask output differs from the local one")
                    if wall < best.get(name, float("inf")):
                        best[name], render_sum[name] = wall, spent
                    log(
                        f"run {r + 1}/{a.runs} {name:9s} {wall:7.2f} s  {n / wall:6.1f} files/s  "
                        f"(renders {spent:.2f} s of worker time)"
                    )
        finally:
            client.close()
            cluster.close()
    fps = {k: n / v for k, v in best.items()}
    overhead_ms = {k: 1000 * (w * best[k] - render_sum[k]) / n for k in best}
    extra_ms = {k: 1000 * w * (best[k] - best["local"]) / n for k in ("dask", "dask_warm")}
    result = {
        "files": n,
        "workers": w,
        "runs": a.runs,
        "bank": a.bank or "built-in",
        "audio_seconds": audio,
        "cluster_start_seconds": cluster_start,
        "best_seconds": best,
        "files_per_second": fps,
        "render_seconds_sum": render_sum,
        "overhead_ms_per_file": overhead_ms,
        "extra_ms_per_file_over_local": extra_ms,
        "ratio_files_per_second_over_local": {k: fps[k] / fps["local"] for k in ("dask", "dask_warm")},
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
    }
    if a.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{n} short songs ({audio:.0f} s of audio in all), {w} workers, best of {a.runs}")
        for k in best:
            print(
                f"{k:9s} {best[k]:7.2f} s  {fps[k]:6.1f} files/s  overhead {overhead_ms[k]:6.1f} ms per file "
                f"(worker time not rendering; renders took {render_sum[k]:.2f} s)"
            )
        for k in ("dask", "dask_warm"):
            print(
                f"{k} over local: {result['ratio_files_per_second_over_local'][k]:.2f}x the files per second; "
                f"{extra_ms[k]:+.1f} ms of worker time per file"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
