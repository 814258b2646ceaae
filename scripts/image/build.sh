#!/usr/bin/env bash
# Builds the CPU image (Dockerfile) with podman on the local base image
# (scripts/image/base.sh), so no registry is needed. Layers are cached in
# podman's store: a rebuild after a TypeScript edit redoes only the last COPY.
#
#   bash scripts/image/build.sh [extra podman build args]   prints the image name last
#   GRADPOOL_IMAGE=localhost/gradpool:cpu (default), GRADPOOL_BASE=<image> to skip base.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
podman="$root/scripts/image/podman.sh"
image="${GRADPOOL_IMAGE:-localhost/gradpool:cpu}"
base="${GRADPOOL_BASE:-$(bash "$root/scripts/image/base.sh" | tail -1)}"
t0=$(date +%s)
echo "[image] building $image on $base" >&2
# Host network: apt and npm inside the build reach their registries as the host does.
"$podman" build --layers --network host --build-arg "BASE=$base" -t "$image" -f "$root/Dockerfile" "$@" "$root" >&2
echo "[image] built $image in $(($(date +%s) - t0)) s ($("$podman" image inspect --format '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
echo "$image"
