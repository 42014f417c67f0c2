#!/usr/bin/env bash
# Installs what Gantry and its tests need on a fresh Debian machine: the real servers the
# tests start (nats-server, docker-registry), htpasswd for registry auth tests, a C compiler
# for the example providers, Node 26 when the machine's node is older than 24 (scripts/node.sh,
# pinned in scripts/node.versions, cached outside the repo), the npm dependencies (npm ci on that
# Node, which also builds dist/), and the real Kubernetes control plane (kube-apiserver, etcd,
# kube-scheduler, kubectl) built from Go modules into a cache outside the repo
# (scripts/control-plane.sh; a no-op once built), and with it the rest of a real cluster
# (scripts/cluster-parts.sh: kubelet, kube-controller-manager, kube-proxy) and the images its
# nodes run (scripts/images.sh), for scripts/cluster.sh and test/cluster/; and the OpenTelemetry
# Collector the trace tests export to (scripts/otelcol.sh, cached the same way), and the interop
# tests' oras, natscli and nats.py (scripts/interop-tools.sh, the same), and Helm for the chart
# (scripts/helm.sh, the same).
#
#   scripts/setup.sh [--no-control-plane] [--no-cluster]
#                    (or GANTRY_SKIP_CONTROL_PLANE=1, GANTRY_SKIP_CLUSTER=1)
# Without the control plane the tests run on the API emulator only; without the cluster's parts
# test/cluster/ is skipped. GANTRY_NODE=26|24 picks the
# pinned Node even when the system's is new enough (scripts/node.sh --node). Afterwards run
# commands on that Node with `scripts/node.sh exec CMD` (e.g. scripts/node.sh exec npm test).
set -euo pipefail
cd "$(dirname "$0")/.."
for arg in "$@"; do
  case "$arg" in
    --no-control-plane) export GANTRY_SKIP_CONTROL_PLANE=1 ;;
    --no-cluster) export GANTRY_SKIP_CLUSTER=1 ;;
    *) echo "setup: unknown option $arg (expected --no-control-plane or --no-cluster)" >&2; exit 2 ;;
  esac
done

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have nats-server     || missing+=(nats-server)
have docker-registry || missing+=(docker-registry)
have htpasswd        || missing+=(apache2-utils)
have cc              || missing+=(gcc)
have make            || missing+=(make)
have openssl         || missing+=(openssl)
# the bus-encryption tests capture loopback with it (test/membrane/pcap.ts)
have tcpdump         || missing+=(tcpdump)
# scripts/images.sh: OCI archives (jq), the Debian base (mmdebstrap), the gantry image (podman, skopeo)
have jq              || missing+=(jq)
have mmdebstrap      || missing+=(mmdebstrap)
have podman          || missing+=(podman)
have skopeo          || missing+=(skopeo)
# scripts/cluster.sh: each node's containerd + runc, kube-proxy's iptables/conntrack, the CNI
# plugins, and dig to check CoreDNS from a node; runc also runs the gantry image's build steps
# and the per-host memory cgroup container test (test/agent/host-cgroup-container.test.ts)
have containerd      || missing+=(containerd)
have runc            || missing+=(runc)
have iptables        || missing+=(iptables)
have conntrack       || missing+=(conntrack)
[ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
have dig             || missing+=(dnsutils)
have curl            || missing+=(curl)
# the dashboard's browser test and bench drive Debian's headless Chromium (test/support/browser.ts)
have chromium        || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# The Rust and Go example providers (make -C providers) need cargo and go on PATH; they fetch no crates or modules.
for t in cargo go; do command -v "$t" >/dev/null 2>&1 || { echo "setup: '$t' is not on PATH, and make -C providers needs it for the Rust/Go examples: install Rust (https://rustup.rs; ~/.cargo/bin on PATH) or Go 1.21+ (https://go.dev/dl; /usr/local/go/bin on PATH)" >&2; exit 1; }; done
# npm ci runs on the Node the tests will run on, so engine checks and install scripts see it.
bash scripts/node.sh exec npm ci --no-audit --no-fund
# The membrane's interop test (test/membrane/creds-interop.test.ts) builds a tiny nats.go client:
# fetch its pinned modules (go.sum) from the Go module proxy now, so the test builds offline.
(cd test/membrane/creds-go && go mod download)

if [ "${GANTRY_SKIP_CONTROL_PLANE:-}" = "1" ]; then
  echo "setup: real control plane skipped; tests run on the API emulator only"
elif ! command -v go >/dev/null 2>&1; then
  echo "setup: go not found, so the real control plane is not built; tests run on the API emulator only" >&2
else
  bash scripts/control-plane.sh >/dev/null
  # the rest of a real cluster (kubelet, kube-controller-manager, kube-proxy) and the images its
  # nodes run (pause, CoreDNS, NATS, Gantry from the Dockerfile), for scripts/cluster.sh and
  # test/cluster/; both cached outside the repo (docs/testing.md has the cold and warm costs)
  if [ "${GANTRY_SKIP_CLUSTER:-}" = "1" ]; then
    echo "setup: the real cluster's parts and images skipped; test/cluster/ will be skipped"
  else
    bash scripts/cluster-parts.sh >/dev/null
    bash scripts/images.sh >/dev/null
  fi
fi
# The OpenTelemetry Collector the trace tests export to (test/observability/): about a minute
# cold, a no-op once cached, wanted on the emulator too; GANTRY_SKIP_OTELCOL=1 skips it, and
# those tests then skip, saying why.
if command -v go >/dev/null 2>&1; then bash scripts/otelcol.sh >/dev/null; fi
# The ecosystem's tools the interop tests (test/interop/) drive against what Gantry writes: oras
# and natscli from Go modules, nats.py from PyPI, cached outside the repo (scripts/interop-tools.sh);
# GANTRY_SKIP_INTEROP=1 skips them, and those tests then skip, saying why.
if command -v go >/dev/null 2>&1; then bash scripts/interop-tools.sh >/dev/null; fi
# Helm v4.3.2 from Go modules for the chart's tests (test/deploy/helm*.test.ts) and `helm install`
# of deploy/helm/gantry, cached outside the repo (scripts/helm.sh); GANTRY_SKIP_HELM=1 skips it,
# and those tests then skip, naming the script.
if command -v go >/dev/null 2>&1; then bash scripts/helm.sh >/dev/null; fi
# wasmCloud's provider-archive/wascap crates for test/interop/par-crate.test.ts (cached outside the repo;
# GANTRY_SKIP_INTEROP=1 skips it and the test then skips, saying why)
if command -v cargo >/dev/null 2>&1; then bash scripts/interop-par-rs.sh >/dev/null; fi
