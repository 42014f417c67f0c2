# Sourced by scripts/cluster.sh: the cluster's network. A bridge on the host ($HOST_IP/24) and one
# network namespace per node joined to it by a veth; each node's pod CIDR is routed to that node
# from the host and from every other node. No masquerading anywhere: every hop has a route back,
# and nothing in the cluster is meant to reach beyond the bridge.

net_up() {
  local nodes="$1" n m
  ip link add "$BRIDGE" type bridge || die "could not create bridge $BRIDGE (is another cluster with GANTRY_CLUSTER_ID=$CLUSTER_ID running? try scripts/cluster.sh down)"
  ip addr add "$HOST_IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  for n in $(seq 1 "$nodes"); do
    local ns; ns="$(node_ns "$n")"
    ip netns add "$ns"
    ip link add "$(node_veth "$n")" type veth peer name eth0 netns "$ns"
    ip link set "$(node_veth "$n")" master "$BRIDGE" up
    in_node "$n" ip link set lo up
    in_node "$n" ip addr add "$(node_ip "$n")/24" dev eth0
    in_node "$n" ip link set eth0 up
    in_node "$n" ip route add default via "$HOST_IP"
    in_node "$n" sysctl -qw net.ipv4.ip_forward=1
    ip route add "$(pod_cidr "$n")" via "$(node_ip "$n")" dev "$BRIDGE"
  done
  for n in $(seq 1 "$nodes"); do
    for m in $(seq 1 "$nodes"); do
      [ "$n" = "$m" ] || in_node "$n" ip route add "$(pod_cidr "$m")" via "$(node_ip "$m")" dev eth0
    done
  done
}

# Removes every node namespace of this cluster (also ones from a larger earlier run) and the bridge;
# the veths, the namespaces' iptables rules and the host routes through the bridge go with them.
net_down() {
  local ns
  for ns in $(ip netns list | awk '{print $1}' | grep -E "^gantry${CLUSTER_ID}-n[0-9]+$" || true); do
    ip netns delete "$ns"
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE"; fi
  # `ip netns add` bind-mounts /run/netns onto itself the first time; once no namespace is left
  # (none of another cluster's either) that mount goes too
  if mountpoint -q /run/netns && [ -z "$(ls -A /run/netns 2>/dev/null)" ]; then umount /run/netns || true; fi
}
