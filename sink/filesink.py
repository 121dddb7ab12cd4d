"""The file sink: pulls Render buffers from the synth into a WAV file.

Writes go to a temporary file beside the target, renamed over the final name only when the
file is complete (`close(commit=True)`); on any error the temporary file is removed, so a
half-written file never appears under the final name. Samples are clipped to full scale
when converted to integers (never wrapped).
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from dlsynth.dls.atomicfile import fsync_dir
from dlsynth.options import DEFAULT_FORMAT, FORMATS
from dlsynth.outputs import OutputPathError, check_file_folder

BYTES_PER_SAMPLE = {"pcm16": 2, "pcm24": 3, "float": 4}
#: the most sample data a RIFF WAVE file can hold: its sizes are 32-bit (less room for the headers)
WAV_MAX_DATA_BYTES = 0xFFFFFFFF - 4096
_SFC_RF64_AUTO_DOWNGRADE = 0x1210  # libsndfile: an RF64 file that stays small is written as WAV
#: libsndfile: whether a float file gets a PEAK chunk. It holds the time of writing, so two
#: identical renders would differ in those bytes: dlsynth writes none (its peak is in the summary).
_SFC_SET_ADD_PEAK_CHUNK = 0x1050


class FileSinkError(Exception):
    """An output file that cannot be written (one line, for the user)."""


def check_writable(path: str) -> None:
    """Fail early, before rendering, when the output cannot be created."""
    d = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise FileSinkError(f"{path}: is a directory (give a file name, or several inputs for a directory)")
    try:
        check_file_folder(path)
    except OutputPathError as exc:
        raise FileSinkError(str(exc)) from None
    if not os.access(d, os.W_OK | os.X_OK):
        raise FileSinkError(f"{path}: cannot write in {d} (permission denied)")


def _temp_prefix(path: str) -> str:
    return "." + os.path.basename(path) + "."


TEMP_SUFFIX = ".part"  #: a WavFileSink's temporary file: .NAME.wav.XXXXXXXX.part beside NAME.wav


def temp_files(paths) -> list[str]:
    """The temporary files of writes to these outputs that are under way or were never
    finished (a process killed mid-write cannot remove its own): never a complete output.
    Each folder is listed once."""
    by_dir: dict[str, set[str]] = {}
    for p in paths:
        by_dir.setdefault(os.path.dirname(os.path.abspath(p)), set()).add(os.path.basename(p))
    found = []
    for d, outputs in by_dir.items():
        try:
            names = os.listdir(d)
        except OSError:
            continue
        for n in names:
            if not (n.startswith(".") and n.endswith(TEMP_SUFFIX)):
                continue
            # .NAME.XXXXXXXX.part: mkstemp's random middle has no dot
            output, _, middle = n[1 : -len(TEMP_SUFFIX)].rpartition(".")
            if output in outputs and middle:
                found.append(os.path.join(d, n))
    return found


def _why(path: str, exc: Exception) -> str:
    """What a person can act on, for a write that failed: libsndfile says only "System
    error." when the disk fills up."""
    try:
        st = os.statvfs(os.path.dirname(os.path.abspath(path)) or ".")
        if st.f_bavail * st.f_frsize < (1 << 20):
            return "no space left on the device"
    except OSError:
        pass
    text = " ".join(str(exc).split())
    if text.rstrip(".").lower() == "system error":
        return "the system refused the write: a file size limit, or an I/O error"
    return text


def _peak(block: np.ndarray) -> float:
    """max |x| of a block, without a temporary array."""
    return float(max(block.max(), -block.min()))


class WavFileSink:
    """A WAV file written block by block (the file side of the port driver's wave sink)."""

    def __init__(
        self, path: str, sample_rate: int, fmt: str = DEFAULT_FORMAT, channels: int = 2, max_frames: int | None = None
    ):
        """``max_frames``: the most frames the render can write. When those would not fit a
        WAV file's 32-bit sizes (about 6 h 13 min of 16-bit stereo at 48 kHz), the file is
        RF64 (EBU Tech 3306, the 64-bit WAV) that libsndfile writes as plain WAV if it stays
        under the limit, so no file's header ever lies about its length."""
        import soundfile as sf

        if fmt not in FORMATS:
            raise FileSinkError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        check_writable(path)
        self.path = path
        self.format = fmt
        self.frames = 0
        self.peak = 0.0
        d = os.path.dirname(os.path.abspath(path))
        fd, self._tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=d)
        os.close(fd)
        self.container = "WAV"
        if max_frames is not None and max_frames * channels * BYTES_PER_SAMPLE[fmt] > WAV_MAX_DATA_BYTES:
            self.container = "RF64"
        try:
            self._f = sf.SoundFile(
                self._tmp,
                "w",
                samplerate=int(sample_rate),
                channels=channels,
                subtype=FORMATS[fmt],
                format=self.container,
            )
            if self.container == "RF64":
                sf._snd.sf_command(self._f._file, _SFC_RF64_AUTO_DOWNGRADE, sf._ffi.NULL, 1)
            if fmt == "float":
                sf._snd.sf_command(self._f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        except BaseException as exc:
            self._remove_tmp()
            if not isinstance(exc, Exception):
                raise
            raise FileSinkError(f"{path}: cannot create ({exc})") from None
        self._scratch: dict = {}
        self.unsynced_bytes = 0  #: written since the last sync_data (or the start)
        self._sync_fd = -1

    def write(self, block: np.ndarray) -> None:
        """Append a (frames, channels) float32 block."""
        n = int(block.shape[0])
        if n == 0:
            return
        try:
            if self.format == "float":
                peak = _peak(block)
                self._f.write(block)
            elif self.format == "pcm16":
                peak, data = self._to_int(block, 32768.0, np.int16, 0)
                self._f.write(data)
            else:  # pcm24 through int32: libsndfile keeps the top 24 bits
                peak, data = self._to_int(block, 8388608.0, np.int32, 8)
                self._f.write(data)
        except Exception as exc:
            why = _why(self.path, exc)  # before the partial file goes and frees its space
            self.close(commit=False)
            raise FileSinkError(f"{self.path}: write failed ({why})") from None
        if peak > self.peak:
            self.peak = peak
        self.frames += n
        self.unsynced_bytes += n * block.shape[1] * BYTES_PER_SAMPLE[self.format]

    def sync_data(self) -> None:
        """Have what is written so far reach the disk now (fdatasync), so that the sync the
        finished file gets at close has only the rest to wait for: a writer that calls this
        as it goes (`BackgroundWriter`) overlaps the disk's work with the render's."""
        if self._f is None:
            return
        try:
            if self._sync_fd < 0:
                self._sync_fd = os.open(self._tmp, os.O_RDONLY)
            getattr(os, "fdatasync", os.fsync)(self._sync_fd)
        except OSError as exc:
            why = _why(self.path, exc)
            self.close(commit=False)
            raise FileSinkError(f"{self.path}: write failed ({why})") from None
        self.unsynced_bytes = 0

    def _to_int(self, block: np.ndarray, full_scale: float, dtype, shift: int) -> tuple[float, np.ndarray]:
        """The block's peak, and the block rounded to integers, clipping at full scale (never
        wrapping), in a reused scratch array: one pass in C (native/pcm.c), the same integers
        as NumPy's scale / round / clip (scaling by a power of two is exact in float32, and
        so is rounding there: |x| <= 2^23 has no fraction bits to lose)."""
        from dlsynth.native import ffi, lib

        n, ch = block.shape
        key = (np.dtype(dtype).str, ch)
        scratch = self._scratch.get(key)
        if scratch is None or scratch.shape[0] < n:
            scratch = np.empty((n, ch), dtype=dtype)
            self._scratch[key] = scratch
        out = scratch[:n]
        src = np.ascontiguousarray(block, dtype=np.float32)
        peak = ffi.new("float *")
        bits = 16 if shift == 0 else 24
        lib.pcm_encode(ffi.from_buffer("float[]", src), n * ch, bits, ffi.from_buffer(out), peak)
        return float(peak[0]), out

    def _close_sync_fd(self) -> None:
        if getattr(self, "_sync_fd", -1) >= 0:
            try:
                os.close(self._sync_fd)
            except OSError:
                pass
            self._sync_fd = -1

    def _remove_tmp(self) -> None:
        try:
            os.unlink(self._tmp)
        except OSError:
            pass

    def close(self, commit: bool = True) -> None:
        """Finish the file; with commit it replaces the final name, else it is removed.
        Whatever stops it half way (a write error, Ctrl-C or SIGTERM during the flush or the
        rename) removes the temporary file: the final name holds a whole file or nothing."""
        self._close_sync_fd()
        f = getattr(self, "_f", None)
        if f is None:
            return
        self._f = None
        done = False
        try:
            if not commit:
                # Abandoned: drop the data first, so that libsndfile's flush on close has
                # nothing to write to the disk (Ctrl-C stops at once, not after an fsync).
                try:
                    os.truncate(self._tmp, 0)
                except OSError:
                    pass
            try:
                f.close()
            except Exception as exc:
                if commit:
                    raise FileSinkError(f"{self.path}: write failed ({_why(self.path, exc)})") from None
                return
            if not commit:
                return
            try:
                fd = os.open(self._tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                # mkstemp makes the file private (0600); give it the mode a new file gets.
                mask = os.umask(0)
                os.umask(mask)
                os.chmod(self._tmp, 0o666 & ~mask)
                os.replace(self._tmp, self.path)
                fsync_dir(os.path.dirname(os.path.abspath(self.path)))  # the rename, durable
                done = True
            except OSError as exc:
                raise FileSinkError(f"{self.path}: cannot finish the file ({exc.strerror or exc})") from None
        finally:
            if not done:
                self._remove_tmp()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(commit=exc_type is None)


class BackgroundWriter:
    """Writes a sink's blocks on a thread of its own, so that converting and writing one
    block overlaps rendering the next (the engine, NumPy and libsndfile all let go of the
    GIL while they work). Blocks are written in the order given, so the file is the same
    as with `WavFileSink.write` called in turn.

    ``buffer()`` gives the next of ``count`` float32 (frames, channels) arrays to render
    into (waiting until the writer is done with it); ``submit(n)`` queues its first n
    frames. A write that fails is raised from the next ``buffer``, ``submit`` or
    ``close`` call (the sink has removed its partial file by then). Every SYNC_BYTES the
    thread also has the data written so far reach the disk (`WavFileSink.sync_data`), so
    that the disk writes while the render goes on. ``close()`` (or leaving
    the ``with`` block) waits for the queued blocks; after an error or an interruption it
    drops what is still queued instead.
    """

    #: bytes written between two WavFileSink.sync_data calls of the writer thread
    SYNC_BYTES = 4 << 20

    def __init__(self, sink: WavFileSink, frames: int, channels: int = 2, count: int = 2):
        import queue
        import threading

        self.sink = sink
        self._buffers = [np.zeros((frames, channels), dtype=np.float32) for _ in range(max(2, count))]
        self._next = 0
        self._todo: queue.Queue = queue.Queue()
        self._free = [threading.Event() for _ in self._buffers]
        for e in self._free:
            e.set()
        self._error: BaseException | None = None
        self._abandon = False
        self._thread = threading.Thread(target=self._run, name="dlsynth-wav-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            job = self._todo.get()
            if job is None:
                return
            i, n = job
            try:
                if self._error is None and not self._abandon:
                    self.sink.write(self._buffers[i][:n])
                    if self.sink.unsynced_bytes >= self.SYNC_BYTES:
                        self.sink.sync_data()
            except BaseException as exc:
                self._error = exc
            finally:
                self._free[i].set()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def buffer(self) -> np.ndarray:
        """The array to render the next block into."""
        self._raise()
        i = self._next
        self._free[i].wait()
        self._raise()
        return self._buffers[i]

    def submit(self, frames: int) -> None:
        """Queue the first ``frames`` frames of the array `buffer` gave last."""
        i = self._next
        self._free[i].clear()
        self._todo.put((i, int(frames)))
        self._next = (i + 1) % len(self._buffers)

    def close(self, abandon: bool = False) -> None:
        if self._thread is None:
            return
        self._abandon = self._abandon or abandon
        self._todo.put(None)
        self._thread.join()
        self._thread = None
        if not abandon:
            self._raise()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(abandon=exc_type is not None)
