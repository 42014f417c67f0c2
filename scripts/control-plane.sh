#!/usr/bin/env bash
# Builds a real Kubernetes control plane (kube-apiserver, kube-scheduler, kubectl, etcd) from Go
# modules, envtest-style, with nothing fetched but through the Go module proxy.
#
# k8s.io/kubernetes cannot be `go install`ed (its go.mod points every k8s.io staging module at
# ./staging with `replace`), so a small wrapper module requires it and replaces each staging module
# with its published v0.N.M. etcd's server module has the same problem and gets its own wrapper
# (a separate module, so neither raises the other's pinned dependencies).
#
# The binaries are cached outside the repo, keyed by version:
#   ${GANTRY_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/control-plane}/k8s-v<K>-etcd-v<E>-r<RECIPE>/bin
# A second run with the same versions is a no-op. Prints the bin directory on its last line.
#
# Environment:
#   GANTRY_SKIP_CONTROL_PLANE=1   do nothing (tests then run on the emulator only)
#   GANTRY_CP_BUILD_JOBS=N        go build -p (default: number of cores); the build runs under nice 19
#   GANTRY_CONTROL_PLANE_CACHE    cache root (see above)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ "${GANTRY_SKIP_CONTROL_PLANE:-}" = "1" ]; then
  echo "control-plane: skipped (GANTRY_SKIP_CONTROL_PLANE=1)" >&2
  exit 0
fi
# shellcheck source=control-plane.versions
. "$here/control-plane.versions"
K="$K8S_VERSION"; E="$ETCD_VERSION"
MIN="$(echo "$K" | cut -d. -f2)"; S="0.${K#1.}"
root="${GANTRY_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/control-plane}"
dir="$root/k8s-v$K-etcd-v$E-r$RECIPE"
bin="$dir/bin"
stamp="$bin/.complete"
want="kube-apiserver kube-scheduler kubectl etcd"

complete() {
  [ -f "$stamp" ] || return 1
  for b in $want; do [ -x "$bin/$b" ] || return 1; done
  "$bin/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes v$K" || return 1
}
if complete; then
  echo "control-plane: cached (Kubernetes v$K, etcd v$E)" >&2
  echo "$bin"
  exit 0
fi

command -v go >/dev/null || { echo "control-plane: go not found; install Go >= 1.24 or set GANTRY_SKIP_CONTROL_PLANE=1" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
jobs="${GANTRY_CP_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
start=$(date +%s)
rm -f "$stamp"
rm -rf "$dir/k8s" "$dir/etcd"   # a half-resolved wrapper module from an interrupted run
mkdir -p "$bin" "$dir/k8s" "$dir/etcd"

# --- Kubernetes: wrapper module with one replace per staging module, generated from the real go.mod
echo "control-plane: resolving k8s.io/kubernetes@v$K" >&2
gm="$(cd "$dir" && go mod download -json "k8s.io/kubernetes@v$K" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')"
[ -f "$gm" ] || { echo "control-plane: could not download k8s.io/kubernetes@v$K's go.mod through the Go module proxy" >&2; exit 1; }
{
  echo "module local/gantry-k8s-bins"
  echo
  grep -E '^(go|godebug) ' "$gm"
  echo
  echo "require k8s.io/kubernetes v$K"
  echo
  grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gm" | awk -v s="$S" '{print "replace "$1" => "$1" v"s}'
} > "$dir/k8s/go.mod"
cat > "$dir/k8s/tools.go" <<'GO'
//go:build tools

package tools
GO
pkgs="k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl"
ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ld="$ld -X $p.gitVersion=v$K -X $p.gitMajor=1 -X $p.gitMinor=$MIN -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
done
(
  cd "$dir/k8s"
  echo "control-plane: downloading modules" >&2
  # @v$K on every package: a bare `go get pkg` would upgrade k8s.io/kubernetes to the newest release
  go get $(for p in $pkgs; do printf '%s@v%s ' "$p" "$K"; done) >&2
  got="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"
  [ "$got" = "v$K" ] || { echo "control-plane: module graph resolved k8s.io/kubernetes $got, expected v$K" >&2; exit 1; }
  echo "control-plane: building kube-apiserver, kube-scheduler, kubectl (-p $jobs, nice 19)" >&2
  nice -n 19 go build -p "$jobs" -trimpath -ldflags "$ld" -o "$bin/" $pkgs
)

# --- etcd: the server module's root is package main
(
  cd "$dir/etcd"
  [ -f go.mod ] || go mod init local/gantry-etcd-bin >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$E" >&2
  echo "control-plane: building etcd v$E" >&2
  nice -n 19 go build -p "$jobs" -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3
)

for b in $want; do [ -x "$bin/$b" ] || { echo "control-plane: $b was not built" >&2; exit 1; }; done
"$bin/kube-apiserver" --version | grep -qx "Kubernetes v$K" || { echo "control-plane: kube-apiserver reports $("$bin/kube-apiserver" --version), expected v$K" >&2; exit 1; }
printf 'k8s=v%s etcd=v%s recipe=%s seconds=%s\n' "$K" "$E" "$RECIPE" "$(( $(date +%s) - start ))" > "$stamp"
echo "control-plane: built in $(( $(date +%s) - start ))s into $bin" >&2
echo "$bin"
