# Sourced by scripts/cluster.sh: the host-wide kernel settings every kubelet sets at start
# (vm.overcommit_memory=1, kernel.panic=10, kernel.panic_on_oops=1, …; they are not per network
# namespace). The first cluster on the machine saves the values it found, and the last `down`
# (no kubelet left on the machine, whichever cluster it came from) puts them back.
SYSCTL_SAVE=/run/gantry-cluster-sysctls
KUBELET_SYSCTLS="vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys kernel.keys.root_maxbytes"

sysctls_save() {
  [ -f "$SYSCTL_SAVE" ] && return 0
  pgrep -x kubelet >/dev/null && return 0   # another cluster's kubelet already changed them
  # shellcheck disable=SC2086
  sysctl -e $KUBELET_SYSCTLS | sed 's/ = /=/' > "$SYSCTL_SAVE.tmp" && mv "$SYSCTL_SAVE.tmp" "$SYSCTL_SAVE"
}

sysctls_restore() {
  [ -f "$SYSCTL_SAVE" ] || return 0
  pgrep -x kubelet >/dev/null && return 0
  # shellcheck disable=SC2046
  sysctl -q -w $(cat "$SYSCTL_SAVE") || echo "cluster: could not restore the kernel settings in $SYSCTL_SAVE" >&2
  rm -f "$SYSCTL_SAVE"
}
