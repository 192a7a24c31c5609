#!/bin/sh
# Fetches Debian i386 binaries into a cache directory:
#   busybox        busybox-static's /bin/busybox (the objdump oracle decodes it; initramfs builds use it)
#   vmlinux        the 686 kernel's ELF, extracted from the bzImage (the objdump oracle decodes it)
#   vmlinuz-686    the 686 kernel's bzImage as Debian ships it (the Linux boot loader plans it)
#   config-686     that kernel's build configuration
#   vmlinuz-686-pae, config-686-pae   the same for linux-image-686-pae (only with --pae)
#   vmlinux-dbg    the 686 kernel's vmlinux with DWARF, from linux-image-<version>-686-dbg for the
#                  very kernel in VERSIONS (only with --dbg: the package is 760 MB; only the one file
#                  is kept), for gdb on the guest
#   VERSIONS       one line per package: "<name> <package> <version>"
# Idempotent: reuses what the cache already holds; CI calls it before the tests.
# Usage: scripts/fetch-debian.sh [--pae] [--dbg] [CACHE_DIR]   (default: guests/cache)
# Needs root only to add the i386 architecture and fetch its package lists; once
# `dpkg --add-architecture i386 && apt-get update` has run, apt-get download works unprivileged.
set -eu

pae=no
dbg=no
while [ $# -gt 0 ]; do
  case "$1" in
    --pae) pae=yes; shift ;;
    --dbg) dbg=yes; shift ;;
    *) break ;;
  esac
done
cache=${1:-"$(dirname "$0")/../guests/cache"}
scripts=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
work="$cache/tmp"
# A failed download (no network, a bad mirror) leaves no half-extracted packages behind.
trap 'rm -rf "$work"' EXIT

# apt-get download needs the i386 package lists.
ensure_i386() {
  if dpkg --print-foreign-architectures | grep -qx i386 && apt-cache show busybox-static:i386 >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "fetch-debian: the i386 package lists are missing; run once as root: dpkg --add-architecture i386 && apt-get update (then fetching works unprivileged)" >&2
    exit 1
  fi
  if ! dpkg --print-foreign-architectures | grep -qx i386; then dpkg --add-architecture i386; fi
  apt-get update -qq
}

# download PACKAGE: leaves the .deb's contents extracted under $work/PACKAGE and records its version.
download() {
  rm -rf "${work:?}/$1" && mkdir -p "$work/$1"
  (cd "$work" && apt-get download -qq "$1:i386")
  dpkg-deb -x "$work"/"$1"_*_i386.deb "$work/$1"
  version=$(dpkg-deb -f "$work"/"$1"_*_i386.deb Version)
}

# record NAME PACKAGE VERSION: sets NAME's line in VERSIONS.
record() {
  touch "$cache/VERSIONS"
  grep -v "^$1 " "$cache/VERSIONS" > "$cache/VERSIONS.tmp" || true
  echo "$1 $2 $3" >> "$cache/VERSIONS.tmp"
  sort "$cache/VERSIONS.tmp" > "$cache/VERSIONS" && rm -f "$cache/VERSIONS.tmp"
}

recorded() { [ -s "$cache/VERSIONS" ] && grep -q "^$1 " "$cache/VERSIONS"; }

if [ ! -s "$cache/busybox" ] || ! recorded busybox-static; then
  ensure_i386
  download busybox-static
  cp "$work/busybox-static/bin/busybox" "$cache/busybox"
  record busybox-static busybox-static "$version"
fi

# kernel FLAVOUR: fetches linux-image-FLAVOUR's bzImage and config (and, for 686, the vmlinux).
kernel() {
  flavour=$1
  ensure_i386
  # linux-image-686 is a metapackage; the kernel is in the versioned package it depends on.
  pkg=$(apt-cache depends "linux-image-$flavour:i386" | sed -n "s/^ *Depends: \(linux-image-[^:]*-$flavour\)\(:i386\)\{0,1\}\$/\1/p" | head -n 1)
  [ -n "$pkg" ] || { echo "fetch-debian: cannot resolve linux-image-$flavour:i386" >&2; exit 1; }
  download "$pkg"
  vmlinuz=$(ls "$work/$pkg"/boot/vmlinuz-* | head -n 1)
  if [ "$flavour" = 686 ]; then
    "$scripts/extract-vmlinux.sh" "$vmlinuz" > "$cache/vmlinux.tmp"
    mv "$cache/vmlinux.tmp" "$cache/vmlinux"
  fi
  cp "$vmlinuz" "$cache/vmlinuz-$flavour.tmp" && mv "$cache/vmlinuz-$flavour.tmp" "$cache/vmlinuz-$flavour"
  cp "$(ls "$work/$pkg"/boot/config-* | head -n 1)" "$cache/config-$flavour"
  record "linux-image-$flavour" "$pkg" "$version"
  rm -rf "${work:?}/$pkg" "$work/$pkg"_*_i386.deb
}

# The vmlinux, bzImage and config come from one package: fetch them together so they always match.
if [ ! -s "$cache/vmlinux" ] || [ ! -s "$cache/vmlinuz-686" ] || [ ! -s "$cache/config-686" ] || ! recorded linux-image-686; then
  kernel 686
fi
if [ "$pae" = yes ] && { [ ! -s "$cache/vmlinuz-686-pae" ] || [ ! -s "$cache/config-686-pae" ] || ! recorded linux-image-686-pae; }; then
  kernel 686-pae
fi

rm -rf "$work"

# The debug vmlinux of the exact 686 kernel VERSIONS names: linux-image-<abi>-686 -> ...-686-dbg at
# the same version. Only the vmlinux is extracted from the .deb (streamed through tar), and the
# .deb is deleted; fetched again when the kernel in VERSIONS changes.
set -- $(grep '^linux-image-686 ' "$cache/VERSIONS")
pkg="$2-dbg"
kver=$3
if [ "$dbg" = yes ] && { [ ! -s "$cache/vmlinux-dbg" ] || ! grep -qx "linux-image-686-dbg $pkg $kver" "$cache/VERSIONS"; }; then
  ensure_i386
  mkdir -p "$work"
  (cd "$work" && apt-get download -qq "$pkg:i386=$kver")
  deb=$(ls "$work"/"$pkg"_*_i386.deb | head -n 1)
  rm -rf "${work:?}/dbg" && mkdir -p "$work/dbg"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/dbg" --wildcards '*/boot/vmlinux-*'
  rm -f "$deb"
  mv "$(ls "$work"/dbg/usr/lib/debug/boot/vmlinux-* | head -n 1)" "$cache/vmlinux-dbg"
  record linux-image-686-dbg "$pkg" "$kver"
  rm -rf "$work"
fi
