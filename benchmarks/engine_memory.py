"""Sample-pool memory: download a whole DLS bank into the engine and measure what it costs.

    python benchmarks/engine_memory.py [--bank FILE.dls] [--interpolation cubic] [--json]

Default bank: benchmarks/cache/FluidR3_GM.dls (FluidR3_GM.sf2 converted to DLS when missing,
as benchmarks/bank_load.py does; the script then measures in a fresh process of its own,
with --bank). The script does what ``dlsynth play`` does with a bank: ``Synth(...).download_in_background(dls.read(path))``,
then ``download_some`` until every instrument and every wave it plays is in the engine (the
Service thread's job in play; each instrument's regions, once compiled into the engine, are
let go and read again from the file if asked for). ``--preload`` measures
``download(..., preload=True)`` instead (what ``render`` of a whole bank does: the reader's
regions are kept). Then it prints

* sample data: the bank's PCM bytes as stored in the file (sum of the supported waves'
  ``data.nbytes``; 8-bit waves count one byte a sample, as stored);
* pool: the engine's ``stats()["sample_bytes"]``, every byte its sample pool holds (wave
  buffers with their guard frames, and the loop seam images);
* held for the bank: RSS after the download less RSS before ``dls.read`` (the interpreter,
  NumPy and the engine's code are there before any bank), and its ratio to the sample data;
* RSS of this process after the download (VmRSS), split into anonymous memory (RssAnon:
  the engine's pool and the Python objects) and file-backed pages (RssFile: the bank's
  memory map, which ``dls.read`` keeps and the download reads through, and the shared
  libraries), plus the peak (VmHWM); and the ratio RSS / sample data;
* times: ``dls.read`` and the download of everything (wall clock).

Linux only (it reads /proc/self/status). Run it in a fresh process: RSS is not given back.
"""

from __future__ import annotations

import dlsynth.numpy_env  # noqa: F401  (first: one OpenBLAS thread, as the command runs)

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET_RSS_RATIO = 1.3  # FluidR3 fully downloaded: process RSS <= 1.3x its sample data
sys.path.insert(0, str(ROOT))


def proc_status() -> dict[str, int]:
    """VmRSS, RssAnon, RssFile, RssShmem, VmHWM of this process, in bytes."""
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
                out[key] = int(rest.split()[0]) * 1024
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bank", type=Path, default=None, help="DLS file (default: FluidR3_GM.dls, see above)")
    ap.add_argument("--interpolation", default="cubic", choices=["linear", "cubic", "sinc"])
    ap.add_argument(
        "--preload",
        action="store_true",
        help="download(preload=True), keeping the reader's regions (default: as play does)",
    )
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    if args.bank is None:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        import bank_load

        try:
            bank = bank_load.ensure_bank(bank_load.DEFAULT_SF2, bank_load.DEFAULT_DLS, rebuild=False)
        except bank_load.BenchError as exc:
            raise SystemExit(f"engine_memory: {exc}") from None
        # Measure in a fresh process, as it would be without the bank's preparation (the
        # conversion's tools and their imports, 1.6 MB of this process's memory).
        sys.stdout.flush()
        os.execv(
            sys.executable,
            [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]), "--bank", str(bank)],
        )
    else:
        bank = args.bank
    if not bank.exists():
        raise SystemExit(f"engine_memory: {bank} does not exist")

    from dlsynth import dls
    from dlsynth.synth.synth import Synth

    start = proc_status()
    t0 = time.perf_counter()
    col = dls.read(str(bank))
    t_read = time.perf_counter() - t0
    after_read = proc_status()
    supported = [w for w in col.waves if w.supported]
    sample_bytes = int(sum(w.data.nbytes for w in supported))
    sample_frames = int(sum(w.data.shape[0] * (w.data.shape[1] if w.data.ndim > 1 else 1) for w in supported))

    synth = Synth(interpolation=args.interpolation, effects=False)
    t0 = time.perf_counter()
    if args.preload:
        synth.download(col, preload=True)
    else:
        synth.download_in_background(col)
        while not synth.download_some(0.1):
            pass
    t_download = time.perf_counter() - t0
    st = synth.engine.stats()
    after = proc_status()

    res = {
        "bank": str(bank),
        "file_bytes": bank.stat().st_size,
        "waves": len(supported),
        "waves_in_engine": int(st["waves"]),
        "instruments_in_engine": int(st["instruments"]),
        "sample_bytes": sample_bytes,
        "sample_values": sample_frames,
        "pool_bytes": int(st["sample_bytes"]),
        "pool_per_sample_data": st["sample_bytes"] / sample_bytes if sample_bytes else 0.0,
        "path": "preload" if args.preload else "play",
        "held_for_bank": after["VmRSS"] - start["VmRSS"],
        "held_per_sample_data": (after["VmRSS"] - start["VmRSS"]) / sample_bytes if sample_bytes else 0.0,
        "rss_start": start["VmRSS"],
        "rss_after_read": after_read["VmRSS"],
        "rss_anon_after_read": after_read.get("RssAnon", 0),
        "rss_file_after_read": after_read.get("RssFile", 0),
        "rss": after["VmRSS"],
        "rss_anon": after.get("RssAnon", 0),
        "rss_file": after.get("RssFile", 0),
        "rss_peak": after["VmHWM"],
        "rss_per_sample_data": after["VmRSS"] / sample_bytes if sample_bytes else 0.0,
        "anon_per_sample_data": after.get("RssAnon", 0) / sample_bytes if sample_bytes else 0.0,
        "read_seconds": t_read,
        "download_seconds": t_download,
        "instrument_bytes": int(st["instrument_bytes"]),
        "target_rss_ratio": TARGET_RSS_RATIO,
    }
    res["meets_target"] = res["rss_per_sample_data"] <= TARGET_RSS_RATIO
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    mb = 1e6
    print(
        f"bank: {bank} ({res['file_bytes'] / mb:.1f} MB), {res['waves']} PCM waves; "
        f"engine: {res['waves_in_engine']} waves, {res['instruments_in_engine']} instruments"
    )
    print(f"sample data (as stored):  {sample_bytes / mb:9.1f} MB")
    print(
        f"engine pool:              {res['pool_bytes'] / mb:9.1f} MB  ({res['pool_per_sample_data']:.3f} x sample data)"
    )
    print(
        f"held for the bank:        {res['held_for_bank'] / mb:9.1f} MB  ({res['held_per_sample_data']:.3f} x sample data;"
        f" {res['path']} path)"
    )
    print(f"instruments (regions, compiled connections): {res['instrument_bytes'] / mb:.1f} MB in the engine")
    print(f"RSS before read:          {res['rss_start'] / mb:9.1f} MB")
    print(
        f"RSS after dls.read:       {res['rss_after_read'] / mb:9.1f} MB  (anonymous {res['rss_anon_after_read'] / mb:.1f}, "
        f"file-backed {res['rss_file_after_read'] / mb:.1f})"
    )
    print(f"RSS after download:       {res['rss'] / mb:9.1f} MB  ({res['rss_per_sample_data']:.3f} x sample data)")
    print(
        f"  anonymous (RssAnon):    {res['rss_anon'] / mb:9.1f} MB  ({res['anon_per_sample_data']:.3f} x sample data)"
    )
    print(
        f"  file-backed (RssFile):  {res['rss_file'] / mb:9.1f} MB  (shared libraries, pages of the bank's memory map)"
    )
    print(f"peak RSS (VmHWM):         {res['rss_peak'] / mb:9.1f} MB")
    print(f"dls.read: {t_read:.3f} s; download of everything: {t_download:.3f} s")
    print(
        f"target: RSS <= {TARGET_RSS_RATIO}x sample data: {'meets' if res['meets_target'] else 'MISSES'}"
        f" ({res['rss_per_sample_data']:.3f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
