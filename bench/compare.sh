#!/usr/bin/env bash
# compare.sh: Sluice and Postfix side by side, one run on this machine, against the same `sluice sink`.
#
#   1. Sluice drains a pre-filled queue of N single-recipient messages (the `sluice bench` corpus, 5 KiB plain by
#      default) to the sink: `sluice bench --target` with 20 connections, no TLS.
#   2. A private Postfix instance (Debian package; its own config, queue and data directories in a temporary
#      directory, loopback only, relayhost = the sink, the same connection limit, no TLS) is filled with the same N
#      messages while delivery is held (defer_transports = smtp; the messages are sent into its smtpd by
#      `sluice bench --load`, so they are byte for byte the messages Sluice sent), then released (postqueue -f) and
#      timed until its queue is empty.
#   3. Both again with the sink's --reply-delay 50.
# Prints both rates and their ratio, writes bench/compare.dat and (with gnuplot) bench/compare.png.
# The system's Postfix (/etc/postfix, /var/spool/postfix) is never touched; everything started here is stopped on
# exit (trap). Needs root (Postfix's mail_owner switch), postfix, gnuplot.
#
# Usage: bench/compare.sh [-n N] [-d N_DELAY] [-c CONNECTIONS] [-s SIZE] [-S SHAPE] [-7] [-o OUTDIR]
#   -S SHAPE  the `sluice bench` message shape (plain, html8, multipart; default plain)
#   -7        instead of the two runs above, one run of 8-bit HTML (shape html8 unless -S) to a sink without
#             8BITMIME: both MTAs must convert every message to 7-bit MIME; written to compare-7bit.dat
#   SLUICE=path/to/sluice (default: build/sluice next to this script's repository)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
SLUICE=${SLUICE:-$REPO/build/sluice}
N=100000
N_DELAY=""
CONN=20
SIZE=5120
SHAPE=""
SEVEN=0
OUT=$HERE
while getopts "n:d:c:s:S:7o:h" opt; do
  case $opt in
    n) N=$OPTARG ;;
    d) N_DELAY=$OPTARG ;;
    c) CONN=$OPTARG ;;
    s) SIZE=$OPTARG ;;
    S) SHAPE=$OPTARG ;;
    7) SEVEN=1 ;;
    o) OUT=$OPTARG ;;
    *) sed -n '2,21p' "$0"; exit 2 ;;
  esac
done
[ "$SEVEN" = 1 ] && [ -z "$SHAPE" ] && SHAPE=html8
SHAPE=${SHAPE:-plain}
DAT=$OUT/compare.dat
[ "$SEVEN" = 1 ] && DAT=$OUT/compare-7bit.dat
N_DELAY=${N_DELAY:-$N}
[ -x "$SLUICE" ] || { echo "compare.sh: no sluice binary at $SLUICE (set SLUICE=...)" >&2; exit 1; }
[ "$(id -u)" = 0 ] || { echo "compare.sh: run as root (a private Postfix instance needs it)" >&2; exit 1; }
command -v postfix >/dev/null || { echo "compare.sh: postfix is not installed" >&2; exit 1; }

T=$(mktemp -d -t sluice-compare.XXXXXX)
chmod 755 "$T"
SINK_PID=""
PF_UP=0

free_port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

cleanup() {
  set +e
  if [ "$PF_UP" = 1 ]; then postfix -c "$T/etc" stop >/dev/null 2>&1; fi
  [ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
  # Wait until no process runs from or inside the directory before removing it.
  for _ in $(seq 100); do
    find /proc/[0-9]*/cwd -maxdepth 0 -lname "$T*" 2>/dev/null | grep -q . || break
    sleep 0.1
  done
  rm -rf "$T"
}
trap cleanup EXIT INT TERM

# ---- the sink (one per delay setting; both contenders deliver to the same one)
start_sink() {  # $1: extra sink arguments
  # shellcheck disable=SC2086
  "$SLUICE" sink --listen 127.0.0.1:0 --quiet $1 >"$T/sink.out" 2>&1 &
  SINK_PID=$!
  for _ in $(seq 100); do
    SINK_PORT=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$T/sink.out" | head -1)
    [ -n "$SINK_PORT" ] && return 0
    sleep 0.05
  done
  echo "compare.sh: the sink did not start: $(cat "$T/sink.out")" >&2
  exit 1
}
stop_sink() {
  kill "$SINK_PID" && wait "$SINK_PID" || true
  SINK_PID=""
}
# CPU seconds (user + system) of one process.
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"; }

# ---- Postfix: a private instance relaying to the sink
PF_SMTPD_PORT=$(free_port)
setup_postfix() {  # $1: sink port
  rm -rf "$T/etc" "$T/spool" "$T/data" "$T/maillog"
  mkdir -p "$T/etc" "$T/spool" "$T/data"
  chown postfix "$T/data"
  cat >"$T/etc/main.cf" <<EOF
compatibility_level = 3.6
config_directory = $T/etc
queue_directory = $T/spool
data_directory = $T/data
mail_owner = postfix
maillog_file = $T/maillog
maillog_file_prefixes = $T
myhostname = postfix-bench.test
mydestination =
alias_maps =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
local_header_rewrite_clients =
enable_original_recipient = no
relayhost = [127.0.0.1]:$1
default_destination_concurrency_limit = $CONN
smtp_destination_concurrency_limit = $CONN
smtp_tls_security_level = none
smtpd_tls_security_level = none
in_flow_delay = 0
defer_transports = smtp
message_size_limit = 0
EOF
  cat >"$T/etc/master.cf" <<EOF
127.0.0.1:$PF_SMTPD_PORT inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
pickup unix n - n 60 1 pickup
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
smtp unix - - n - - smtp
relay unix - - n - - smtp
error unix - - n - - error
retry unix - - n - - error
showq unix n - n - - showq
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
EOF
  touch -d '-10 sec' "$T/etc/main.cf" "$T/etc/master.cf"  # a fresh main.cf makes every command re-read it
  postfix -c "$T/etc" start >/dev/null 2>&1 || { echo "compare.sh: postfix did not start" >&2; cat "$T/maillog" >&2; exit 1; }
  PF_UP=1
}
stop_postfix() {
  postfix -c "$T/etc" stop >/dev/null 2>&1 || true
  PF_UP=0
  for _ in $(seq 100); do
    find /proc/[0-9]*/cwd -maxdepth 0 -lname "$T/spool*" 2>/dev/null | grep -q . || break
    sleep 0.1
  done
}
pf_queue_count() { find "$T/spool/incoming" "$T/spool/active" "$T/spool/deferred" -type f 2>/dev/null | wc -l; }
# The pids of the instance's processes (they all run in its queue directory).
pf_pids() {
  for d in /proc/[0-9]*; do
    [ "$(readlink "$d/cwd" 2>/dev/null)" = "$T/spool" ] && echo "${d#/proc/}"
  done
}
# CPU of the instance so far: every live process, plus the children the master has reaped.
pf_cpu() {
  local total=0 master
  master=$(head -1 "$T/spool/pid/master.pid" | tr -d ' ')
  for p in $(pf_pids); do total=$(echo "$total + $(proc_cpu "$p" 2>/dev/null || echo 0)" | bc -l); done
  local reaped
  reaped=$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print ($14 + $15) / hz }' "/proc/$master/stat")
  echo "$total + $reaped" | bc -l
}
pf_rss_kb() {  # the instance's memory now: the sum of its processes' proportional set sizes (shared pages split)
  local sum=0 v
  for p in $(pf_pids); do
    v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    sum=$((sum + ${v:-0}))
  done
  echo $sum
}

# ---- one measurement pair
run_pair() {  # $1: label, $2: sink arguments, $3: messages
  local label=$1 sinkargs=$2 n=$3
  echo "== $label: $n messages, $CONN connections, sink $sinkargs"
  start_sink "$sinkargs"

  # Sluice: the bench spools n messages, then the engine drains them to the sink.
  local s0 s1
  s0=$(proc_cpu "$SINK_PID")
  # A run that does not deliver every message (exit 3) is reported and repeated, at most three times.
  local attempt rc
  for attempt in 1 2 3; do
    rc=0
    timeout 600 "$SLUICE" bench --messages "$n" --size "$SIZE" --shape "$SHAPE" --connections "$CONN" --tls never --quiet \
      --target "127.0.0.1:$SINK_PORT" --result "$T/sluice.res" | sed 's/^/   sluice | /' || rc=$?
    [ "$rc" = 0 ] && break
    echo "   sluice | attempt $attempt failed (exit $rc)" >&2
  done
  [ "$rc" = 0 ] || { echo "compare.sh: sluice bench failed three times" >&2; exit 1; }
  s1=$(proc_cpu "$SINK_PID")
  local sl_rate sl_sec sl_cpu sl_rss sl_heap
  sl_rate=$(awk '$1 == "rate" { print $2 }' "$T/sluice.res")
  sl_sec=$(awk '$1 == "seconds" { print $2 }' "$T/sluice.res")
  sl_cpu=$(awk '$1 == "cpu_per_1000" { print $2 }' "$T/sluice.res")
  sl_rss=$(awk '$1 == "peak_rss_kb" { print $2 }' "$T/sluice.res")
  sl_heap=$(awk '$1 == "peak_heap_kb" { print $2 }' "$T/sluice.res")
  local sl_sink_cpu
  sl_sink_cpu=$(echo "($s1 - $s0) * 1000 / $n" | bc -l)

  # Postfix: fill the held queue through its smtpd, then release and time the drain.
  setup_postfix "$SINK_PORT"
  "$SLUICE" bench --load "127.0.0.1:$PF_SMTPD_PORT" --messages "$n" --size "$SIZE" --shape "$SHAPE" --sessions 20 --quiet \
    --result "$T/inject.res" >/dev/null || { echo "compare.sh: injection into Postfix failed" >&2; cat "$T/inject.res" >&2; exit 1; }
  # Wait until every message has passed qmgr into the deferred queue (nothing left in incoming or active).
  while [ "$(find "$T/spool/deferred" -type f | wc -l)" -lt "$n" ]; do sleep 0.5; done
  postconf -c "$T/etc" -e 'defer_transports =' && touch -d '-10 sec' "$T/etc/main.cf"
  postfix -c "$T/etc" reload >/dev/null 2>&1
  local c0 p0 t0 t1 peak=0 rss left
  c0=$(pf_cpu)
  p0=$(proc_cpu "$SINK_PID")
  t0=$(date +%s.%N)
  postqueue -c "$T/etc" -f
  while :; do
    left=$(pf_queue_count)
    rss=$(pf_rss_kb)
    [ "$rss" -gt "$peak" ] && peak=$rss
    [ "$left" -eq 0 ] && break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  local c1 p1
  c1=$(pf_cpu)
  p1=$(proc_cpu "$SINK_PID")
  local pf_sec pf_rate pf_cpu pf_sink_cpu
  pf_sec=$(echo "$t1 - $t0" | bc -l)
  pf_rate=$(echo "$n / $pf_sec" | bc -l)
  pf_cpu=$(echo "($c1 - $c0) * 1000 / $n" | bc -l)
  pf_sink_cpu=$(echo "($p1 - $p0) * 1000 / $n" | bc -l)
  local delivered
  delivered=$(grep -c 'status=sent' "$T/maillog" || true)
  if [ "$delivered" -ne "$n" ]; then  # show why (Postfix's own words) before the instance is gone
    grep -E 'status=(bounced|deferred)' "$T/maillog" | sed 's/^.*status=/   postfix | status=/' | sort | uniq -c | head -5 >&2
  fi
  stop_postfix
  stop_sink
  local ratio
  ratio=$(echo "$sl_rate / $pf_rate" | bc -l)
  printf '   sluice  : %9.0f msg/s  (%.2f s; CPU %.3f s/1000 msgs, sink %.3f; peak RSS %.1f MiB, heap %.1f MiB)\n' \
    "$sl_rate" "$sl_sec" "$sl_cpu" "$sl_sink_cpu" "$(echo "$sl_rss / 1024" | bc -l)" "$(echo "$sl_heap / 1024" | bc -l)"
  printf '   postfix : %9.0f msg/s  (%.2f s; CPU %.3f s/1000 msgs, sink %.3f; peak PSS %.1f MiB summed; %s sent)\n' \
    "$pf_rate" "$pf_sec" "$pf_cpu" "$pf_sink_cpu" "$(echo "$peak / 1024" | bc -l)" "$delivered"
  printf '   ratio   : %.1fx\n' "$ratio"
  [ "$delivered" -eq "$n" ] || echo "   warning: Postfix logged $delivered deliveries, not $n" >&2
  printf '"%s" %.0f %.0f %.2f %.4f %.4f %.0f %.0f\n' "$label" "$sl_rate" "$pf_rate" "$ratio" "$sl_cpu" "$pf_cpu" \
    "$sl_rss" "$peak" >>"$DAT"
}

echo "machine: nproc $(nproc), $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ { print $2 }') GiB RAM," \
  "$(postconf -d mail_version | sed 's/ = / /'), $("$SLUICE" version 2>/dev/null || echo sluice)"
echo "# label sluice_msgs_per_s postfix_msgs_per_s ratio sluice_cpu_s_per_1000 postfix_cpu_s_per_1000 sluice_peak_rss_kb postfix_peak_rss_kb" >"$DAT"
if [ "$SEVEN" = 1 ]; then
  # SMTPUTF8 off too: Postfix reads SMTPUTF8 as implying 8BITMIME (RFC 6531 §3.1 requires both) and would send
  # BODY=8BITMIME unconverted to a peer offering SMTPUTF8 alone.
  run_pair "$SHAPE to a 7-bit peer (converted)" "--no-8bitmime --no-smtputf8" "$N"
  exit 0
fi
run_pair "no delay" "" "$N"
run_pair "reply delay 50 ms" "--reply-delay 50" "$N_DELAY"

if command -v gnuplot >/dev/null; then
  gnuplot -e "datafile='$OUT/compare.dat'; outfile='$OUT/compare.png'" "$HERE/plot.gp" && echo "chart: $OUT/compare.png"
fi
