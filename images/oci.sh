# Writes OCI image archives that `ctr -n k8s.io images import` names without any flag: sourced by
# scripts/images.sh. No daemon and no registry: a layer is a tar made from a directory, the config,
# manifest and index are written with jq, and every byte is fixed by the inputs (sorted entries,
# owner 0, mtime 0, gzip -n), so the same sources give the same image digest.

# oci_layer DIR OUT.tar — DIR's contents as an image layer, deterministically; file modes kept.
oci_layer() {
  tar -C "$1" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$2" .
}

# oci_archive OUT.tar NAME CONFIG_JSON LAYER.tar… — one linux/amd64 image named NAME (a full
# reference such as localhost/gantry/pause:1). CONFIG_JSON is the image config's "config" object
# ({"Entrypoint": […], "User": "…", …}). Layers are uncompressed tars, bottom first.
oci_archive() {
  local out="$1" name="$2" config="$3"; shift 3
  local work diff digest size diffs="[]" layers="[]" cfg cfgd cfgs man mand mans
  work="$(mktemp -d)"
  mkdir -p "$work/blobs/sha256"
  for layer in "$@"; do
    diff="sha256:$(sha256sum "$layer" | cut -d' ' -f1)"
    gzip -n -c "$layer" > "$work/layer.gz"
    digest="$(sha256sum "$work/layer.gz" | cut -d' ' -f1)"
    size="$(stat -c %s "$work/layer.gz")"
    mv "$work/layer.gz" "$work/blobs/sha256/$digest"
    diffs="$(jq -c --arg d "$diff" '. + [$d]' <<<"$diffs")"
    layers="$(jq -c --arg d "sha256:$digest" --argjson s "$size" \
      '. + [{mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: $d, size: $s}]' <<<"$layers")"
  done
  jq -cn --argjson c "$config" --argjson d "$diffs" \
    '{architecture: "amd64", os: "linux", created: "1970-01-01T00:00:00Z", config: $c,
      rootfs: {type: "layers", diff_ids: $d}}' | tr -d '\n' > "$work/config.json"
  cfgd="$(sha256sum "$work/config.json" | cut -d' ' -f1)"; cfgs="$(stat -c %s "$work/config.json")"
  mv "$work/config.json" "$work/blobs/sha256/$cfgd"
  jq -cn --arg d "sha256:$cfgd" --argjson s "$cfgs" --argjson l "$layers" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $d, size: $s},
      layers: $l}' | tr -d '\n' > "$work/manifest.json"
  mand="$(sha256sum "$work/manifest.json" | cut -d' ' -f1)"; mans="$(stat -c %s "$work/manifest.json")"
  mv "$work/manifest.json" "$work/blobs/sha256/$mand"
  # containerd names the import from io.containerd.image.name; ref.name is the OCI spec's tag
  jq -cn --arg d "sha256:$mand" --argjson s "$mans" --arg n "$name" --arg t "${name##*:}" \
    '{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $d, size: $s,
        platform: {architecture: "amd64", os: "linux"},
        annotations: {"io.containerd.image.name": $n, "org.opencontainers.image.ref.name": $t}}]}' \
    > "$work/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$work/oci-layout"
  tar -C "$work" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$out" \
    oci-layout index.json blobs
  rm -rf "$work"
}
