"""The built bank's cache file: built once per version, written atomically, read back lazily."""

from __future__ import annotations

import hashlib
import os
import pathlib
import tempfile

from dlsynth.dls.atomicfile import atomic_write
from dlsynth.dls.model import Collection

from .build import build_default_bank
from .params import BANK_VERSION

# =========================================================================================
# Cache
# =========================================================================================


def _version_hash() -> str:
    """BANK_VERSION and the source of what makes the bank: the generator and the writer, and,
    since the levels are measured by playing it, the engine (native/ C sources) and the
    download that compiles instruments for it."""
    h = hashlib.sha256(BANK_VERSION.encode())
    here = pathlib.Path(__file__).resolve().parent
    root = here.parent  # gmbank/ beside dls/, synth/ and native/, in the checkout as when installed
    files = sorted(here.glob("*.py"))
    files += [root / "dls" / n for n in ("units.py", "writer.py", "model.py", "constants.py")]
    files += [root / "synth" / "download.py"]
    files += sorted((root / "native").glob("*.[ch]"))
    for p in files:
        if p.exists():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> pathlib.Path:
    """The user cache folder for dlsynth: $XDG_CACHE_HOME/dlsynth or ~/.cache/dlsynth."""
    base = os.environ.get("XDG_CACHE_HOME") or ""
    root = pathlib.Path(base) if base and os.path.isabs(base) else pathlib.Path.home() / ".cache"
    return root / "dlsynth"


def _usable_dir(d: pathlib.Path) -> bool:
    try:
        d.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=d, prefix=".probe-", delete=True)
        probe.close()
        return True
    except OSError:
        return False


def default_bank_path(notify=None) -> pathlib.Path:
    """Path of the default bank file, building and writing it on first use.

    The file lives in :func:`cache_dir` (or, when that cannot be written, a per-user folder
    in the system temp dir) as ``default-bank-<hash>.dls``, the hash covering
    :data:`BANK_VERSION` and the generator's source. It is written to a temporary file and
    renamed into place, so concurrent first uses never see a partial file; the banks of
    other versions in that folder, beyond the most recently used few, are then removed.
    ``notify(text)``, when given, is told before a build (a few seconds, once per version).
    """
    from dlsynth.dls.writer import write

    name = f"default-bank-{_version_hash()}.dls"
    candidates = [
        cache_dir(),
        pathlib.Path(tempfile.gettempdir()) / f"dlsynth-{os.getuid() if hasattr(os, 'getuid') else 'user'}",
    ]
    for d in candidates:
        path = d / name
        if path.is_file() and path.stat().st_size > 0:
            _touch(path)
            return path
    for d in candidates:
        if not _usable_dir(d):
            continue
        path = d / name
        if notify is not None:
            notify(f"building the built-in General MIDI bank (once: it is kept in {d})")
        data = write(build_default_bank())
        try:
            atomic_write(path, lambda f: f.write(data))
        except OSError:
            continue
        _prune(d, keep=name)
        return path
    raise OSError("no writable folder for the default bank (tried: " + ", ".join(map(str, candidates)) + ")")


#: How many versions' built-in banks a cache folder keeps: the one just built and the most
#: recently used others (two checkouts or installs used side by side each keep theirs).
KEEP_VERSIONS = 3


def _touch(path: pathlib.Path) -> None:
    """Mark a cached bank as just used (its modification time orders the pruning)."""
    try:
        os.utime(path)
    except OSError:
        pass


def _prune(folder: pathlib.Path, keep: str) -> None:
    """Remove the built-in banks of other dlsynth versions from the folder (each is about
    8 MB, and every version makes its own), all but the :data:`KEEP_VERSIONS` most recently
    used. A process still reading one keeps its data: a removed file lives on while it is
    open or mapped."""

    def used(p: pathlib.Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    others = sorted((p for p in folder.glob("default-bank-*.dls") if p.name != keep), key=used, reverse=True)
    for old in others[KEEP_VERSIONS - 1 :]:
        try:
            old.unlink()
        except OSError:
            pass


def load_default_bank(notify=None) -> Collection:
    """The default bank, read from its cache file (built on first use; ``notify``: as for
    `default_bank_path`).

    A cache file that no longer reads (damaged by something else) is rebuilt once.
    """
    from dlsynth.dls.errors import DLSError
    from dlsynth.dls.reader import read

    path = default_bank_path(notify)
    try:
        return read(path)
    except (DLSError, OSError, ValueError):
        try:
            path.unlink()
        except OSError:
            pass
        return read(default_bank_path(notify))
