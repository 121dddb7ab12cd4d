#!/usr/bin/env bash
# The whole test suite: set up (once, with the test tools), lint and format check (ruff), run pytest, then the tests
# that exercise C code again against a build with AddressSanitizer and UBSan.
#   bash dev/test.sh            everything
#   bash dev/test.sh -k reader  pytest arguments are passed on (the sanitizer pass is skipped)
set -euo pipefail
DLSYNTH_SETUP=test source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$ROOT"
if [ "$#" -gt 0 ]; then
    exec "$VENV/bin/python" -m pytest "$@"
fi
"$VENV/bin/ruff" check "$ROOT"
"$VENV/bin/ruff" format --check "$ROOT"
"$VENV/bin/python" -m pytest -q -ra
bash "$ROOT/dev/sanitize.sh"
