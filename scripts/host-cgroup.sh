#!/usr/bin/env bash
# Prepares (or removes) the memory cgroup a node's gantry agent caps its provider hosts in
# (`gantry agent --host-cgroup DIR`, docs/agent.md "Memory caps as cgroups"). Run as root on the
# node, once, before the agent DaemonSet's pod starts there (its hostPath volume is of type
# Directory: on a node without the directory the pod does not start, rather than run uncapped).
#
#   scripts/host-cgroup.sh create [--dir DIR] [--uid UID] [--limit BYTES]
#   scripts/host-cgroup.sh remove [--dir DIR]
#
# create: makes DIR (default /sys/fs/cgroup/memory/gantry-hosts, cgroup v1 memory), sets its own
# limit (default: half the node's memory) and hands ONLY the directory to UID (default 65532,
# the agent's user): the agent can then make child cgroups in it and move its own processes
# into them without any capability, while DIR's limit files stay root's, so every host together
# stays under the node cap however the agent sets its children. Idempotent.
# remove: removes DIR; refuses while a child cgroup still holds a process.
set -euo pipefail

die() {
  echo "host-cgroup.sh: $*" >&2
  exit 1
}

action=${1:-}
[[ $action == create || $action == remove ]] || die "usage: $0 create|remove [--dir DIR] [--uid UID] [--limit BYTES]"
shift
dir=/sys/fs/cgroup/memory/gantry-hosts
uid=65532
limit=
while (($#)); do
  case $1 in
    --dir) dir=${2:?--dir needs a value} && shift 2 ;;
    --uid) uid=${2:?--uid needs a value} && shift 2 ;;
    --limit) limit=${2:?--limit needs a value} && shift 2 ;;
    *) die "unknown argument: $1" ;;
  esac
done
[[ $(id -u) == 0 ]] || die "run as root (it writes cgroup limits and chowns a cgroup directory)"
[[ $uid =~ ^[0-9]+$ ]] || die "--uid must be a numeric uid, not '$uid'"
parent=$(dirname "$dir")
[[ -f $parent/memory.limit_in_bytes ]] ||
  die "$parent is not in a cgroup v1 memory hierarchy (no memory.limit_in_bytes); this script prepares cgroup v1 nodes (see docs/agent.md for cgroup v2)"

if [[ $action == remove ]]; then
  [[ -d $dir ]] || exit 0
  # children the agent left empty (the agent removes its own; these are from a killed agent)
  find "$dir" -mindepth 1 -maxdepth 1 -type d -exec rmdir {} + 2>/dev/null || true
  rmdir "$dir" || die "cannot remove $dir: a host cgroup in it still has processes ($(find "$dir" -mindepth 2 -name cgroup.procs -exec cat {} + | tr '\n' ' '))"
  exit 0
fi

if [[ -z $limit ]]; then
  total_kib=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
  limit=$((total_kib * 1024 / 2))
fi
[[ $limit =~ ^[0-9]+$ ]] || die "--limit must be a number of bytes, not '$limit'"
mkdir -p "$dir"
echo "$limit" >"$dir/memory.limit_in_bytes"
# with swap accounted, memory+swap gets the same cap (raising memsw first would be needed only to go up)
if [[ -f $dir/memory.memsw.limit_in_bytes ]]; then echo "$limit" >"$dir/memory.memsw.limit_in_bytes"; fi
# the directory only: its control files (memory.limit_in_bytes, cgroup.procs, …) stay root's
chown "$uid:$uid" "$dir"
chmod 0755 "$dir"
echo "host-cgroup.sh: $dir ready for uid $uid, all hosts together capped at $(cat "$dir/memory.limit_in_bytes") bytes"
