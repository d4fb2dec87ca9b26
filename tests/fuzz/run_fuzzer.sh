#!/usr/bin/env bash
# run_fuzzer.sh BINARY SEED_DIR SECONDS: runs one libFuzzer target for a bounded time on a scratch copy of its seeds.
set -euo pipefail
bin=$1 seeds=$2 secs=$3
work=$(mktemp -d -t sluice-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus"
[ -d "$seeds" ] && cp -r "$seeds/." "$work/corpus/"
cd "$work"
exec "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "$work/corpus"
