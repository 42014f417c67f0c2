#!/usr/bin/env bash
# Checks scripts/images.sh's archives the way a node uses them: starts a private containerd (own
# socket, root, state, runc root under a temp dir; nothing shared with any other containerd),
# imports each archive with `ctr -n k8s.io images import`, checks the name containerd gives it,
# runs each image's program (pause stopped by SIGTERM; nats read-only as its pod runs it, its probe
# paths answering), then stops containerd and removes its state.
#
#   images/verify.sh [IMAGE…]     (default: every archive scripts/images.sh built)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
. "$repo/images/versions"
die() { echo "verify: $*" >&2; exit 1; }
cache="${GANTRY_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/images}"
command -v containerd >/dev/null || die "containerd not found (apt-get install containerd)"
images=("$@"); [ ${#images[@]} -gt 0 ] || images=(pause coredns nats gantry)

state="$(mktemp -d /tmp/gantry-images-verify.XXXXXX)"
sock="$state/containerd.sock"
cat > "$state/config.toml" <<TOML
version = 2
root = "$state/root"
state = "$state/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = "$state/runc"
TOML
containerd --config "$state/config.toml" >"$state/containerd.log" 2>&1 &
cpid=$!
cleanup() {
  for c in verify-pause verify-nats-pod; do
    ctr -a "$sock" -n k8s.io tasks kill -s KILL "$c" >/dev/null 2>&1 || true
    ctr -a "$sock" -n k8s.io tasks delete "$c" >/dev/null 2>&1 || true
    ctr -a "$sock" -n k8s.io containers rm "$c" >/dev/null 2>&1 || true
  done
  kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null || true
  umount -R "$state/state" "$state/root" 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
for _ in $(seq 100); do [ -S "$sock" ] && ctr -a "$sock" version >/dev/null 2>&1 && break; sleep 0.1; done
ctr -a "$sock" version >/dev/null || die "containerd did not start: $(tail -5 "$state/containerd.log")"

for image in "${images[@]}"; do
  case "$image" in
    pause) name="$PAUSE_IMAGE" ;; coredns) name="$COREDNS_IMAGE" ;;
    nats) name="$NATS_IMAGE" ;; gantry) name="$GANTRY_IMAGE" ;;
    *) die "unknown image $image" ;;
  esac
  [ -f "$cache/$image.tar" ] || { echo "verify: $image: no $cache/$image.tar (scripts/images.sh $image)" >&2; continue; }
  before="$(du -sb "$state/root" | cut -f1)"
  ctr -a "$sock" -n k8s.io images import "$cache/$image.tar" >/dev/null
  # the list first: `ctr … | grep -q` would let grep's early exit fail ctr (SIGPIPE, pipefail)
  names="$(ctr -a "$sock" -n k8s.io images ls -q)"
  grep -qx "$name" <<<"$names" || die "$image: imported, but not as $name: $(tr '\n' ' ' <<<"$names")"
  # ctr unpacks on import: the snapshotter's growth is the image's size on a node
  after="$(du -sb "$state/root" | cut -f1)"
  echo "verify: $image imported as $name: archive $(du -h "$cache/$image.tar" | cut -f1), on the node (content + unpacked) $(( (after - before) / 1024 ))K"
done

# the sandbox image must run, and end with status 0 on SIGTERM (`ctr run` exits with its status)
if [[ " ${images[*]} " == *" pause "* ]] && [ -f "$cache/pause.tar" ]; then
  ctr -a "$sock" -n k8s.io run --rm "$PAUSE_IMAGE" verify-pause >/dev/null &
  run=$!
  for _ in $(seq 100); do
    grep -q '^verify-pause .*RUNNING' <<<"$(ctr -a "$sock" -n k8s.io tasks ls 2>/dev/null)" && break; sleep 0.1
  done
  grep -q '^verify-pause .*RUNNING' <<<"$(ctr -a "$sock" -n k8s.io tasks ls)" || die "pause is not running"
  ctr -a "$sock" -n k8s.io tasks kill -s TERM verify-pause
  status=0; wait "$run" || status=$?
  [ "$status" = 0 ] || die "pause exited $status on SIGTERM, expected 0"
  echo "verify: pause ran and exited 0 on SIGTERM"
fi

# an image's program runs as its user: `ctr run IMAGE ID CMD…` replaces the entrypoint's args
runs() {
  local image="$1" name="$2"; shift 2
  [[ " ${images[*]} " == *" $image "* ]] && [ -f "$cache/$image.tar" ] || return 0
  local outp
  outp="$(ctr -a "$sock" -n k8s.io run --rm "$name" "verify-$image" "$@" 2>&1)" || die "$image: '$*' failed: $outp"
  echo "verify: $image runs: $* → $(head -1 <<<"$outp")"
}
runs nats "$NATS_IMAGE" nats-server --version
runs nats "$NATS_IMAGE" id
runs coredns "$COREDNS_IMAGE" /coredns -version
runs gantry "$GANTRY_IMAGE" node /app/bin/gantry.js --help
runs gantry "$GANTRY_IMAGE" node /app/bin/gantry.js agent --help
# the agent loads providers with koffi: its prebuilt binary for this platform must be in the image
runs gantry "$GANTRY_IMAGE" node -e "console.log('koffi', require('koffi').version)"

# nats as deploy/base/nats.yaml runs it: read-only root, user 65532, pid file in a mounted dir,
# the kubelet's probe paths answering on the monitoring port (here on a free loopback port)
if [[ " ${images[*]} " == *" nats "* ]] && [ -f "$cache/nats.tar" ]; then
  mon="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  mkdir -m 0777 "$state/nats-run"
  ctr -a "$sock" -n k8s.io run --rm --net-host --read-only \
    --mount "type=bind,src=$state/nats-run,dst=/var/run/nats,options=rbind:rw" "$NATS_IMAGE" verify-nats-pod \
    nats-server -a 127.0.0.1 -p -1 -m "$mon" -P /var/run/nats/nats.pid >"$state/nats.log" 2>&1 &
  natsrun=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$mon/healthz" >/dev/null && break; sleep 0.1; done
  for path in /healthz '/healthz?js-enabled-only=true'; do
    body="$(curl -fsS "http://127.0.0.1:$mon$path")" || die "nats: $path did not answer: $(tail -3 "$state/nats.log")"
    echo "verify: nats (read-only root, uid 65532) answers $path: $body"
  done
  ctr -a "$sock" -n k8s.io tasks kill -s TERM verify-nats-pod
  wait "$natsrun" || true
fi
