# One image for both `gantry controller` and `gantry agent` (deploy/). It needs nothing but a
# Debian base and the npm registry: stage `fetch` downloads the Node.js release pinned in
# scripts/node.versions (the official build, published on the npm registry as
# node-linux-<arch>@<version>, as scripts/node.sh fetches it) and npm itself (npm@NPM_VERSION),
# each checked against the registry's sha512 integrity as npm checks a package; `build` installs
# all dependencies on that node and transpiles TypeScript to dist/; `prod-deps` keeps only
# production dependencies; the final stage is Debian slim with that one node binary, running as a
# non-root user (uid 65532, matching deploy/'s securityContext) with nothing writable but what
# the pod mounts.
#
#   docker build -t gantry:0.1.0 .                              # Node from scripts/node.versions
#   docker build --build-arg NODE_VERSION=24.22.3 -t gantry .   # another release (>= 24)
#   scripts/images.sh gantry    # the same build with podman on a Debian base made here (no Docker Hub)
#
# Behind a TLS-intercepting proxy, give the build the CA bundle to trust (a whole bundle, as the
# host's): it is mounted only while fetching, never kept in the image.
#   docker build --secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt .
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS fetch
# empty: the version in scripts/node.versions
ARG NODE_VERSION=
ARG NPM_VERSION=11.21.3
ARG NPM_REGISTRY=https://registry.npmjs.org
ARG TARGETARCH
# the official node binary links libatomic, which Debian slim lacks (as node's own images add it)
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates curl jq libatomic1 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/node.versions /tmp/node.versions
# fetch PACKAGE VERSION DIR: the registry's tarball for PACKAGE@VERSION, unpacked into DIR, after
# its sha512 matches the registry's dist.integrity (a mismatch stops the build).
RUN --mount=type=secret,id=ca-bundle set -eu; \
    if [ -f /run/secrets/ca-bundle ]; then export CURL_CA_BUNDLE=/run/secrets/ca-bundle; fi; \
    want="${NODE_VERSION:-}"; . /tmp/node.versions; v="${want:-$NODE_VERSION}"; \
    case "${TARGETARCH:-$(uname -m)}" in \
      amd64|x86_64) a=x64 ;; arm64|aarch64) a=arm64 ;; *) echo "no Node build for ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    fetch() { \
      meta="$(curl -fsSL "$NPM_REGISTRY/$1/$2")"; \
      url="$(echo "$meta" | jq -er .dist.tarball)"; sri="$(echo "$meta" | jq -er .dist.integrity)"; \
      case "$sri" in sha512-*) ;; *) echo "$1@$2: no sha512 integrity in the registry ($sri)" >&2; exit 1 ;; esac; \
      curl -fsSL -o /tmp/pkg.tgz "$url"; \
      exp="$(echo "${sri#sha512-}" | base64 -d | od -An -vtx1 | tr -d ' \n')"; \
      got="$(sha512sum /tmp/pkg.tgz | cut -d' ' -f1)"; \
      [ "$got" = "$exp" ] || { echo "$1@$2: sha512 $got, the registry says $exp" >&2; exit 1; }; \
      mkdir -p "$3" && tar -xzf /tmp/pkg.tgz -C "$3" --strip-components=1 --no-same-owner; rm /tmp/pkg.tgz; \
    }; \
    fetch "node-linux-$a" "$v" /opt/node; chmod 755 /opt/node/bin/node; \
    fetch npm "$NPM_VERSION" /opt/npm; \
    printf '#!/bin/sh\nexec /opt/node/bin/node /opt/npm/bin/npm-cli.js "$@"\n' > /usr/local/bin/npm; \
    chmod 755 /usr/local/bin/npm; \
    test "$(/opt/node/bin/node --version)" = "v$v"; \
    test "$(PATH=/opt/node/bin:$PATH npm --version)" = "$NPM_VERSION"
ENV PATH=/opt/node/bin:$PATH

FROM fetch AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/build.mjs scripts/build.mjs
# --ignore-scripts: `prepare` (the build) runs below once the sources are in.
RUN --mount=type=secret,id=ca-bundle \
    if [ -f /run/secrets/ca-bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle; fi; \
    npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json ./
COPY runtime runtime
COPY client client
COPY api api
COPY par par
COPY membrane membrane
COPY tlog tlog
COPY registry registry
COPY controller controller
COPY agent agent
COPY cli cli
COPY apiserver apiserver
COPY sandbox sandbox
COPY dashboard dashboard
COPY bin bin
RUN node scripts/build.mjs

FROM fetch AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# koffi's prebuilt binaries come as optional per-platform packages, so no install scripts are
# needed, and --omit=optional must not be used: it would drop them (the agent could not load
# providers), though it would also drop the API emulator's packages, which the image never runs.
RUN --mount=type=secret,id=ca-bundle \
    if [ -f /run/secrets/ca-bundle ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/ca-bundle; fi; \
    npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${BASE_IMAGE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libatomic1 >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log
COPY --from=fetch /opt/node/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    GANTRY_LOG_LEVEL=info
WORKDIR /app
COPY --from=prod-deps /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY --from=build /src/bin bin
# the dashboard's page is served as files (no build step)
COPY --from=build /src/dashboard/page dashboard/page
COPY package.json ./
RUN groupadd --system --gid 65532 gantry \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --shell /usr/sbin/nologin gantry \
 && mkdir -p /var/cache/gantry && chown 65532:65532 /var/cache/gantry
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/gantry.js"]
CMD ["--help"]
