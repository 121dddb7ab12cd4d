"""Writing a file so that a reader never sees half of it.

`atomic_write(path, write)` calls ``write(file)`` on a new temporary file beside *path*,
fsyncs it, moves it over *path* with ``os.replace`` and fsyncs the folder. The temporary
file is created with mode 0o666 so the umask decides the permissions, as for any new file;
an existing file's permissions are kept. On any failure the temporary file is removed and
*path* is left as it was. Used for banks (dls.writer, the SF2 writer, the built-in bank's
cache), MIDI files (smf.writer), note labels and batch manifests. (WAV output streams
through libsndfile instead: sink/filesink.py writes it to a temporary file and renames it
when whole, with `fsync_dir` after.)
"""

from __future__ import annotations

import os
from typing import Callable


def atomic_write(path, write: Callable) -> None:
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    path = os.fspath(path)
    directory, base = os.path.split(os.path.abspath(path))
    tmp = None
    fd = -1
    for _ in range(16):
        tmp = os.path.join(directory, f".{base}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            tmp = None
    if fd < 0:
        raise FileExistsError(f"could not create a temporary file in {directory!r}")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        try:  # keep an existing file's permissions
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
        tmp = None
        fsync_dir(directory)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def fsync_dir(directory: str) -> None:
    """Make a rename durable where the platform allows fsync on a directory."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
