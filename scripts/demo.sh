#!/usr/bin/env bash
# One command for a fresh Debian 12: install what is missing, build, run the demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/qjit-demo "$@"
