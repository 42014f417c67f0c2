# Sourced by scripts/cluster.sh: every name, address and path of one cluster, derived from
# GANTRY_CLUSTER_ID (default 0) so clusters from different worktrees can run side by side.
# Node N (1-based) is named gantry-n<N>; its network namespace is gantry<id>-n<N>.
CLUSTER_ID="${GANTRY_CLUSTER_ID:-0}"
case "$CLUSTER_ID" in
  [0-9]|1[01]) ;;
  *) echo "cluster: GANTRY_CLUSTER_ID must be 0..11 (it picks 172.31.<id>.0/24 and 10.<244+id>.0.0/16), got '$CLUSTER_ID'" >&2; exit 2 ;;
esac
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="$REPO/.cluster"
# The nodes' unix sockets (containerd's, the kubelet's plugin sockets) live under the state
# directory and must fit in 108 bytes: a checkout at a long path keeps its state in a short
# directory named by the checkout, with .cluster a link to it (kubeconfig, logs, pids stay at
# .cluster/…). Paths given to the components are the resolved, short ones.
if [ ${#STATE} -gt 55 ] && [ ! -e "$STATE" ] && [ "$(id -u)" = 0 ]; then
  _short="/var/tmp/gantry-cluster/$(printf %s "$REPO" | sha256sum | cut -c1-12)"
  mkdir -p "$_short" && ln -sfn "$_short" "$STATE"
fi
[ -L "$STATE" ] && STATE="$(readlink -f "$STATE")"
LOGS="$STATE/logs"
PKI="$STATE/pki"
PIDS="$STATE/pids"
BRIDGE="gantry${CLUSTER_ID}br"
HOST_IP="172.31.$CLUSTER_ID.1"          # the bridge's address on the host; kube-apiserver binds it
NODE_NET="172.31.$CLUSTER_ID.0/24"
CLUSTER_CIDR="10.$((244 + CLUSTER_ID)).0.0/16"
SERVICE_CIDR="10.$((96 + CLUSTER_ID)).0.0/24"
API_SVC_IP="10.$((96 + CLUSTER_ID)).0.1"
DNS_SVC_IP="10.$((96 + CLUSTER_ID)).0.10"
API_PORT=6443
# etcd stays on loopback (pods reach the bridge address, and etcd has no client auth here)
ETCD_PORT=$((32379 + CLUSTER_ID * 2))
ETCD_PEER_PORT=$((ETCD_PORT + 1))
CGROUP_V1=/sys/fs/cgroup

node_name() { echo "gantry-n$1"; }
node_ns()   { echo "gantry${CLUSTER_ID}-n$1"; }
node_ip()   { echo "172.31.$CLUSTER_ID.$((10 + $1))"; }
node_veth() { echo "g${CLUSTER_ID}n$1"; }                 # host end of the node's veth
pod_cidr()  { echo "10.$((244 + CLUSTER_ID)).$1.0/24"; }
node_dir()  { echo "$STATE/nodes/$(node_name "$1")"; }
node_cgroup() { echo "/gantry${CLUSTER_ID}-n$1"; }
node_sock() { echo "$(node_dir "$1")/containerd.sock"; }
# Run a command inside node N's network namespace. Not `ip netns exec`: it remounts /sys, which
# hides /sys/fs/cgroup from the kubelet.
in_node() { local n="$1"; shift; nsenter --net="/run/netns/$(node_ns "$n")" "$@"; }

# The .cluster directory of another checkout's running cluster with this GANTRY_CLUSTER_ID (its
# kube-apiserver binds our bridge address), or nothing. Names and addresses would collide with it.
foreign_cluster() {
  local p cmd
  for p in $(pgrep -f -- "kube-apiserver .*--bind-address $HOST_IP " || true); do
    cmd="$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null)" || continue
    case "$cmd" in *"$STATE/"*) ;; *) echo "$cmd" | grep -o -- '--tls-cert-file [^ ]*' | sed 's|--tls-cert-file ||; s|/pki/apiserver.crt||'; return 0 ;; esac
  done
}

say() { echo "cluster: $*" >&2; }
die() { echo "cluster: $*" >&2; exit 1; }
