#!/bin/sh
# Rebuilds the native runner and regenerates every fixture in test/native/fixtures from scratch,
# by running each case on this machine's CPU. Needs: gcc with -m32 (gcc-multilib), nasm, Node 20.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT
gcc -m32 -static -O1 -fno-stack-protector -Wall -Werror -o "$build/runner" "$here/runner.c"
rm -f "$root"/test/native/fixtures/*.json.gz
cd "$root"
npx --yes tsx scripts/native/gen-cases.ts "$build/runner"
