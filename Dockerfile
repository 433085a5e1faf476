# Container images for the three Cloud Run workloads, one target each:
#
#   docker build --target poller -t REGION-docker.pkg.dev/PROJECT/changefeed/poller:TAG .
#   docker build --target loader -t REGION-docker.pkg.dev/PROJECT/changefeed/loader:TAG .
#   docker build --target batch  -t REGION-docker.pkg.dev/PROJECT/changefeed/batch:TAG  .
#
# The build context is the repository root: the services share the `shared` workspace and one
# lockfile. One file with a target per service (rather than three copies) keeps the build steps
# identical, and the three builds reuse the same cached build stage.

ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: install every dependency, compile, then drop the dev dependencies ----------------
FROM ${NODE_IMAGE} AS build
# better-sqlite3 compiles its addon from source when no prebuilt binary matches this platform.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app

# Manifests first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json .npmrc ./
COPY shared/package.json shared/
COPY services/poller/package.json services/poller/
COPY services/loader/package.json services/loader/
COPY services/batch/package.json services/batch/
COPY services/demo-api/package.json services/demo-api/
COPY services/pipeline/package.json services/pipeline/
COPY services/cli/package.json services/cli/
# --ignore-scripts because the root `prepare` script compiles sources that are not copied yet;
# `npm rebuild` then runs the dependencies' own install scripts (better-sqlite3's addon) but not
# the root's `prepare`.
RUN npm ci --no-audit --no-fund --ignore-scripts \
    && npm rebuild

COPY tsconfig.json tsconfig.base.json ./
COPY shared/ shared/
COPY services/ services/
# `npm prune` walks every workspace: what is left is the production tree, workspace links included.
RUN npm run build \
    && npm prune --omit=dev --no-audit --no-fund

# ---- runtime: production dependencies and compiled output only, as the unprivileged `node` user --
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Owned by root and not writable by `node`: the process cannot change its own code.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/shared/package.json ./shared/
COPY --from=build /app/shared/dist ./shared/dist
USER node

FROM runtime AS poller
COPY --from=build /app/services/poller/package.json ./services/poller/
COPY --from=build /app/services/poller/dist ./services/poller/dist
CMD ["node", "services/poller/dist/main.js"]

FROM runtime AS loader
COPY --from=build /app/services/loader/package.json ./services/loader/
COPY --from=build /app/services/loader/dist ./services/loader/dist
CMD ["node", "services/loader/dist/main.js"]

FROM runtime AS batch
COPY --from=build /app/services/batch/package.json ./services/batch/
COPY --from=build /app/services/batch/dist ./services/batch/dist
CMD ["node", "services/batch/dist/main.js"]
