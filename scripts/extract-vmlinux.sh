#!/bin/sh
# Writes the vmlinux ELF inside a bzImage to stdout. The bzImage's payload is compressed with one of
# xz/gzip/zstd/lzma/lz4; its offset is not recorded anywhere convenient, so try each occurrence of
# each compressor's magic until one decompresses to an ELF.
set -eu
img=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

try() { # try MAGIC_AS_GREP_PATTERN DECOMPRESS_COMMAND...
  magic=$1; shift
  for off in $(LC_ALL=C grep -obUaP "$magic" "$img" | cut -d: -f1); do
    tail -c +"$((off + 1))" "$img" | "$@" > "$tmp/out" 2>/dev/null || true
    if [ "$(head -c 4 "$tmp/out" | od -An -tx1 | tr -d ' ')" = "7f454c46" ]; then
      cat "$tmp/out"
      exit 0
    fi
  done
}

try '\xfd\x37\x7a\x58\x5a\x00' xz -dc
try '\x1f\x8b\x08' gzip -dc
try '\x28\xb5\x2f\xfd' zstd -dc
try '\x5d\x00\x00\x00' xz -dc --format=lzma
try '\x02\x21\x4c\x18' lz4 -dc
echo "extract-vmlinux: no compressed ELF payload found in $img" >&2
exit 1
