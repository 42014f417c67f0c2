#!/usr/bin/env bash
# Builds the OpenTelemetry Collector the trace tests send spans to (scripts/otelcol/: collector
# v0.161.0 with the OTLP receiver and the file exporter, nothing else) from Go modules, through
# the Go module proxy only, and caches it outside the repo like the control plane:
#   ${GANTRY_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/otelcol}/v<VERSION>-r<RECIPE>/otelcol
# A second run is a no-op. Prints the binary's path on its last line.
#
# Environment:
#   GANTRY_SKIP_OTELCOL=1   do nothing (the trace tests then skip, saying why)
#   GANTRY_OTELCOL_CACHE    cache root (see above)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
VERSION=0.161.0
# bump when scripts/otelcol/ changes in a way the version does not say (components, flags)
RECIPE=1
if [ "${GANTRY_SKIP_OTELCOL:-}" = "1" ]; then
  echo "otelcol: skipped (GANTRY_SKIP_OTELCOL=1)" >&2
  exit 0
fi
root="${GANTRY_OTELCOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/otelcol}"
dir="$root/v$VERSION-r$RECIPE"
bin="$dir/otelcol"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "otelcol: cached (v$VERSION)" >&2
  echo "$bin"
  exit 0
fi
command -v go >/dev/null || { echo "otelcol: go not found; install Go >= 1.26 or set GANTRY_SKIP_OTELCOL=1" >&2; exit 1; }
export GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0
mkdir -p "$dir"
start=$(date +%s)
echo "otelcol: building v$VERSION (Go modules through the module proxy)" >&2
# build to a temporary name first: an interrupted build never leaves a binary the cache check trusts
(cd "$here/otelcol" && nice -n 19 go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "otelcol: built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
