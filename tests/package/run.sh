#!/usr/bin/env bash
# ctest c_package: installs the build into a temporary prefix, then builds tests/package/c_api_smoke.c
# against it twice (pkg-config + cc -std=c99 -pedantic -Werror, and find_package(qjit) in CMake)
# and runs both programs.  Usage: run.sh BUILD_DIR PACKAGE_TEST_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d /tmp/qjit_package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log" || { cat "$tmp/install.log"; exit 1; }
pcdir=$(dirname "$(find "$tmp/prefix" -name qjit.pc | head -1)")
libdir=$(dirname "$pcdir")
test -L "$libdir/libqjit.so.0" || { echo "no libqjit.so.0 in $libdir"; exit 1; }
soname=$(objdump -p "$libdir/libqjit.so" | awk '/SONAME/ {print $2}')
[ "$soname" = libqjit.so.0 ] || { echo "SONAME is '$soname'"; exit 1; }

echo "== pkg-config"
export PKG_CONFIG_PATH=$pcdir
cc -std=c99 -pedantic -Wall -Wextra -Werror -o "$tmp/smoke_pc" "$src/c_api_smoke.c" $(pkg-config --cflags --libs qjit) -lm
LD_LIBRARY_PATH=$libdir "$tmp/smoke_pc"

echo "== find_package(qjit)"
cmake -S "$src" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_C_FLAGS="-Wall -Wextra -Werror -pedantic" > "$tmp/consumer.log" || { cat "$tmp/consumer.log"; exit 1; }
cmake --build "$tmp/consumer" > "$tmp/consumer_build.log" || { cat "$tmp/consumer_build.log"; exit 1; }
"$tmp/consumer/c_api_smoke"   # the imported target's rpath finds libqjit.so.0
echo "c_package: pass"
