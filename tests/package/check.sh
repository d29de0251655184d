#!/usr/bin/env bash
# Installs the exo of build dir $1 into a temporary prefix, then builds and runs a consumer
# project that finds it with find_package(exo) and uses exo::exo.
set -euo pipefail
build=$1; src=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src" -B "$tmp/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE="${2:-Debug}" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
"$tmp/consumer/consumer"
echo "find_package(exo) + exo::exo: OK"
