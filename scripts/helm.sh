#!/usr/bin/env bash
# Builds Helm v4.3.2 (helm.sh/helm/v4/cmd/helm) from Go modules, through the Go module proxy only,
# for the chart's tests (test/deploy/helm.test.ts) and `helm install` of deploy/helm/gantry; cached
# outside the repo by version, like the control plane:
#   ${GANTRY_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/helm}/v<VERSION>/bin/helm
# A second run is a file test. Prints the binary's path on its last line.
#
# Environment:
#   GANTRY_SKIP_HELM=1   do nothing (the chart's tests then skip, naming this script)
#   GANTRY_HELM_CACHE    cache root (see above)
set -euo pipefail
VERSION=v4.3.2
if [ "${GANTRY_SKIP_HELM:-}" = "1" ]; then
  echo "helm: skipped (GANTRY_SKIP_HELM=1)" >&2
  exit 0
fi
root="${GANTRY_HELM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/helm}"
dir="$root/$VERSION"
bin="$dir/bin/helm"
if [ -x "$bin" ]; then
  echo "helm: cached ($VERSION)" >&2
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "helm: go not found; install Go >= 1.26 or set GANTRY_SKIP_HELM=1" >&2; exit 1; }
start=$(date +%s)
echo "helm: building $VERSION (Go modules through the module proxy)" >&2
# install into a temporary dir first: an interrupted build never leaves a binary the cache check
# trusts. The version is stamped as Helm's own Makefile does, so `helm version` names it (charts'
# kubeVersion and `helm version` checks read it; unstamped it would say v4.3).
rm -rf "$dir.tmp" && mkdir -p "$dir.tmp/bin"
GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOBIN="$dir.tmp/bin" \
  nice -n 19 go install -trimpath \
  -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$VERSION" \
  "helm.sh/helm/v4/cmd/helm@$VERSION"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "helm: built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
