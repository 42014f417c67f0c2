#!/usr/bin/env bash
# Installs Gantry on the real cluster scripts/cluster.sh runs, the way an operator does
# (docs/operations.md "Gantry on the real cluster"), and takes it away again:
#
#   scripts/cluster/gantry.sh up      # membrane, trust, deploy/overlays/cluster, echo Provider, a call
#   scripts/cluster/gantry.sh down    # stop the registry and port-forwards, forget .cluster/gantry
#   scripts/cluster/gantry.sh call ARGS…   # `gantry call` through port-forwards to the NATS pods
#   scripts/cluster/gantry.sh up --release v0.1.0   # the same install of a previous release: its
#                                  # image (scripts/release.sh) and its deploy/ tree from its commit (deploy/releases)
#   scripts/cluster/gantry.sh upgrade   # this tree's manifests over a running (older) install:
#                                  # CRDs, the host keeper, the controller, then the agents node by node
#   scripts/cluster/gantry.sh wait-agents FILE   # after a change to the agent DaemonSet: each node's
#                                  # pod replaced → Ready (FILE: the old pods' uids, one a line)
#
# `up`: `gantry membrane init` → its Secret/ConfigMaps; dev signing keys; a plain-HTTP
# docker-registry on the host bridge (172.31.<GANTRY_CLUSTER_ID>.1:5000, recorded in
# .cluster/pids); PersistentVolumes for the NATS servers (the cluster has no provisioner);
# `kubectl apply -k` of deploy/overlays/cluster through a generated kustomization that adds the
# run's trust policy and a per-cluster archive cache; waits for every Gantry pod; signs and
# pushes the echo example; applies Provider `echo`, waits for Ready and calls it. Prints each
# step's time. Keys and credentials stay in .cluster/gantry (0700; keys 0600).
# Needs: a running cluster (.cluster/kubeconfig), the images imported (scripts/images.sh),
# dist/ built (npm run build), make and cc, docker-registry (scripts/setup.sh installs it).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
CLUSTER_ID="${GANTRY_CLUSTER_ID:-0}"
STATE="$REPO/.cluster"
G="$STATE/gantry"
HOST_IP="172.31.$CLUSTER_ID.1"
REGISTRY="$HOST_IP:5000"
# the delegated memory cgroup the agents cap provider hosts in (deploy/components/host-cgroup);
# one per cluster: every node of it shares this machine's kernel and cgroup tree
HOST_CGROUP="/sys/fs/cgroup/memory/gantry$CLUSTER_ID-hosts"
NS=gantry-system
export KUBECONFIG="$STATE/kubeconfig"

say() { echo "gantry.sh: $*" >&2; }
die() { echo "gantry.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
step() { say "$1: $(took "$2") s"; }

kubectl_bin() {
  local cp="${XDG_CACHE_HOME:-$HOME/.cache}/gantry/control-plane"
  local k
  k="$(ls -d "$cp"/*/bin/kubectl 2>/dev/null | head -n 1)"
  [ -x "$k" ] || die "kubectl not found under $cp: build it with scripts/control-plane.sh"
  echo "$k"
}
KUBECTL="$(kubectl_bin)"
k() { "$KUBECTL" "$@"; }
gantry() { "$REPO/scripts/node.sh" exec node "$REPO/bin/gantry.js" "$@"; }

# The NATS pods through port-forwards on loopback (the server certificate names 127.0.0.1):
# writes the comma-separated tls:// URLs to $G/nats-urls and the forwarders' pids to $G/pf.pids.
forward_nats() {
  stop_forwards
  local i port urls=""
  for i in 0 1 2; do
    : >"$G/pf-$i.log"
    # kubectl itself, not the k function: $! must be the forwarder's pid, not a subshell's
    "$KUBECTL" -n "$NS" port-forward "pod/gantry-nats-$i" ":4222" --address 127.0.0.1 </dev/null >"$G/pf-$i.log" 2>&1 3>&- &
    echo "$!" >>"$G/pf.pids"
  done
  for i in 0 1 2; do
    port=""
    for _ in $(seq 1 100); do
      port="$(sed -n 's/^Forwarding from 127.0.0.1:\([0-9]*\) .*/\1/p' "$G/pf-$i.log" | head -n 1)"
      [ -n "$port" ] && break
      sleep 0.1
    done
    [ -n "$port" ] || die "port-forward to gantry-nats-$i did not start: $(cat "$G/pf-$i.log")"
    urls="${urls:+$urls,}tls://127.0.0.1:$port"
  done
  echo "$urls" >"$G/nats-urls"
}
stop_forwards() {
  [ -f "$G/pf.pids" ] || return 0
  local pid
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$G/pf.pids"
  rm -f "$G/pf.pids"
}

start_registry() {
  command -v docker-registry >/dev/null || die "docker-registry not found: apt-get install -y docker-registry (scripts/setup.sh installs it)"
  if curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null; then return 0; fi
  # no registry running: a new cluster, so a new registry (an old one's revisions, signed with
  # other keys at other times, would refuse this run's push: REVISION_EXISTS)
  rm -rf "$G/registry" "$G/echo.par"
  mkdir -p "$G/registry"
  cat >"$G/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $G/registry
  delete:
    enabled: true
http:
  addr: $REGISTRY
log:
  level: warn
YAML
  # its own session, no inherited descriptors: it outlives this script (cluster.sh down stops it)
  setsid docker-registry serve "$G/registry.yml" </dev/null >"$STATE/logs/gantry-registry.log" 2>&1 3>&- &
  echo "gantry-registry $!" >>"$STATE/pids"
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "http://$REGISTRY/v2/" 2>/dev/null && return 0
    sleep 0.1
  done
  die "the registry at $REGISTRY did not answer: $(tail -n 5 "$STATE/logs/gantry-registry.log")"
}

# One PersistentVolume per NATS server, bound to its claim (jwt-gantry-nats-<i>) by claimRef: the
# cluster has no storage provisioner. hostPath is fine here: every node is on this one host.
nats_volumes() {
  local i d
  for i in 0 1 2; do
    d="$G/volumes/nats-$i"
    mkdir -p "$d" && chown 65532:65532 "$d" && chmod 0700 "$d"
    cat <<YAML
apiVersion: v1
kind: PersistentVolume
metadata:
  name: gantry-cluster-$CLUSTER_ID-nats-$i
  labels: {app.kubernetes.io/part-of: gantry-cluster-test}
spec:
  capacity: {storage: 64Mi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  claimRef: {namespace: $NS, name: jwt-gantry-nats-$i}
  hostPath: {path: $d, type: Directory}
---
YAML
  done | k apply -f - >/dev/null
}

# An overlay (this tree's deploy/overlays/cluster, or a release's) plus what depends on this run:
# the trust policy, and host directories of this cluster's own — the archive cache and the host
# keeper's socket directory (/var/cache/gantry and /run/gantry-keeper would be shared by every
# cluster on the host: same node names) — and its delegated memory cgroup. Hosts live where the
# overlay's release runs them: in the host keeper's pod when it has one, else in the agent's
# (v0.1.0), and the cgroup goes to that pod. A third argument overrides the gantry image's tag.
write_kustomization() {
  local issuer="$1" overlay="${2:-$REPO/deploy/overlays/cluster}" tag="${3:-}" rel hosts=gantry-agent agent_vols
  mkdir -p "$G/kustomize" "$G/cache" "$G/keeper"
  rel="$(realpath --relative-to="$G/kustomize" "$overlay")"
  agent_vols="{name: cache, hostPath: {path: $G/cache}}"
  if [ -f "$overlay/../../base/host-keeper.yaml" ]; then
    hosts=gantry-host-keeper
    agent_vols="$agent_vols, {name: keeper, hostPath: {path: $G/keeper}}"
  else
    agent_vols="$agent_vols, {name: host-cgroup, hostPath: {path: $HOST_CGROUP, type: Directory}}"
  fi
  cat >"$G/kustomize/kustomization.yaml" <<YAML
# generated by scripts/cluster/gantry.sh
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [$rel]
patches:
  - patch: |
      apiVersion: v1
      kind: ConfigMap
      metadata: {name: gantry-trust, namespace: $NS}
      data:
        trusted-issuers: "$issuer"
        plain-http-registries: "$REGISTRY"
  - patch: |
      apiVersion: apps/v1
      kind: DaemonSet
      metadata: {name: gantry-agent, namespace: $NS}
      spec: {template: {spec: {volumes: [$agent_vols]}}}
YAML
  if [ "$hosts" = gantry-host-keeper ]; then
    cat >>"$G/kustomize/kustomization.yaml" <<YAML
  - patch: |
      apiVersion: apps/v1
      kind: DaemonSet
      metadata: {name: gantry-host-keeper, namespace: $NS}
      spec: {template: {spec: {volumes: [{name: cache, hostPath: {path: $G/cache}}, {name: keeper, hostPath: {path: $G/keeper}}, {name: host-cgroup, hostPath: {path: $HOST_CGROUP, type: Directory}}]}}}
YAML
  fi
  if [ -n "$tag" ]; then
    printf 'images:\n  - {name: localhost/gantry/gantry, newTag: "%s"}\n' "$tag" >>"$G/kustomize/kustomization.yaml"
  fi
}

# Waits until every pod of a DaemonSet is Ready and of its current template (`rollout status`
# refuses an OnDelete DaemonSet, which the host keeper is); with ANY_TEMPLATE=1, Ready on any
# template (an OnDelete DaemonSet whose template changed keeps its pods until they are deleted).
wait_daemonset() {
  local name="$1" timeout="${2:-180}" s deadline
  deadline=$(($(date +%s) + timeout))
  for (( ; ; )); do
    s="$(k -n "$NS" get daemonset "$name" -o jsonpath='{.metadata.generation} {.status.observedGeneration} {.status.desiredNumberScheduled} {.status.numberReady} {.status.updatedNumberScheduled}' 2>/dev/null || true)"
    # shellcheck disable=SC2086 # five numbers
    set -- $s
    if [ $# -eq 5 ] && [ "$1" = "$2" ] && [ "$3" -gt 0 ] && [ "$3" = "$4" ] && { [ "${ANY_TEMPLATE:-0}" = 1 ] || [ "$3" = "$5" ]; }; then return 0; fi
    [ "$(date +%s)" -lt "$deadline" ] || die "daemonset/$name not Ready after ${timeout}s (generation, observed, desired, ready, updated: ${s:-none})"
    sleep 0.5
  done
}

# The agent pods' uids now, one a line: what wait-agents compares against.
agent_uids() { k -n "$NS" get pods -l app.kubernetes.io/name=gantry-agent -o jsonpath='{range .items[*]}{.metadata.uid}{"\n"}{end}'; }

# Follows a rolling update of the agent DaemonSet node by node: for each node, from the moment its
# old pod (a uid in OLD) is terminating or gone to the moment a new pod there is Ready; prints
# "node N: replaced → Ready in X s (at +Y s)". Times are this script's polls (every ~0.5 s).
wait_agents() {
  local old="$1" timeout="${2:-300}" t0 now_ uid node del ready nodes n left
  [ -f "$old" ] || die "wait-agents: no file of old pod uids at '$old'"
  declare -A gone=() up=()
  t0="$(now)"
  nodes="$(k get nodes -o jsonpath='{.items[*].metadata.name}')"
  for (( ; ; )); do
    now_="$(now)"
    declare -A seen_old=()
    while read -r uid node del ready; do
      [ -n "$uid" ] || continue
      if grep -qx "$uid" "$old"; then
        [ "$del" = "del=" ] && seen_old[$node]=1
      elif [ "$ready" = "ready=True" ] && [ -z "${up[$node]:-}" ]; then
        up[$node]="$now_"
      fi
    done < <(k -n "$NS" get pods -l app.kubernetes.io/name=gantry-agent -o jsonpath='{range .items[*]}{.metadata.uid} {.spec.nodeName} del={.metadata.deletionTimestamp} ready={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')
    left=0
    for n in $nodes; do
      if [ -z "${seen_old[$n]:-}" ] && [ -z "${gone[$n]:-}" ]; then gone[$n]="$now_"; fi
      if [ -n "${up[$n]:-}" ] && [ -z "${gone[$n]:-}" ]; then gone[$n]="${up[$n]}"; fi
      [ -n "${up[$n]:-}" ] || left=$((left + 1))
    done
    unset seen_old
    [ "$left" -gt 0 ] || break
    awk -v a="$t0" -v b="$(now)" -v t="$timeout" 'BEGIN{exit !(b-a > t)}' && die "agents not all replaced and Ready after ${timeout}s ($left node(s) left)"
    sleep 0.5
  done
  for n in $nodes; do
    say "agent on $n: replaced → Ready in $(awk -v a="${gone[$n]}" -v b="${up[$n]}" 'BEGIN{printf "%.1f", b-a}') s (at +$(awk -v a="$t0" -v b="${up[$n]}" 'BEGIN{printf "%.1f", b-a}') s)"
  done
  k -n "$NS" rollout status daemonset/gantry-agent --timeout=60s >/dev/null
}

provider_yaml() {
  cat <<YAML
apiVersion: gantry.dev/v1alpha1
kind: Provider
metadata: {name: echo, namespace: default}
spec:
  archive: {ref: $REGISTRY/examples/echo}
  replicas: ${1:-1}
  capabilityId: gantry:echo
YAML
}

# The issuer the trust policy names: the dev account key's public half.
issuer() { gantry keys public "$G/keys/account.nk"; }

up() {
  local release="" overlay="$REPO/deploy/overlays/cluster" tag=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --release) [ -n "${2:-}" ] || die "up: --release needs a tag (e.g. v0.1.0)"; release="$2"; shift 2 ;;
      *) die "up: unknown option '$1' (expected --release TAG)" ;;
    esac
  done
  [ -s "$KUBECONFIG" ] || die "no cluster: $KUBECONFIG is missing (scripts/cluster.sh up)"
  command -v make >/dev/null || die "make not found: apt-get install -y make"
  mkdir -p "$G" "$STATE/logs" && chmod 0700 "$G"
  local t0 t
  t0="$(now)"

  if [ -n "$release" ]; then
    # the release's image in every node and its deploy/ tree, both from its commit (deploy/releases); installed the way
    # that release's gantry.sh did (the script itself is unchanged since v0.1.0: the same steps)
    t="$(now)"
    GANTRY_CLUSTER_ID="$CLUSTER_ID" bash "$REPO/scripts/release.sh" import "$release"
    bash "$REPO/scripts/release.sh" manifests "$release" "$G/release/$release" >/dev/null
    overlay="$G/release/$release/deploy/overlays/cluster"
    tag="${release#v}"
    step "release $release: image imported, manifests extracted" "$t"
  fi

  t="$(now)"
  if [ ! -f "$G/membrane/admin.creds" ]; then gantry membrane init --out "$G/membrane" >/dev/null; fi
  if [ ! -f "$G/keys/account.nk" ]; then
    mkdir -p "$G/keys" && chmod 0700 "$G/keys"
    gantry keys generate --type account --out "$G/keys/account.nk" >/dev/null
    gantry keys generate --type service --out "$G/keys/service.nk" >/dev/null
  fi
  chmod 0600 "$G/keys/"*.nk "$G/membrane/admin.creds"
  local issuer
  issuer="$(issuer)"
  step "membrane and signing keys" "$t"

  t="$(now)"
  start_registry
  step "registry $REGISTRY" "$t"

  t="$(now)"
  k apply -f "$REPO/deploy/base/namespace.yaml" >/dev/null
  k apply -f "$G/membrane/gantry-membrane-keys.secret.yaml" -f "$G/membrane/gantry-nats-membrane.configmap.yaml" \
    -f "$G/membrane/gantry-nats-tls.secret.yaml" -f "$G/membrane/gantry-nats-ca.configmap.yaml" >/dev/null
  nats_volumes
  bash "$REPO/scripts/host-cgroup.sh" create --dir "$HOST_CGROUP" --limit $((4 * 1024 * 1024 * 1024)) >/dev/null
  write_kustomization "$issuer" "$overlay" "$tag"
  k apply -k "$G/kustomize" >/dev/null
  step "kubectl apply -k ${release:+$release:}deploy/overlays/cluster" "$t"

  t="$(now)"
  k -n "$NS" rollout status statefulset/gantry-nats --timeout=180s >/dev/null
  k -n "$NS" rollout status deployment/gantry-controller --timeout=180s >/dev/null
  if k -n "$NS" get daemonset gantry-host-keeper >/dev/null 2>&1; then wait_daemonset gantry-host-keeper; fi
  k -n "$NS" rollout status daemonset/gantry-agent --timeout=180s >/dev/null
  step "every Gantry pod Ready" "$t"

  t="$(now)"
  make -s -C "$REPO/providers" build/echo.so
  local target
  target="$(uname -m)-linux"
  [ -f "$G/echo.par" ] || gantry par create --name echo --vendor gantry.dev --capid gantry:echo --version 0.1.0 --revision 1 \
    --issuer "$G/keys/account.nk" --subject "$G/keys/service.nk" \
    --binary "$target=$REPO/providers/build/echo.so" --out "$G/echo.par" >/dev/null
  gantry par push "$G/echo.par" "$REGISTRY/examples/echo" --plain-http --trusted-issuer "$issuer" >/dev/null
  step "echo signed and pushed" "$t"

  t="$(now)"
  provider_yaml 1 | k apply -f - >/dev/null
  k wait provider/echo --for=condition=Ready --timeout=180s >/dev/null
  step "Provider echo Ready" "$t"

  t="$(now)"
  call echo Echo --data hello
  step "gantry call through NATS" "$t"
  say "up: $(took "$t0") s in all"
}

# This tree's manifests over a running install (an older release's, say), in the order the
# version skew policy gives (docs/upgrades.md): the CRDs first (an old controller ignores fields
# it does not know; a new one must find its schema), the host keeper (new in 0.2.0; updated only
# OnDelete later, so applying it never restarts a host), the controller, then the agents, one node
# at a time (maxUnavailable 1), each node's replacement timed. The same generated kustomization
# as `up`, so the result is what a fresh `up` of this tree installs.
upgrade() {
  [ -s "$KUBECONFIG" ] || die "no cluster: $KUBECONFIG is missing (scripts/cluster.sh up)"
  [ -f "$G/keys/account.nk" ] || die "nothing installed by gantry.sh here ($G/keys is missing): scripts/cluster/gantry.sh up first"
  k -n "$NS" get daemonset gantry-agent >/dev/null 2>&1 || die "no daemonset/gantry-agent in $NS: nothing to upgrade"
  local t0 t rendered="$G/upgrade.yaml" old="$G/upgrade-old-agents"
  t0="$(now)"
  write_kustomization "$(issuer)"
  k kustomize "$G/kustomize" >"$rendered"
  agent_uids >"$old"

  t="$(now)"
  k apply -f "$REPO/deploy/base/crds" >/dev/null
  k wait --for=condition=Established crd/providers.gantry.dev crd/providerinstances.gantry.dev crd/capabilitygrants.gantry.dev --timeout=60s >/dev/null
  step "upgrade: CRDs applied and Established" "$t"

  t="$(now)"
  if grep -q '^  name: gantry-host-keeper$' "$rendered"; then
    if k -n "$NS" get daemonset gantry-host-keeper >/dev/null 2>&1; then
      # OnDelete: a changed template reaches a node only when its keeper pod is deleted (by hand,
      # docs/upgrades.md "Rolling the host keepers"), never as part of this upgrade
      k apply -f "$rendered" -l app.kubernetes.io/name=gantry-host-keeper >/dev/null
      ANY_TEMPLATE=1 wait_daemonset gantry-host-keeper
      step "upgrade: host keeper applied (OnDelete: its pods and hosts left running)" "$t"
    else
      k apply -f "$rendered" -l app.kubernetes.io/name=gantry-host-keeper >/dev/null
      wait_daemonset gantry-host-keeper
      step "upgrade: host keeper Ready on every node" "$t"
    fi
  fi

  t="$(now)"
  # the controller's RBAC and config come with everything else below; its Deployment first
  k apply -f "$rendered" -l app.kubernetes.io/name=gantry-controller >/dev/null
  k -n "$NS" rollout status deployment/gantry-controller --timeout=180s >/dev/null
  step "upgrade: controller rolled out" "$t"

  t="$(now)"
  k apply -f "$rendered" >/dev/null
  wait_agents "$old"
  k -n "$NS" rollout status statefulset/gantry-nats --timeout=180s >/dev/null
  step "upgrade: everything applied, agents replaced node by node" "$t"
  say "upgrade: $(took "$t0") s in all"
}

# gantry call with the admin creds through port-forwards to all three NATS pods
call() {
  [ -f "$G/membrane/admin.creds" ] || die "no admin creds in $G/membrane: run scripts/cluster/gantry.sh up first"
  forward_nats
  local rc=0
  gantry call --nats "$(cat "$G/nats-urls")" --creds "$G/membrane/admin.creds" --nats-ca "$G/membrane/ca/ca.crt" "$@" || rc=$?
  stop_forwards
  return "$rc"
}

# Stops what gantry.sh started (the registry, port-forwards) and forgets .cluster/gantry. It
# deletes nothing through the API: scripts/cluster.sh down calls it just before the whole cluster
# goes; to uninstall Gantry from a cluster that stays, `kubectl delete -k deploy/overlays/cluster`.
down() {
  local t pid
  t="$(now)"
  stop_forwards
  if [ -f "$STATE/pids" ]; then
    pid="$(awk '$1 == "gantry-registry" {print $2}' "$STATE/pids" | tail -n 1)"
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
    sed -i '/^gantry-registry /d' "$STATE/pids"
  fi
  rm -rf "$G"
  step "down" "$t"
}

case "${1:-}" in
  up) shift; up "$@" ;;
  upgrade) upgrade ;;
  wait-agents) wait_agents "${2:-}" ;;
  down) down ;;
  call) shift; call "$@" ;;
  *) die "usage: scripts/cluster/gantry.sh up [--release TAG] | upgrade | wait-agents OLD_UIDS_FILE | down | call PROVIDER OP [gantry call options]" ;;
esac
