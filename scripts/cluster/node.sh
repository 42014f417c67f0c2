# Sourced by scripts/cluster.sh: one node = containerd + kubelet + kube-proxy, all three inside the
# node's network namespace, with every bit of the node's state under .cluster/nodes/<name>/.

# node_config N — writes containerd, CNI, kubelet and kube-proxy configs for node N
node_config() {
  local n="$1" d name; d="$(node_dir "$n")"; name="$(node_name "$n")"
  mkdir -p "$d"/{containerd/root,containerd/state,runc,cni/conf,cni/ipam,kubelet,pod-logs}
  sed -e "s|@DIR@|$d|g" -e "s|@SOCK@|$(node_sock "$n")|g" "$HERE/containerd.toml" > "$d/containerd.toml"
  sed -e "s|@NET@|$(node_ns "$n")|g" -e "s|@POD_CIDR@|$(pod_cidr "$n")|g" -e "s|@DIR@|$d|g" \
    "$HERE/cni.conflist" > "$d/cni/conf/10-gantry.conflist"
  sed -e "s|@DIR@|$d|g" -e "s|@SOCK@|$(node_sock "$n")|g" -e "s|@PKI@|$PKI|g" -e "s|@NAME@|$name|g" \
    -e "s|@CGROUP@|$(node_cgroup "$n")|g" -e "s|@DNS@|$DNS_SVC_IP|g" -e "s|@IP@|$(node_ip "$n")|g" \
    "$HERE/kubelet.yaml" > "$d/kubelet.yaml"
  sed -e "s|@STATE@|$STATE|g" -e "s|@NAME@|$name|g" -e "s|@CLUSTER_CIDR@|$CLUSTER_CIDR|g" \
    "$HERE/kube-proxy.yaml" > "$d/kube-proxy.yaml"
  kubeconfig "$d/kubelet.kubeconfig" "$name" "https://$HOST_IP:$API_PORT"
}

# The kubelet's cgroupRoot must exist in every cgroup v1 hierarchy before it starts.
node_cgroups() {
  local n="$1" h
  for h in "$CGROUP_V1"/*/; do
    [ "$(basename "$h")" = unified ] && continue
    [ -f "$h/cgroup.procs" ] && mkdir -p "$h$(node_cgroup "$n")"
  done
}

containerd_up() {
  local n="$1" name; name="$(node_name "$n")"
  start "containerd-$name" nsenter --net="/run/netns/$(node_ns "$n")" containerd --config "$(node_dir "$n")/containerd.toml"
  wait_for "containerd on $name" 30 "containerd-$name" ctr -a "$(node_sock "$n")" version
}

kubelet_up() {
  local n="$1" d name; d="$(node_dir "$n")"; name="$(node_name "$n")"
  start "kubelet-$name" nsenter --net="/run/netns/$(node_ns "$n")" "$PARTS/kubelet" \
    --config "$d/kubelet.yaml" --kubeconfig "$d/kubelet.kubeconfig" --root-dir "$d/kubelet" \
    --hostname-override "$name" --node-ip "$(node_ip "$n")"
}

kube_proxy_up() {
  local n="$1" name; name="$(node_name "$n")"
  start "kube-proxy-$name" nsenter --net="/run/netns/$(node_ns "$n")" "$PARTS/kube-proxy" \
    --config "$(node_dir "$n")/kube-proxy.yaml"
}

# images_import N DIR — every OCI archive in DIR into node N's containerd (pods never pull)
images_import() {
  local n="$1" dir="$2" tar
  for tar in "$dir"/*.tar; do
    [ -f "$tar" ] || continue
    ctr -a "$(node_sock "$n")" -n k8s.io images import "$tar" >/dev/null \
      || fail "could not import $tar into $(node_name "$n")'s containerd" "containerd-$(node_name "$n")"
  done
}

# images_import_all NODES DIR — the imports into every node at once (they dominate `up`)
images_import_all() {
  local nodes="$1" dir="$2" n pids=() t0; t0=$(date +%s)
  for n in $(seq 1 "$nodes"); do images_import "$n" "$dir" & pids+=("$!"); done
  for n in "${pids[@]}"; do wait "$n" || exit 1; done
  say "images ($(for f in "$dir"/*.tar; do basename "$f" .tar; done | paste -sd, -)) imported into $nodes node(s) in $(( $(date +%s) - t0 ))s"
}
