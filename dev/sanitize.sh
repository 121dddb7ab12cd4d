#!/usr/bin/env bash
# Build the native engine with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch
# copy of the tree and run the tests that reach C code against it; then build it with
# ThreadSanitizer and run the render-thread tests (tests/test_engine_threads.py) on it.
# DLSYNTH_SANITIZE_ONLY=address or =thread runs one of the two passes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DLSYNTH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3
ONLY="${DLSYNTH_SANITIZE_ONLY:-}"
if [ -z "$ONLY" ] || [ "$ONLY" = address ]; then
    (
        source "$ROOT/dev/sanitized-build.sh"
        cd "$SCRATCH"
        TESTS=$(ls tests/test_native*.py tests/test_engine*.py tests/test_effects*.py tests/test_synth*.py tests/test_render*.py tests/test_live.py tests/test_fuzz_layers.py tests/test_lazy_reader.py tests/test_fuzz_reader.py tests/test_bank_select.py tests/test_pcm_encode.py 2>/dev/null || true)
        if [ -z "$TESTS" ]; then echo "sanitize: no native tests found" >&2; exit 1; fi
        echo "sanitize: running $(echo $TESTS | wc -w) test files under ASan+UBSan" >&2
        env "${SAN_ENV[@]}" "$PY" -m pytest -q -p no:cacheprovider $TESTS
    )
fi
if [ -z "$ONLY" ] || [ "$ONLY" = thread ]; then
    (
        SANITIZER=thread
        source "$ROOT/dev/sanitized-build.sh"
        cd "$SCRATCH"
        echo "sanitize: running tests/test_engine_threads.py under ThreadSanitizer" >&2
        # setarch -R: without address-space randomisation (TSan's shadow memory needs a fixed
        # layout; some kernels' randomisation breaks it).
        # --capture=sys: a report (written to fd 2 by the runtime) reaches the terminal.
        env "${SAN_ENV[@]}" setarch "$(uname -m)" -R "$PY" -m pytest -q --capture=sys -p no:cacheprovider tests/test_engine_threads.py
    )
fi
