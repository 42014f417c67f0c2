#!/usr/bin/env bash
# Checks a pause binary does what a sandbox's PID 1 must: run as PID 1 of a new PID namespace,
# reap an orphan handed to it (no zombie left), and exit 0 on SIGTERM. Needs root (unshare -p).
# Called by images/pause/build.sh on every build; by hand: images/pause/check.sh PATH/TO/pause
set -euo pipefail
bin="${1:?usage: images/pause/check.sh PAUSE_BINARY}"
die() { echo "pause check: $*" >&2; exit 1; }
unshare --fork --pid --kill-child "$bin" &
outer=$!
trap 'kill -KILL "$outer" 2>/dev/null || true' EXIT
pid=""
for _ in $(seq 50); do pid="$(pgrep -P "$outer" || true)"; [ -n "$pid" ] && break; sleep 0.1; done
[ -n "$pid" ] || die "pause did not start under unshare"
# a shell in pause's namespace starts a short sleep and exits: the sleep's parent becomes pause
nsenter -t "$pid" -p -- sh -c 'sleep 0.2 & exit 0'
orphan="$(pgrep -P "$pid" -x sleep || true)"
[ -n "$orphan" ] || die "the orphan was not handed to pause (PID 1)"
# reaped: gone from the process table; not reaped: left as a zombie (Z)
for _ in $(seq 30); do [ -e "/proc/$orphan" ] || break; sleep 0.1; done
[ ! -e "/proc/$orphan" ] || die "orphan $orphan left as $(ps -o stat= -p "$orphan"): pause did not reap it"
kill -TERM "$pid"
status=0; wait "$outer" || status=$?
trap - EXIT
[ "$status" = 0 ] || die "pause exited $status on SIGTERM, expected 0"
echo "pause check: reaped an orphan as PID 1, exited 0 on SIGTERM" >&2
