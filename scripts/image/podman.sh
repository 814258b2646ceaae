#!/usr/bin/env bash
# podman with this project's settings (containers.conf beside this file):
# root, runc, cgroupfs. Every image script and test goes through it.
#   scripts/image/podman.sh images | build | run ...
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export CONTAINERS_CONF="$here/containers.conf"
exec podman --runtime runc --cgroup-manager cgroupfs "$@"
