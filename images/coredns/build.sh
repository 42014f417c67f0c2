# CoreDNS for cluster DNS: `go install github.com/coredns/coredns@v$COREDNS_VERSION` through the
# Go module proxy (its go.mod has no replace lines, so no wrapper module is needed), static, alone
# in the image as /coredns, run as the unprivileged 65532 (it only binds the pod's port 53 with
# the capability the pod grants, or a port above 1024). Sourced by scripts/images.sh.

coredns_key() {
  (cat "$repo/images/coredns/build.sh"; echo "$COREDNS_VERSION"; go env GOVERSION) | sha256sum | cut -d' ' -f1
}

coredns_build() {
  local out="$1"
  mkdir -p "$work/coredns-root"
  echo "images: go install github.com/coredns/coredns@v$COREDNS_VERSION (nice 19)" >&2
  GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false GOBIN="$work/coredns-root" \
    nice -n 19 go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@v$COREDNS_VERSION"
  "$work/coredns-root/coredns" -version | grep -q "CoreDNS-$COREDNS_VERSION" ||
    die "the built coredns reports '$("$work/coredns-root/coredns" -version | head -1)', expected CoreDNS-$COREDNS_VERSION"
  oci_layer "$work/coredns-root" "$work/coredns-layer.tar"
  oci_archive "$out" "$COREDNS_IMAGE" '{"Entrypoint": ["/coredns"], "User": "65532:65532"}' "$work/coredns-layer.tar"
}
