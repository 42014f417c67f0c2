#!/usr/bin/env bash
# The Node.js Gantry runs on. Gantry supports Node >= 24 (package.json engines) and is built,
# tested and shipped on the Node 26 release pinned in scripts/node.versions. A machine whose own
# `node` is older than 24 (Debian's is 20) gets the pinned build, fetched once from the npm
# registry (`npm pack node-linux-<arch>@<version>`: the official release binary) into a cache
# outside the repo:
#   ${GANTRY_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/node}/<version>/bin/node
# A second run finds it there (a file test, no network).
#
#   scripts/node.sh [--node auto|26|24] exec CMD [ARG…]   run CMD with that Node's bin/ first on PATH
#   scripts/node.sh [--node auto|26|24] path              print that bin/ directory (fetching if needed)
#   scripts/node.sh [--node auto|26|24] version           print the version CMD would run on
#
# With bin/ first on PATH, `node`, `npm`, `npx` (the system npm is a `#!/usr/bin/env node` script),
# package bins and child processes started through `process.execPath` all run on that Node.
#   --node auto   (default; or GANTRY_NODE) the system node if it is >= 24, else the pinned Node 26
#   --node 26     the pinned Node 26 (NODE_VERSION), whatever the system has (CI, the image)
#   --node 24     the pinned Node 24 (NODE24_VERSION), the oldest supported release (CI's subset)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=node.versions
. "$here/node.versions"
MIN_MAJOR=24

die() { echo "node.sh: $*" >&2; exit 1; }
which="${GANTRY_NODE:-auto}"
if [ "${1:-}" = "--node" ]; then which="${2:-}"; shift 2 || die "--node needs a value (auto, 26 or 24)"; fi
cmd="${1:-}"; [ $# -gt 0 ] && shift
case "$cmd" in exec | path | version) ;; *) die "usage: scripts/node.sh [--node auto|26|24] exec CMD…|path|version" ;; esac

system_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
case "$which" in
  auto) if [ "$(system_major)" -ge "$MIN_MAJOR" ]; then version=""; else version="$NODE_VERSION"; fi ;;
  26) version="$NODE_VERSION" ;;
  24) version="$NODE24_VERSION" ;;
  *) die "unknown --node '$which' (expected auto, 26 or 24)" ;;
esac

# The system node is new enough: nothing to fetch, nothing to put on PATH.
if [ -z "$version" ]; then
  case "$cmd" in
    exec) [ $# -gt 0 ] || die "exec needs a command"; exec "$@" ;;
    path) dirname "$(command -v node)" ;;
    version) node -p 'process.versions.node' ;;
  esac
  exit 0
fi

root="${GANTRY_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gantry/node}"
dir="$root/$version"
complete() { [ -f "$dir/.complete" ] && [ -x "$dir/bin/node" ]; }

fetch() {
  [ "$(uname -s)" = Linux ] || die "no pinned Node build for $(uname -s); install Node >= $MIN_MAJOR yourself"
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no pinned Node build for $(uname -m); install Node >= $MIN_MAJOR yourself" ;;
  esac
  command -v npm >/dev/null 2>&1 || die "npm is needed once to fetch Node $version (apt-get install npm, or install Node >= $MIN_MAJOR)"
  local start tmp
  start=$(date +%s)
  mkdir -p "$root"
  tmp="$(mktemp -d "$root/.fetch-$version.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "node.sh: fetching Node $version (node-linux-$arch@$version from the npm registry) into $dir" >&2
  (cd "$tmp" && npm pack --silent --no-audit --no-fund "node-linux-$arch@$version" >/dev/null) ||
    die "npm pack node-linux-$arch@$version failed"
  mkdir "$tmp/node"
  tar -xzf "$tmp"/node-linux-"$arch"-"$version".tgz -C "$tmp/node" --strip-components=1
  chmod 755 "$tmp/node/bin/node"
  [ "$("$tmp/node/bin/node" --version 2>&1)" = "v$version" ] || die "the fetched bin/node does not run as v$version"
  touch "$tmp/node/.complete"
  # Publish the finished directory in one rename; a concurrent fetch that got there first wins.
  if [ -e "$dir" ] && ! complete; then rm -rf "$dir"; fi
  mv -T "$tmp/node" "$dir" 2>/dev/null || complete || die "could not move Node $version into $dir"
  rm -rf "$tmp"
  trap - EXIT
  echo "node.sh: Node $version ready in $(($(date +%s) - start)) s" >&2
}
complete || fetch

case "$cmd" in
  exec)
    [ $# -gt 0 ] || die "exec needs a command"
    export PATH="$dir/bin:$PATH"
    # node-gyp builds against this Node's headers, not a nodedir set for the system Node.
    [ -f "$dir/include/node/node.h" ] && export npm_config_nodedir="$dir"
    exec "$@"
    ;;
  path) echo "$dir/bin" ;;
  version) echo "$version" ;;
esac
