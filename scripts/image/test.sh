#!/usr/bin/env bash
# `npm run test:image`: prepares what the image tests need (podman, runc and
# mmdebstrap from apt; the local base image), then runs them: the CPU image
# running the service (test/deploy/image.test.ts) and `podman kube play` of
# the coordinator and Redis manifests (test/deploy/kube-play.test.ts). Here
# a missing piece fails instead of skipping. Needs root (or sudo) for podman.
set -euo pipefail
cd "$(dirname "$0")/../.."
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
for p in podman runc mmdebstrap catatonit; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[test:image] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/image/base.sh >/dev/null
GRADPOOL_IMAGE_TEST=1 exec node scripts/run-tests.mjs test/deploy/image test/deploy/kube-play
