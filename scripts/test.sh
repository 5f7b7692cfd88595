#!/usr/bin/env bash
# One command for a fresh Debian 12: install what is missing, build, run every test through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
cd build
ctest --output-on-failure -j "$(nproc)"
