#!/usr/bin/env bash
# Makes sure Redis answers at 127.0.0.1:6379 and mosquitto at 127.0.0.1:1883, and prints
# `export WHOISIT_TEST_REDIS=...` and `export WHOISIT_TEST_MQTT=...` for the tests (each test
# uses a key prefix and topic prefix of its own there). Servers already running (the project's
# machines) are used as they are; otherwise Debian's redis-server and mosquitto are installed
# and started, on loopback only and keeping nothing on disk. redis-server is installed in any
# case: one test starts a private one to restart it; and mosquitto-clients, for mosquitto_sub.
# Exported variables are kept as they are.
set -euo pipefail

say() { echo "brokers.sh: $*" >&2; }
sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
listening() { (echo > "/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Debian puts mosquitto in /usr/sbin, which is not on every user's PATH.
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
[[ -x $mosquitto ]] || [[ -n "${WHOISIT_TEST_MQTT:-}" ]] || listening 1883 || missing+=(mosquitto)
# mosquitto_sub: the README's subscriber.
command -v mosquitto_sub >/dev/null || missing+=(mosquitto-clients)
if (( ${#missing[@]} )); then
  say "installing ${missing[*]}"
  $sudo apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  # The packages' own services, where systemd started them, are left alone; nothing is
  # assumed of them.
fi

if [[ -z "${WHOISIT_TEST_REDIS:-}" ]] && ! listening 6379; then
  say "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >&2
  for _ in $(seq 30); do listening 6379 && break; sleep 0.2; done
  listening 6379 || { say "redis-server did not start"; exit 1; }
fi
if [[ -z "${WHOISIT_TEST_MQTT:-}" ]] && ! listening 1883; then
  say "starting mosquitto on 127.0.0.1:1883"
  # 2.0 without a config listens on loopback only and lets anonymous clients in.
  "$mosquitto" -d >&2
  for _ in $(seq 30); do listening 1883 && break; sleep 0.2; done
  listening 1883 || { say "mosquitto did not start"; exit 1; }
fi
echo "export WHOISIT_TEST_REDIS='${WHOISIT_TEST_REDIS:-redis://127.0.0.1:6379}'"
echo "export WHOISIT_TEST_MQTT='${WHOISIT_TEST_MQTT:-mqtt://127.0.0.1:1883}'"
