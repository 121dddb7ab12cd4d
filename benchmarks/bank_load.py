#!/usr/bin/env python3
"""Bank load benchmark: dlsynth against SpessaSynth on a General MIDI DLS bank.

The bank is FluidR3_GM.sf2 (Debian package fluid-soundfont-gm) converted to DLS by
spessasynth_core's writer, built once and cached under benchmarks/cache/ (git-ignored).

Measured, each best of N runs with the file already in the page cache:

* SpessaSynth: ``SoundBankLoader.fromArrayBuffer`` on the bytes already in memory (only the
  parse is timed), in one warm node process; also the first parse of a fresh process, and
  the wall time of a whole node process that reads and parses the bank once.
* dlsynth: ``dls.read(path)`` in this process (the default lazy open: one-pass index, all
  regions checked in bulk, regions built on first use), the first use of the instrument
  with the most regions after it, ``read`` followed by ``Collection.load_all()`` (every
  region built), ``dls.read(path, lazy=False)`` (every chunk parsed one by one, the reader
  as it was before lazy opening), and the wall time of the whole command
  ``dlsynth info --json PATH > /dev/null`` (which describes every region).

The SoundFont itself (``--sf2``, read as SF2 without any conversion) gets the same dlsynth
measures, and the read in a fresh Python process (its first call: what a command pays); with
``--sf2-only`` only those are taken (no node, no conversion).

Targets: ``dls.read`` at most 0.1 s, ``dlsynth info --json`` at most 0.5 s, for either bank.

Usage::

    python benchmarks/bank_load.py [--runs N] [--json] [--bank FILE.dls] [--rebuild] [--sf2-only]
"""

from __future__ import annotations

import argparse
import gc
import json
import mmap
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

from peers import FLUID_R3_SF2  # benchmarks/peers.py, beside this script

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CACHE = HERE / "cache"
NODE_PREFIX = CACHE / "node"
SPESSA_PKG = NODE_PREFIX / "node_modules" / "spessasynth_core"
CONVERT_MJS = HERE / "spessa_convert.mjs"
LOAD_MJS = HERE / "spessa_load.mjs"
DEFAULT_SF2 = FLUID_R3_SF2
DEFAULT_DLS = CACHE / "FluidR3_GM.dls"
PATH_NOTE = CACHE / "FLUIDR3_DLS_PATH.txt"
#: the folders of the package's modules (pyproject.toml's package-dir)
PACKAGE_FOLDERS = ("dlsynth", "dls", "gmbank", "smf", "synth", "sink", "native", "apps")
TARGET_INFO_SECONDS = 0.5
TARGET_READ_SECONDS = 0.1


class BenchError(RuntimeError):
    pass


def warm_bytecode() -> None:
    """Compile dlsynth's modules to their bytecode caches before any command is timed: an
    installed package has them (pip compiles at install; a checkout writes them on its first
    run), and a timed command that compiled a module it had just changed would be measuring
    the compiler. Needed where PYTHONDONTWRITEBYTECODE is set, which stops the first run
    writing them; done at every start, it only compiles what changed."""
    import compileall

    for folder in PACKAGE_FOLDERS:
        compileall.compile_dir(str(REPO / folder), quiet=2)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- bank building


def ensure_spessasynth() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise BenchError("node and npm are needed: apt-get install nodejs npm")
    if (SPESSA_PKG / "package.json").is_file():
        return
    log(f"installing spessasynth_core into {NODE_PREFIX} ...")
    NODE_PREFIX.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(NODE_PREFIX), "spessasynth_core"],
        check=True,
        stdout=sys.stderr,
    )
    if not (SPESSA_PKG / "package.json").is_file():
        raise BenchError("npm install spessasynth_core did not produce the package")


def ensure_bank(sf2: Path, dls_path: Path, rebuild: bool) -> Path:
    ensure_spessasynth()
    if rebuild or not dls_path.is_file():
        if not sf2.is_file():
            raise BenchError(f"{sf2} is missing; install it with:\n    sudo apt-get install fluid-soundfont-gm")
        log(f"converting {sf2} to DLS with spessasynth_core ...")
        dls_path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["node", str(CONVERT_MJS), str(sf2), str(dls_path)],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not dls_path.is_file():
            raise BenchError(f"conversion failed:\n{proc.stderr}")
        log(proc.stdout.strip())
    if dls_path.resolve() == DEFAULT_DLS.resolve():
        PATH_NOTE.write_text(str(dls_path.resolve()) + "\n")
    return dls_path


# --------------------------------------------------------------------------- ground truth


def count_bank(path: Path) -> dict:
    """Count instruments, regions and waves by walking the RIFF tree (independent of both readers).

    Also warms the page cache for everyone by touching every page once.
    """
    counts = {"instruments": 0, "regions": 0, "waves": 0, "colh": None}
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
        size = len(m)
        # Warm the page cache: read the file once (all measured readers benefit alike).
        for off in range(0, size, 1 << 22):
            m[off : off + (1 << 22)]
        stack = [(0, size)]
        while stack:
            off, end = stack.pop()
            while off + 8 <= end:
                cid = m[off : off + 4]
                (sz,) = struct.unpack_from("<I", m, off + 4)
                body = off + 8
                if cid in (b"RIFF", b"LIST") and sz >= 4:
                    kind = m[body : body + 4]
                    if kind == b"ins ":
                        counts["instruments"] += 1
                    elif kind in (b"rgn ", b"rgn2"):
                        counts["regions"] += 1
                    elif kind == b"wave":
                        counts["waves"] += 1
                    if kind != b"wave":  # nothing inside a wave matters here
                        stack.append((body + 4, min(body + sz, end)))
                elif cid == b"colh" and sz >= 4:
                    (counts["colh"],) = struct.unpack_from("<I", m, body)
                off = body + sz + (sz & 1)
    counts["bytes"] = size
    return counts


# --------------------------------------------------------------------------- SpessaSynth


def run_node_load(path: Path, runs: int) -> dict:
    proc = subprocess.run(["node", str(LOAD_MJS), str(path), str(runs)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"spessa_load.mjs failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_spessasynth(path: Path, runs: int, process_runs: int) -> dict:
    warm = run_node_load(path, runs)
    process_walls, first_parses = [], []
    for _ in range(process_runs):
        t0 = time.perf_counter()
        one = run_node_load(path, 1)
        process_walls.append(time.perf_counter() - t0)
        first_parses.append(one["best"])
    return {
        "version": warm["version"],
        "node": warm["node"],
        "parse_runs_s": warm["runs"],
        "parse_best_s": warm["best"],
        "first_parse_best_s": min(first_parses),
        "process_wall_runs_s": process_walls,
        "process_wall_best_s": min(process_walls),
        "instruments": warm["instruments"],
        "presets": warm["presets"],
        "regions": warm["regions"],
        "samples": warm["samples"],
    }


# --------------------------------------------------------------------------- dlsynth


def _collection_counts(coll) -> dict:
    instruments = getattr(coll, "instruments", None)
    if instruments is None:
        return {}
    return {
        "instruments": len(instruments),
        "regions": sum(len(getattr(i, "regions", ())) for i in instruments),
        "waves": len(getattr(coll, "waves", ()) or ()),
        "warnings": len(getattr(coll, "warnings", ()) or ()),
    }


def _release(coll) -> None:
    close = getattr(coll, "close", None)
    if callable(close):
        try:
            close()
        except Exception:
            pass


def _best_of(runs: int, fn) -> tuple[list[float], object]:
    """Times of fn() (each after a gc.collect, outside the timing), and its last result."""
    times, result = [], None
    for _ in range(runs):
        if result is not None:
            _release(result)
        result = None
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def bench_dls_read(path: Path, runs: int) -> dict:
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    try:
        from dlsynth import dls  # noqa: WPS433

        read = getattr(dls, "read", None)
        if read is None:
            from dlsynth.dls.reader import read  # type: ignore[no-redef]
    except Exception as exc:  # the reader may not exist yet
        return {"available": False, "error": f"{type(exc).__name__}: {exc}"}
    p = str(path)
    try:
        times, coll = _best_of(runs, lambda: read(p))
    except Exception as exc:
        return {"available": False, "error": f"dls.read raised {type(exc).__name__}: {exc}"}
    out = {"available": True, "runs_s": times, "best_s": min(times)}
    extra: dict = {}
    instruments = getattr(coll, "instruments", None) or []
    if instruments and hasattr(instruments[0], "regions_loaded"):
        # Lazy reading: what the first use of one instrument costs, and reading everything.
        biggest = max(range(len(instruments)), key=lambda i: instruments[i].region_count)

        def first_use():
            c = read(p)
            t0 = time.perf_counter()
            c.instruments[biggest].regions
            return time.perf_counter() - t0

        extra["first_use_runs_s"] = [first_use() for _ in range(runs)]
        extra["first_use_best_s"] = min(extra["first_use_runs_s"])
        extra["first_use_regions"] = instruments[biggest].region_count
        extra["unread_instruments_after_open"] = sum(not i.regions_loaded for i in instruments)
        try:
            t_all, c_all = _best_of(runs, lambda: read(p).load_all())
            _release(c_all)
            extra["load_all_runs_s"] = t_all
            extra["load_all_best_s"] = min(t_all)
            t_full, c_full = _best_of(runs, lambda: read(p, lazy=False))
            extra["full_runs_s"] = t_full
            extra["full_best_s"] = min(t_full)
            extra["lazy_equals_full"] = bool(c_full == coll)
            _release(c_full)
        except TypeError:  # a reader without lazy=
            pass
    out.update(extra)
    out.update(_collection_counts(coll))
    _release(coll)
    return out


_FRESH_READ = (
    "import time, sys; from dlsynth import dls; t = time.perf_counter(); dls.read(sys.argv[1]); "
    "print(time.perf_counter() - t)"
)


def bench_fresh_read(path: Path, runs: int) -> dict:
    """``dls.read`` as the first call of a fresh Python process (the reader's modules imported,
    the file in the page cache): what a command pays, lazy imports and first-call costs included."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    times = []
    for _ in range(runs):
        proc = subprocess.run(
            [sys.executable, "-c", _FRESH_READ, str(path)], capture_output=True, text=True, cwd=REPO, env=env
        )
        if proc.returncode != 0:
            return {"available": False, "error": " | ".join(proc.stderr.strip().splitlines()[-2:])}
        times.append(float(proc.stdout.strip().splitlines()[-1]))
    return {"available": True, "runs_s": times, "best_s": min(times), "median_s": statistics.median(times)}


def bench_sf2(path: Path, runs: int, cmd: list[str] | None) -> dict:
    """The dlsynth measures on a SoundFont read as such (no conversion)."""
    if not path.is_file():
        return {"available": False, "error": f"{path} is missing (apt-get install fluid-soundfont-gm)"}
    count_bank(path)  # warms the page cache (the counts are DLS chunks: none here)
    log(f"timing dlsynth dls.read on {path.name} ...")
    read = bench_dls_read(path, runs)
    read["fresh_process"] = bench_fresh_read(path, runs)
    log(f"timing dlsynth info --json on {path.name} ...")
    return {
        "path": str(path.resolve()),
        "bytes": path.stat().st_size,
        "read": read,
        "info": bench_info_command(path, runs, cmd),
    }


def dlsynth_command(override: str | None) -> list[str] | None:
    if override:
        return override.split()
    # Prefer the entry point next to this interpreter (skips e.g. a pyenv shell shim).
    beside = Path(sys.executable).parent / "dlsynth"
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    found = shutil.which("dlsynth")
    return [found] if found else None


def _find_count(obj, names: tuple[str, ...]):
    """Look for an integer count under any of names (or a list to take len of), shallowly."""
    if isinstance(obj, dict):
        for key in names:
            if key in obj:
                val = obj[key]
                if isinstance(val, bool):
                    continue
                if isinstance(val, int):
                    return val
                if isinstance(val, list):
                    return len(val)
        for val in obj.values():
            if isinstance(val, dict):
                found = _find_count(val, names)
                if found is not None:
                    return found
    return None


def bench_info_command(path: Path, runs: int, cmd: list[str] | None) -> dict:
    if cmd is None:
        return {"available": False, "error": "no dlsynth command found"}
    argv = cmd + ["info", "--json", str(path)]
    # One untimed run to check it works and to see what it reports.
    probe = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    if probe.returncode != 0:
        tail = (probe.stderr or probe.stdout).strip().splitlines()[-3:]
        return {"available": False, "command": argv, "error": " | ".join(tail) or f"exit {probe.returncode}"}
    out: dict = {"available": True, "command": argv}
    try:
        report = json.loads(probe.stdout)
        out["instruments"] = _find_count(report, ("instrument_count", "instruments", "n_instruments"))
        out["regions"] = _find_count(report, ("region_count", "regions", "n_regions"))
    except ValueError:
        out["json_ok"] = False
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
        times.append(time.perf_counter() - t0)
        if proc.returncode != 0:
            tail = " | ".join(proc.stderr.strip().splitlines()[-2:])
            return {"available": False, "command": argv, "error": f"exit {proc.returncode} on a timed run: {tail}"}
    out.update(runs_s=times, best_s=min(times), median_s=statistics.median(times))
    return out


# --------------------------------------------------------------------------- report


def ratio(a, b):
    if a is None or b is None or not b:
        return None
    return a / b


def build_report(args) -> dict:
    sf2 = bench_sf2(Path(args.sf2), args.runs, dlsynth_command(args.dlsynth))
    if args.sf2_only:
        return {"runs": args.runs, "python": platform.python_version(), "sf2": sf2, "target": _targets(sf2)}
    rep = _build_dls_report(args)
    rep["sf2"] = sf2
    rep["target"]["sf2"] = _targets(sf2)
    return rep


def _targets(sf2: dict) -> dict:
    """Whether the SoundFont's figures meet the targets (None: not measured)."""
    read, info = sf2.get("read", {}).get("best_s"), sf2.get("info", {}).get("best_s")
    return {
        "read_under_s": TARGET_READ_SECONDS,
        "read_met": None if read is None else read <= TARGET_READ_SECONDS,
        "info_under_s": TARGET_INFO_SECONDS,
        "info_met": None if info is None else info <= TARGET_INFO_SECONDS,
    }


def _build_dls_report(args) -> dict:
    bank_path = Path(args.bank) if args.bank else ensure_bank(Path(args.sf2), DEFAULT_DLS, args.rebuild)
    if not bank_path.is_file():
        raise BenchError(f"no such bank: {bank_path}")
    if args.bank:
        ensure_spessasynth()
    counts = count_bank(bank_path)
    log("timing SpessaSynth ...")
    spessa = bench_spessasynth(bank_path, args.runs, args.process_runs)
    log("timing dlsynth dls.read ...")
    read = bench_dls_read(bank_path, args.runs)
    log("timing dlsynth info --json ...")
    info = bench_info_command(bank_path, args.runs, dlsynth_command(args.dlsynth))

    mismatches = []
    for who, res in (("spessasynth", spessa), ("dls.read", read), ("dlsynth info", info)):
        for key in ("instruments", "regions"):
            got = res.get(key)
            if got is not None and got != counts[key]:
                mismatches.append(f"{who} sees {got} {key}, the file has {counts[key]}")

    info_best = info.get("best_s")
    return {
        "bank": {
            "path": str(bank_path.resolve()),
            "bytes": counts["bytes"],
            "mb": counts["bytes"] / 1e6,
            "instruments": counts["instruments"],
            "regions": counts["regions"],
            "waves": counts["waves"],
            "colh_instruments": counts["colh"],
        },
        "runs": args.runs,
        "python": platform.python_version(),
        "spessasynth": spessa,
        "dlsynth_read": read,
        "dlsynth_info": info,
        "ratios": {
            "read_vs_spessa_parse": ratio(read.get("best_s"), spessa["parse_best_s"]),
            "read_vs_spessa_first_parse": ratio(read.get("best_s"), spessa["first_parse_best_s"]),
            "load_all_vs_spessa_parse": ratio(read.get("load_all_best_s"), spessa["parse_best_s"]),
            "full_read_vs_spessa_parse": ratio(read.get("full_best_s"), spessa["parse_best_s"]),
            "info_vs_spessa_parse": ratio(info_best, spessa["parse_best_s"]),
            "info_vs_spessa_process": ratio(info_best, spessa["process_wall_best_s"]),
        },
        "target": {
            "info_under_s": TARGET_INFO_SECONDS,
            "met": None if info_best is None else info_best <= TARGET_INFO_SECONDS,
            "read_under_s": TARGET_READ_SECONDS,
            "read_met": None if read.get("best_s") is None else read["best_s"] <= TARGET_READ_SECONDS,
        },
        "count_mismatches": mismatches,
    }


def _fmt_s(v) -> str:
    return "      n/a" if v is None else f"{v:9.3f}"


def _fmt_r(v) -> str:
    return "     " if v is None else f"{v:5.2f}x"


def print_sf2_table(rep: dict) -> None:
    """The SoundFont's own rows (dlsynth reads SF2 directly)."""
    sf2 = rep["sf2"]
    if "read" not in sf2:
        print(f"sf2: not measured ({sf2.get('error')})")
        return
    r, i, fresh = sf2["read"], sf2["info"], sf2["read"].get("fresh_process", {})
    print(f"sf2 bank: {sf2['path']} ({sf2['bytes'] / 1e6:.1f} MB), read as SF2; best of {rep['runs']}")
    print(f"{'measure':<56} {'best s':>9}  {'median s':>9}")
    print("-" * 78)
    rows = [
        ("dlsynth dls.read(path), in-process", r.get("runs_s")),
        ("  the same, first call of a fresh process", fresh.get("runs_s")),
        (f"  then first use of one instrument ({r.get('first_use_regions', '?')} regions)", r.get("first_use_runs_s")),
        ("  dls.read(path).load_all(), every region built", r.get("load_all_runs_s")),
        ("  dls.read(path, lazy=False)", r.get("full_runs_s")),
        ("dlsynth info --json PATH > /dev/null, wall", i.get("runs_s")),
    ]
    for name, times in rows:
        best, med = (min(times), statistics.median(times)) if times else (None, None)
        print(f"{name:<56} {_fmt_s(best)}  {_fmt_s(med)}")
    for label, res in (("dls.read", r), ("dlsynth info", i)):
        if not res.get("available"):
            print(f"{label}: not measured ({res.get('error')})")
    if "unread_instruments_after_open" in r:
        print(
            f"after dls.read: {r['unread_instruments_after_open']} of {r.get('instruments')} instruments "
            f"have their regions still unread; lazy == full: {r.get('lazy_equals_full')}"
        )
    t = _targets(sf2)
    for what, key, under, best in (
        ("dls.read", "read_met", t["read_under_s"], r.get("best_s")),
        ("`dlsynth info --json`", "info_met", t["info_under_s"], i.get("best_s")),
    ):
        met = t[key]
        verdict = "not measured" if met is None else ("MET" if met else "MISSED")
        print(f"target (sf2): {what} at most {under:.1f} s: {verdict}" + ("" if best is None else f" ({best:.3f} s)"))


def print_table(rep: dict) -> None:
    b, s, r, i, q = rep["bank"], rep["spessasynth"], rep["dlsynth_read"], rep["dlsynth_info"], rep["ratios"]
    print(f"bank: {b['path']}")
    print(
        f"      {b['mb']:.1f} MB, {b['instruments']} instruments, {b['regions']} regions, "
        f"{b['waves']} waves (counted from the RIFF tree)"
    )
    print(f"peer: spessasynth_core {s['version']} on node {s['node']}; python {rep['python']}; best of {rep['runs']}")
    print()
    print(f"{'measure':<56} {'best s':>9}  {'÷ spessa parse':>14}  {'÷ spessa process':>16}")
    print("-" * 100)
    rows = [
        ("SpessaSynth parse, warm node process", s["parse_best_s"], None, None),
        ("SpessaSynth parse, first in a fresh process", s["first_parse_best_s"], None, None),
        ("SpessaSynth whole node process (read+parse once)", s["process_wall_best_s"], None, None),
        ("dlsynth dls.read(path), in-process", r.get("best_s"), q["read_vs_spessa_parse"], None),
        (
            f"  then first use of one instrument ({r.get('first_use_regions', '?')} regions)",
            r.get("first_use_best_s"),
            ratio(r.get("first_use_best_s"), s["parse_best_s"]),
            None,
        ),
        (
            "  dls.read(path).load_all(), every region built",
            r.get("load_all_best_s"),
            q["load_all_vs_spessa_parse"],
            None,
        ),
        (
            "  dls.read(path, lazy=False), full one-by-one parse",
            r.get("full_best_s"),
            q["full_read_vs_spessa_parse"],
            None,
        ),
        (
            "dlsynth info --json PATH > /dev/null, wall",
            i.get("best_s"),
            q["info_vs_spessa_parse"],
            q["info_vs_spessa_process"],
        ),
    ]
    for name, val, r1, r2 in rows:
        print(f"{name:<56} {_fmt_s(val)}  {_fmt_r(r1):>14}  {_fmt_r(r2):>16}")
    print()
    for label, res in (("dls.read", r), ("dlsynth info", i)):
        if not res.get("available"):
            print(f"{label}: not measured ({res.get('error')})")
    print(
        f"counts seen: SpessaSynth {s['instruments']} instruments / {s['regions']} regions; "
        f"dls.read {r.get('instruments', 'n/a')} / {r.get('regions', 'n/a')}; "
        f"info {i.get('instruments', 'n/a')} / {i.get('regions', 'n/a')}"
    )
    for msg in rep["count_mismatches"]:
        print(f"MISMATCH: {msg}")
    if r.get("lazy_equals_full") is False:
        print("MISMATCH: the lazy read and the full read give different collections")
    if "unread_instruments_after_open" in r:
        print(
            f"after dls.read: {r['unread_instruments_after_open']} of {r.get('instruments')} instruments "
            f"have their regions still unread; lazy == full: {r.get('lazy_equals_full')}"
        )

    def verdict(met):
        return "not measured" if met is None else ("MET" if met else "MISSED")

    t = rep["target"]
    print(
        f"target: dls.read at most {t['read_under_s']:.1f} s: {verdict(t['read_met'])}"
        + ("" if r.get("best_s") is None else f" ({r['best_s']:.3f} s)")
    )
    print(
        f"target: `dlsynth info --json` at most {t['info_under_s']:.1f} s: {verdict(t['met'])}"
        + ("" if i.get("best_s") is None else f" ({i['best_s']:.3f} s)")
    )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="timed runs per measure (best is reported)")
    ap.add_argument(
        "--process-runs", type=int, default=3, help="fresh node processes for the first-parse and whole-process figures"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--bank", help="benchmark this DLS file instead of the converted FluidR3 bank")
    ap.add_argument("--sf2", default=str(DEFAULT_SF2), help="SF2 to convert (default: FluidR3_GM.sf2)")
    ap.add_argument("--rebuild", action="store_true", help="convert the SF2 again even if cached")
    ap.add_argument("--dlsynth", help="command to run for dlsynth (default: the installed entry point)")
    ap.add_argument("--sf2-only", action="store_true", help="only the SoundFont's dlsynth figures (no node, no DLS)")
    args = ap.parse_args(argv)
    args.runs = max(1, args.runs)
    args.process_runs = max(1, args.process_runs)
    warm_bytecode()
    try:
        rep = build_report(args)
    except (BenchError, subprocess.CalledProcessError) as exc:
        log(f"bank_load: {exc}")
        return 2
    if args.json:
        json.dump(rep, sys.stdout, indent=2)
        print()
    else:
        if not args.sf2_only:
            print_table(rep)
            print()
        print_sf2_table(rep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
