#!/usr/bin/env bash
# The main job: set up (once) and run the dlsynth command with the given arguments.
#   bash dev/run.sh info                       describe the built-in bank
#   bash dev/run.sh info some-bank.dls --json
set -euo pipefail
DLSYNTH_SETUP=run source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# Ctrl-C and SIGTERM held while Python starts (a Ctrl-C there ends in CPython's own
# traceback); the command lets them through once its handlers are in (apps/cli.py). GNU env
# has --block-signal from coreutils 8.31 on.
if env --block-signal=INT true 2>/dev/null; then
    exec env --block-signal=INT --block-signal=TERM "$VENV/bin/dlsynth" "$@"
fi
exec "$VENV/bin/dlsynth" "$@"
