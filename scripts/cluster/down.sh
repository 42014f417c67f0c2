# Sourced by scripts/cluster.sh: tears a cluster down to nothing — processes, containers and their
# shims, mounts, cgroups, namespaces, bridge — also after a half-failed `up`. Idempotent.
# Keeps .cluster/logs/ for reading afterwards (the next `up` starts them afresh).

# A node's containers without its kubelet: kill every process in the node's cgroup tree, then let
# containerd delete the tasks so their shims exit and unmount the rootfs.
node_containers_down() {
  local d="$1" name sock cg id procs
  name="$(basename "$d")"; sock="$d/containerd.sock"; cg="/gantry${CLUSTER_ID}-n${name#gantry-n}"
  # (the cgroup is named by GANTRY_CLUSTER_ID: not when another checkout's cluster now has this id)
  if [ -d "$CGROUP_V1/pids$cg" ] && [ -z "$(foreign_cluster)" ]; then
    procs="$(find "$CGROUP_V1/pids$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true)"
    [ -z "$procs" ] || kill -KILL $procs 2>/dev/null || true
  fi
  # CNI's result cache is host-wide (/var/lib/cni/results/<network>-<sandbox id>-<ifname>); the
  # sandbox ids are read from disk, so this works with containerd gone too
  for id in $(ls "$d"/containerd/root/io.containerd.grpc.v1.cri/sandboxes "$d"/containerd/state/io.containerd.grpc.v1.cri/sandboxes 2>/dev/null); do
    [[ "$id" =~ ^[0-9a-f]{64}$ ]] && rm -f /var/lib/cni/results/*-"$id"-* 2>/dev/null
  done
  if [ -S "$sock" ] && ctr -a "$sock" version >/dev/null 2>&1; then
    for id in $(ctr -a "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr -a "$sock" -n k8s.io tasks delete --force "$id" >/dev/null 2>&1 || true
    done
  fi
}

# Shims that outlived their containerd (found by the socket on their command line, so only ours)
stray_shims_down() {
  local p
  # shellcheck disable=SC2046
  stop_pids $(pgrep -f "containerd-shim-runc-v2 .*-address $STATE/nodes/" || true)
}

mounts_down() {
  local m
  # deepest first; mountinfo's 5th field is the mount point (octal-escaped, no spaces in ours)
  for m in $(awk -v s="$STATE/" 'index($5, s) == 1 {print $5}' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || umount -l "$m" || echo "cluster: could not unmount $m" >&2
  done
}

cgroups_down() {
  local h cg
  for h in "$CGROUP_V1"/*/; do
    # the nodes' cgroup roots, and the memory cgroup their agents' provider hosts ran in
    for cg in "$h"gantry"${CLUSTER_ID}"-n* "$h"gantry"${CLUSTER_ID}"-hosts; do
      [ -d "$cg" ] || continue
      # children before parents; a cgroup directory is removed with rmdir, never rm
      find "$cg" -depth -type d -exec rmdir {} \; 2>/dev/null || echo "cluster: could not remove cgroup $cg (a process still in it?)" >&2
    done
  done
}

# What the kubelet and CNI keep in host-wide places: log links to our pod logs, CNI result caches
shared_leftovers_down() {
  local l
  for l in /var/log/containers/*.log; do
    [ -L "$l" ] && case "$(readlink "$l")" in "$STATE"/*) rm -f "$l" ;; esac
  done
  rm -f /var/lib/cni/results/gantry"${CLUSTER_ID}"-n[0-9]*-* 2>/dev/null || true
  # the kubelet's fixed host paths, only once no kubelet at all runs here (another cluster's would
  # use them); rmdir leaves anything that is not empty
  if ! pgrep -x kubelet >/dev/null; then
    rm -f /var/lib/kubelet/device-plugins/kubelet.sock
    rmdir /var/lib/kubelet/device-plugins /var/lib/kubelet /var/log/containers /var/lib/cni/results /var/lib/cni 2>/dev/null || true
  fi
}

cluster_down() {
  local d foreign
  # cgroups, CNI cache entries, namespaces and bridge are named by GANTRY_CLUSTER_ID alone: with
  # another checkout's cluster running under this id, leave those to it
  foreign="$(foreign_cluster)"
  # a node's kubelet first, so nothing restarts the containers stopped next; KILL, because their
  # state is thrown away and a kubelet takes ~9 s over a TERM
  STOP_SIGNAL=KILL stop_named '^(kubelet|kube-proxy)-'
  for d in "$STATE"/nodes/*/; do [ -d "$d" ] && node_containers_down "${d%/}"; done
  # then all the rest at once: containerds, gantry.sh's processes, the control plane (its state
  # is thrown away, so no order among them matters)
  stop_named '.'
  stray_shims_down
  mounts_down
  if [ -n "$foreign" ]; then
    echo "cluster: GANTRY_CLUSTER_ID=$CLUSTER_ID is in use by the cluster in $foreign: left its cgroups, CNI cache and network alone" >&2
  else
    cgroups_down
    shared_leftovers_down
    sysctls_restore
    net_down
  fi
  rm -rf "$STATE/nodes" "$STATE/etcd" "$STATE/pki" "$STATE"/*.kubeconfig "$STATE/kubeconfig" "$PIDS"
}
