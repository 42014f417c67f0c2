#!/usr/bin/env bash
# Builds the node side of a real Kubernetes cluster (kubelet, kube-controller-manager, kube-proxy)
# from Go modules, at the release pinned in scripts/control-plane.versions, with the same wrapper
# module approach as scripts/control-plane.sh (which builds kube-apiserver, kube-scheduler,
# kubectl and etcd; kept separate so its cache key stays valid).
#
# Cached outside the repo, keyed by version and this script's recipe number:
#   ${GANTRY_CLUSTER_PARTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/cluster-parts}/k8s-v<K>-r<PARTS_RECIPE>/bin
# A second run is a no-op. Prints cold/warm time on stderr and the bin directory on its last line.
#
#   scripts/cluster-parts.sh
# Environment: GANTRY_CP_BUILD_JOBS=N (go build -p; default: cores), the build runs under nice 19.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=control-plane.versions
. "$here/control-plane.versions"
# Bump when this recipe changes so cached binaries are rebuilt.
PARTS_RECIPE=1
K="$K8S_VERSION"
MIN="$(echo "$K" | cut -d. -f2)"; S="0.${K#1.}"
root="${GANTRY_CLUSTER_PARTS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/cluster-parts}"
dir="$root/k8s-v$K-r$PARTS_RECIPE"
bin="$dir/bin"
stamp="$bin/.complete"
want="kubelet kube-controller-manager kube-proxy"
start=$(date +%s)

complete() {
  [ -f "$stamp" ] || return 1
  for b in $want; do [ -x "$bin/$b" ] || return 1; done
  "$bin/kubelet" --version 2>/dev/null | grep -qx "Kubernetes v$K" || return 1
}
if complete; then
  echo "cluster-parts: cached (Kubernetes v$K) in $(( $(date +%s) - start ))s" >&2
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "cluster-parts: go not found; install Go >= 1.24 (https://go.dev/dl; /usr/local/go/bin on PATH)" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
jobs="${GANTRY_CP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
rm -f "$stamp"
rm -rf "$dir/k8s"   # a half-resolved wrapper module from an interrupted run
mkdir -p "$bin" "$dir/k8s"

# Wrapper module: k8s.io/kubernetes's go.mod replaces every staging module with ./staging, which a
# dependent cannot use, so each gets its published v0.N.M instead (generated from the real go.mod).
echo "cluster-parts: resolving k8s.io/kubernetes@v$K" >&2
gm="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@v$K" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
[ -f "$gm" ] || { echo "cluster-parts: could not download k8s.io/kubernetes@v$K's go.mod through the Go module proxy" >&2; exit 1; }
{
  echo "module local/gantry-k8s-node-bins"
  echo
  grep -E '^(go|godebug) ' "$gm"
  echo
  echo "require k8s.io/kubernetes v$K"
  echo
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gm" | awk -v s="$S" '{print "replace "$1" => "$1" v"s}'
} > "$dir/k8s/go.mod"
pkgs="k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-proxy"
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=v$K -X $p.gitMajor=1 -X $p.gitMinor=$MIN -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
(
  cd "$dir/k8s"
  # @v$K on every package: a bare `go get pkg` would upgrade k8s.io/kubernetes to the newest release
  go get $(for p in $pkgs; do printf '%s@v%s ' "$p" "$K"; done) >&2
  got="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
  [ "$got" = "v$K" ] || { echo "cluster-parts: module graph resolved k8s.io/kubernetes $got, expected v$K" >&2; exit 1; }
  for p in $pkgs; do
    t=$(date +%s)
    nice -n 19 go build -p "$jobs" -trimpath -ldflags "$ld" -o "$bin/" "$p"
    echo "cluster-parts: built ${p##*/} in $(( $(date +%s) - t ))s" >&2
  done
)
for b in $want; do [ -x "$bin/$b" ] || { echo "cluster-parts: $b was not built" >&2; exit 1; }; done
"$bin/kubelet" --version | grep -qx "Kubernetes v$K" || { echo "cluster-parts: kubelet reports $("$bin/kubelet" --version), expected v$K" >&2; exit 1; }
printf 'k8s=v%s recipe=%s seconds=%s\n' "$K" "$PARTS_RECIPE" "$(( $(date +%s) - start ))" > "$stamp"
echo "cluster-parts: built in $(( $(date +%s) - start ))s (cold) into $bin" >&2
echo "$bin"
