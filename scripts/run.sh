#!/usr/bin/env bash
# Sets up whoisit (see setup.sh) and runs it. Without arguments it opens the configured camera,
# or plays the built-in demo when no camera opens. Arguments go to whoisit (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --release
exec target/release/whoisit "$@"
