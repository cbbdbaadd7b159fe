# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, run with production dependencies only.

# Node.js 24 LTS (24.21.0), Debian 12, pinned by the digest of the multi-platform image index that
# the official image's tag `node:24-bookworm-slim` pointed to on 2026-09-19, as recorded by the
# Docker official images' own repo-info (docker-library/repo-info, repos/node/remote/24-bookworm-slim.md,
# commit 3179cb4d576b9929bf86873c87f279ac67661c6e). A new digest comes with a new Node.js or Debian
# patch release: bump it on purpose, and run the suite on that Node.js version (see .ci/run).
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:0e0ff40c39bc087845bfb27465a0df4ea419520094bc35842ff83dd8cbe6f9b6

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# The lockfile covers the client package's workspace too: npm ci wants its package.json.
COPY package.json package-lock.json ./
COPY packages/client/package.json ./packages/client/package.json
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The server and the demo page (web/, bundled with the client's sources): the image carries the
# page, production never serves it. The client package itself is not built: the server needs none.
COPY web ./web
COPY packages/client/src ./packages/client/src
COPY scripts/build-demo.mjs ./scripts/build-demo.mjs
RUN npm run build:server

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# The server's production dependencies only: not the client package's workspace.
RUN npm ci --omit=dev --workspaces=false --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Run as the image's unprivileged user.
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"]
# Exec form: node is PID 1 and gets SIGTERM itself, so the graceful shutdown runs
# (npm start would swallow the signal.)
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
