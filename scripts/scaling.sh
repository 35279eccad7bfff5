#!/usr/bin/env bash
# What one frontend costs as the log's message rate grows while none of its
# subscribers match (docs/scaling.md). Three of our processes on the test
# stack: frontend B carries publishers and their subscribers at a set rate;
# frontend A, with no client at all, still fetches and decodes every record
# of mqtt.messages. For each rate the CPU time and the bytes read of A are
# sampled over a window in the middle of the run, from /proc.
#
# usage: scripts/scaling.sh [RATE...]      (default: 0 2000 5000 10000 20000 40000 80000;
#                                          0 measures A with no traffic at all)
#
# Environment: SCALE_WINDOW [8] seconds sampled per rate; SCALE_SIZE [64]
# payload bytes; SCALE_BIN [bin]; the TIDEMARK_* variables of
# scripts/stack.sh (Kafka and Redis must be up: scripts/stack.sh up).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
BIN=${SCALE_BIN:-bin}
WINDOW=${SCALE_WINDOW:-8}
SIZE=${SCALE_SIZE:-64}
RATES=("$@")
[[ ${#RATES[@]} -gt 0 ]] || RATES=(0 2000 5000 10000 20000 40000 80000)
WORK="${TIDEMARK_STACK_DIR:-$ROOT/.stack}/scaling"
mkdir -p "$WORK"
eval "$(scripts/stack.sh env kafka redis)"
say() { printf 'scaling: %s\n' "$*" >&2; }
for b in mqtt-frontend mqtt-sessiond mqtt-bench; do
	[[ -x $BIN/$b ]] || { say "$BIN/$b is missing: run make build"; exit 1; }
done

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
common=(--kafka "$TIDEMARK_KAFKA" --redis "$TIDEMARK_REDIS" --log-format text --log-level warn)
open=(--allow-anonymous --publish-rate -1 --connect-rate -1 --max-connections -1 --ws-addr "")
"$BIN/mqtt-sessiond" "${common[@]}" --node scale-s --http-addr 127.0.0.1:23982 >"$WORK/sessiond.log" 2>&1 &
PIDS+=($!)
"$BIN/mqtt-frontend" "${common[@]}" "${open[@]}" --node scale-a --mqtt-addr 127.0.0.1:23884 --http-addr 127.0.0.1:23980 >"$WORK/frontend-a.log" 2>&1 &
A=$!
PIDS+=("$A")
"$BIN/mqtt-frontend" "${common[@]}" "${open[@]}" --node scale-b --mqtt-addr 127.0.0.1:23885 --http-addr 127.0.0.1:23981 >"$WORK/frontend-b.log" 2>&1 &
PIDS+=($!)
for h in 127.0.0.1:23982 127.0.0.1:23980 127.0.0.1:23981; do
	for ((i = 0; i < 600; i++)); do
		curl -fsS -o /dev/null "http://$h/readyz" 2>/dev/null && break
		sleep 0.1
	done
done

tck=$(getconf CLK_TCK)
# cpu PID: user+system ticks; rchar PID: bytes read by read(2) and friends.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rchar() { awk '/^rchar/ {print $2}' "/proc/$1/io"; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

printf '%-8s %12s %12s %14s %12s %10s\n' rate msgs/s A_cores A_MB_read/s us/record A_RSS_MiB
for rate in "${RATES[@]}"; do
	dur=$((WINDOW + 6))
	if ((rate == 0)); then
		c0=$(cpu "$A") r0=$(rchar "$A") t0=$(date +%s.%N)
		sleep "$WINDOW"
		c1=$(cpu "$A") r1=$(rchar "$A") t1=$(date +%s.%N)
		awk -v c="$((c1 - c0))" -v tck="$tck" -v r="$((r1 - r0))" -v t0="$t0" -v t1="$t1" -v m="$(rss "$A")" \
			'BEGIN { s = t1 - t0; printf "%-8s %12s %12.3f %14.2f %12s %10.1f\n", 0, 0, c / tck / s, r / s / 1e6, "-", m / 1024 }'
		continue
	fi
	"$BIN/mqtt-bench" --json --quiet --pattern p2p --publishers 10 --subscribers 10 --qos 1 --size "$SIZE" \
		--rate "$rate" --count $((rate * dur)) --duration "${dur}s" --drain 3s \
		--addr 127.0.0.1:23885 >"$WORK/run-$rate.json" 2>"$WORK/run-$rate.err" &
	bench=$!
	sleep 3 # past the connects and the first records
	c0=$(cpu "$A") r0=$(rchar "$A") t0=$(date +%s.%N)
	sleep "$WINDOW"
	c1=$(cpu "$A") r1=$(rchar "$A") t1=$(date +%s.%N)
	m=$(rss "$A")
	wait "$bench" || say "mqtt-bench at $rate failed: see $WORK/run-$rate.err"
	delivered=$(python3 -c "import json,sys; print(int(json.load(open(sys.argv[1])).get('throughput_out', 0)))" "$WORK/run-$rate.json" 2>/dev/null || echo 0)
	python3 - "$rate" "$delivered" "$c0" "$c1" "$r0" "$r1" "$t0" "$t1" "$tck" "$m" <<'EOF'
import sys
rate, got, c0, c1, r0, r1, t0, t1, tck, rss = sys.argv[1:]
secs = float(t1) - float(t0)
cores = (int(c1) - int(c0)) / int(tck) / secs
mbps = (int(r1) - int(r0)) / secs / 1e6
per = cores * 1e6 / float(got) if float(got) > 0 else float("nan")
print(f"{rate:<8} {int(got):>12,} {cores:>12.3f} {mbps:>14.2f} {per:>12.1f} {int(rss) / 1024:>10.1f}")
EOF
done
