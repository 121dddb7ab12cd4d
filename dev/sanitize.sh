#!/usr/bin/env bash
# Build the native engine with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch
# copy of the tree and run the tests that reach C code against it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DLSYNTH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3
source "$ROOT/dev/sanitized-build.sh"
cd "$SCRATCH"
TESTS=$(ls tests/test_native*.py tests/test_engine*.py tests/test_effects*.py tests/test_synth*.py tests/test_render*.py tests/test_live.py tests/test_fuzz_layers.py 2>/dev/null || true)
if [ -z "$TESTS" ]; then echo "sanitize: no native tests found" >&2; exit 1; fi
echo "sanitize: running $(echo $TESTS | wc -w) test files under ASan+UBSan" >&2
env "${SAN_ENV[@]}" "$PY" -m pytest -q -p no:cacheprovider $TESTS
