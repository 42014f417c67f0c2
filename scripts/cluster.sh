#!/usr/bin/env bash
# A real Kubernetes cluster on this machine, in one command: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler on the host, and N nodes, each in a network namespace
# of its own with its own containerd, kubelet and kube-proxy (iptables mode), CoreDNS in the cluster.
# Needs root. State, logs and the admin kubeconfig live in .cluster/ at the repo root.
#
#   scripts/cluster.sh up [--nodes N] [--no-gantry]   N nodes (default 3) named gantry-n1..gantry-nN;
#                                                   then scripts/cluster/gantry.sh up if it exists
#   scripts/cluster.sh down                           stop and remove everything (idempotent)
#   scripts/cluster.sh status                         what runs, where the logs are
#   scripts/cluster.sh stop-kubelet NODE | start-kubelet NODE   a node losing / regaining its kubelet
#   scripts/cluster.sh logs COMPONENT                 e.g. kube-apiserver, kubelet-gantry-n2
#   scripts/cluster.sh exec-node NODE CMD...          run CMD in the node's network namespace
#   scripts/cluster.sh kubectl ARGS...                kubectl with .cluster/kubeconfig
# Environment: GANTRY_CLUSTER_ID=0..11 picks the names and addresses (bridge gantry<id>br on
# 172.31.<id>.1/24, pods 10.<244+id>.N.0/24, services 10.<96+id>.0.0/24), so clusters from
# different worktrees can run at once.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)/cluster"
for f in env proc pki net control node sysctl down; do
  # shellcheck source=/dev/null
  . "$HERE/$f.sh"
done

need_root() { [ "$(id -u)" = 0 ] || die "needs root (network namespaces, cgroups, mounts)"; }

# The binaries: control plane (scripts/control-plane.sh) and node parts (scripts/cluster-parts.sh),
# each printing its cache directory on its last line; a no-op once built.
binaries() {
  CP="$(bash "$REPO/scripts/control-plane.sh" | tail -n 1)"
  PARTS="$(bash "$REPO/scripts/cluster-parts.sh" | tail -n 1)"
  [ -x "$CP/kube-apiserver" ] || die "scripts/control-plane.sh did not give a kube-apiserver (is GANTRY_SKIP_CONTROL_PLANE set?)"
  [ -x "$PARTS/kubelet" ] || die "scripts/cluster-parts.sh did not give a kubelet"
}
kc() { "$CP/kubectl" --kubeconfig "$STATE/kubeconfig" "$@"; }

preflight() {
  local c missing=()
  for c in containerd ctr runc nsenter ip iptables conntrack openssl curl dig setsid; do
    command -v "$c" >/dev/null 2>&1 || [ -x "/usr/sbin/$c" ] || missing+=("$c")
  done
  for c in bridge host-local portmap loopback; do [ -x "/usr/lib/cni/$c" ] || missing+=("/usr/lib/cni/$c"); done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}: run scripts/setup.sh (apt: containerd runc iptables conntrack containernetworking-plugins dnsutils curl openssl)"
  # a unix socket path has at most 107 bytes; the longest of ours is a kubelet's (52 past .cluster)
  [ ${#STATE} -le 55 ] || die "the state path is too long for the nodes' unix sockets ($STATE: ${#STATE} > 55 characters); remove $REPO/.cluster (it is then made a link to a short directory)"
  [ -f "$REPO/scripts/images.sh" ] || die "scripts/images.sh is missing (it builds the pause and CoreDNS images the nodes run)"
}

# (no `| grep -q`: under pipefail its early exit would SIGPIPE the loop and return 141)
running() {
  local _ p
  [ -f "$PIDS" ] || return 1
  while read -r _ p; do kill -0 "$p" 2>/dev/null && return 0; done < "$PIDS"
  return 1
}

cmd_up() {
  local nodes=3 gantry=1 n t0 images_dir other
  while [ $# -gt 0 ]; do
    case "$1" in
      --nodes) [[ "${2:-}" =~ ^[1-9][0-9]?$ ]] || die "--nodes needs a number 1..99, got '${2:-}'"; nodes="$2"; shift 2 ;;
      --no-gantry) gantry=0; shift ;;
      *) die "up: unknown option '$1' (expected --nodes N, --no-gantry)" ;;
    esac
  done
  need_root; preflight
  ! running || die "a cluster is already running from $STATE (scripts/cluster.sh status; scripts/cluster.sh down)"
  other="$(foreign_cluster)"
  [ -z "$other" ] || die "GANTRY_CLUSTER_ID=$CLUSTER_ID is in use by the cluster in $other: set another GANTRY_CLUSTER_ID (0..11)"
  t0=$(date +%s)
  binaries
  # every image the repo knows how to build (images/<name>/build.sh), imported into every node
  images_dir="$(bash "$REPO/scripts/images.sh" $(cd "$REPO/images" && ls -d */ | tr -d / | while read -r i; do [ -f "$i/build.sh" ] && echo "$i"; done) | tail -n 1)"
  [ -f "$images_dir/pause.tar" ] || die "scripts/images.sh gave no pause.tar in '$images_dir'"
  # shellcheck source=/dev/null
  . "$REPO/images/versions"
  say "binaries and images ready in $(( $(date +%s) - t0 ))s"
  cmd_down_quiet   # leftovers of an earlier, interrupted run
  trap 'trap - EXIT; set +e; say "tearing down after a failed up"; cluster_down' EXIT
  t0=$(date +%s)
  rm -rf "$LOGS"; mkdir -p "$LOGS" "$STATE/nodes"; : > "$PIDS"
  make_pki "$nodes"
  kubeconfig "$STATE/kubeconfig" admin "https://$HOST_IP:$API_PORT"
  for c in controller-manager scheduler kube-proxy; do kubeconfig "$STATE/$c.kubeconfig" "$c" "https://$HOST_IP:$API_PORT"; done
  net_up "$nodes"
  control_up "$CP" "$PARTS"
  for n in $(seq 1 "$nodes"); do node_config "$n"; node_cgroups "$n"; containerd_up "$n"; done
  images_import_all "$nodes" "$images_dir"
  sysctls_save
  for n in $(seq 1 "$nodes"); do kubelet_up "$n"; kube_proxy_up "$n"; done
  wait_ready "$nodes"
  say "nodes Ready, CoreDNS answering in $(( $(date +%s) - t0 ))s"
  if [ "$gantry" = 1 ] && [ -f "$HERE/gantry.sh" ]; then
    say "running scripts/cluster/gantry.sh up"
    bash "$HERE/gantry.sh" up || fail "scripts/cluster/gantry.sh up failed" ""
  fi
  trap - EXIT
  cmd_status
}

# Returns when every node is Ready, the default ServiceAccount exists, kube-proxy serves on every
# node and CoreDNS answers through its Service from a node.
wait_ready() {
  local nodes="$1" n name
  for n in $(seq 1 "$nodes"); do
    name="$(node_name "$n")"
    wait_for "node $name to register" 60 "kubelet-$name" kc get node "$name"
  done
  for n in $(seq 1 "$nodes"); do
    name="$(node_name "$n")"
    wait_for "node $name to be Ready" 60 "kubelet-$name" kc wait --for=condition=Ready "node/$name" --timeout=5s
    wait_for "kube-proxy on $name" 30 "kube-proxy-$name" in_node "$n" curl -fsS http://127.0.0.1:10256/healthz
  done
  wait_for "the default ServiceAccount" 60 kube-controller-manager kc get serviceaccount default
  sed -e "s|@IMAGE@|$COREDNS_IMAGE|g" -e "s|@DNS_IP@|$DNS_SVC_IP|g" "$HERE/coredns.yaml" | kc apply -f - >/dev/null
  wait_for "CoreDNS to be available" 90 "" coredns_available -n kube-system wait --for=condition=Available deploy/coredns --timeout=5s
  wait_for "CoreDNS to answer kubernetes.default from gantry-n1" 30 "" dns_answers
}
# fails at once, naming why, when a CoreDNS pod cannot start (its image missing, say)
coredns_available() {
  local why
  why="$(kc -n kube-system get pods -l k8s-app=kube-dns -o jsonpath='{range .items[*]}{.status.containerStatuses[*].state.waiting.reason}: {.status.containerStatuses[*].state.waiting.message}{"\n"}{end}' 2>/dev/null | grep -E '^(ErrImageNeverPull|CrashLoopBackOff|CreateContainerError|CreateContainerConfigError)' | head -n 1)"
  if [ -n "$why" ]; then
    kc -n kube-system logs -l k8s-app=kube-dns --tail=10 > "$LOGS/coredns.log" 2>&1 || true
    fail "CoreDNS cannot start: $why (images: scripts/images.sh coredns)" coredns
  fi
  kc -n kube-system wait --for=condition=Available deploy/coredns --timeout=5s
}
dns_answers() {
  [ "$(in_node 1 dig +short +time=1 +tries=1 "@$DNS_SVC_IP" kubernetes.default.svc.cluster.local)" = "$API_SVC_IP" ]
}

cmd_down_quiet() { cluster_down 2>&1 | sed 's/^/  (down) /' >&2; }
cmd_down() {
  need_root
  local t0; t0=$(date +%s)
  if [ -f "$HERE/gantry.sh" ] && running; then bash "$HERE/gantry.sh" down || say "scripts/cluster/gantry.sh down failed; stopping everything anyway"; fi
  cluster_down
  say "down in $(( $(date +%s) - t0 ))s; logs kept in $LOGS"
}

cmd_status() {
  local name p
  if [ ! -s "$PIDS" ]; then say "no cluster running from $STATE"; return 0; fi
  echo "processes (.cluster/pids) and their logs:"
  while read -r name p; do
    printf '  %-28s %-8s %-8s %s\n' "$name" "$p" "$(kill -0 "$p" 2>/dev/null && echo running || echo EXITED)" "$LOGS/$name.log"
  done < "$PIDS"
  echo "kubeconfig: $STATE/kubeconfig (API https://$HOST_IP:$API_PORT)"
  if [ -n "${CP:-}" ] || CP="$(bash "$REPO/scripts/control-plane.sh" 2>/dev/null | tail -n 1)"; then
    kc get nodes -o wide 2>/dev/null || true
  fi
}

node_number() { [[ "${1:-}" =~ ^gantry-n([0-9]+)$ ]] && [ -d "$(node_dir "${BASH_REMATCH[1]}")" ] || die "no node '${1:-}' (nodes: $(ls "$STATE/nodes" 2>/dev/null | tr '\n' ' '))"; echo "${BASH_REMATCH[1]}"; }

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) cmd_down ;;
  status) cmd_status ;;
  # SIGKILL: a kubelet crashing or its machine cut off; a TERM takes ~9 s and ends the same way
  stop-kubelet) need_root; n="$(node_number "${2:-}")"; STOP_SIGNAL=KILL stop_named "^kubelet-$2\$"; say "kubelet on $2 killed; its containers keep running" ;;
  start-kubelet) need_root; n="$(node_number "${2:-}")"; alive "kubelet-$2" && die "kubelet on $2 is already running"
    PARTS="$(bash "$REPO/scripts/cluster-parts.sh" | tail -n 1)"; kubelet_up "$n"; say "kubelet on $2 started (log $LOGS/kubelet-$2.log)" ;;
  logs) [ -f "$LOGS/${2:-}.log" ] || die "no log '${2:-}' (have: $(ls "$LOGS" 2>/dev/null | sed 's/\.log$//' | tr '\n' ' '))"; cat "$LOGS/$2.log" ;;
  exec-node) need_root; n="$(node_number "${2:-}")"; shift 2; in_node "$n" "$@" ;;
  kubectl) shift; CP="$(bash "$REPO/scripts/control-plane.sh" | tail -n 1)"; kc "$@" ;;
  *) die "usage: scripts/cluster.sh up [--nodes N] [--no-gantry] | down | status | stop-kubelet NODE | start-kubelet NODE | logs COMPONENT | exec-node NODE CMD... | kubectl ARGS..." ;;
esac
