#!/usr/bin/env bash
# A previous release of Gantry, as an operator upgrading from it has it: its image and its
# manifests, both made from the release's commit (deploy/releases; never from the working tree).
#
#   scripts/release.sh image TAG            build localhost/gantry/gantry:<TAG without v> from
#                                           `git archive TAG` with that tree's own Dockerfile;
#                                           prints the OCI archive's path on its last line
#   scripts/release.sh manifests TAG DIR    `git archive TAG deploy` into DIR (the tree the
#                                           release's `kubectl apply -k` was run from)
#   scripts/release.sh import TAG           the image into every node of the running cluster
#                                           (.cluster, GANTRY_CLUSTER_ID), as cluster.sh imports
#
# The archive is cached by the tag's commit and this recipe in
# ${GANTRY_IMAGE_CACHE:-~/.cache/gantry/images}/releases/ (not beside the other images: cluster.sh
# imports every archive there into every node, and only the upgrade test needs a release): a
# second run is a file test. The build is the one scripts/images.sh does for the current image
# (podman in the same store, on the same Debian base, the same lock), with its own stage tags so
# neither build prunes the other's npm ci layers.
set -euo pipefail
shopt -s inherit_errexit
repo="$(cd "$(dirname "$0")/.." && pwd)"
die() { echo "release: $*" >&2; exit 1; }
cache="${GANTRY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/images}"
# bump to rebuild the release images when the way they are built below changes
RELEASE_RECIPE=1

# the release's commit, pinned in deploy/releases (a clone of main has the commit but not always
# the tag); a local tag naming another commit, or a commit this clone lacks, is a clear error
# (a branch name or a bare commit is not a release)
release_commit() {
  local pinned tagged
  [[ "${1:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "expected a release tag such as v0.1.0, got '${1:-}'"
  pinned="$(awk -v t="$1" '$1 == t {print $2}' "$repo/deploy/releases")"
  [ -n "$pinned" ] || die "no release $1 in deploy/releases"
  git -C "$repo" cat-file -e "$pinned^{commit}" 2>/dev/null || die "release $1's commit $pinned is not in $repo (a shallow clone?)"
  tagged="$(git -C "$repo" rev-parse -q --verify "refs/tags/$1^{commit}" 2>/dev/null || true)"
  [ -z "$tagged" ] || [ "$tagged" = "$pinned" ] || die "tag $1 names $tagged, but deploy/releases pins $pinned"
  echo "$pinned"
}

cmd_image() {
  local tag="$1" commit version image out key
  commit="$(release_commit "$tag")"
  version="${tag#v}"
  image="localhost/gantry/gantry:$version"
  out="$cache/releases/gantry-$version.tar"
  # shellcheck source=../images/versions
  . "$repo/images/versions"
  key="recipe=$IMAGE_RECIPE.$RELEASE_RECIPE commit=$commit"
  if [ -f "$out" ] && [ "$(cat "$out.key" 2>/dev/null)" = "$key" ]; then
    echo "release: $image cached ($out)" >&2
    echo "$out"
    return 0
  fi
  mkdir -p "$cache/releases"
  exec 9>"$cache/.lock"
  flock 9
  work="$(mktemp -d "$cache/.work.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  # images/gantry/build.sh gives gpodman, gantry_base (the Debian base in podman's store), skopeo's path
  # shellcheck source=../images/gantry/build.sh
  . "$repo/images/gantry/build.sh"
  local start src ctx="$work/context" oci="$work/oci" target t paths
  start=$(date +%s)
  echo "release: building $image from $tag ($commit)" >&2
  src="$work/src"
  mkdir -p "$src" "$ctx"
  git -C "$repo" archive "$commit" | tar -C "$src" -xf -
  # the context is what the release's own Dockerfile copies, as in images/gantry/build.sh
  paths="$(awk '$1 == "COPY" && $2 !~ /^--/ { for (i = 2; i < NF; i++) print $i }' "$src/Dockerfile")"
  # shellcheck disable=SC2086 # a list of paths
  (cd "$src" && tar -cf - Dockerfile $([ -f .dockerignore ] && echo .dockerignore) $paths) | tar -C "$ctx" -xf -
  gantry_base
  for target in build prod-deps final; do
    t="localhost/gantry/release-cache:$version-$target"; [ "$target" = final ] && t="$image"
    nice -n 10 podman --root "$cache/.podman/storage" --runroot "$cache/.podman/run" --storage-driver overlay \
      build --runtime /usr/sbin/runc --network host --pull=never --layers --quiet \
      --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
      --secret "id=ca-bundle,src=${GANTRY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" \
      --build-arg BASE_IMAGE="$DEBIAN_IMAGE" --build-arg TARGETARCH="$(dpkg --print-architecture)" \
      $([ "$target" = final ] || echo --target "$target") -t "$t" "$ctx" >/dev/null
  done
  skopeo copy --quiet "containers-storage:[overlay@$cache/.podman/storage+$cache/.podman/run]$image" "oci:$oci:$version" >&2
  jq -c --arg n "$image" --arg t "$version" \
    '.manifests[0].annotations = {"io.containerd.image.name": $n, "org.opencontainers.image.ref.name": $t}' \
    "$oci/index.json" >"$oci/index.json.new"
  mv "$oci/index.json.new" "$oci/index.json"
  tar -C "$oci" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/out.tar" .
  # the archive before its key, so a key never names a half-written archive
  mv "$work/out.tar" "$out"
  echo "$key" >"$out.key"
  echo "release: $image built in $(($(date +%s) - start))s ($(du -h "$out" | cut -f1))" >&2
  echo "$out"
}

cmd_manifests() {
  local tag="$1" dir="${2:-}" commit
  commit="$(release_commit "$tag")"
  [ -n "$dir" ] || die "manifests: expected a directory to write into"
  rm -rf "$dir" && mkdir -p "$dir"
  git -C "$repo" archive "$commit" deploy | tar -C "$dir" -xf -
  echo "$dir"
}

cmd_import() {
  local tag="$1" tar n sock pids=() t0
  tar="$(cmd_image "$tag" | tail -n 1)"
  # the node names and sockets of the cluster GANTRY_CLUSTER_ID (scripts/cluster/env.sh)
  # shellcheck source=cluster/env.sh
  . "$repo/scripts/cluster/env.sh"
  [ -d "$STATE/nodes" ] || die "no cluster in $STATE (scripts/cluster.sh up)"
  t0=$(date +%s)
  for d in "$STATE/nodes"/gantry-n*; do
    n="${d##*/gantry-n}"
    sock="$(node_sock "$n")"
    [ -S "$sock" ] || die "node gantry-n$n has no containerd socket at $sock"
    ctr -a "$sock" -n k8s.io images import "$tar" >/dev/null & pids+=("$!")
  done
  for n in "${pids[@]}"; do wait "$n" || die "could not import $tar into a node"; done
  echo "release: $tag imported into ${#pids[@]} node(s) in $(($(date +%s) - t0))s" >&2
}

case "${1:-}" in
  image) cmd_image "${2:-}" ;;
  manifests) cmd_manifests "${2:-}" "${3:-}" ;;
  import) cmd_import "${2:-}" ;;
  *) die "usage: scripts/release.sh image TAG | manifests TAG DIR | import TAG" ;;
esac
