#!/usr/bin/env bash
# Installs the Debian 12 packages qjit needs to build and test, if any is missing. Safe to rerun.
set -euo pipefail
# bochs bochsbios vgabios nasm: the emulated AVX-512 tests (tests/emu); libasmjit-dev: the encoder
# cross-check of the instruction audit (tests only); clang + libclang-rt-14-dev: the sanitizer and
# libFuzzer builds (scripts/sanitize.sh, fuzz/).
pkgs=(g++ cmake ninja-build libxbyak-dev libgtest-dev libbenchmark-dev libzydis-dev libasmjit-dev ccache
      bochs bochsbios vgabios nasm libpugixml-dev pkg-config clang libclang-rt-14-dev
      libonnx-dev libprotobuf-dev protobuf-compiler python3-onnx)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# ONNX Runtime (npm onnxruntime-node), the peer oracle of tests/test_onnx_st_model.cpp; its
# postinstall download is skipped (the CPU library ships in the package). Without node the test skips.
if command -v npm >/dev/null 2>&1 && [ ! -d "$(dirname "$0")/../tests/ort/node_modules/onnxruntime-node" ]; then
  (cd "$(dirname "$0")/../tests/ort" && ONNXRUNTIME_NODE_INSTALL=skip npm install --no-audit --no-fund --silent) ||
    echo "setup: npm install of onnxruntime-node failed; the ONNX Runtime comparison will skip"
fi
