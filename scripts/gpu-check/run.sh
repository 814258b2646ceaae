#!/usr/bin/env bash
# The one-command GPU acceptance run: `npm run gpu:check`, or
# `bash scripts/gpu-check/run.sh` on a machine without Node (it then uses the
# Node and node_modules that `npm run gpu:prepare` packed into .gpu-carry/).
# See scripts/gpu-check/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

dry_run=0
for a in "$@"; do [ "$a" = "--cpu-dry-run" ] && dry_run=1; done
if [ "$dry_run" = 0 ]; then
  if ! gpus="$(nvidia-smi -L 2>/dev/null)" || ! grep -q '^GPU ' <<<"$gpus"; then
    echo "gpu:check: no NVIDIA GPU was found (nvidia-smi is missing or lists no GPU); nothing to check here." >&2
    exit 2
  fi
fi

carry=.gpu-carry
node_ok() { "$1" -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)' >/dev/null 2>&1; }
node_bin=""
if command -v node >/dev/null 2>&1 && node_ok node; then node_bin="$(command -v node)"; fi
if [ -z "$node_bin" ]; then
  tarball="$(ls "$carry"/node-v*-linux-x64.tar.xz 2>/dev/null | head -n 1 || true)"
  if [ -z "$tarball" ]; then
    echo "gpu:check: no Node >= 20 here and no carried one ($carry/node-v*-linux-x64.tar.xz); run 'npm run gpu:prepare' where there is network and bring $carry along." >&2
    exit 3
  fi
  if [ ! -x "$carry/node/bin/node" ]; then
    echo "gpu:check: unpacking $tarball"
    mkdir -p "$carry/node"
    tar -xJf "$tarball" -C "$carry/node" --strip-components=1
  fi
  node_bin="$PWD/$carry/node/bin/node"
fi
export PATH="$(dirname "$node_bin"):$PATH"

if [ ! -d node_modules/node-addon-api ] || [ ! -d node_modules/tsx ]; then
  if [ ! -f "$carry/node_modules.tar.xz" ]; then
    echo "gpu:check: node_modules is missing and $carry/node_modules.tar.xz too; run 'npm ci' (network) or 'npm run gpu:prepare' and bring $carry along." >&2
    exit 3
  fi
  echo "gpu:check: unpacking $carry/node_modules.tar.xz"
  tar -xJf "$carry/node_modules.tar.xz"
fi

exec "$node_bin" scripts/gpu-check/check.mjs "$@"
