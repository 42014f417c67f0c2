#!/usr/bin/env bash
# Builds the ecosystem's own tools the interop tests (test/interop/) drive against what Gantry
# writes: oras v1.3.6 (OCI registry client) and natscli v0.5.0 (the `nats` CLI; not v0.5.1, which
# is not an approved release), from Go modules through the Go module proxy only, and nats.py
# 2.16.0 (nats-py[nkeys]) from PyPI into a venv. All cached outside the repo by version, like the control plane:
#   ${GANTRY_INTEROP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/interop}/oras-v1.3.6/oras
#                                                                      /natscli-v0.5.0/nats
#                                                                      /nats-py-2.16.0/bin/python
# A second run is a no-op. Prints the cache dir on its last line.
#
# Environment:
#   GANTRY_SKIP_INTEROP=1   do nothing (the interop tests then skip, saying why)
#   GANTRY_INTEROP_CACHE    cache root (see above)
set -euo pipefail
ORAS=v1.3.6
NATSCLI=v0.5.0
NATSPY=2.16.0
if [ "${GANTRY_SKIP_INTEROP:-}" = "1" ]; then
  echo "interop: skipped (GANTRY_SKIP_INTEROP=1)" >&2
  exit 0
fi
root="${GANTRY_INTEROP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/interop}"
mkdir -p "$root"
start=$(date +%s)

# go_tool NAME VERSION PACKAGE BINARY: `go install PACKAGE@VERSION` into $root/NAME-VERSION/
go_tool() {
  local name=$1 version=$2 pkg=$3 binary=$4 dir="$root/$1-$2"
  if [ -x "$dir/$binary" ]; then
    echo "interop: $name $version cached" >&2
    return 0
  fi
  command -v go >/dev/null || { echo "interop: go not found; install Go >= 1.26 or set GANTRY_SKIP_INTEROP=1" >&2; return 1; }
  echo "interop: building $name $version (Go modules through the module proxy)" >&2
  # install into a temporary dir first: an interrupted build never leaves a binary the cache check trusts
  rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
  GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false" CGO_ENABLED=0 GOBIN="$dir.tmp" \
    nice -n 19 go install -trimpath -ldflags "-s -w" "$pkg@$version"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
}

go_tool oras "$ORAS" oras.land/oras/cmd/oras oras
go_tool natscli "$NATSCLI" github.com/nats-io/natscli/nats nats

# nats.py (with its nkeys extra, which .creds need) is optional: a machine without python3's
# venv module or PyPI still runs the Go tools' tests. A venv's scripts name their own path, so it is built where it stays; the marker file is
# written last, so an interrupted install is not taken for a cached one.
py="$root/nats-py-$NATSPY"
if [ -f "$py/.installed" ]; then
  echo "interop: nats-py $NATSPY cached" >&2
elif command -v python3 >/dev/null && rm -rf "$py" && python3 -m venv "$py" >&2 &&
  "$py/bin/pip" install -q --disable-pip-version-check "nats-py[nkeys]==$NATSPY" >&2; then
  touch "$py/.installed"
else
  rm -rf "$py"
  echo "interop: nats-py $NATSPY not installed (python3 -m venv or pip failed, see above); its test skips" >&2
fi
echo "interop: ready in $(( $(date +%s) - start )) s" >&2
echo "$root"
