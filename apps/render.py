"""`dlsynth render SONG.mid -o SONG.wav`: a MIDI file through the synth into a WAV file.

The same Synth and engine as live play: the file's messages become kernel events (a file
source instead of MIDI inputs) and a file sink pulls Render buffers instead of the sound
card. Events take effect at their exact frame, so the output does not depend on the block
size, and identical input gives identical bytes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from dlsynth import options

from .arguments import add_bank_option

RENDER_BLOCK = 4096  # frames per Render pull; any size gives the same bytes
#: frames rendered by one Render pull at most: whole RENDER_BLOCKs run together while no
#: decision falls between them (fewer Python steps per second of song; the same bytes)
GROUP_FRAMES = 16 * RENDER_BLOCK
#: messages handed over for one pull at most: far below the engine's queue (Synth's
#: event_capacity), so a group never fills it where single blocks would not
GROUP_EVENTS = 8192
PROGRESS_AFTER = 0.5  # seconds of rendering before the progress bar appears (on a terminal)
FILE_POOL_EVENTS = 64  # kernel event objects of a render's miniport (live play's default: 4096)
FILE_POOL_BUFFERS = 4
AUTO_TAIL_MAX_SECONDS = 30.0  # --tail auto renders at most this long after the last event
TAIL_MAX_SECONDS = 3600.0  # the longest --tail
MAX_LENGTH_SECONDS = 1e7  # the longest --max-length
SILENCE_PEAK = 10 ** (-100 / 20)  # -100 dBFS: the auto tail ends at a block quieter than this
# A song is "absurd for its size" (said before rendering, with its length) when it lasts
# longer than this and more than this many seconds per message it holds: a few bytes of
# delta time can mean days of silence.
ABSURD_SONG_SECONDS = 3600.0
ABSURD_SECONDS_PER_MESSAGE = 60.0


def add_parser(sub) -> None:
    p = sub.add_parser(
        "render",
        help="render MIDI files to WAV",
        description="Render standard MIDI files (format 0, 1 or 2) to WAV through the synth. "
        "Banks: with no --bank, the built-in General MIDI bank; with several, a later bank takes "
        "precedence over an earlier one for every instrument (bank, program, drum flag) both define, "
        "and instruments only an earlier bank has still play.",
    )
    p.add_argument("inputs", nargs="+", metavar="SONG.mid", help="MIDI file(s) to render")
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output WAV file, or a folder (ending in /; made if missing) for several inputs "
        "(default: each input's name with .wav)",
    )
    add_bank_option(p)
    p.add_argument(
        "--rate", type=int, default=options.DEFAULT_SAMPLE_RATE, help="sample rate in Hz (default %(default)s)"
    )
    p.add_argument(
        "--format",
        choices=options.FORMATS,
        default=options.DEFAULT_FORMAT,
        help="WAV sample format (default %(default)s)",
    )
    p.add_argument(
        "--interpolation",
        choices=options.INTERPOLATIONS,
        default=options.DEFAULT_INTERPOLATION,
        help="sample interpolation (default %(default)s)",
    )
    p.add_argument("--no-effects", action="store_true", help="no reverb and chorus")
    p.add_argument("--voices", type=int, default=options.DEFAULT_VOICES, help="polyphony limit (default %(default)s)")
    p.add_argument(
        "--gain",
        type=float,
        default=None,
        metavar="DB",
        help=f"master gain in dB (default {options.DEFAULT_GAIN_DB:g}: headroom for chords; "
        "0 plays single notes near full scale)",
    )
    p.add_argument(
        "--tail",
        default="auto",
        metavar="SECONDS|auto",
        help="how long to go on after the last event: seconds, or auto (until silent, "
        f"at most {AUTO_TAIL_MAX_SECONDS:g} s; default)",
    )
    p.add_argument(
        "--max-length",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop the output at this length, tail included (default: the whole song)",
    )
    p.add_argument("-j", "--jobs", type=int, default=0, help="parallel renders for several inputs (default: cores)")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        metavar="N",
        help="threads rendering each song's blocks (default: the cores, shared among the --jobs; "
        "the output is the same for every N)",
    )
    p.add_argument(
        "--stems",
        metavar="DIR/",
        default=None,
        help="also one WAV per instrument in DIR (made if missing), from the same pass as the mix, "
        "plus effects.wav (the reverb and chorus return): they sum to the mix; with several inputs, "
        "DIR/SONG/ for each",
    )
    p.add_argument(
        "--stems-by",
        choices=options.STEMS_BY,
        default=options.DEFAULT_STEMS_BY,
        help="a stem per channel group, channel and program (default), per program, or per MIDI track",
    )
    p.add_argument(
        "--labels",
        metavar="FILE.csv|FILE.json|DIR/",
        default=None,
        help="one row per note as the engine played it (start, note-off and end frames, why it ended); "
        "with several inputs a folder: DIR/SONG.csv for each",
    )
    p.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="render the inputs on this Dask scheduler's workers (shared filesystem: the "
        "workers read and write the same paths); with -o DIR/, a manifest, and files whose "
        "output is complete already skipped",
    )
    p.add_argument(
        "--manifest",
        metavar="FILE.json",
        help="a batch run's manifest (default with --scheduler: DIR/manifest.json); given "
        "without --scheduler, the local workers run the batch the same way (resumable)",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="with --scheduler or --manifest: render every input, complete outputs too",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(run=run)


@dataclass
class RenderResult:
    input: str
    output: str
    seconds: float = 0.0
    wall_seconds: float = 0.0
    realtime_factor: float = 0.0
    peak_voices: int = 0
    average_voices: float = 0.0
    notes_dropped: int = 0
    voices_stolen: int = 0
    late_events: int = 0
    peak_dbfs: float = float("-inf")
    clipped: bool = False
    missing: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)  #: warnings said before rendering
    error: str | None = None
    stems: list[str] = field(default_factory=list)  #: the stem files written (--stems)
    labels: str | None = None  #: the labels file written (--labels)


def _parse_tail(text: str) -> float | None:
    if text == "auto":
        return None
    try:
        v = float(text)
    except ValueError:
        from .errors import UserError

        raise UserError(f"--tail must be a number of seconds or 'auto', not {text!r}") from None
    if not 0 <= v <= TAIL_MAX_SECONDS:
        from .errors import UserError

        raise UserError(f"--tail must be between 0 and {TAIL_MAX_SECONDS:g} seconds")
    return v


def load_banks(paths: list[str], notify=None):
    """Read every bank (the built-in one when none is given), failing on the first bad one:
    a bank that does not load is an error, never silently replaced by another. ``notify``
    is told when the built-in bank has to be built first (its first use)."""
    from dlsynth import dls

    if not paths:
        from dlsynth.gmbank import load_default_bank

        return [load_default_bank(notify)]
    return [dls.read(p) for p in paths]


def render_file(
    midi_path: str,
    out_path: str,
    banks,
    *,
    rate: int = options.DEFAULT_SAMPLE_RATE,
    fmt: str = options.DEFAULT_FORMAT,
    interpolation: str = options.DEFAULT_INTERPOLATION,
    effects: bool = True,
    voices: int = options.DEFAULT_VOICES,
    tail: float | None = None,
    block: int = RENDER_BLOCK,
    progress=None,
    gain_db: float | None = None,
    max_length: float | None = None,
    notify=None,
    threads: int = 1,
    stems_dir: str | None = None,
    stems_by: str = options.DEFAULT_STEMS_BY,
    labels_path: str | None = None,
) -> RenderResult:
    """Render one MIDI file; raises MidiFileError / FileSinkError / DLSError on bad input.

    ``max_length``: seconds of output at most, tail included. ``notify(text)`` is told at
    once, before rendering, what a person should know up front (a song absurdly long for
    its size); the same text is among the result's warnings. ``threads``: threads rendering
    each block (the output is the same for every count). ``stems_dir``: also one WAV per
    instrument there (apps/stems.py; ``stems_by`` channel, program or track), from the same
    pass; ``labels_path``: the notes as played, CSV or JSON by its extension."""
    from dlsynth.sink.filesink import BackgroundWriter, WavFileSink

    from .stems import StemFiles, write_labels

    with _RenderJob(
        midi_path,
        out_path,
        banks,
        rate=rate,
        interpolation=interpolation,
        effects=effects,
        voices=voices,
        tail=tail,
        block=block,
        gain_db=gain_db,
        max_length=max_length,
        notify=notify,
        threads=threads,
        fmt=fmt,
        stems_by=stems_by if stems_dir is not None else None,
        labels=labels_path is not None,
    ) as job:
        stem_files = None
        if stems_dir is not None:
            os.makedirs(stems_dir, exist_ok=True)  # (a song's own folder, with several inputs)
            stem_files = StemFiles(stems_dir, rate, fmt, job.limit, effects)
        try:
            with (
                WavFileSink(out_path, rate, fmt, max_frames=job.limit) as sink,
                BackgroundWriter(sink, job.group) as writer,
            ):
                job.run(writer, stem_files.write if stem_files is not None else None, progress)
                writer.close()
                sink_peak = sink.peak
                frames = sink.frames
            if job.labels is not None:
                write_labels(labels_path, job.labels.rows(), rate)
        except BaseException:
            if stem_files is not None:
                stem_files.close(commit=False)
            raise
        if stem_files is not None:
            stem_files.close(commit=True)
            job.res.stems = sorted(stem_files.paths)
        if labels_path is not None:
            job.res.labels = labels_path
        return job.result(frames, sink_peak, fmt)


@dataclass
class SongRendered:
    """One pass of a song into memory (`render_song`): the mix, float32 (frames, 2), the same
    samples `render_file` writes as float; the stems {stem name: float32 (frames, 2)} (None
    unless asked for), whose sum is the mix within float32 rounding; the notes as played
    (dicts of apps.stems.LABEL_COLUMNS; None unless asked for); what the synth said."""

    mix: object
    stems: dict | None
    labels: list | None
    missing: list[str]  #: "no instrument for ..." warnings of the synth
    warnings: list[str]  #: the synth's other warnings


def render_song(
    midi,
    banks,
    *,
    stems_by: str | None = None,
    labels: bool = False,
    rate: int = options.DEFAULT_SAMPLE_RATE,
    interpolation: str = options.DEFAULT_INTERPOLATION,
    effects: bool = True,
    voices: int = options.DEFAULT_VOICES,
    tail: float | None = None,
    block: int = RENDER_BLOCK,
    gain_db: float | None = None,
    max_length: float | None = None,
    threads: int = 1,
) -> SongRendered:
    """The render job into memory: ``midi`` a path or a Song (smf.reader) through the
    same set-up and pull loop as `render_file` (the library's ``dlsynth.render`` is this)."""
    from .stems import ArrayOutput

    with _RenderJob(
        midi,
        None,
        banks,
        rate=rate,
        interpolation=interpolation,
        effects=effects,
        voices=voices,
        tail=tail,
        block=block,
        gain_db=gain_db,
        max_length=max_length,
        notify=None,
        threads=threads,
        fmt="float",
        stems_by=stems_by,
        labels=labels,
    ) as job:
        out = ArrayOutput(job.group)
        job.run(out, out.write_stems if stems_by is not None else None, None)
        res = job.result(out.frames, out.peak, "float")
        return SongRendered(
            out.mix(),
            out.stems(job.stems, effects) if job.stems is not None else None,
            job.labels.rows() if job.labels is not None else None,
            res.missing,
            res.warnings,
        )


def render_arrays(midi_path: str, banks, *, stems_by: str | None = options.DEFAULT_STEMS_BY, labels: bool = True, **kw):
    """(mix, stems, labels) of `render_song`, with stems by channel and labels by default."""
    done = render_song(midi_path, banks, stems_by=stems_by, labels=labels, **kw)
    return done.mix, done.stems, done.labels


class _RenderJob:
    """One song through the synth: the set-up, the pull loop (`run`) and the summary; the
    output (a file's writer, or arrays) is the caller's."""

    def __init__(
        self,
        midi,
        out_path: str | None,
        banks,
        *,
        rate,
        interpolation,
        effects,
        voices,
        tail,
        block,
        gain_db,
        max_length,
        notify,
        threads,
        fmt,
        stems_by,
        labels,
    ):
        from dlsynth.smf.reader import read_midi
        from dlsynth.synth.synth import Synth

        self.t0 = time.perf_counter()
        self.rate = rate
        self.tail = tail
        self.block = block
        song = read_midi(midi) if isinstance(midi, (str, os.PathLike)) else midi  # a path, or a Song
        self.song = song
        groups = max([1, *song.channel_groups])
        self.res = RenderResult(
            str(getattr(song, "source", midi)),
            out_path or "",
            warnings=list(song.warnings) + [w for col in banks for w in col.warnings],
        )
        absurd = absurd_length_warning(song, rate, fmt, max_length)
        if absurd:
            self.res.notices.append(absurd)
            if notify is not None:
                notify(absurd)
        self.synth = synth = Synth(
            rate,
            channel_groups=groups,
            voices=voices,
            interpolation=interpolation,
            effects=effects,
            gain_db=options.DEFAULT_GAIN_DB if gain_db is None else gain_db,
            threads=threads,
        )
        try:
            for col in banks:
                synth.download(col, lazy=True)
            from dlsynth.synth.filesource import FileSource
            from dlsynth.synth.miniport import Miniport

            # The DirectMusic path: the file is a source connected to the miniport's render stream.
            # (A file source hands its messages over C-side, in arrays: the pool of kernel
            # event objects live inputs draw from is not used, so it is kept small.)
            miniport = Miniport().init(
                synth=synth,
                sample_rate=rate,
                voices=voices,
                channel_groups=groups,
                pool_events=FILE_POOL_EVENTS,
                pool_buffers=FILE_POOL_BUFFERS,
            )
            stream = miniport.new_stream("render")
            stream.set_state("run")
            self.source = source = FileSource(song, stream)
            source.prepare()
            synth.start(0, 0)
            self.end_frame = synth.ref_time_to_sample(source.last_time)
            tail_frames = int(round((AUTO_TAIL_MAX_SECONDS if tail is None else tail) * rate))
            self.limit = self.end_frame + tail_frames
            if max_length is not None:
                self.limit = min(self.limit, int(round(max_length * rate)))
            self.group = max(block, (GROUP_FRAMES // block) * block)
            self.stems = self.labels = None
            if stems_by is not None:
                from .stems import StemSet, stem_bound

                self.stems = StemSet(synth.engine, stems_by, stem_bound(song, stems_by), song.tracks)
                self.group = self.stems.pull_frames(self.group, block)
            if labels:
                from .stems import LabelBook

                self.labels = LabelBook(synth.engine, self.stems, song.tracks)
        except BaseException:
            synth.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.synth.close()

    def run(self, writer, stem_sink, progress) -> None:
        """Pull the song through the synth into ``writer`` (buffer() / submit(n)), the stems
        of each pull to ``stem_sink(stem_set, block, n)``."""
        import numpy as np

        synth, source, block, limit, end_frame, tail = (
            self.synth,
            self.source,
            self.block,
            self.limit,
            self.end_frame,
            self.tail,
        )
        group = self.group
        blocks = 0
        last = None  # the last block rendered
        stats = synth.engine.stats
        voice_frames_before = stats()["voice_frames"]  # voices at the end of each block, times its frames
        stems = self.stems
        pos = 0
        while pos < limit:
            if pos >= end_frame and source.done:
                if tail is None:
                    # (the last block rendered: a group ends with a whole one)
                    if (
                        blocks
                        and stats()["voices_active"] == 0
                        and float(np.max(np.abs(last[max(0, len(last) - block) :]))) < SILENCE_PEAK
                    ):
                        break
                    n = min(block, limit - pos)  # the auto tail ends on a block: one at a time
                else:
                    n = min(group, limit - pos)
            else:
                n = _group_frames(synth, source, pos, block, group, limit, end_frame, tail is None)
            t_end = synth.sample_to_ref_time(pos + n)
            source.feed_until(t_end)
            nxt = source.next_time
            if nxt is not None and nxt < t_end:
                # The engine's queue is full: render up to the first event left over.
                n = max(1, synth.ref_time_to_sample(nxt) - pos)
            stem_buf = stems.buffer(group) if stems is not None else None
            last = synth.render(out=writer.buffer()[:n], stems=stem_buf)  # ISynthSinkDMus::Render
            writer.submit(n)  # written while the next block renders
            if stem_sink is not None:
                stem_sink(stems, stem_buf, n)
            if self.labels is not None:
                self.labels.drain()
            pos += n
            blocks += 1
            if progress is not None:
                progress(pos, end_frame)
        if self.labels is not None:
            self.labels.finish()
            if self.labels.lost:
                self.res.warnings.append(f"{self.labels.lost} note label records were lost (the ring was full)")
        if stems is not None and stems.count and any(stems.name(s) == "other" for s in range(1, stems.count)):
            self.res.warnings.append(f"more than {stems.max_stems - 2} stems: the rest are mixed into other.wav")
        self.voice_sum = stats()["voice_frames"] - voice_frames_before

    def result(self, frames: int, peak: float, fmt: str) -> RenderResult:
        import numpy as np

        st = self.synth.stats()
        synth_warnings = list(self.synth.warnings)
        res = self.res
        wall = time.perf_counter() - self.t0
        rate = self.rate
        res.seconds = frames / rate
        res.wall_seconds = wall
        res.realtime_factor = res.seconds / wall if wall > 0 else 0.0
        res.peak_voices = st["peak_voices"]
        res.average_voices = self.voice_sum / frames if frames else 0.0
        res.notes_dropped = st["dropped_notes"]
        res.voices_stolen = st["stolen_voices"]
        res.late_events = st["late_events"]
        res.peak_dbfs = 20 * float(np.log10(peak)) if peak > 0 else float("-inf")
        res.clipped = peak > 1.0 and fmt != "float"
        res.missing = [w for w in synth_warnings if w.startswith("no instrument for")]
        res.warnings += [w for w in synth_warnings if not w.startswith("no instrument for")]
        return res


def _group_frames(synth, source, pos: int, block: int, group: int, limit: int, end_frame: int, auto_tail: bool) -> int:
    """How many frames the next pull renders: as many whole blocks (at most ``group`` frames
    and GROUP_EVENTS messages, not past ``limit``) as run together with nothing decided
    between them, so that every pull starts where one block at a time would (the auto tail
    looks at each block boundary from the song's end on: a group stops at the first one).
    One block when a single block holds more messages than a group may: the queue may then
    fill, as with single blocks, and the pull is cut where it does."""
    span = min(group, limit - pos)
    if auto_tail:
        if pos >= end_frame:
            return min(block, span)
        span = min(span, -(-(end_frame - pos) // block) * block)
    if span <= block:
        return span
    cap_time = source.time_after(GROUP_EVENTS)  # the messages before this one fit in a group
    if cap_time is None or synth.sample_to_ref_time(pos + span) <= cap_time:
        return span
    k = span // block
    while k > 1 and synth.sample_to_ref_time(pos + k * block) > cap_time:
        k -= 1
    return k * block


def _clock(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"{days} day{'s' if days != 1 else ''} " if days else "") + f"{h}:{m:02d}:{s:02d}"


def absurd_length_warning(song, rate: int, fmt: str, max_length: float | None) -> str | None:
    """The up-front warning for a song far longer than what it holds (None if it is not)."""
    from dlsynth.sink.filesink import BYTES_PER_SAMPLE

    seconds = song.duration_100ns / 1e7
    messages = max(1, len(song.events))
    if seconds <= ABSURD_SONG_SECONDS or seconds <= ABSURD_SECONDS_PER_MESSAGE * messages:
        return None
    if max_length is not None and max_length < seconds:
        return (
            f"the song lasts {_clock(seconds)} for {len(song.events)} messages; "
            f"rendering the first {_clock(max_length)} (--max-length)"
        )
    size = seconds * rate * 2 * BYTES_PER_SAMPLE[fmt]
    return (
        f"the song lasts {_clock(seconds)} for {len(song.events)} messages; rendering all of it writes "
        f"about {size / 1e9:,.1f} GB (RF64 past 4 GB); --max-length SECONDS cuts it"
    )


def cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _output_for(inp: str, output: str | None, many: bool) -> str:
    stem = os.path.splitext(os.path.basename(inp))[0] + ".wav"
    if output is None:
        return os.path.join(os.path.dirname(inp), stem)
    if many or output.endswith(os.sep) or os.path.isdir(output):
        return os.path.join(output, stem)
    return output


#: the banks of this worker process, read once for all its renders: (key, collections), the
#: key naming each bank file by path, size and modification time (a bank changed on disk
#: between two batches on a long-lived worker is read again)
_worker_banks: tuple[tuple, list] | None = None
#: how many times this process has read its banks (once per worker process)
bank_reads = 0


def bank_key(bank_paths) -> tuple:
    """What a worker's banks are cached by: each file's absolute path, size and mtime."""
    key = []
    for p in bank_paths:
        try:
            st = os.stat(p)
            key.append((os.path.abspath(p), st.st_size, st.st_mtime_ns))
        except OSError:
            key.append((os.path.abspath(p), None, None))
    return tuple(key)


def _keep_worker_banks(bank_paths: list[str], banks: list) -> None:
    global _worker_banks
    _worker_banks = (bank_key(bank_paths), banks)


def _init_worker(bank_paths: list[str]) -> None:
    """A worker's set-up (the -j pool's initializer, and the first render of a Dask worker):
    read the banks once per worker process (a forked worker finds them already read,
    inherited from the parent, and reads nothing); the worker's renders share the
    instruments compiled for its engines (`synth.download.keep_compiled`)."""
    global bank_reads
    if _worker_banks is None or _worker_banks[0] != bank_key(bank_paths):
        banks = load_banks(list(bank_paths))
        bank_reads += 1
        _keep_worker_banks(bank_paths, banks)
    from dlsynth.synth.download import keep_compiled

    keep_compiled()  # and compile each instrument once per worker, not once per song


_worker_lock = threading.Lock()  # a Dask worker may run several renders at once


def render_job(midi_path: str, out_path: str, bank_paths: list[str], kw: dict) -> RenderResult:
    """One file of a batch, in a worker process: the one function behind `-j N` and the Dask
    renders (`apps.batch`), so both give the bytes of a single render. The banks come from
    the worker's cache; a bad input is the result's ``error``, never an exception."""
    from dlsynth.dls.errors import DLSError
    from dlsynth.sink.filesink import FileSinkError
    from dlsynth.smf.reader import MidiFileError

    try:
        with _worker_lock:
            _init_worker(bank_paths)  # (done already by the -j pool's initializer)
            banks = _worker_banks[1]
        return render_file(midi_path, out_path, banks, **kw)
    except (MidiFileError, FileSinkError, DLSError, OSError, ValueError) as exc:
        r = RenderResult(midi_path, out_path)
        r.error = " ".join(str(exc).split())
        return r


def _worker(job):
    """A -j render (several inputs with -o DIR/): `render_job` on one tuple."""
    return render_job(*job)


def run(args) -> int:
    from .errors import UserError

    from .errors import checked_option

    tail = _parse_tail(args.tail)
    from dlsynth.native.engine import MAX_THREADS

    checked_option(options.rate, args.rate, "--rate")
    if args.threads != 0:  # 0: the cores
        checked_option(options.threads, args.threads, "--threads")
    checked_option(options.voices, args.voices, "--voices")
    if args.gain is not None:
        checked_option(options.gain_db, args.gain, "--gain")
    checked_option(options.max_length, args.max_length, "--max-length")
    many = len(args.inputs) > 1
    if many and args.output and not (args.output.endswith(os.sep) or os.path.isdir(args.output)):
        raise UserError("several inputs need -o to name a folder (ending in /)")
    for inp in args.inputs:
        if not os.path.exists(inp):
            raise UserError(f"{inp}: no such file")
    into_dir = bool(args.output and (args.output.endswith(os.sep) or os.path.isdir(args.output)))
    labels_dir = args.labels is not None and (args.labels.endswith(os.sep) or os.path.isdir(args.labels))
    if args.labels is not None:
        from .stems import labels_format

        if into_dir and not labels_dir:
            raise UserError(f"--labels {args.labels}: with -o DIR/, --labels names a folder too (ending in /)")
        if not into_dir and labels_dir:
            raise UserError(f"--labels {args.labels}: one input to one file takes --labels FILE.csv or FILE.json")
        if not labels_dir and labels_format(args.labels) is None:
            raise UserError(f"--labels {args.labels}: the file name must end in .csv or .json")
    if (args.stems is not None or args.labels is not None) and (args.scheduler or args.manifest):
        raise UserError("--stems and --labels are for local renders, not --scheduler or --manifest batches")
    from dlsynth.outputs import OutputPathError, check_folder, make_folder

    # The output folders (-o DIR/, --stems DIR, --labels DIR/): checked now, made (parents
    # too) once every other option has passed.
    folders = [("-o", args.output if into_dir else None), ("--stems", args.stems)]
    folders += [("--labels", args.labels if labels_dir else None)]
    folders = [(opt, folder) for opt, folder in folders if folder is not None]
    try:
        for opt, folder in folders:
            check_folder(folder)
    except OutputPathError as exc:
        raise UserError(f"{opt} {exc}") from None
    jobs = [(inp, _output_for(inp, args.output, many)) for inp in args.inputs]
    outs = [o for _, o in jobs]
    if len(set(outs)) != len(outs):
        raise UserError("two inputs would write the same output file")
    try:
        for opt, folder in folders:
            make_folder(folder)
    except OutputPathError as exc:
        raise UserError(f"{opt} {exc}") from None
    from dlsynth.sink.filesink import FileSinkError, check_writable

    for o in [o for _, o in jobs] + ([args.labels] if args.labels is not None and not labels_dir else []):
        try:
            check_writable(o)
        except FileSinkError as exc:
            raise UserError(str(exc)) from None
    n_jobs = max(1, min(args.jobs or cores(), len(jobs)))
    threads = args.threads or max(1, min(MAX_THREADS, cores() // n_jobs))
    kw = dict(
        rate=args.rate,
        fmt=args.format,
        interpolation=args.interpolation,
        effects=not args.no_effects,
        voices=args.voices,
        tail=tail,
        gain_db=args.gain,
        max_length=args.max_length,
        threads=threads,
    )
    per_song = {inp: _song_extras(args, inp, out, into_dir, labels_dir) for inp, out in jobs}
    show = not args.quiet and not args.json
    tty = sys.stderr.isatty()
    if not args.quiet:
        kw["notify"] = _notify

    if args.scheduler or args.manifest:
        if not args.output or not os.path.isdir(args.output):
            raise UserError("--scheduler and --manifest render into a folder: give -o DIR/")
        if not args.threads:
            kw["threads"] = 1 if args.scheduler else threads
        return _run_batch(args, n_jobs, kw, show, tty)
    if args.overwrite:
        raise UserError("--overwrite is for batch runs (--scheduler or --manifest); a plain render always writes")

    results: list[RenderResult] = []
    if not many:
        banks = load_banks(args.bank, None if args.quiet else _say)  # a bad bank: one-line error, exit 2
        inp, out = jobs[0]
        from dlsynth.smf.reader import MidiFileError

        try:
            if show and tty:
                bar = _ProgressBar(os.path.basename(inp))
                try:
                    results.append(render_file(inp, out, banks, progress=bar, **kw, **per_song[inp]))
                finally:
                    bar.close()
            else:
                results.append(render_file(inp, out, banks, **kw, **per_song[inp]))
        except MidiFileError as exc:
            raise UserError(str(exc)) from None
        except FileSinkError as exc:
            raise UserError(str(exc)) from None
    else:
        # Check every bank once up front so a bad bank fails fast, with one line; forked
        # workers inherit what was read, others read it once each (_init_worker).
        _keep_worker_banks(args.bank, load_banks(args.bank, None if args.quiet else _say))
        from concurrent.futures import ProcessPoolExecutor

        ex = ProcessPoolExecutor(max_workers=n_jobs, initializer=_init_worker, initargs=(list(args.bank),))
        try:
            for r in ex.map(_worker, [(i, o, args.bank, {**kw, **per_song[i]}) for i, o in jobs]):
                results.append(r)
                if show and r.error is None:
                    print(
                        f"{r.input} -> {r.output}  ({r.seconds:.1f} s audio, {r.realtime_factor:.0f}x realtime)",
                        file=sys.stderr,
                    )
        except BaseException:
            # Ctrl-C or SIGTERM to this process alone: stop the workers the same way, so
            # each removes the file it has not finished, and wait for them (briefly).
            stop_pool(ex, stop_workers=True)
            raise
        finally:
            stop_pool(ex, stop_workers=False)
    failed = [r for r in results if r.error]
    if args.json:
        import json

        print(json.dumps([asdict(r) for r in results], indent=2, default=str))
    elif show:
        for r in results:
            if r.error is None:
                _summary(r)
    for r in failed:
        print(f"dlsynth render: error: {r.error}", file=sys.stderr)
    return 2 if failed else 0


def _song_extras(args, inp: str, out: str, into_dir: bool, labels_dir: bool) -> dict:
    """One song's --stems and --labels: as given for one input to one file; with -o DIR/, a
    folder of stems and a labels file per song, named after its output."""
    name = os.path.splitext(os.path.basename(out))[0]
    extra: dict = {}
    if args.stems is not None:
        extra.update(stems_dir=os.path.join(args.stems, name) if into_dir else args.stems, stems_by=args.stems_by)
    if args.labels is not None:
        extra["labels_path"] = os.path.join(args.labels, name + ".csv") if labels_dir else args.labels
    return extra


def _run_batch(args, n_jobs: int, kw: dict, show: bool, tty: bool) -> int:
    """--scheduler / --manifest: `apps.batch.render_many`, with a progress bar on a terminal
    (else a line per file), then one summary line and a line per failed file."""
    import logging

    from . import batch

    kw = {k: v for k, v in kw.items() if k in batch.RENDER_OPTIONS}  # (no notify, stems or labels)
    client = None
    if args.scheduler:
        logging.getLogger("distributed").setLevel(logging.ERROR)  # its own chatter is not ours to print
        client = batch.connect(args.scheduler)
        if not client.nthreads() and not args.quiet:
            _notify(f"the scheduler at {args.scheduler} has no workers yet: the files wait for some")
    bar = _BatchProgress() if show and tty else None

    def progress(entry: dict, done: int, total: int) -> None:
        if bar is not None:
            bar(done, total)
        elif show and entry is not None and entry["status"] == batch.RENDERED:
            print(
                f"{entry['file']} -> {entry['output']}  ({entry['audio_seconds']:.1f} s audio in "
                f"{entry['seconds']:.2f} s)",
                file=sys.stderr,
            )

    t0 = time.monotonic()
    try:
        entries = batch.render_many(
            args.inputs,
            args.output,
            args.bank,
            client=client,
            jobs=n_jobs,
            manifest=args.manifest,
            overwrite=args.overwrite,
            progress=progress,
            **kw,
        )
    except ValueError as exc:
        from .errors import UserError

        raise UserError(str(exc)) from None
    finally:
        if bar is not None:
            bar.close()
        if client is not None:
            client.close(timeout=batch.SCHEDULER_TIMEOUT_SECONDS)
    wall = time.monotonic() - t0
    count = {s: sum(e["status"] == s for e in entries) for s in (batch.RENDERED, batch.SKIPPED, batch.ERROR)}
    manifest = args.manifest or os.path.join(args.output, batch.MANIFEST_NAME)
    if args.json:
        import json

        print(json.dumps(entries, indent=2))
    if show:
        if count[batch.RENDERED] == count[batch.ERROR] == 0:
            print(
                f"nothing to render: the {count[batch.SKIPPED]} outputs are complete already "
                f"(--overwrite renders them again); manifest {manifest}",
                file=sys.stderr,
            )
        else:
            print(
                f"{count[batch.RENDERED]} rendered, {count[batch.SKIPPED]} skipped (complete already), "
                f"{count[batch.ERROR]} failed in {wall:.1f} s "
                f"({count[batch.RENDERED] / wall if wall > 0 else 0.0:.1f} files/s); manifest {manifest}",
                file=sys.stderr,
            )
    for e in entries:
        if e["status"] == batch.ERROR:
            where = "" if e["error"].startswith(e["file"]) else f"{e['file']}: "
            print(f"dlsynth render: error: {where}{e['error']}", file=sys.stderr)
    return 2 if count[batch.ERROR] else 0


class _BatchProgress:
    """A batch's progress bar on a terminal (rich): files done of the files to render."""

    def __init__(self):
        self._prog = None
        self._task = None

    def __call__(self, done: int, total: int) -> None:
        if self._prog is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._prog = Progress(
                TextColumn("rendering"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True
            )
            self._prog.start()
            self._task = self._prog.add_task("files", total=total)
        self._prog.update(self._task, completed=done)

    def close(self) -> None:
        if self._prog is not None:
            self._prog.stop()
            self._prog = None


class _ProgressBar:
    """The progress bar on a terminal (rich), shown once the render has taken PROGRESS_AFTER
    seconds: a short render neither draws one nor spends the time importing rich."""

    def __init__(self, name: str):
        self.name = name
        self._t0 = time.monotonic()
        self._prog = None
        self._task = None

    def __call__(self, pos: int, end: int) -> None:
        if self._prog is None:
            if time.monotonic() - self._t0 < PROGRESS_AFTER:
                return
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._prog = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%"),
                TimeRemainingColumn(),
                transient=True,
            )
            self._prog.start()
            self._task = self._prog.add_task(self.name, total=1.0)
        self._prog.update(self._task, completed=min(1.0, pos / end) if end else 1.0)

    def close(self) -> None:
        if self._prog is not None:
            self._prog.stop()
            self._prog = None


def _stop_workers(ex) -> None:
    import signal

    for proc in list((getattr(ex, "_processes", None) or {}).values()):
        try:
            os.kill(proc.pid, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


def stop_pool(ex, stop_workers: bool) -> None:
    """Shut a ProcessPoolExecutor down, its pending renders cancelled; with ``stop_workers``,
    first SIGTERM its workers (each removes the file it has not finished). Quietly: when
    workers it is still managing end, Python 3.11's pool thread marks the futures already
    cancelled as broken too, and that raises InvalidStateError in the thread (a traceback on
    stderr, though nothing is wrong: the futures are cancelled and the pool is going away)."""
    import concurrent.futures

    previous = threading.excepthook
    manager = getattr(ex, "_executor_manager_thread", None)  # None until the first submit

    def hook(args):
        if not (args.exc_type is concurrent.futures.InvalidStateError and args.thread is manager):
            previous(args)

    threading.excepthook = hook
    try:
        if stop_workers:
            _stop_workers(ex)
        ex.shutdown(wait=True, cancel_futures=True)
    finally:
        threading.excepthook = previous


def _notify(text: str) -> None:
    print(f"dlsynth render: warning: {text}", file=sys.stderr, flush=True)


def _say(text: str) -> None:
    print(f"dlsynth render: {text}", file=sys.stderr, flush=True)


def _summary(r: RenderResult) -> None:
    w = sys.stderr.write
    m, s = divmod(r.seconds, 60)
    w(
        f"{r.output}: {int(m)}:{s:06.3f} of audio in {r.wall_seconds:.2f} s ({r.realtime_factor:.1f}x realtime), "
        f"peak {r.peak_dbfs:.1f} dBFS{' (clipped)' if r.clipped else ''}\n"
    )
    w(
        f"  voices: peak {r.peak_voices}, average {r.average_voices:.1f}; notes dropped {r.notes_dropped}, "
        f"voices stolen {r.voices_stolen}\n"
    )
    if r.missing:
        w(f"  missing instruments ({len(r.missing)}):\n")
        for msg in r.missing:
            w(f"    - {msg}\n")
    if r.stems:
        w(f"  stems: {len(r.stems)} files in {os.path.dirname(r.stems[0]) or '.'}\n")
    if r.labels:
        w(f"  labels: {r.labels}\n")
    for msg in r.warnings:
        w(f"  warning: {msg}\n")
