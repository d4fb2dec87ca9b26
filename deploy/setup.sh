#!/usr/bin/env bash
# Installs every Debian package Sluice builds, tests and benchmarks with.
# Idempotent: when everything is present it prints nothing and touches nothing;
# `apt-get update` runs only when a package is missing.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build clang libclang-rt-14-dev pkg-config
  # libraries
  libuv1-dev libssl-dev libc-ares-dev libyaml-cpp-dev libbenchmark-dev doctest-dev libidn2-dev
  # real peers for integration tests and benchmarks
  postfix swaks dnsmasq-base python3 python3-aiosmtpd redis-server bind9-dnsutils libidn12
  # tools used by tests and the benchmark scripts
  openssl iproute2 procps gnuplot-nox
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: missing packages (${missing[*]}); run as root" >&2
  exit 1
fi

echo "setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Postfix is only used as a private, per-test instance: never configure the system one.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string sluice.invalid" | debconf-set-selections
# Installing peers must not start system daemons (redis on :6379, postfix on :25).
added_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  added_policy=1
fi
trap '[ $added_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
