# The pod sandbox image (containerd's sandbox_image): images/pause/main.go, static, alone in the
# image. Sourced by scripts/images.sh, which gives $repo, $work and the oci_* helpers.

pause_key() {
  (cd "$repo/images/pause" && cat go.mod main.go build.sh check.sh; go env GOVERSION) | sha256sum | cut -d' ' -f1
}

pause_build() {
  local out="$1"
  mkdir -p "$work/pause-root"
  (cd "$repo/images/pause" && GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    nice -n 19 go build -trimpath -ldflags "-s -w" -o "$work/pause-root/pause" .)
  if [ "$(id -u)" = 0 ]; then "$repo/images/pause/check.sh" "$work/pause-root/pause"
  else echo "images: not root, so the pause binary's PID 1 check (images/pause/check.sh) is skipped" >&2; fi
  oci_layer "$work/pause-root" "$work/pause-layer.tar"
  oci_archive "$out" "$PAUSE_IMAGE" '{"Entrypoint": ["/pause"], "User": "65535:65535"}' "$work/pause-layer.tar"
}
