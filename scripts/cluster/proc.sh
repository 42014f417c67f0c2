# Sourced by scripts/cluster.sh: starting, watching and stopping the cluster's processes.
# .cluster/pids holds one "name pid" per line; other scripts (scripts/cluster/gantry.sh) append
# their own lines, and `down` stops every one.

# start NAME CMD... — runs CMD in its own session (it outlives the calling shell), stdout and
# stderr to .cluster/logs/NAME.log, and records its pid.
start() {
  local name="$1"; shift
  setsid "$@" </dev/null >>"$LOGS/$name.log" 2>&1 &
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

# stop_pid PID — TERM, up to 10 s, then KILL; returns once the process is gone
stop_pid() {
  local p="$1" i
  kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for i in $(seq 1 40); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  kill -KILL "$p" 2>/dev/null || true
  for i in $(seq 1 40); do kill -0 "$p" 2>/dev/null || return 0; sleep 0.25; done
  echo "cluster: pid $p did not exit after SIGKILL" >&2
}

# stop_named PATTERN — stops every recorded process whose name matches the awk regex, newest first,
# and drops their lines from the pids file
stop_named() {
  local pattern="$1" name p
  [ -f "$PIDS" ] || return 0
  while read -r name p; do
    [ -n "$p" ] && stop_pid "$p"
  done < <(awk -v r="$pattern" '$1 ~ r' "$PIDS" | tac)
  awk -v r="$pattern" '$1 !~ r' "$PIDS" > "$PIDS.tmp" && mv "$PIDS.tmp" "$PIDS"
}
