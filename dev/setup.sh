# Sourced by dev/run.sh and dev/test.sh: install what dlsynth needs, once, idempotently.
#   DLSYNTH_SETUP=run   the main job: the package and the libraries it loads
#   DLSYNTH_SETUP=test  also the test tools (pytest, hypothesis) and the peers the tests
#                       compare against (libgig's dlsdump, FluidSynth, a JACK server)
# Root installs the Debian/Ubuntu packages with apt-get; anyone else is told the line to run.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DLSYNTH_VENV:-$ROOT/.venv}"
MODE="${DLSYNTH_SETUP:-run}"

# The commands: render (libsndfile), play (PortAudio; librtmidi for ALSA MIDI; JACK-Client needs libjack), bench (a
# JACK dummy server when no server runs).
APT_RUN="python3 python3-venv python3-dev gcc libportaudio2 libsndfile1 libjack-jackd2-0 jackd2 librtmidi6"
# The tests compare with libgig's dlsdump and with FluidSynth on the free GM SoundFonts,
# and run the live path on a JACK dummy server. (The benchmarks also want nodejs npm.)
APT_TEST="$APT_RUN gigtools fluidsynth fluid-soundfont-gm timgm6mb-soundfont"
if [ "$MODE" = test ]; then APT_PKGS="$APT_TEST"; else APT_PKGS="$APT_RUN"; fi

missing_pkgs() {
    local p out=""
    command -v dpkg-query >/dev/null 2>&1 || { echo ""; return; }
    for p in $APT_PKGS; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || out="$out $p"
    done
    echo "$out"
}

MISSING="$(missing_pkgs)"
if [ -n "$MISSING" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "dlsynth setup: installing system packages:$MISSING" >&2
        export DEBIAN_FRONTEND=noninteractive
        echo "jackd2 jackd/tweak_rt_limits boolean false" | debconf-set-selections 2>/dev/null || true
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 $MISSING >/dev/null
    else
        echo "dlsynth setup: these system packages are missing:$MISSING" >&2
        echo "dlsynth setup: run as root:  apt-get install -y --no-install-recommends$MISSING" >&2
        if [ "$MODE" = test ]; then
            echo "dlsynth setup: (tests that need a missing tool are skipped and name it; with CI=true they fail instead)" >&2
        fi
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "dlsynth setup: creating a virtual environment in $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip setuptools wheel
fi

# Reinstall only when the package definition or the C sources changed.
SRC_HASH="$(cat "$ROOT/pyproject.toml" "$ROOT/setup.py" "$ROOT"/native/*.c "$ROOT"/native/*.h "$ROOT/native/build_engine.py" 2>/dev/null | sha256sum | cut -c1-16)"
STAMP_SRC="$SRC_HASH-$MODE"
STAMP="$VENV/.dlsynth-installed"
INSTALLED="$(cat "$STAMP" 2>/dev/null || true)"
# (a test install has everything the main job needs: the main job after the tests reuses it)
if [ "$INSTALLED" = "$SRC_HASH-test" ] && [ "$MODE" = run ]; then INSTALLED="$STAMP_SRC"; fi
if [ "$INSTALLED" != "$STAMP_SRC" ] || ! ls "$ROOT"/native/_engine*.so >/dev/null 2>&1; then
    echo "dlsynth setup: installing dlsynth and its Python dependencies into $VENV" >&2
    EXTRA=""
    if [ "$MODE" = test ]; then EXTRA="[test]"; fi
    # (PYTHONWARNINGS: setuptools warns, at length, that a dlsynth/ folder in the current
    # directory could shadow the package; it is the package's own top folder.)
    PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install -q -e "$ROOT$EXTRA"
    echo "$STAMP_SRC" > "$STAMP"
fi
# Bytecode for the package's own modules, as pip writes it for a regular install (an editable
# one has none): without it every command compiles them again where PYTHONDONTWRITEBYTECODE is
# set (about 50 ms of the render command's start-up). Only changed files are compiled.
"$VENV/bin/python" -m compileall -q -j 0 "$ROOT"/dlsynth "$ROOT"/apps "$ROOT"/dls "$ROOT"/synth "$ROOT"/sink \
    "$ROOT"/native "$ROOT"/gmbank "$ROOT"/smf >/dev/null
export PATH="$VENV/bin:$PATH"
