# syntax=docker/dockerfile:1
# Coffer server image (docs/packaging.md): multi-stage, runs as a non-root user, works with a
# read-only root filesystem (every write goes to the data dir volume), data dir as a VOLUME,
# HEALTHCHECK on GET /v2/health.
#
#   docker build -t coffer .
#   docker run -d --name coffer --read-only -v coffer-data:/var/lib/coffer -p 8270:8270 \
#     -e COFFER_TLS_CERT=/run/secrets/tls.crt -e COFFER_TLS_KEY=/run/secrets/tls.key ... coffer
#
# The base image is Docker Hub's official Node 24 image on Debian 12 (bookworm), slim variant.
# Pin it by digest in production (node:24-bookworm-slim@sha256:…).
ARG NODE_IMAGE=node:24-bookworm-slim

# Build: compile TypeScript to dist/ with every dependency (dev included). Install scripts are
# skipped: production dependencies have none, and the devDependency "node" (a Node binary for
# checkouts) is not needed here; tsc runs on the image's Node.
FROM ${NODE_IMAGE} AS build
WORKDIR /build
COPY package.json package-lock.json .npmrc ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json

# Production dependencies only, exactly as locked.
FROM ${NODE_IMAGE} AS deps
WORKDIR /deps
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# Runtime: Node, the compiled server, production node_modules. No npm at run time (it would want
# to write to $HOME).
FROM ${NODE_IMAGE} AS runtime
RUN groupadd --system --gid 10001 coffer \
  && useradd --system --uid 10001 --gid coffer --home-dir /var/lib/coffer --no-create-home \
    --shell /usr/sbin/nologin coffer \
  && mkdir -p /var/lib/coffer \
  && chown coffer:coffer /var/lib/coffer \
  && chmod 0700 /var/lib/coffer
WORKDIR /opt/coffer
COPY --from=deps /deps/node_modules ./node_modules
COPY --from=build /build/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY deploy/docker/healthcheck.mjs ./healthcheck.mjs
# The API listens on every interface of the container; plain HTTP there is refused unless TLS is
# configured (COFFER_TLS_CERT/COFFER_TLS_KEY) or COFFER_INSECURE_PLAINTEXT=true is set (TLS ends
# in front of the container). TMPDIR points into the volume so SQLite's rare temporary files
# (large sorts, statement journals) have somewhere to go with a read-only root filesystem.
ENV NODE_ENV=production \
  COFFER_LISTEN=0.0.0.0:8270 \
  COFFER_DATA_DIR=/var/lib/coffer \
  TMPDIR=/var/lib/coffer
USER 10001:10001
VOLUME ["/var/lib/coffer"]
EXPOSE 8270
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/opt/coffer/healthcheck.mjs"]
ENTRYPOINT ["node", "/opt/coffer/bin/coffer.js"]
CMD ["server"]
