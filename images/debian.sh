# A Debian root filesystem made with mmdebstrap from the Debian mirror this machine's apt uses: the
# base of the nats image and (imported into podman as $DEBIAN_IMAGE) of the gantry image, in place
# of Docker Hub's debian:bookworm-slim. Sourced by scripts/images.sh.
#
# "Slim" the way Docker's image is: minbase variant, no recommends, no man pages, docs (but their
# copyright files), info or locales (dpkg path-exclude, kept in the image for later installs too),
# no apt lists or package cache, and merged /usr made by mmdebstrap's hook rather than by the
# usrmerge package (which would pull perl in: ~47 MB). The image's apt uses the same mirror, so a Dockerfile's
# `apt-get install` works with a network.
#   GANTRY_DEBIAN_SOURCES   the apt sources to build from (default: the machine's debian.sources,
#                           else /etc/apt/sources.list)

debian_sources() {
  local s="${GANTRY_DEBIAN_SOURCES:-}"
  if [ -z "$s" ]; then
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then s=/etc/apt/sources.list.d/debian.sources
    else s=/etc/apt/sources.list; fi
  fi
  [ -s "$s" ] || die "no Debian apt sources at $s (set GANTRY_DEBIAN_SOURCES to a sources.list or .sources file)"
  echo "$s"
}

# What a rootfs is built from: the suite, the sources and the recipe below. The mirror itself is
# not a snapshot, so a rebuild (a changed key) takes the packages current then.
debian_key() {
  local sources
  sources="$(debian_sources)"
  (echo "$DEBIAN_SUITE"; cat "$sources" "$repo/images/debian.sh") | sha256sum | cut -d' ' -f1
}

# debian_rootfs DIR [mmdebstrap option…] — e.g. --include=nats-server, --customize-hook=…
debian_rootfs() {
  local dir="$1"; shift
  command -v mmdebstrap >/dev/null || die "mmdebstrap not found: apt-get install mmdebstrap (or scripts/setup.sh)"
  [ "$(id -u)" = 0 ] || die "mmdebstrap needs root here (its root mode: unshare mode needs subuids)"
  echo "images: mmdebstrap $DEBIAN_SUITE from $(debian_sources) $*" >&2
  nice -n 10 mmdebstrap --quiet --mode=root --variant=minbase --format=directory \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt/*' \
    "$@" "$DEBIAN_SUITE" "$dir" "$(debian_sources)" >&2
  # the runtime mounts /dev; nodes mmdebstrap made for its own run do not belong in an image
  find "$dir/dev" -mindepth 1 -delete
}

# the image config of a Debian image: PATH as Debian's login shells have it
DEBIAN_ENV='["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]'
