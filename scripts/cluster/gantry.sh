#!/usr/bin/env bash
# Installs Gantry on the real cluster scripts/cluster.sh runs, the way an operator does
# (docs/operations.md "Gantry on the real cluster"), and takes it away again:
#
#   scripts/cluster/gantry.sh up      # membrane, trust, deploy/overlays/cluster, echo Provider, a call
#   scripts/cluster/gantry.sh down    # stop the registry and port-forwards, forget .cluster/gantry
#   scripts/cluster/gantry.sh call ARGS…   # `gantry call` through port-forwards to the NATS pods
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

# deploy/overlays/cluster plus what depends on this run: the trust policy and a cache directory
# of this cluster's own (/var/cache/gantry would be shared by every cluster on the host).
write_kustomization() {
  local issuer="$1" rel
  mkdir -p "$G/kustomize" "$G/cache"
  rel="$(realpath --relative-to="$G/kustomize" "$REPO/deploy/overlays/cluster")"
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
      spec: {template: {spec: {volumes: [{name: cache, hostPath: {path: $G/cache}}, {name: host-cgroup, hostPath: {path: $HOST_CGROUP, type: Directory}}]}}}
YAML
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

up() {
  [ -s "$KUBECONFIG" ] || die "no cluster: $KUBECONFIG is missing (scripts/cluster.sh up)"
  command -v make >/dev/null || die "make not found: apt-get install -y make"
  mkdir -p "$G" "$STATE/logs" && chmod 0700 "$G"
  local t0 t
  t0="$(now)"

  t="$(now)"
  if [ ! -f "$G/membrane/admin.creds" ]; then gantry membrane init --out "$G/membrane" >/dev/null; fi
  if [ ! -f "$G/keys/account.nk" ]; then
    mkdir -p "$G/keys" && chmod 0700 "$G/keys"
    gantry keys generate --type account --out "$G/keys/account.nk" >/dev/null
    gantry keys generate --type service --out "$G/keys/service.nk" >/dev/null
  fi
  chmod 0600 "$G/keys/"*.nk "$G/membrane/admin.creds"
  local issuer
  issuer="$(gantry keys public "$G/keys/account.nk")"
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
  write_kustomization "$issuer"
  k apply -k "$G/kustomize" >/dev/null
  step "kubectl apply -k deploy/overlays/cluster" "$t"

  t="$(now)"
  k -n "$NS" rollout status statefulset/gantry-nats --timeout=180s >/dev/null
  k -n "$NS" rollout status deployment/gantry-controller --timeout=180s >/dev/null
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
  up) up ;;
  down) down ;;
  call) shift; call "$@" ;;
  *) die "usage: scripts/cluster/gantry.sh up | down | call PROVIDER OP [gantry call options]" ;;
esac
