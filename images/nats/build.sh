# NATS: Debian's nats-server package on the Debian base (images/debian.sh), one layer. Made for
# deploy/base/nats.yaml: ENTRYPOINT nats-server (the manifest gives only `args: [-c, …]`), user
# 65532 'nonroot' (the pod's runAsUser/runAsNonRoot; the package's own 'nats' user has another uid), nothing written outside the pod's volumes
# (readOnlyRootFilesystem). The tag is the package's upstream version; the build fails if the
# mirror's package is not $NATS_VERSION. Sourced by scripts/images.sh.
. "$repo/images/debian.sh"

nats_key() {
  (debian_key; echo "$NATS_VERSION"; cat "$repo/images/nats/build.sh") | sha256sum | cut -d' ' -f1
}

nats_build() {
  local out="$1" root="$work/nats-root" got
  debian_rootfs "$root" --include=nats-server \
    --customize-hook='chroot "$1" groupadd --system --gid 65532 nonroot' \
    --customize-hook='chroot "$1" useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --shell /usr/sbin/nologin nonroot' \
    --customize-hook='install -d -o 65532 -g 65532 "$1"/var/run/nats "$1"/data/jwt'
  got="$(dpkg-query --admindir="$root/var/lib/dpkg" -W -f '${Version}' nats-server)"
  [ "${got%%-*}" = "$NATS_VERSION" ] || die "the mirror's nats-server is $got, images/versions pins $NATS_VERSION: update NATS_VERSION/NATS_IMAGE"
  oci_layer "$root" "$work/nats-layer.tar"
  rm -rf "$root"
  oci_archive "$out" "$NATS_IMAGE" "$(jq -cn --argjson env "$DEBIAN_ENV" \
    '{Entrypoint: ["nats-server"], User: "65532:65532", Env: $env,
      ExposedPorts: {"4222/tcp": {}, "6222/tcp": {}, "8222/tcp": {}}}')" "$work/nats-layer.tar"
}
