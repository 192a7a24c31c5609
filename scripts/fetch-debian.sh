#!/bin/sh
# Fetches the Debian i386 binaries the objdump oracle test decodes: busybox-static's busybox and
# the 686 kernel's vmlinux (extracted from the bzImage). Idempotent; CI calls it before the tests.
# Usage: scripts/fetch-debian.sh [CACHE_DIR]   (default: guests/cache)
set -eu

cache=${1:-"$(dirname "$0")/../guests/cache"}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
work="$cache/tmp"

# apt-get download needs the i386 package lists.
ensure_i386() {
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    dpkg --add-architecture i386
    apt-get update -qq
  elif ! apt-cache show busybox-static:i386 >/dev/null 2>&1; then
    apt-get update -qq
  fi
}

# download PACKAGE: leaves the .deb's contents extracted under $work/PACKAGE.
download() {
  rm -rf "$work/$1" && mkdir -p "$work/$1"
  (cd "$work" && apt-get download -qq "$1:i386")
  dpkg-deb -x "$work"/"$1"_*_i386.deb "$work/$1"
}

if [ ! -s "$cache/busybox" ]; then
  ensure_i386
  download busybox-static
  cp "$work/busybox-static/bin/busybox" "$cache/busybox"
fi

if [ ! -s "$cache/vmlinux" ]; then
  ensure_i386
  # linux-image-686 is a metapackage; the kernel is in the versioned package it depends on.
  pkg=$(apt-cache depends linux-image-686:i386 | sed -n 's/^ *Depends: \(linux-image-[^:]*-686\)\(:i386\)\{0,1\}$/\1/p' | head -n 1)
  [ -n "$pkg" ] || { echo "fetch-debian: cannot resolve linux-image-686:i386" >&2; exit 1; }
  download "$pkg"
  vmlinuz=$(ls "$work/$pkg"/boot/vmlinuz-* | head -n 1)
  "$(dirname "$0")/extract-vmlinux.sh" "$vmlinuz" > "$cache/vmlinux.tmp"
  mv "$cache/vmlinux.tmp" "$cache/vmlinux"
fi

rm -rf "$work"
