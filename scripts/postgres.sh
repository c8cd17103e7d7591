#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers at 127.0.0.1:5432 and prints
# `export WHOISIT_TEST_POSTGRES=<admin URL>` for the tests (each test makes and drops its own
# database there). A server already running with trust auth (the project's machines) is used as
# it is; otherwise Debian's postgresql is installed and started, and a password role is made for
# TCP connections. An exported WHOISIT_TEST_POSTGRES is kept as it is.
set -euo pipefail

say() { echo "postgres.sh: $*" >&2; }

if [[ -n "${WHOISIT_TEST_POSTGRES:-}" ]]; then
  echo "export WHOISIT_TEST_POSTGRES='$WHOISIT_TEST_POSTGRES'"
  exit 0
fi

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
listening() { (echo > /dev/tcp/127.0.0.1/5432) 2>/dev/null; }

if ! listening; then
  if ! command -v pg_ctlcluster >/dev/null; then
    say "installing postgresql"
    $sudo apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends postgresql >&2
  fi
  version=$(ls /etc/postgresql | sort -V | tail -1)
  say "starting PostgreSQL $version"
  $sudo pg_ctlcluster "$version" main start >&2
  for _ in $(seq 30); do listening && break; sleep 1; done
  listening || { say "PostgreSQL did not start; see /var/log/postgresql"; exit 1; }
fi

user=$(id -un)
if psql -h 127.0.0.1 -U "$user" -d postgres -Atc 'SELECT 1' >/dev/null 2>&1; then
  echo "export WHOISIT_TEST_POSTGRES='postgres://$user@127.0.0.1:5432/postgres'"
else
  # TCP needs a password on a stock install: a role for the tests, made over the local socket.
  say "creating the role whoisit_test for the tests"
  $sudo su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'whoisit_test') THEN
        CREATE ROLE whoisit_test LOGIN SUPERUSER PASSWORD 'whoisit_test';
      END IF; END \\\$\\\$;\"" >&2
  echo "export WHOISIT_TEST_POSTGRES='postgres://whoisit_test:whoisit_test@127.0.0.1:5432/postgres'"
fi
