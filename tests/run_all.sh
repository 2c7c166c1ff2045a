#!/usr/bin/env bash
# Build in release and run every test suite. This is the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
    meson setup build
fi
ninja -C build
meson test -C build --print-errorlogs
