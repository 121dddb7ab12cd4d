"""Batch renders of whole collections of MIDI files: `render_many`, on local worker
processes (the `-j N` pool) or on a Dask cluster (``dask.distributed``), with a manifest and
resumable runs. (DirectMusic has no batch object: this is `dlsynth render -o DIR/` at scale.)

Every file is rendered by `apps.render.render_job`, the function behind `-j N`, so every
output is byte-identical to a single local render. Each worker process reads the banks once
and keeps them for all its files (cached by each bank's path, size and modification time).

Files, banks and the output folder reach the workers as paths: the workers must see the
client's filesystem at the same paths (a shared filesystem). Each worker writes its output
into the folder itself, under a temporary name renamed to the final one when the file is
whole (`sink.filesink`). So the final name existing *is* the mark of a complete output: a
re-run skips those files and renders the rest (resumable), and a worker that dies, a run
that is stopped, or Ctrl-C never leaves half a file under a final name. The temporary files
of workers that died mid-file are removed at the end of the run that renders those files.

The manifest (``OUT/manifest.json`` by default) is a JSON list with one object per file of
the run, in the order given: ``file``, ``output``, ``status`` (``rendered``, ``skipped``: its
complete output was there already, ``error``, ``pending``: not finished when the run was
stopped), ``seconds`` (the render's wall-clock time), ``audio_seconds``, ``voices`` (peak),
``error`` (one line, or null) and ``worker`` (host:pid). It is written atomically at the
start, every MANIFEST_EVERY_SECONDS or so while files finish, and at the end, so a run interrupted
at any point leaves a valid one.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import time
import uuid

from dlsynth.outputs import check_folder, make_folder

from . import interrupts
from .render import (
    RenderResult,
    _init_worker,
    _keep_worker_banks,
    _output_for,
    cores,
    load_banks,
    render_job,
    stop_pool,
)

MANIFEST_NAME = "manifest.json"  #: in the output folder, unless told otherwise
MANIFEST_EVERY_SECONDS = 1.0  #: the manifest is rewritten at most this often while files finish
#: ... and at most this share of the time (a huge batch's manifest takes a while to write)
MANIFEST_TIME_SHARE = 0.05
SCHEDULER_TIMEOUT_SECONDS = 5.0  #: a Dask scheduler not answering within this is an error
#: renders submitted ahead of the results, per worker thread (and at least MIN_IN_FLIGHT): enough
#: to keep every worker busy, few enough that Ctrl-C has little to cancel
IN_FLIGHT_PER_THREAD = 4
MIN_IN_FLIGHT = 8
WINDOW_EVERY_SECONDS = 2.0  #: how often the workers are counted again (a cluster may grow)
POLL_SECONDS = 0.5  #: the longest the client waits for a result before looking around
#: render_file's options, as render_many takes them
RENDER_OPTIONS = ("rate", "fmt", "interpolation", "effects", "voices", "tail", "gain_db", "max_length", "threads")
RENDERED, SKIPPED, ERROR, PENDING = "rendered", "skipped", "error", "pending"


def render_many(
    files,
    out_dir,
    bank=None,
    *,
    client=None,
    jobs: int = 0,
    manifest=None,
    overwrite: bool = False,
    progress=None,
    **options,
) -> list[dict]:
    """Render MIDI files into ``out_dir`` (each input's name with .wav); returns the manifest.

    ``out_dir`` is made when missing (parents too), once the options and the bank have passed.

    ``bank``: a bank path, a list of them (later ones take precedence per instrument), or
    None for the built-in bank. ``client``: a ``dask.distributed.Client`` to render on its
    cluster, or None for ``jobs`` local worker processes (default: the cores). ``options``:
    `apps.render.render_file`'s (rate, fmt, interpolation, effects, voices, tail, gain_db,
    max_length, threads; threads default to 1 per Dask render, to the cores shared among
    the jobs locally; tail None or "auto": until silent). ``manifest``: its path (default
    ``out_dir/manifest.json``). ``overwrite``: render files whose output exists too (else
    they are skipped).
    ``progress(entry, done, total)`` is called as each file finishes (and once before, with
    entry None and done 0).

    A bad MIDI file is its entry's error while the rest go on; a bad bank or option raises
    (DLSError, ValueError or TypeError, as `dlsynth.options` checks them) before anything
    is rendered.
    """
    unknown = sorted(set(options) - set(RENDER_OPTIONS))
    if unknown:
        raise TypeError(f"render_many() got unknown options {', '.join(unknown)}; it takes {', '.join(RENDER_OPTIONS)}")
    files = [os.fspath(f) for f in files]
    out_dir = os.fspath(out_dir)
    banks_given = [bank] if isinstance(bank, (str, os.PathLike)) else list(bank or ())
    if not all(isinstance(b, (str, os.PathLike)) for b in banks_given):
        raise TypeError("render_many's bank is a path or a list of paths: each worker reads the banks itself")
    bank_paths = [os.fspath(b) for b in banks_given]
    check_folder(out_dir)  # made (parents too) once the bank has been read
    outputs = [_output_for(f, out_dir, True) for f in files]
    seen: set[str] = set()
    for f, o in zip(files, outputs):
        if os.path.abspath(o) in seen:
            raise ValueError(f"two inputs would write the same output file {o} ({f} is the second)")
        seen.add(os.path.abspath(o))
    local_jobs = max(1, min(jobs or cores(), len(files) or 1))
    kw = _checked_options(options, 1 if client is not None else None, local_jobs)
    manifest_path = os.fspath(manifest) if manifest is not None else os.path.join(out_dir, MANIFEST_NAME)
    before = _previous_entries(manifest_path)
    entries = [
        dict(file=f, output=o, status=PENDING, seconds=None, audio_seconds=None, voices=None, error=None, worker=None)
        for f, o in zip(files, outputs)
    ]
    todo = []
    for i, e in enumerate(entries):
        if not overwrite and os.path.exists(e["output"]):  # the rename is the mark of a whole file
            e["status"] = SKIPPED
            old = before.get(os.path.abspath(e["output"]))
            if old is not None:
                e["audio_seconds"], e["voices"] = old.get("audio_seconds"), old.get("voices")
        else:
            todo.append(i)
    # A bad bank fails here, once, before any file is sent or a manifest written.
    banks = load_banks(bank_paths) if todo else None
    make_folder(out_dir)
    book = _Manifest(manifest_path, entries)
    book.write()
    if not todo:
        return entries
    abs_banks = [os.path.abspath(b) for b in bank_paths]
    pool = _DaskPool(client) if client is not None else _LocalPool(local_jobs, abs_banks, banks)
    finished: queue.Queue[int] = queue.Queue()
    in_flight: dict[int, object] = {}
    done = 0
    nxt = 0
    window, counted = pool.window(), time.monotonic()
    if progress is not None:
        progress(None, 0, len(todo))
    try:
        while nxt < len(todo) or in_flight:
            if time.monotonic() - counted >= WINDOW_EVERY_SECONDS:
                window, counted = pool.window(), time.monotonic()
            while nxt < len(todo) and len(in_flight) < window:
                i = todo[nxt]
                nxt += 1
                fut = pool.submit(i, os.path.abspath(files[i]), os.path.abspath(outputs[i]), abs_banks, kw)
                in_flight[i] = fut
                fut.add_done_callback(lambda _f, i=i: finished.put(i))
            interrupts.raise_pending()  # a Ctrl-C lost in a callback (a future's __del__) ends it here
            try:
                i = finished.get(timeout=POLL_SECONDS)
            except queue.Empty:
                book.write_if_due()
                continue
            fut = in_flight.pop(i, None)
            if fut is None:
                continue
            _record(entries[i], fut)
            done += 1
            if progress is not None:
                progress(entries[i], done, len(todo))
            book.write_if_due()
    except BaseException:
        # Ctrl-C (or any failure of the client): submit nothing more, cancel what is out.
        stopped = pool.cancel(list(in_flight.values()))
        if stopped:  # local workers are gone: what they were writing is not coming
            _remove_temp_files(outputs[i] for i in in_flight)
        book.write()
        raise
    finally:
        pool.close()
    # Nothing of this run is in flight now: a temporary file left is a dead worker's.
    _remove_temp_files(outputs[i] for i in todo)
    book.write()
    return entries


def _checked_options(options: dict, threads: int | None, jobs: int) -> dict:
    """render_file's keyword arguments from render_many's options, each checked as the library
    checks it (ValueError, TypeError for the wrong type); ``threads``: the default (None: the
    cores shared among the local jobs)."""
    from dlsynth import options as O
    from dlsynth.native.engine import MAX_THREADS
    from dlsynth.sink.filesink import FORMATS

    kw: dict = {}
    if "rate" in options:
        kw["rate"] = O.rate(options["rate"])
    if "fmt" in options:
        if options["fmt"] not in FORMATS:
            raise ValueError(f"fmt must be one of {', '.join(map(repr, FORMATS))}, got {options['fmt']!r}")
        kw["fmt"] = options["fmt"]
    if "interpolation" in options:
        kw["interpolation"] = O.interpolation(options["interpolation"])
    if "effects" in options:
        kw["effects"] = O.flag("effects", options["effects"])
    if "voices" in options:
        kw["voices"] = O.voices(options["voices"])
    if options.get("tail") is not None:  # None or "auto": until silent
        kw["tail"] = O.tail(options["tail"])
    if options.get("gain_db") is not None:
        kw["gain_db"] = O.gain_db(options["gain_db"])
    if options.get("max_length") is not None:
        kw["max_length"] = O.max_length(options["max_length"])
    if options.get("threads"):
        kw["threads"] = O.threads(options["threads"])
    else:
        kw["threads"] = threads or max(1, min(MAX_THREADS, cores() // jobs))
    return kw


def connect(address: str, timeout: float = SCHEDULER_TIMEOUT_SECONDS):
    """A ``dask.distributed.Client`` of the scheduler at ``address`` (e.g. tcp://HOST:8786);
    UserError (one line) when Dask is not installed or the scheduler does not answer."""
    from .errors import UserError

    try:
        from distributed import Client
    except ImportError:
        raise UserError("--scheduler needs Dask: pip install 'dlsynth[dask]' (dask[distributed])") from None
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        raise UserError(f"cannot reach the Dask scheduler at {address}: {' '.join(str(exc).split())}") from None


def _task(midi_path: str, out_path: str, bank_paths: list[str], kw: dict) -> tuple[RenderResult, str]:
    """One file on a worker (a Dask task, or a local process): its result and who rendered it."""
    return render_job(midi_path, out_path, bank_paths, kw), f"{socket.gethostname()}:{os.getpid()}"


def _record(entry: dict, fut) -> None:
    """A finished render into its manifest entry."""
    try:
        r, worker = fut.result()
    except BaseException as exc:  # the worker died too often, the pool broke, a bug of ours
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        text = " ".join(str(exc).split())
        entry.update(status=ERROR, error=f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__)
        return
    if r.error:
        entry.update(status=ERROR, error=r.error, worker=worker)
    else:
        entry.update(
            status=RENDERED,
            seconds=round(r.wall_seconds, 4),
            audio_seconds=round(r.seconds, 4),
            voices=r.peak_voices,
            error=None,
            worker=worker,
        )


def _remove_temp_files(outputs) -> None:
    from dlsynth.sink.filesink import temp_files

    for p in temp_files(list(outputs)):
        try:
            os.unlink(p)
        except OSError:
            pass


def _previous_entries(path: str) -> dict[str, dict]:
    """The entries of the manifest a previous run left, by output path ({} if none or unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return {os.path.abspath(e["output"]): e for e in data if isinstance(e, dict) and "output" in e}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


class _Manifest:
    """The run's manifest file, rewritten whole and atomically (dls.atomicfile)."""

    def __init__(self, path: str, entries: list[dict]):
        self.path = path
        self.entries = entries
        self._written = 0.0
        self._took = 0.0  # seconds the last write took

    def write(self) -> None:
        from dlsynth.dls.atomicfile import atomic_write

        t0 = time.monotonic()
        text = (json.dumps(self.entries, indent=1) + "\n").encode("utf-8")
        atomic_write(self.path, lambda f: f.write(text))
        self._written = time.monotonic()
        self._took = self._written - t0

    def write_if_due(self) -> None:
        if time.monotonic() - self._written >= max(MANIFEST_EVERY_SECONDS, self._took / MANIFEST_TIME_SHARE):
            self.write()


class _QuietAfterInterrupt(logging.Filter):
    """Drops the event loop's error reports once a Ctrl-C has come: distributed's ``sync``
    leaves a callback that fails with a NameError (and tornado logs its traceback) when the
    interrupt lands inside a client call (distributed 2024-2025; seen in CI's ASan pass)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not interrupts.pending()


class _DaskPool:
    """Renders as tasks of a Dask cluster (the client is the caller's: not closed here)."""

    LOOP_LOGGER = "tornado.application"  # where the event loop reports a callback's failure

    def __init__(self, client):
        self.client = client
        self.run = uuid.uuid4().hex[:12]  # task keys unique to this run
        self._quiet = _QuietAfterInterrupt()
        logging.getLogger(self.LOOP_LOGGER).addFilter(self._quiet)

    def window(self) -> int:
        threads = sum(self.client.nthreads().values())
        return max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * threads)

    def submit(self, i: int, *args):
        return self.client.submit(_task, *args, key=f"dlsynth-render-{self.run}-{i}", pure=False)

    def cancel(self, futures) -> bool:
        """Cancel the futures; a render already running on a worker finishes its file (whole)."""
        if futures:
            self.client.cancel(futures)
        return False

    def close(self) -> None:
        if not interrupts.pending():  # (after a Ctrl-C the loop's reports may still come)
            logging.getLogger(self.LOOP_LOGGER).removeFilter(self._quiet)


class _LocalPool:
    """Renders in local worker processes, as `-j N`: the banks read here are inherited by the
    forked workers (others read them once each)."""

    def __init__(self, jobs: int, bank_paths: list[str], banks: list):
        from concurrent.futures import ProcessPoolExecutor

        _keep_worker_banks(bank_paths, banks)
        self.jobs = jobs
        self.ex = ProcessPoolExecutor(max_workers=jobs, initializer=_init_worker, initargs=(bank_paths,))

    def window(self) -> int:
        return max(MIN_IN_FLIGHT, IN_FLIGHT_PER_THREAD * self.jobs)

    def submit(self, i: int, *args):
        return self.ex.submit(_task, *args)

    def cancel(self, futures) -> bool:
        """Cancel the futures and stop the workers (each removes the file it has not finished)."""
        for f in futures:
            f.cancel()
        stop_pool(self.ex, stop_workers=True)
        return True

    def close(self) -> None:
        stop_pool(self.ex, stop_workers=False)
