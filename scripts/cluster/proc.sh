# Sourced by scripts/cluster.sh: starting, watching and stopping the cluster's processes.
# .cluster/pids holds one "name pid" per line; other scripts (scripts/cluster/gantry.sh) append
# their own lines, and `down` stops every one.

# start NAME CMD... — runs CMD in its own session (it outlives the calling shell), stdout and
# stderr to .cluster/logs/NAME.log, and records its pid.
start() {
  local name="$1"; shift
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 3>&- &
  echo "$name $!" >> "$PIDS"
}

pid_of() { awk -v n="$1" '$1 == n {p = $2} END {print p}' "$PIDS" 2>/dev/null; }
alive() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }

# wait_for WHAT SECONDS COMPONENT CMD... — polls CMD every 0.25 s until it succeeds; fails naming
# the component's log if the time runs out or the component's process has exited.
wait_for() {
  local what="$1" secs="$2" comp="$3"; shift 3
  local end=$(( $(date +%s) + secs ))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$comp" ] && ! alive "$comp"; then
      fail "$comp exited while waiting for $what" "$comp"
    fi
    [ "$(date +%s)" -lt "$end" ] || fail "timed out after ${secs}s waiting for $what" "$comp"
    sleep 0.25
  done
}

# fd 3 = the script's stderr, so fail() is heard even from a check whose output wait_for discards
exec 3>&2

# fail MESSAGE COMPONENT — the error, the tail of the component's log, and where the whole log is
fail() {
  local msg="$1" comp="$2"
  echo "cluster: up failed: $msg" >&3
  if [ -n "$comp" ] && [ -f "$LOGS/$comp.log" ]; then
    echo "cluster: last lines of $LOGS/$comp.log:" >&3
    tail -n 15 "$LOGS/$comp.log" | sed 's/^/    /' >&3
  fi
  echo "cluster: all logs: $LOGS/ (tearing the cluster down)" >&3
  exit 1
}

# stop_pids PID... — TERM to all at once (KILL when STOP_SIGNAL=KILL), KILL whatever is left
# after 10 s; returns once every one is gone
stop_pids() {
  local p i left
  [ $# -gt 0 ] || return 0
  kill -"${STOP_SIGNAL:-TERM}" "$@" 2>/dev/null || true
  for i in $(seq 1 80); do
    left=""
    for p in "$@"; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
    [ -n "$left" ] || return 0
    [ "$i" != 40 ] || kill -KILL $left 2>/dev/null || true
    sleep 0.25
  done
  echo "cluster: pids$left did not exit after SIGKILL" >&2
}

# stop_named PATTERN [except] — stops every recorded process whose name matches the awk regex
# (with "except": every one whose name does not) and drops their lines from the pids file
stop_named() {
  local pattern="$1" inv=0
  [ "${2:-}" = except ] && inv=1
  [ -f "$PIDS" ] || return 0
  # shellcheck disable=SC2046
  stop_pids $(awk -v r="$pattern" -v i="$inv" '(($1 ~ r) != i) && $2 ~ /^[0-9]+$/ {print $2}' "$PIDS")
  awk -v r="$pattern" -v i="$inv" '($1 ~ r) == i' "$PIDS" > "$PIDS.tmp" && mv "$PIDS.tmp" "$PIDS"
}
