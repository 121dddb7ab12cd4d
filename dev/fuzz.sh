#!/usr/bin/env bash
# The long fuzz run across the three layers (tests/fuzzing.py): reader, download-and-play,
# command line. The play layer runs against an AddressSanitizer + UBSan build.
#
#   bash dev/fuzz.sh                      the record: 1,000,000 cases in total
#   bash dev/fuzz.sh --reader 20000 --play 2000 --cli 100 [--seed N] [-j N]
#
# Failing inputs are saved in $TMPDIR/dlsynth-fuzz-failures/ (see tests/data/fuzz-regressions).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DLSYNTH_VENV:-$ROOT/.venv}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "fuzz.sh: run bash dev/test.sh once first (it sets up $VENV)" >&2; exit 2; }
if [ "$#" -eq 0 ]; then set -- --reader 900000 --play 95000 --cli 5000; fi
READER=0 PLAY=0 CLI=0 REST=()
while [ "$#" -gt 0 ]; do
    case "$1" in
    --reader) READER="$2"; shift 2 ;;
    --play) PLAY="$2"; shift 2 ;;
    --cli) CLI="$2"; shift 2 ;;
    *) REST+=("$1"); shift ;;
    esac
done
cd "$ROOT"
status=0
if [ "$READER" -gt 0 ] || [ "$CLI" -gt 0 ]; then
    "$PY" -m tests.fuzzing --reader "$READER" --cli "$CLI" "${REST[@]}" || status=1
fi
if [ "$PLAY" -gt 0 ]; then
    source "$ROOT/dev/sanitized-build.sh"
    (cd "$SCRATCH" && env "${SAN_ENV[@]}" "$PY" -m tests.fuzzing --play "$PLAY" "${REST[@]}") || status=1
fi
exit $status
