# The pod sandbox image (containerd's sandbox_image): images/pause/main.go, static, alone in the
# image. Sourced by scripts/images.sh, which gives $repo, $work and the oci_* helpers.

pause_key() {
  (cd "$repo/images/pause" && cat go.mod main.go build.sh; go env GOVERSION) | sha256sum | cut -d' ' -f1
}

pause_build() {
  local out="$1"
  mkdir -p "$work/pause-root"
  (cd "$repo/images/pause" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    nice -n 19 go build -trimpath -ldflags "-s -w" -o "$work/pause-root/pause" .)
  oci_layer "$work/pause-root" "$work/pause-layer.tar"
  oci_archive "$out" "$PAUSE_IMAGE" '{"Entrypoint": ["/pause"], "User": "65535:65535"}' "$work/pause-layer.tar"
}
