#!/usr/bin/env bash
# Build the native engine with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch
# copy of the tree and run the tests that reach C code against it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DLSYNTH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || PY=python3
SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/dlsynth-asan.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} cp --parents {} "$SCRATCH"/ 2>/dev/null || true)
cd "$SCRATCH"
DLSYNTH_SANITIZE=1 "$PY" setup.py -q build_ext --inplace >/dev/null 2>&1 || DLSYNTH_SANITIZE=1 "$PY" setup.py build_ext --inplace
LIBASAN="$(gcc -print-file-name=libasan.so)"
TESTS=$(ls tests/test_native*.py tests/test_engine*.py tests/test_effects*.py tests/test_synth*.py tests/test_render*.py tests/test_live.py 2>/dev/null || true)
if [ -z "$TESTS" ]; then echo "sanitize: no native tests found" >&2; exit 1; fi
echo "sanitize: running $(echo $TESTS | wc -w) test files under ASan+UBSan" >&2
env PYTHONPATH="$SCRATCH" LD_PRELOAD="$LIBASAN" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allocator_may_return_null=1" \
    UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    DLSYNTH_UNDER_SANITIZER=1 \
    "$PY" -m pytest -q -p no:cacheprovider $TESTS
