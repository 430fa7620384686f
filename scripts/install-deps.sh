#!/usr/bin/env bash
# Installs the Debian 12 packages tav-edge needs to build, test and train.
# Idempotent and fast when everything is present: it checks dpkg first and
# only calls apt-get for what is missing. Needs root (or sudo) to install.
#
# Usage: scripts/install-deps.sh [build|test|arm|train|all]   (default: test)
set -euo pipefail

# package                     what it serves
BUILD_PKGS=(
  build-essential             # gcc, make: the C build
  pkg-config                  # finds the FFmpeg libraries' flags
  libopenblas-dev             # fp32 GEMM reference path and bench baseline (cblas_sgemm)
  libavcodec-dev              # H.264 encoding/decoding of MP4s
  libavformat-dev             # MP4 muxing/demuxing
  libavutil-dev               # FFmpeg utilities (frames, options)
  libswscale-dev              # RGB <-> YUV conversion
  libsqlite3-dev              # kiosk cache, job queue and history
  libpng-dev                  # contact sheets, frame dumps
  libjpeg62-turbo-dev         # thumbnails
  libmicrohttpd-dev           # kiosk HTTP server
)
TEST_PKGS=(
  clang                       # second compiler; libFuzzer harnesses
  libclang-rt-14-dev          # clang's libFuzzer and ASan/UBSan runtimes (only Recommended by clang, so --no-install-recommends skips it): make fuzz, make CC=clang test
  python3-numpy               # Python side of the model-file round trip and data tests
  python3-torch               # train/ toolchain tests (model shapes, golden vectors)
  python3-pil                 # contact sheets from train/
  ffmpeg                      # ffprobe checks on written MP4s
  chromium                    # kiosk browser test (tests/suites/kiosk_browser.sh), headless
  chromium-driver             # WebDriver for that test (chromedriver)
  python3-selenium            # drives chromium from tests/browser/kiosk_browser.py
)
# The AArch64 cross-build (make arm-tests, make arm): tav and its engine tests
# run under qemu-aarch64 (tests/suites/neon.sh, engine_arm.sh). The :arm64
# packages are Debian's multiarch libraries; the script adds the arm64
# architecture to dpkg first. They are "Multi-Arch: same", so apt also brings
# the amd64 copies of shared dependencies to the same version. About 100 MB
# to download; measured 3.5 min to install on top of the test packages.
ARM_PKGS=(
  gcc-aarch64-linux-gnu       # cross compiler
  libc6-dev-arm64-cross       # ARM64 C library for the static kernel tests
  qemu-user                   # runs the ARM64 binaries (qemu-aarch64)
  libavcodec-dev:arm64        # tav's own libraries, for build/arm/tav: H.264 encoding/decoding
  libavformat-dev:arm64       # MP4 muxing/demuxing
  libavutil-dev:arm64         # FFmpeg utilities
  libswscale-dev:arm64        # RGB <-> YUV conversion
  libpng-dev:arm64            # contact sheets, frame dumps
  libjpeg62-turbo-dev:arm64   # thumbnails
  libopenblas-dev:arm64       # the fp32 path's cblas_sgemm
  libsqlite3-dev:arm64        # the kiosk (linked into tav)
  libmicrohttpd-dev:arm64     # the kiosk's HTTP server
)
TRAIN_PKGS=(
  python3-torch
  python3-numpy
  python3-pil
  libopenblas0                # without it torch is ~30x slower (reference BLAS)
)

want=${1:-test}
case "$want" in
  build) pkgs=("${BUILD_PKGS[@]}") ;;
  test)  pkgs=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${ARM_PKGS[@]}") ;;
  arm)   pkgs=("${ARM_PKGS[@]}") ;;
  train) pkgs=("${TRAIN_PKGS[@]}") ;;
  all)   pkgs=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" "${ARM_PKGS[@]}" "${TRAIN_PKGS[@]}") ;;
  *) echo "usage: $0 [build|test|arm|train|all]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
if [[ " ${missing[*]}" == *:arm64* ]] && ! dpkg --print-foreign-architectures | grep -x arm64 >/dev/null; then
  $SUDO dpkg --add-architecture arm64   # before apt-get update, so it fetches the arm64 lists
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
