#!/usr/bin/env bash
# Prepares a fresh Debian machine for gradpool, doing only what is missing:
# apt packages (PyTorch reference for tests, OpenBLAS, gloo, toolchain, Redis),
# a running Redis on 127.0.0.1:6379, `npm ci` and the native addon build.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# python3-torch: the PyTorch reference the parity tests and benchmarks compare against.
# libopenblas0-pthread: takes over libblas.so.3, or every torch figure uses the reference BLAS.
# libgloo-dev: the collectives addon's TCP backend.
# libtorch-dev: the libtorch engine (Debian's PyTorch 1.13 C++ library and headers).
# chromium, fonts-liberation: the dashboard's browser test (playwright-core drives Debian's Chromium).
packages=(python3-torch python3-numpy libopenblas0-pthread libgloo-dev libtorch-dev g++ make python3 redis-server chromium fonts-liberation)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# kubectl: its built-in kustomize renders k8s/ for the manifest tests (offline).
if ! command -v kubectl >/dev/null; then
  echo "[setup] apt-get install kubectl"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends kubectl >/dev/null
fi

if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
  echo "[setup] starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null && break; sleep 0.1; done
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci"
  npm ci --no-audit --no-fund
fi
# npm ci runs the package's install script; rebuild only when the addon is
# missing or older than its sources (a node_modules from an older checkout).
addon=native/build/Release/gradpool_collectives.node
if [ ! -f "$addon" ] || [ -n "$(find native/src native/include native/binding.gyp native/scripts -newer "$addon" -print -quit)" ]; then
  npm run --silent build:native
fi
# The libtorch engine's addon (skips with a message where no libtorch is found;
# under CI a failed build fails the setup).
torch_addon=native/torch/build/Release/gradpool_torch.node
if [ ! -f "$torch_addon" ] || [ -n "$(find native/torch/src native/torch/binding.gyp native/torch/build.mjs native/torch/build-checks.mjs -newer "$torch_addon" -print -quit)" ]; then
  if [ -n "${CI:-}" ]; then node native/torch/build.mjs --strict; else npm run --silent build:torch; fi
fi
echo "[setup] ready"
