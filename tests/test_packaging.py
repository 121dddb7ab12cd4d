"""The project as a user installs it: one import package, ``dlsynth``, from a wheel and from an
sdist, each installed into a fresh virtual environment and run from outside the source tree.

The wheel must hold nothing but ``dlsynth/`` and its ``.dist-info`` (no ``dls``, ``synth`` ...
at the top of site-packages), the C core compiled inside ``dlsynth/native``, and ``py.typed``;
the installed command must render a MIDI file with the built-in bank.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SONG = ROOT / "tests" / "data" / "midi" / "jazz-soft" / "test-c-major-scale.mid"
#: a pip install or a build that takes longer than this is stuck
INSTALL_TIMEOUT_S = 900
#: the top-level names a wheel may put into site-packages
ALLOWED_TOP = {"dlsynth"}


def _run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, **kw)
    assert p.returncode == 0, f"{cmd}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """A wheel and an sdist built from this checkout (without build isolation: the test
    environment has the build requirements)."""
    # From a copy of the tracked files: a build in the checkout would leave build/ there, and
    # setuptools packs whatever a stale build/lib holds.
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=str(ROOT),
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, files):
        dest = src / name.decode()
        if (ROOT / name.decode()).is_file():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name.decode(), dest)
    out = tmp_path_factory.mktemp("dist")
    _run(
        [sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", str(out), str(src)],
        cwd=str(out),
    )
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return wheels[0], sdists[0]


def _version() -> str:
    ns: dict = {}
    exec((ROOT / "dlsynth" / "__init__.py").read_text(), ns)
    return ns["__version__"]


def test_the_wheel_holds_one_package_with_its_compiled_core_and_type_marker(dists):
    wheel, _ = dists
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == ALLOWED_TOP
    for part in ("dls", "dls/soundfont", "gmbank", "smf", "synth", "sink", "native", "apps", "apps/bench"):
        assert f"dlsynth/{part}/__init__.py" in names, part
    assert any(n.startswith("dlsynth/native/_engine") and n.endswith(".so") for n in names)
    assert "dlsynth/py.typed" in names
    assert wheel.name.startswith(f"dlsynth-{_version()}-")


def test_the_sdist_holds_the_sources_the_build_needs(dists):
    import tarfile

    _, sdist = dists
    names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
    for need in (
        "pyproject.toml",
        "setup.py",
        "README.md",
        "dlsynth/__init__.py",
        "native/engine.h",
        "native/build_engine.py",
        "native/eng_render.c",
        "dls/reader.py",
        "apps/cli.py",
    ):
        assert need in names, need


def _fresh_venv(path: Path) -> Path:
    _run([sys.executable, "-m", "venv", str(path)])
    return path / "bin" / "python"


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installed_from_a_fresh_venv_it_renders_outside_the_tree(dists, tmp_path, kind):
    dist = dists[0] if kind == "wheel" else dists[1]
    py = _fresh_venv(tmp_path / "venv")
    _run([str(py), "-m", "pip", "install", "-q", str(dist)], cwd=str(tmp_path))
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    # Imported from the venv, not from the checkout, and with the public version.
    p = _run(
        [
            str(py),
            "-c",
            "import dlsynth, dlsynth.native as n; print(dlsynth.__version__); "
            "print(dlsynth.__file__); print(n.lib is not None)",
        ],
        cwd=str(away),
        env=env,
    )
    version, where, has_lib = p.stdout.split()
    assert version == _version()
    assert str(tmp_path / "venv") in where and str(ROOT) not in where
    assert has_lib == "True"
    site = Path(where).parents[1]
    ours = {
        e.name
        for e in site.iterdir()
        if e.name.lower().startswith(("dlsynth", "dls", "synth", "sink", "native", "apps"))
    }
    assert {n for n in ours if not n.endswith(".dist-info")} == ALLOWED_TOP
    # The command a user runs: render with the built-in bank.
    out = away / "scale.wav"
    _run(
        [str(tmp_path / "venv" / "bin" / "dlsynth"), "render", str(SONG), "-o", str(out), "-q"], cwd=str(away), env=env
    )
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 48000 and audio.shape[1] == 2
    assert np.abs(audio).max() > 0.01  # the scale is heard
