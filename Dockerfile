# One image for both `gantry controller` and `gantry agent` (deploy/).
# Stage 1 installs all dependencies and transpiles TypeScript to dist/; stage 2 keeps only
# production dependencies; the final stage is a slim Node runtime running as a non-root user
# (uid 65532, matching deploy/'s securityContext) with nothing writable but what the pod mounts.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
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
COPY registry registry
COPY controller controller
COPY agent agent
COPY cli cli
COPY apiserver apiserver
COPY sandbox sandbox
COPY bin bin
RUN node scripts/build.mjs

FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /src
COPY package.json package-lock.json ./
# koffi's prebuilt binaries come as optional per-platform packages, so no install scripts are
# needed, and --omit=optional must not be used: it would drop them (the agent could not load
# providers), though it would also drop the API emulator's packages, which the image never runs.
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM ${NODE_IMAGE}
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
