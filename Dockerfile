# One image for both `gantry controller` and `gantry agent` (deploy/).
# Stage `node` fetches the Node.js release pinned in scripts/node.versions (the official build,
# from the npm registry as node-linux-<arch>@<version>, as scripts/node.sh does on a machine);
# `build` installs all dependencies on it and transpiles TypeScript to dist/; `prod-deps` keeps
# only production dependencies; the final stage is Debian slim with that one node binary,
# running as a non-root user (uid 65532, matching deploy/'s securityContext) with nothing
# writable but what the pod mounts.
#
#   docker build -t gantry:0.1.0 .                              # Node from scripts/node.versions
#   docker build --build-arg NODE_VERSION=24.22.3 -t gantry .   # another release (>= 24)
#
# FETCH_IMAGE only runs npm to fetch and install; npm is a JavaScript program and runs on the
# pinned node once that is first on PATH, so npm ci sees the Node the image ships.
ARG FETCH_IMAGE=node:24-bookworm-slim
ARG BASE_IMAGE=debian:bookworm-slim

FROM ${FETCH_IMAGE} AS node
# empty: the version in scripts/node.versions
ARG NODE_VERSION=
ARG TARGETARCH
COPY scripts/node.versions /tmp/node.versions
RUN set -eu; want="${NODE_VERSION:-}"; . /tmp/node.versions; v="${want:-$NODE_VERSION}"; \
    case "${TARGETARCH:-$(uname -m)}" in \
      amd64|x86_64) a=x64 ;; arm64|aarch64) a=arm64 ;; *) echo "no Node build for ${TARGETARCH}" >&2; exit 1 ;; \
    esac; \
    cd /tmp && npm pack --silent --no-audit --no-fund "node-linux-$a@$v" >/dev/null; \
    mkdir -p /opt/node && tar -xzf "node-linux-$a-$v.tgz" -C /opt/node --strip-components=1; \
    chmod 755 /opt/node/bin/node; rm -f "node-linux-$a-$v.tgz"; \
    test "$(/opt/node/bin/node --version)" = "v$v"

FROM ${FETCH_IMAGE} AS build
COPY --from=node /opt/node /opt/node
ENV PATH=/opt/node/bin:$PATH
WORKDIR /src
COPY package.json package-lock.json ./
COPY scripts/build.mjs scripts/build.mjs
# --ignore-scripts: `prepare` (the build) runs below once the sources are in.
RUN npm ci --no-audit --no-fund --ignore-scripts
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
COPY bin bin
RUN node scripts/build.mjs

FROM ${FETCH_IMAGE} AS prod-deps
COPY --from=node /opt/node /opt/node
ENV PATH=/opt/node/bin:$PATH
WORKDIR /src
COPY package.json package-lock.json ./
# koffi's prebuilt binaries come as optional per-platform packages, so no install scripts are
# needed, and --omit=optional must not be used: it would drop them (the agent could not load
# providers), though it would also drop the API emulator's packages, which the image never runs.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${BASE_IMAGE}
# the official node binary links libatomic, which Debian slim lacks (as node's own images add it)
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libatomic1 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=node /opt/node/bin/node /usr/local/bin/node
ENV NODE_ENV=production \
    GANTRY_LOG_LEVEL=info
WORKDIR /app
COPY --from=prod-deps /src/node_modules node_modules
COPY --from=build /src/dist dist
COPY --from=build /src/bin bin
COPY package.json ./
RUN groupadd --system --gid 65532 gantry \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --shell /usr/sbin/nologin gantry \
 && mkdir -p /var/cache/gantry && chown 65532:65532 /var/cache/gantry
USER 65532:65532
ENTRYPOINT ["node", "/app/bin/gantry.js"]
CMD ["--help"]
