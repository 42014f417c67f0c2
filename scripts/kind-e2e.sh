#!/usr/bin/env bash
# End-to-end check of deploy/ on a real (kind) cluster, for users with Docker and kind:
#   1. create the kind cluster from kind-config.yaml (1 control plane, 2 workers)
#   2. build the gantry image, load it into the nodes, apply deploy/overlays/kind
#   3. sign and push the echo example archive to the in-cluster registry (port-forward)
#   4. apply a Provider, wait for Ready, scale it to 3, call it through NATS (port-forward)
# Leaves the cluster running for a look around unless KEEP_CLUSTER=0.
# Needs: docker, kind, kubectl, node >= 24 (with an older system node: scripts/node.sh exec scripts/kind-e2e.sh),
# make and a C compiler (for the example provider).
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${CLUSTER:-gantry}"
KEEP_CLUSTER="${KEEP_CLUSTER:-1}"
IMAGE="gantry:dev"
NS=gantry-system
WORK="$(mktemp -d)"
PIDS=()

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'kind-e2e: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is required (install it, then re-run)"; }

cleanup() {
  local pid
  for pid in "${PIDS[@]:-}"; do
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$WORK"
  if [ "$KEEP_CLUSTER" = "0" ]; then kind delete cluster --name "$CLUSTER" || true; fi
}
trap cleanup EXIT

# port_forward LOCAL_PORT TARGET REMOTE_PORT: background kubectl port-forward, waits until it listens
port_forward() {
  kubectl -n "$NS" port-forward "$2" "$1:$3" >"$WORK/pf-$1.log" 2>&1 &
  PIDS+=("$!")
  local _
  for _ in $(seq 1 50); do
    if grep -q 'Forwarding from' "$WORK/pf-$1.log" 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  die "port-forward to $2 did not come up: $(cat "$WORK/pf-$1.log")"
}

for tool in docker kind kubectl node make; do need "$tool"; done
gantry() { node bin/gantry.js "$@"; }

log "cluster $CLUSTER"
if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  kind create cluster --name "$CLUSTER" --config kind-config.yaml --wait 120s
fi
kubectl config use-context "kind-$CLUSTER" >/dev/null

log "image $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

log "dev keys and the example archive"
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run -s build
make -s -C providers
gantry keys generate --type account --out "$WORK/account.nk" >/dev/null
gantry keys generate --type service --out "$WORK/service.nk" >/dev/null
ISSUER="$(gantry keys public "$WORK/account.nk")"
ARCH_OS="$(node -e "const a={x64:'x86_64',arm64:'aarch64'}[process.arch];console.log(a+'-linux')")"
gantry par create --name echo --vendor gantry.dev --capid gantry:echo --version 0.1.0 --revision 1 \
  --issuer "$WORK/account.nk" --subject "$WORK/service.nk" \
  --binary "$ARCH_OS=providers/build/echo.so" --out "$WORK/echo.par" >/dev/null

log "gantry install: namespaces, the membrane's keys, the bus's TLS (the kind overlay carries gantry-trust)"
gantry install --dir "$WORK/install" --no-trust-policy >/dev/null

log "deploy/overlays/kind"
kubectl apply -k deploy/overlays/kind
kubectl -n "$NS" create configmap gantry-trust \
  --from-literal=trusted-issuers="$ISSUER" \
  --from-literal=plain-http-registries=gantry-registry.gantry-system.svc:5000 \
  --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS" rollout restart deployment/gantry-controller daemonset/gantry-agent statefulset/gantry-nats
kubectl -n "$NS" rollout status deployment/gantry-registry --timeout=180s
kubectl -n "$NS" rollout status statefulset/gantry-nats --timeout=180s
kubectl -n "$NS" rollout status deployment/gantry-controller --timeout=180s
kubectl -n "$NS" rollout status daemonset/gantry-agent --timeout=180s

log "push the archive"
port_forward 15000 svc/gantry-registry 5000
gantry par push "$WORK/echo.par" 127.0.0.1:15000/examples/echo --plain-http --trusted-issuer "$ISSUER"

log "a Provider"
cat <<YAML | kubectl apply -f -
apiVersion: gantry.dev/v1alpha1
kind: Provider
metadata:
  name: echo
  namespace: default
spec:
  archive:
    ref: gantry-registry.gantry-system.svc:5000/examples/echo
  replicas: 1
  capabilityId: gantry:echo
YAML
kubectl wait provider/echo --for=condition=Ready --timeout=180s
kubectl scale provider/echo --replicas=3
kubectl wait provider/echo --for=jsonpath='{.status.readyReplicas}'=3 --timeout=180s
kubectl get providers,providerinstances -o wide

log "call it"
port_forward 14222 svc/gantry-nats 4222
gantry call echo Echo --namespace default --data hello --nats tls://127.0.0.1:14222 --nats-ca "$WORK/install/ca/ca.crt" --creds "$WORK/install/admin.creds"

log "kind-e2e passed (cluster kept: KEEP_CLUSTER=$KEEP_CLUSTER)"
