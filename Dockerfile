# s3-overlay as a container: `docker build -t s3-overlay .`, then see README "Container image".
# Node 24 has node:sqlite built in, so no stage needs a compiler: install scripts are skipped
# (better-sqlite3 is a dev dependency, used only by this repo's Node 20 CI run).

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json LICENSE ./
COPY bin ./bin
# the base image's unprivileged user owns the data dir; serve keeps it private (0700)
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# Listening on all interfaces is what a container needs. With a remote configured, serve still
# refuses to do so with the default minioadmin keys: set S3_OVERLAY_LOCAL_ACCESS_KEY/SECRET_KEY.
ENV S3_OVERLAY_HOST=0.0.0.0 \
    S3_OVERLAY_DATA_DIR=/data
EXPOSE 8000
# slim images have no curl; Node's fetch asks the unauthenticated /health endpoint
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.S3_OVERLAY_PORT || 8000) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# exec form: node is PID 1 and receives SIGTERM itself, which serve answers by finishing
# in-flight requests (up to S3_OVERLAY_SHUTDOWN_GRACE) and exiting 0
ENTRYPOINT ["node", "/app/bin/s3-overlay.js"]
CMD ["serve"]
