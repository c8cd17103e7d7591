#!/usr/bin/env bash
# Sets up whoisit on Debian/Ubuntu: system packages, the build, and the models. Safe to run
# again: each step does nothing when its work is already done.
#
#   scripts/setup.sh            debug build (what the tests use)
#   scripts/setup.sh --release  optimised build (what the app uses)
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug
[[ "${1:-}" == "--release" ]] && profile=release

# OpenCV 4.x (Debian's 4.6; OpenCV 5 has no Caffe/Torch importer), dlib, BLAS for dlib, clang for
# the opencv crate's binding generator, Xvfb for looking at the window without a display,
# openssl for the HTTPS test's certificate, libssl-dev for the encrypted gallery (SQLCipher),
# Chromium and its WebDriver for the console's tests in a real browser, python3-venv for the test
# suite's schemathesis.
packages=(libopencv-dev clang libclang-dev pkg-config libdlib-dev libdlib-data
          libblas-dev liblapack-dev libopenblas-dev xvfb xauth imagemagick
          libwayland-dev openssl libssl-dev chromium chromium-driver python3-venv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: no Rust toolchain; installing rustup (https://rustup.rs)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  source "$HOME/.cargo/env"
fi

flag=()
[[ $profile == release ]] && flag=(--release)
cargo build "${flag[@]}" --locked
"target/$profile/whoisit" models fetch
