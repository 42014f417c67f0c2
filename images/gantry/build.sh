# The gantry image: the repository's Dockerfile, which stays the source of truth (`docker build .`
# gives the same image from Docker Hub's debian:bookworm-slim), built here with podman on
# $DEBIAN_IMAGE, a Debian base made with mmdebstrap (images/debian.sh), so nothing comes from an
# image registry; the build's RUN steps reach only the Debian mirror and the npm registry.
# Sourced by scripts/images.sh.
#
# podman runs with its own store under the cache ($cache/.podman: no other user's images or
# containers mixed in) and:
#   --runtime /usr/sbin/runc   crun refuses this machine's hybrid cgroups
#   --ulimit nofile/nproc      podman's default raises RLIMIT_NOFILE/NPROC, and without
#                              CAP_SYS_RESOURCE runc then fails "operation not permitted"
#   --network host             RUN steps fetch from the Debian mirror and the npm registry
#   --pull=never               a FROM that is not here fails instead of asking Docker Hub
#   --layers                   a source change reuses the cached npm ci layers
#   --secret id=ca-bundle      this machine's CA bundle (GANTRY_CA_BUNDLE, default the system's)
#                              for the RUN steps' TLS: egress here goes through a TLS-intercepting
#                              proxy whose CA only the host trusts; mounted, never in the image
. "$repo/images/debian.sh"

# What the Dockerfile copies from the context (its COPY lines without --from), as git tracks it:
# the build context is exactly these files (with any local edits), and the cache key hashes them.
gantry_files() {
  local paths
  paths="$(awk '$1 == "COPY" && $2 !~ /^--/ { for (i = 2; i < NF; i++) print $i }' "$repo/Dockerfile")"
  # shellcheck disable=SC2086 # a list of paths
  git -C "$repo" ls-files -z -- Dockerfile .dockerignore $paths
}

gantry_key() {
  (debian_key; cat "$repo/images/gantry/build.sh"; cd "$repo" && gantry_files | xargs -0 sha256sum) |
    sha256sum | cut -d' ' -f1
}

gpodman() {
  podman --root "$cache/.podman/storage" --runroot "$cache/.podman/run" --storage-driver overlay "$@"
}

# $DEBIAN_IMAGE in podman's store, made again when its key changes
gantry_base() {
  local key have
  key="$(debian_key)"
  have="$(gpodman image inspect --format '{{index .Labels "io.gantry.debian-key"}}' "$DEBIAN_IMAGE" 2>/dev/null || true)"
  [ "$have" = "$key" ] && return 0
  debian_rootfs "$work/base-root"
  tar -C "$work/base-root" --sort=name --numeric-owner -cf - . |
    gpodman import --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
      --change 'CMD ["bash"]' --change "LABEL io.gantry.debian-key=$key" - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$work/base-root"
}

gantry_build() {
  local out="$1" ctx="$work/gantry-context" oci="$work/gantry-oci"
  command -v podman >/dev/null || die "podman not found: apt-get install podman (or scripts/setup.sh)"
  command -v skopeo >/dev/null || die "skopeo not found: apt-get install skopeo (or scripts/setup.sh)"
  [ -x /usr/sbin/runc ] || die "/usr/sbin/runc not found: apt-get install runc"
  gantry_base
  mkdir -p "$ctx"
  gantry_files | tar -C "$repo" --null -T - -cf - | tar -C "$ctx" -xf -
  echo "images: podman build $GANTRY_IMAGE from the Dockerfile (nice 10)" >&2
  # The stages that end in no image (build, prod-deps) are tagged too: untagged, `image prune`
  # would take their layers (npm ci) with the replaced image, and the next build would redo them.
  local target tag
  for target in build prod-deps final; do
    tag="localhost/gantry/build-cache:$target"; [ "$target" = final ] && tag="$GANTRY_IMAGE"
    nice -n 10 podman --root "$cache/.podman/storage" --runroot "$cache/.podman/run" --storage-driver overlay \
      build --runtime /usr/sbin/runc --network host --pull=never --layers --quiet \
      --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 \
      --secret "id=ca-bundle,src=${GANTRY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" \
      --build-arg BASE_IMAGE="$DEBIAN_IMAGE" --build-arg TARGETARCH="$(dpkg --print-architecture)" \
      $([ "$target" = final ] || echo --target "$target") -t "$tag" "$ctx" >/dev/null
  done
  # the image this replaced, and layers of earlier builds no tag needs any more
  gpodman image prune -f >/dev/null
  # skopeo gzips the layers on the way out of the store (podman save writes oci-dir uncompressed)
  skopeo copy --quiet "containers-storage:[overlay@$cache/.podman/storage+$cache/.podman/run]$GANTRY_IMAGE" \
    "oci:$oci:${GANTRY_IMAGE##*:}" >&2
  # containerd names the import from io.containerd.image.name
  jq -c --arg n "$GANTRY_IMAGE" --arg t "${GANTRY_IMAGE##*:}" \
    '.manifests[0].annotations = {"io.containerd.image.name": $n, "org.opencontainers.image.ref.name": $t}' \
    "$oci/index.json" > "$oci/index.json.new"
  mv "$oci/index.json.new" "$oci/index.json"
  tar -C "$oci" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out" .
}
