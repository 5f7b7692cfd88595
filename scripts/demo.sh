#!/usr/bin/env bash
# One command for a fresh Debian 12: install what is missing, build, run the demo model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
./build/qjit-demo "$@"
# The demo also wrote its model as OpenVINO IR; the qjit tool loads and runs that file.
if [ -f build/demo_model.xml ]; then
  echo "\$ ./build/qjit run build/demo_model.xml"
  ./build/qjit run build/demo_model.xml
fi
