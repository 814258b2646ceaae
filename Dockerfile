# The CPU image: the coordinator, CPU workers (libtorch engine on Debian's
# CPU libtorch, tfjs/wasm; shm and gloo collectives) and the CLI.
#
#   podman build -t gradpool:cpu .                               # base from a registry
#   podman build --build-arg BASE="$(bash scripts/image/base.sh)" -t gradpool:cpu .   # no registry
#   bash scripts/image/build.sh                                  # the latter, cached
#
# BASE is Node 20 on Debian bookworm with Node's headers in /usr/local/include
# (the official node:20-bookworm-slim, or scripts/image/base.sh's local one).
# The GPU image is Dockerfile.cuda. The TypeScript runs through tsx at run
# time (bin/gradpool.js registers it), so there is no compile step.
ARG BASE=docker.io/library/node:20-bookworm-slim

# ---- build: toolchain, Debian's libtorch, npm ci, both addons ---------------
FROM ${BASE} AS build
# The base's own libraries, recorded before anything is installed: the runtime
# stage starts from the same base, so these are not copied into it.
RUN find /usr/lib /usr/local/lib \( -type f -o -type l \) -name '*.so*' -print0 \
      | xargs -0 -r realpath -e 2>/dev/null | sort -u >/opt/base-libs.txt
# Debian's libtorch-dev is the CPU libtorch (1.13) the torch engine builds
# against; libgloo-dev the gloo collective; tini the PID 1 of the runtime image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ make python3 libgloo-dev libtorch-dev libopenblas0-pthread tini \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies and addons first: an edit to the TypeScript does not rebuild them.
# `npm ci` runs the package's install script, which builds the collectives addon.
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci --omit=dev --no-audit --no-fund \
 && node native/torch/build.mjs --strict \
 && find node_modules -name '*.map' -delete \
 && rm -rf native/build/Release/obj.target native/build/Release/.deps \
      native/torch/build/Release/obj.target native/torch/build/Release/.deps \
 && npm cache clean --force
COPY scripts/image/runtime-libs.sh /tmp/runtime-libs.sh
RUN bash /tmp/runtime-libs.sh /opt/gradpool-libs /opt/base-libs.txt \
      native/build/Release/gradpool_collectives.node native/torch/build/Release/gradpool_torch.node
COPY . .

# ---- runtime: node, the addons' libraries, the app; no toolchain ------------
FROM ${BASE} AS runtime
COPY --from=build /usr/bin/tini-static /usr/bin/tini
COPY --from=build /opt/gradpool-libs /usr/local/lib/gradpool
# uid/gid 10001: numeric, so Kubernetes' runAsNonRoot can check it.
RUN echo /usr/local/lib/gradpool >/etc/ld.so.conf.d/gradpool.conf && ldconfig \
 && groupadd --gid 10001 gradpool \
 && useradd --uid 10001 --gid 10001 --home-dir /home/gradpool --create-home --shell /usr/sbin/nologin gradpool
WORKDIR /app
# The app is root's and read-only to the service; what it writes goes to runs/,
# .cache/ and logs/ (volumes in a cluster) and /tmp (tsx's transform cache).
COPY --from=build /app /app
RUN mkdir -p runs .cache logs && chown gradpool:gradpool runs .cache logs
USER 10001:10001
ENV NODE_ENV=production \
    OMP_WAIT_POLICY=PASSIVE \
    HOME=/home/gradpool
# Fails the build if either addon or a library it needs did not make it here.
RUN node -e "for (const a of ['native/build/Release/gradpool_collectives.node', 'native/torch/build/Release/gradpool_torch.node']) require('/app/' + a)"
# tini is PID 1: it forwards SIGTERM to node (a worker then lets its rank finish
# the step and checkpoint) and reaps orphans. Kubernetes' args replace CMD.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "bin/gradpool.js", "help"]
