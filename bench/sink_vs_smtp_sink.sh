#!/usr/bin/env bash
# sink_vs_smtp_sink.sh: `sluice sink` against Postfix's own smtp-sink, both fed by the same Postfix smtp-source
# command (issue 5). Rounds alternate the two sinks; each round times smtp-source from start to exit and gives
# messages/s, and reads the sink process's CPU time (user+system, /proc/PID/stat) to give CPU ms per 1000 messages.
# Prints every round, the median of each sink and the ratios sluice/smtp-sink.
#
# Usage: bench/sink_vs_smtp_sink.sh            (uses build/sluice)
#   SLUICE=path/to/sluice        the binary whose `sink` sub-command is measured
#   SINK_CMD="path/to/exe"       or any executable taking the sink's flags directly (argv[0] standing for "sink")
#   MESSAGES=50000 SESSIONS=20 SIZE=5120 ROUNDS=3
#   REUSE=1                      smtp-source -d: each session sends its messages over one connection (without it,
#                                one connection per message, and smtp-source's own connect cost is the limit)
# Needs: postfix (smtp-source, smtp-sink), /usr/bin/python3 for a free port. Loopback only.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
MESSAGES=${MESSAGES:-50000}
SESSIONS=${SESSIONS:-20}
SIZE=${SIZE:-5120}
ROUNDS=${ROUNDS:-3}
SMTP_SOURCE=${SMTP_SOURCE:-/usr/sbin/smtp-source}
SMTP_SINK=${SMTP_SINK:-/usr/sbin/smtp-sink}

if [[ -n "${SINK_CMD:-}" ]]; then
  sink_cmd=("$SINK_CMD")
else
  sluice=${SLUICE:-$here/../build/sluice}
  sink_cmd=("$sluice" sink)
fi
"${sink_cmd[@]}" --help >/dev/null 2>&1 || { echo "cannot run '${sink_cmd[*]} --help' (set SLUICE or SINK_CMD)" >&2; exit 2; }
for t in "$SMTP_SOURCE" "$SMTP_SINK"; do [[ -x $t ]] || { echo "missing $t (Debian package postfix)" >&2; exit 2; }; done

work=$(mktemp -d -t sinkbench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
# CPU seconds (user + system) used so far by process $1.
cpu_of() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.3f\n", ($12 + $13) / hz }' "/proc/$1/stat"; }
# CPU ms per 1000 messages from CPU seconds $1.
per_k() { awk -v c="$1" -v m="$MESSAGES" 'BEGIN { printf "%.1f\n", c * 1000 * 1000 / m }'; }
source_args=(-s "$SESSIONS" -l "$SIZE" -m "$MESSAGES" -f a@x.test -t b@y.test)
[[ -n "${REUSE:-}" ]] && source_args=(-d "${source_args[@]}")

# Runs smtp-source against 127.0.0.1:$1 and prints messages/s.
feed() {
  local t0 t1
  t0=$(now)
  "$SMTP_SOURCE" "${source_args[@]}" "127.0.0.1:$1" >"$work/source.log" 2>&1 || {
    echo "smtp-source failed:" >&2; cat "$work/source.log" >&2; exit 1; }
  t1=$(now)
  awk -v m="$MESSAGES" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f\n", m / (b - a) }'
}

run_smtp_sink() {
  local port user=() pid rate cpu
  port=$(free_port)
  [[ $(id -u) -eq 0 ]] && user=(-u postfix)
  "$SMTP_SINK" "${user[@]}" 127.0.0.1:"$port" 256 >"$work/smtp-sink.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.05; done
  rate=$(feed "$port")
  cpu=$(cpu_of "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$rate $(per_k "$cpu")"
}

run_sluice_sink() {
  local pid port rate cpu
  "${sink_cmd[@]}" --listen 127.0.0.1:0 >"$work/sluice-sink.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 100); do grep -q '^listening on' "$work/sluice-sink.log" && break; sleep 0.05; done
  port=$(sed -n '1s/^listening on .*:\([0-9]*\)$/\1/p' "$work/sluice-sink.log")
  rate=$(feed "$port")
  cpu=$(cpu_of "$pid")
  kill -INT "$pid"; wait "$pid" || true
  grep -q " msgs $MESSAGES " "$work/sluice-sink.log" || { echo "sluice sink did not count $MESSAGES messages:" >&2;
    cat "$work/sluice-sink.log" >&2; exit 1; }
  echo "$rate $(per_k "$cpu")"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "smtp-source ${source_args[*]} 127.0.0.1:PORT, $ROUNDS rounds"
theirs=() ours=() theirs_cpu=() ours_cpu=()
for r in $(seq "$ROUNDS"); do
  read -r a ac < <(run_smtp_sink)
  read -r b bc < <(run_sluice_sink)
  theirs+=("$a"); theirs_cpu+=("$ac")
  ours+=("$b"); ours_cpu+=("$bc")
  echo "round $r: smtp-sink $a msgs/s ($ac CPU ms/1000 msgs), sluice sink $b msgs/s ($bc CPU ms/1000 msgs)"
done
m_theirs=$(printf '%s\n' "${theirs[@]}" | median)
m_ours=$(printf '%s\n' "${ours[@]}" | median)
c_theirs=$(printf '%s\n' "${theirs_cpu[@]}" | median)
c_ours=$(printf '%s\n' "${ours_cpu[@]}" | median)
echo "median: smtp-sink $m_theirs msgs/s, $c_theirs CPU ms/1000 msgs; sluice sink $m_ours msgs/s, $c_ours CPU ms/1000 msgs"
awk -v a="$m_ours" -v b="$m_theirs" 'BEGIN { printf "ratio sluice/smtp-sink, messages/s: %.2f\n", a / b }'
awk -v a="$c_ours" -v b="$c_theirs" 'BEGIN { printf "ratio smtp-sink/sluice, sink CPU per message: %.2f\n", b / a }'
