#!/usr/bin/env bash
# Builds Gantry's container images here, from source and Debian packages, pulling nothing from any
# image registry, as OCI archives that `ctr -n k8s.io images import FILE` names by itself:
#   pause.tar    localhost/gantry/pause:1          the pod sandbox (images/pause, static Go)
#   coredns.tar  localhost/gantry/coredns:<ver>    CoreDNS from its Go module (images/versions)
#   nats.tar     localhost/gantry/nats:<ver>       Debian's nats-server on a Debian base
#   gantry.tar   localhost/gantry/gantry:dev       the repository's Dockerfile, built with podman
#
#   scripts/images.sh [all|pause|coredns|nats|gantry]…     (default: all)
#
# Archives land in ${GANTRY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/images}, each
# next to a .key file naming what it was built from (sources, versions, recipe); a second run
# with nothing changed rebuilds nothing. Prints that directory on its last line.
# Versions and image names: images/versions. What it needs: go, jq, mmdebstrap, podman (setup.sh).
set -euo pipefail
# a failure inside $(…) (a key, a path) stops the script instead of yielding an empty string
shopt -s inherit_errexit
repo="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=../images/versions
. "$repo/images/versions"
# shellcheck source=../images/oci.sh
. "$repo/images/oci.sh"
die() { echo "images: $*" >&2; exit 1; }
cache="${GANTRY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/images}"

all="pause coredns nats gantry"
want=()
for a in "${@:-all}"; do
  case "$a" in
    all) read -ra want <<<"$all" ;;
    pause | coredns | nats | gantry) want+=("$a") ;;
    *) die "unknown image '$a' (expected all, pause, coredns, nats or gantry)" ;;
  esac
done

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }
need jq "apt-get install jq (or scripts/setup.sh)"
need go "install Go >= 1.21 (https://go.dev/dl; /usr/local/go/bin on PATH)"

mkdir -p "$cache"
# one run at a time per cache (the cluster and deploy scripts may both call this): a second run
# waits, then finds the archives the first one built
exec 9>"$cache/.lock"
flock 9
work="$(mktemp -d "$cache/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT

for image in "${want[@]}"; do
  # shellcheck source=/dev/null
  . "$repo/images/$image/build.sh"
  key="recipe=$IMAGE_RECIPE $("${image}_key")"
  if [ -f "$cache/$image.tar" ] && [ "$(cat "$cache/$image.key" 2>/dev/null)" = "$key" ]; then
    echo "images: $image cached ($cache/$image.tar)" >&2
    continue
  fi
  start=$(date +%s)
  echo "images: building $image" >&2
  "${image}_build" "$work/$image.tar"
  # publish the archive before its key, so a key never names a half-written archive
  mv "$work/$image.tar" "$cache/$image.tar"
  echo "$key" > "$cache/$image.key"
  echo "images: $image built in $(( $(date +%s) - start ))s ($(du -h "$cache/$image.tar" | cut -f1))" >&2
done
echo "$cache"
