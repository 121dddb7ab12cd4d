#!/usr/bin/env bash
# The main job: set up (once) and run the dlsynth command with the given arguments.
#   bash dev/run.sh info                       describe the built-in bank
#   bash dev/run.sh info some-bank.dls --json
set -euo pipefail
DLSYNTH_SETUP=run source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
exec "$VENV/bin/dlsynth" "$@"
