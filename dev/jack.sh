#!/usr/bin/env bash
# A JACK server with the dummy backend, for trying `dlsynth play` on a machine with no sound
# card: a real, clocked audio graph. The launcher is dlsynth's own (dlsynth.apps.jackserver,
# which `dlsynth bench` and the tests use too).
#
#   eval "$(bash dev/jack.sh start)"   start server "dlsynth-dummy" and export JACK_DEFAULT_SERVER
#   bash dev/jack.sh status            is it running?
#   bash dev/jack.sh stop              stop it
#
# Environment: JACK_NAME (default dlsynth-dummy), JACK_RATE (48000), JACK_PERIOD (512).
set -euo pipefail
DLSYNTH_SETUP=run source "$(dirname "${BASH_SOURCE[0]}")/setup.sh" >&2
exec "$VENV/bin/python" -m dlsynth.apps.jackserver "$@"
