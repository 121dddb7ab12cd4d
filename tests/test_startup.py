"""Start-up: the command line and the render path import only what the job needs.

Each check runs in a fresh interpreter (a subprocess) and looks at ``sys.modules`` after
the job: importing ``apps.cli``, and a whole ``dlsynth render SONG --bank BANK -o OUT``, must
not have imported the modules of live play, the benchmarks, the progress bar or plotting,
nor the built-in bank's module when a bank is given. No timing is asserted here (the figures
are in benchmarks/render_speed.py); what is asserted is what gets imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from dlsynth import dls

REPO = Path(__file__).resolve().parents[1]
SONG = REPO / "tests" / "data" / "midi" / "jazz-soft" / "test-c-major-scale.mid"

#: third-party modules the render job never needs (live audio and MIDI, the progress bar on a
#: terminal only, plots and signal processing only in benchmarks, mido only to build files)
NOT_FOR_RENDER = ("rich", "scipy", "sounddevice", "rtmidi", "jack", "matplotlib", "mido")
#: this project's modules a render with --bank never needs
NOT_FOR_RENDER_OURS = (
    "dlsynth.gmbank",
    "dlsynth.dls.describe",
    "dlsynth.dls.writer",
    "dlsynth.apps.play",
    "dlsynth.apps.devices",
    "dlsynth.apps.bench",
    "dlsynth.synth.live",
    "dlsynth.synth.service",
    "dlsynth.sink.wavesink",
    "dlsynth.apps.jackserver",
)


def _modules_after(code: str) -> set[str]:
    """The top-level and dotted names in sys.modules after running code in a new Python."""
    script = textwrap.dedent(code) + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=str(REPO), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def _loaded(modules: set[str], names) -> list[str]:
    return sorted(m for m in modules for n in names if m == n or m.startswith(n + "."))


def _bank(path: Path) -> Path:
    t = np.arange(4410)
    data = np.round(np.sin(2 * np.pi * 100 * t / 4410) * 12000).astype(np.int16)
    wave = dls.Wave.from_pcm16(data, 44100, dls.WaveSample(unity_note=69, loops=[dls.Loop(0, 0, 4410)]))
    ins = [dls.Instrument(name="sine", program=0, regions=[dls.Region(wave_link=dls.WaveLink(0))])]
    dls.write(dls.Collection(instruments=ins, waves=[wave]), path)
    return path


def test_import_cli_imports_no_subcommand_and_no_heavy_library():
    mods = _modules_after("import dlsynth.apps.cli")
    assert (
        _loaded(
            mods,
            NOT_FOR_RENDER
            + (
                "numpy",
                "soundfile",
                "dlsynth.dls",
                "dlsynth.gmbank",
                "dlsynth.smf",
                "dlsynth.synth",
                "dlsynth.sink",
                "dlsynth.native",
            ),
        )
        == []
    )
    assert (
        _loaded(
            mods,
            (
                "dlsynth.apps.render",
                "dlsynth.apps.play",
                "dlsynth.apps.info",
                "dlsynth.apps.devices",
                "dlsynth.apps.bench",
            ),
        )
        == []
    )


def test_version_imports_no_subcommand_and_no_numpy():
    """`dlsynth --version` answers from the package's version alone."""
    mods = _modules_after("""
        import contextlib, io
        from dlsynth import __version__
        from dlsynth.apps.cli import main
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                main(["--version"])
            except SystemExit as exc:
                assert exc.code == 0, exc.code
        assert out.getvalue().strip() == f"dlsynth {__version__}", out.getvalue()
    """)
    assert _loaded(mods, ("numpy", "dlsynth.native", "dlsynth.apps.render", "dlsynth.apps.bench")) == []


def test_render_with_a_bank_imports_only_the_render_path(tmp_path):
    bank = _bank(tmp_path / "sine.dls")
    out = tmp_path / "out.wav"
    mods = _modules_after(f"""
        from dlsynth.apps.cli import main
        assert main(["render", {str(SONG)!r}, "--bank", {str(bank)!r}, "-o", {str(out)!r}, "-q"]) == 0
    """)
    assert out.stat().st_size > 44  # the render did happen
    assert _loaded(mods, NOT_FOR_RENDER) == []
    assert _loaded(mods, NOT_FOR_RENDER_OURS) == []
    assert "soundfile" in mods  # the WAV writer, once the output opens


def test_the_render_path_loads_its_modules_from_bytecode_the_set_up_compiled(tmp_path):
    """An editable install has no bytecode of its own: dev/setup.sh compiles it, so that a
    command does not compile the package's modules again each run (where
    PYTHONDONTWRITEBYTECODE is set, as on CI: about 50 ms of a render's start-up). Every
    dlsynth module a render imports has a .pyc in __pycache__ that matches its source (the
    mtime and size its header records)."""
    bank = _bank(tmp_path / "sine.dls")
    out = tmp_path / "out.wav"
    script = textwrap.dedent(f"""
        import json, os, sys
        from dlsynth.apps.cli import main
        assert main(["render", {str(SONG)!r}, "--bank", {str(bank)!r}, "-o", {str(out)!r}, "-q"]) == 0
        stale = []
        for name, mod in sorted(sys.modules.items()):
            src, pyc = getattr(mod, "__file__", None), getattr(mod, "__cached__", None)
            if not name.startswith("dlsynth") or not src or not src.endswith(".py"):
                continue
            try:
                with open(pyc, "rb") as f:
                    head = f.read(16)
            except (OSError, TypeError):
                stale.append(name + ": no .pyc")
                continue
            st = os.stat(src)
            mtime, size = int.from_bytes(head[8:12], "little"), int.from_bytes(head[12:16], "little")
            if (mtime, size) != (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF):
                stale.append(name + ": .pyc older than its source")
        print(json.dumps(stale))
    """)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=str(REPO), env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    stale = json.loads(proc.stdout.strip().splitlines()[-1])
    assert stale == [], (
        f"modules compiled at every start (run the README's set-up: dev/setup.sh compiles them): {stale}"
    )


def test_info_on_a_bank_does_not_import_the_built_in_bank(tmp_path):
    bank = _bank(tmp_path / "sine.dls")
    mods = _modules_after(f"""
        import contextlib, io
        from dlsynth.apps.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["info", {str(bank)!r}, "--json"]) == 0
    """)
    assert _loaded(mods, NOT_FOR_RENDER + ("soundfile", "dlsynth.gmbank", "dlsynth.synth", "dlsynth.sink")) == []


def test_several_inputs_read_each_bank_once_per_worker_not_once_per_file(tmp_path):
    """-j 2 over six songs: the bank is read by the parent (the up-front check) and at most
    once by each worker, never once per file; every output equals a single render."""
    bank = _bank(tmp_path / "sine.dls")
    songs = []
    for i in range(6):
        p = tmp_path / f"s{i}.mid"
        p.write_bytes(SONG.read_bytes())
        songs.append(p)
    outdir = tmp_path / "out"
    outdir.mkdir()
    log = tmp_path / "reads.log"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        import os, sys
        from dlsynth import dls; import dlsynth.dls.reader
        _read = dls.reader.read
        def counted(source, *a, **kw):
            with open({str(log)!r}, "a") as f:
                f.write(f"{{os.getpid()}}\\n")
            return _read(source, *a, **kw)
        dls.reader.read = counted
        from dlsynth import dls
        dls.read = counted
        from dlsynth.apps.cli import main
        sys.exit(main(["render", *{[str(p) for p in songs]!r}, "--bank", {str(bank)!r}, "-o",
                       {str(outdir) + "/"!r}, "-j", "2", "-q"]))
    """),
        ],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    reads = log.read_text().split()
    assert 1 <= len(reads) <= 1 + 2, reads  # the parent, then at most one per worker
    single = tmp_path / "single.wav"
    proc = subprocess.run(
        [sys.executable, "-m", "dlsynth", "render", str(songs[0]), "--bank", str(bank), "-o", str(single), "-q"],
        capture_output=True,
        text=True,
        cwd=str(REPO),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    for p in songs:
        assert (outdir / (p.stem + ".wav")).read_bytes() == single.read_bytes()


def test_a_worker_compiles_each_instrument_once_and_the_engines_get_the_same_arrays(monkeypatch):
    """keep_compiled (what -j workers switch on): the second engine an instrument goes to gets
    it without a compile, and both engines get exactly what a fresh compile gives them,
    with their own wave ids."""
    from dlsynth.synth import download as D
    from dlsynth.synth.synth import Synth

    t = np.arange(2205)
    waves = [
        dls.Wave.from_pcm16(
            np.round(np.sin(2 * np.pi * k * t / 2205) * 9000).astype(np.int16),
            44100,
            dls.WaveSample(unity_note=60 + k, loops=[dls.Loop(0, 0, 2205)]),
        )
        for k in (1, 2, 3)
    ]
    regions = [
        dls.Region(key_low=0, key_high=59, wave_link=dls.WaveLink(2)),
        dls.Region(key_low=60, key_high=127, wave_link=dls.WaveLink(0)),
    ]
    bank = dls.Collection(instruments=[dls.Instrument(name="two", program=0, regions=regions)], waves=waves)
    fresh = []
    real = D.compile_instrument

    def counted(*a, **k):
        fresh.append(1)
        return real(*a, **k)

    monkeypatch.setattr(D, "compile_instrument", counted)
    got = []
    with D.compile_cache():
        for order in ([0, 1, 2], [2, 1, 0]):  # the second engine numbers the waves otherwise
            s = Synth(48000, effects=False)
            ids = []
            for ti in order:  # download the waves in this order first, so the ids differ
                ids.append(s.engine.download_wave(waves[ti]))
            wave_ids = [ids[order.index(ti)] for ti in range(3)]
            cached = D._compiled_from_cache(bank.instruments[0], wave_ids, s.engine.wave, False)
            direct = real(bank.instruments[0], wave_ids, s.engine.wave, False)
            assert cached.regions.tobytes() == direct.regions.tobytes()
            assert cached.connections.tobytes() == direct.connections.tobytes()
            assert cached.wave_ids == direct.wave_ids and cached.warnings == direct.warnings
            got.append(cached.regions["wave_id"][:, 0].tolist())
            s.close()
    assert len(fresh) == 1  # compiled for the first engine only
    assert got[0] != got[1]  # each engine's own wave ids
    assert D._cache is None  # off again after the block
