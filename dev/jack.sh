#!/usr/bin/env bash
# A JACK server with the dummy backend, for trying `dlsynth play` on a machine with no sound
# card (see ../shared/RIG.md). The tests start their own servers (tests/jackrig.py).
#
#   eval "$(bash dev/jack.sh start)"   start server "dlsynth-dummy" and export JACK_DEFAULT_SERVER
#   bash dev/jack.sh status            is it running? its ports
#   bash dev/jack.sh stop              stop it (SIGTERM to the pid it was started with)
#
# Environment: JACK_NAME (default dlsynth-dummy), JACK_RATE (48000), JACK_PERIOD (512).
set -euo pipefail

NAME="${JACK_NAME:-dlsynth-dummy}"
RATE="${JACK_RATE:-48000}"
PERIOD="${JACK_PERIOD:-512}"
RUNDIR="${XDG_RUNTIME_DIR:-/tmp}"
PIDFILE="$RUNDIR/dlsynth-jackd-$NAME.pid"
LOG="$RUNDIR/dlsynth-jackd-$NAME.log"
export JACK_DEFAULT_SERVER="$NAME" JACK_NO_START_SERVER=1

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

case "${1:-}" in
start)
    command -v jackd >/dev/null || { echo "jack.sh: jackd is not installed (apt-get install jackd2)" >&2; exit 2; }
    if ! running; then
        jackd -n "$NAME" -d dummy -r "$RATE" -p "$PERIOD" >"$LOG" 2>&1 &
        echo $! >"$PIDFILE"
        for _ in $(seq 1 250); do
            jack_lsp >/dev/null 2>&1 && break
            running || { echo "jack.sh: jackd exited, see $LOG" >&2; exit 1; }
            sleep 0.02
        done
        jack_lsp >/dev/null 2>&1 || { echo "jack.sh: jackd not ready after 5 s, see $LOG" >&2; exit 1; }
        echo "jack.sh: server $NAME running (pid $(cat "$PIDFILE"), $RATE Hz, $PERIOD frames)" >&2
    fi
    echo "export JACK_DEFAULT_SERVER=$NAME JACK_NO_START_SERVER=1"
    ;;
stop)
    if running; then
        pid="$(cat "$PIDFILE")"
        kill -TERM "$pid"
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$PIDFILE" /dev/shm/jack_sem.*_"$NAME"_* /dev/shm/jack_"$NAME"_*
    ;;
status)
    if running; then
        echo "server $NAME running (pid $(cat "$PIDFILE"))"
        jack_lsp -c
    else
        echo "server $NAME not running"
        exit 1
    fi
    ;;
*)
    sed -n '2,10p' "$0" >&2
    exit 2
    ;;
esac
