#!/usr/bin/env bash
# Copies the shared libraries that the given addons load (their whole ldd
# closure) into DEST, less those the base image already has (BASELINE: the
# real paths of the base's libraries, listed before any apt-get install), so
# the runtime stage gets exactly what the addons need without the packages'
# other files or the toolchain. DEST/PACKAGES names the Debian package and
# version each library came from (image scanners cannot see these libraries
# in dpkg's database; this file is their record).
#
#   runtime-libs.sh DEST BASELINE addon.node...
set -euo pipefail
dest="$1" baseline="$2"
shift 2
mkdir -p "$dest"

missing="$(ldd "$@" | awk '/not found/ {print $1}' | sort -u)"
if [ -n "$missing" ]; then
  echo "runtime-libs: the addons need libraries that are not installed: $missing" >&2
  exit 1
fi

: >"$dest/PACKAGES"
# ldd names each library by its soname path (/lib/x86_64-linux-gnu/libblas.so.3);
# the copy keeps that name, dereferenced, so the loader finds it by soname.
ldd "$@" | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | sort -u | while read -r lib; do
  real="$(realpath "$lib")"
  if grep -qxF "$real" "$baseline"; then continue; fi
  cp -L "$lib" "$dest/$(basename "$lib")"
  # dpkg records some libraries under /lib (merged /usr): ask for both spellings.
  pkg="$( (dpkg -S "$real" || dpkg -S "${real#/usr}") 2>/dev/null | head -1 | cut -d: -f1)" || true
  version="$(dpkg-query -W -f='${Version}' "${pkg:-none}" 2>/dev/null)" || version=unknown
  printf '%s\t%s\t%s\n' "$(basename "$lib")" "${pkg:-unknown}" "$version" >>"$dest/PACKAGES"
done
sort -o "$dest/PACKAGES" "$dest/PACKAGES"
echo "runtime-libs: $(wc -l <"$dest/PACKAGES") libraries, $(du -sh "$dest" | cut -f1) in $dest" >&2
