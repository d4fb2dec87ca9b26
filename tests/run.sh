#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: install packages, build twice, run everything.
#   1. a gcc build (warnings as errors) running every test, integration tests against real peers included;
#   2. a clang build with ASan + UBSan running the protocol, queue (crash test included), resolver (dnsmasq
#      included), TLS, configuration, delivery engine (real peers and fault scenarios) and sink tests, and every
#      fuzz target for a bounded time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash deploy/setup.sh
jobs=$(nproc)

echo "== build (gcc, Release, the same build as the quick start)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"

echo "== build (clang, ASan+UBSan, libFuzzer)"
CC=clang CXX=clang++ cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug \
  -DSLUICE_SANITIZE=ON -DSLUICE_FUZZ=ON -DSLUICE_BENCH=OFF -DSLUICE_INTEROP=OFF -DSLUICE_FUZZ_SECONDS="${SLUICE_FUZZ_SECONDS:-20}" >/dev/null
cmake --build build-asan -j "$jobs"

echo "== sanitizer run: protocol, queue, resolver, net, ops, delivery engine, sink, fuzz"
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -L 'smtp|queue|resolver|net|ops|mime|delivery|engine|sink|fuzz' --output-on-failure -j "$jobs"

echo "== full run"
ctest --test-dir build --output-on-failure -j "$jobs"
