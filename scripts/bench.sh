#!/usr/bin/env bash
# Side-by-side benchmark behind `make bench`: the same mqtt-bench scenarios
# against Mosquitto (Debian package, persistence off, its own port) and
# against our stack (the test stack's Kafka and Redis, two frontends, one
# session service), alternating which goes first, plus the raw kafka-go
# producer (acks=all) as the ceiling of the log path. Prints a table and
# writes bench/results.json.
#
# usage: scripts/bench.sh
#
# Environment (defaults in brackets):
#   BENCH_TARGETS [ours mosquitto]  what to measure; "mosquitto" alone needs
#                                   neither the stack nor our binaries
#   BENCH_QUICK [0]                 1: tiny counts and 2 s caps (smoke test)
#   BENCH_ONLY []                   run only these scenarios (space separated names)
#   BENCH_ROUNDS [1]                rounds per scenario, first target alternating
#                                   (ABBA with 2); the table shows the median
#   BENCH_OUT [bench/results.json]   BENCH_BIN [bin] where the binaries are
#   BENCH_MOSQUITTO [127.0.0.1:21883]
#   BENCH_FRONTEND_A [127.0.0.1:21884] BENCH_FRONTEND_B [127.0.0.1:21885]
#   BENCH_HTTP_A [127.0.0.1:21980] BENCH_HTTP_B [127.0.0.1:21981] BENCH_HTTP_SESSIOND [127.0.0.1:21982]
#   BENCH_IDLE_CONNS [20000]        idle connections (lowered to fit the open-file limit)
#   BENCH_PROFILE []                a directory: our services run with --pprof, and
#                                   frontend A's CPU profile (BENCH_PROFILE_SECONDS [10]
#                                   from the start of the run) and allocation profile
#                                   (after it) are saved there for qos0_fan_in,
#                                   qos1_fan_in and connect_storm (there also the session
#                                   service's CPU profile), and for idle the CPU
#                                   profile and a heap profile taken while the
#                                   connections are held: NAME.cpu.pprof,
#                                   NAME.allocs.pprof, idle.heap.pprof,
#                                   connect_storm.sessiond.cpu.pprof. Read them with
#                                   go tool pprof -top bin/mqtt-frontend FILE
#   the TIDEMARK_* variables of scripts/stack.sh
#
# Our processes use the shared topics (mqtt.messages, ...) and the session
# service's default consumer group: do not run it while `make up` runs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BIN=${BENCH_BIN:-$ROOT/bin}
WORK="${TIDEMARK_STACK_DIR:-$ROOT/.stack}/bench"
OUT=${BENCH_OUT:-$ROOT/bench/results.json}
TARGETS=${BENCH_TARGETS:-ours mosquitto}
QUICK=${BENCH_QUICK:-0}
ONLY=${BENCH_ONLY:-}
ROUNDS=${BENCH_ROUNDS:-1}
MOSQ=${BENCH_MOSQUITTO:-127.0.0.1:21883}
FRONT_A=${BENCH_FRONTEND_A:-127.0.0.1:21884}
FRONT_B=${BENCH_FRONTEND_B:-127.0.0.1:21885}
HTTP_A=${BENCH_HTTP_A:-127.0.0.1:21980}
HTTP_B=${BENCH_HTTP_B:-127.0.0.1:21981}
HTTP_S=${BENCH_HTTP_SESSIOND:-127.0.0.1:21982}
IDLE_CONNS=${BENCH_IDLE_CONNS:-20000}
PROFILE=${BENCH_PROFILE:-}
PROFILE_SECONDS=${BENCH_PROFILE_SECONDS:-10}
START_TIMEOUT=60

say() { printf 'bench: %s\n' "$*" >&2; }
fail() {
	printf 'bench: %s\n' "$*" >&2
	exit 1
}
wants() { [[ " $TARGETS " == *" $1 "* ]]; }
port_open() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# ---- checks before starting anything ----
[[ -x $BIN/mqtt-bench ]] || fail "$BIN/mqtt-bench is missing: run make build"
command -v python3 >/dev/null || fail "python3 is needed to build the table"
if wants ours; then
	for b in mqtt-frontend mqtt-sessiond; do
		[[ -x $BIN/$b ]] || fail "$BIN/$b is missing: run make build (or BENCH_TARGETS=mosquitto for the baseline alone)"
	done
	command -v curl >/dev/null || fail "curl is needed to wait for /readyz"
fi
PATH=$PATH:/usr/sbin # where Debian puts mosquitto
if wants mosquitto && ! command -v mosquitto >/dev/null; then
	say "installing mosquitto"
	sudo=()
	[[ $(id -u) -eq 0 ]] || sudo=(sudo)
	{ "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq mosquitto; } >/dev/null ||
		fail "apt-get install mosquitto failed"
fi
# Brokers and the load tool inherit this shell's limit; Mosquitto does not
# raise its soft limit by itself.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [[ $nofile != unlimited ]] && ((IDLE_CONNS + 100 > nofile)); then
	IDLE_CONNS=$((nofile - 1000))
	say "open-file limit is $nofile: idle scenario lowered to $IDLE_CONNS connections"
fi

mkdir -p "$WORK" "$(dirname "$OUT")"
# The load when the run starts goes into results.json: on a shared
# machine other work skews every figure.
cut -d' ' -f1-3 /proc/loadavg >"$WORK/loadavg" 2>/dev/null || true
if [[ -n $PROFILE ]]; then
	mkdir -p "$PROFILE"
	PROFILE=$(cd "$PROFILE" && pwd)
	export TIDEMARK_PPROF=true # --pprof for our services; the load tool has no such flag
fi
rm -f "$WORK"/*.json "$WORK"/*.err
PIDS=()
OUR_PIDS=()
STACK_STARTED=() # parts of the test stack this run started, stopped at exit
# stop_pids TENTHS PID...: SIGTERM each, give each up to TENTHS tenths of
# a second to exit, then SIGKILL and reap it.
stop_pids() {
	local tenths=$1 p i
	shift
	for p in "$@"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "$@"; do
		for ((i = 0; i < tenths; i++)); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
}
cleanup() {
	[[ ${#OUR_PIDS[@]} -eq 0 ]] || stop_ours
	[[ ${#PIDS[@]} -eq 0 ]] || stop_pids 100 "${PIDS[@]}"
	[[ ${#STACK_STARTED[@]} -eq 0 ]] || scripts/stack.sh down "${STACK_STARTED[@]}" >&2 || true
}
trap cleanup EXIT

# wait_port ADDR PID NAME LOG
wait_port() {
	local i
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		port_open "$1" && return 0
		kill -0 "$2" 2>/dev/null || { tail -n 20 "$4" >&2; fail "$3 exited during start (log: $4)"; }
		sleep 0.1
	done
	fail "$3 not answering on $1 after ${START_TIMEOUT}s (log: $4)"
}

# wait_ready HTTPADDR NAME: /readyz answers 200.
wait_ready() {
	local i
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		curl -fsS -o /dev/null "http://$1/readyz" 2>/dev/null && return 0
		sleep 0.1
	done
	fail "$2 not ready at http://$1/readyz after ${START_TIMEOUT}s"
}

# start NAME LOG CMD...: background process, pid in LAST_PID.
start() {
	local name=$1 log=$2
	shift 2
	"$@" >"$log" 2>&1 </dev/null &
	LAST_PID=$!
	PIDS+=("$LAST_PID")
	say "started $name (pid $LAST_PID, log $log)"
}

# ---- Mosquitto: persistence off; the offline queue bound (default 1000) lifted
# for the replay scenario; TCP_NODELAY on, as our frontends have it, so that
# Nagle's delays do not count against Mosquitto's latency ----
MOSQ_PID=
if wants mosquitto; then
	port_open "$MOSQ" && fail "$MOSQ is taken (set BENCH_MOSQUITTO)"
	cat >"$WORK/mosquitto.conf" <<EOF
listener ${MOSQ##*:} ${MOSQ%:*}
allow_anonymous true
persistence false
max_queued_messages 0
set_tcp_nodelay true
connection_messages false
log_dest stderr
log_type error
log_type warning
EOF
fi
# start_mosquitto: (re)start Mosquitto, pid in MOSQ_PID.
start_mosquitto() {
	[[ -z $MOSQ_PID ]] || stop_pids 100 "$MOSQ_PID"
	start mosquitto "$WORK/mosquitto.log" mosquitto -c "$WORK/mosquitto.conf"
	MOSQ_PID=$LAST_PID
	wait_port "$MOSQ" "$MOSQ_PID" mosquitto "$WORK/mosquitto.log"
}
wants mosquitto && start_mosquitto

# ---- our stack ----
FRONT_A_PID=
if wants ours; then
	for c in kafka redis; do
		scripts/stack.sh status "$c" >/dev/null 2>&1 || STACK_STARTED+=("$c")
	done
	scripts/stack.sh up kafka redis >&2
	eval "$(scripts/stack.sh env kafka redis)"
	export TIDEMARK_KAFKA TIDEMARK_REDIS
	if scripts/cluster.sh status >/dev/null 2>&1; then
		say "warning: the make-up cluster is running and shares topics and consumer group; figures will be disturbed"
	fi
	for a in "$FRONT_A" "$FRONT_B" "$HTTP_A" "$HTTP_B" "$HTTP_S"; do
		port_open "$a" && fail "$a is taken (see the BENCH_* port variables)"
	done
fi

# start_ours / stop_ours: the session service and two frontends. They are
# restarted before every run against them, so that work a scenario leaves
# behind (queued appends, sessions) does not slow the next one; Mosquitto
# is left running, as it keeps no such backlog.
start_ours() {
	local common=(--kafka "$TIDEMARK_KAFKA" --redis "$TIDEMARK_REDIS" --log-format text --log-level warn)
	# Mosquitto runs anonymous and unthrottled: so do the frontends here,
	# so that the numbers compare the brokers and not their limits.
	local open=(--allow-anonymous --publish-rate -1 --connect-rate -1 --max-connections -1)
	start sessiond "$WORK/sessiond.log" "$BIN/mqtt-sessiond" "${common[@]}" --node bench-sessiond \
		--http-addr "$HTTP_S" --max-queued 200000
	OUR_PIDS=("$LAST_PID")
	wait_port "$HTTP_S" "$LAST_PID" sessiond "$WORK/sessiond.log"
	start frontend-a "$WORK/frontend-a.log" "$BIN/mqtt-frontend" "${common[@]}" "${open[@]}" --node bench-a \
		--mqtt-addr "$FRONT_A" --ws-addr "" --http-addr "$HTTP_A"
	FRONT_A_PID=$LAST_PID
	OUR_PIDS+=("$LAST_PID")
	start frontend-b "$WORK/frontend-b.log" "$BIN/mqtt-frontend" "${common[@]}" "${open[@]}" --node bench-b \
		--mqtt-addr "$FRONT_B" --ws-addr "" --http-addr "$HTTP_B"
	OUR_PIDS+=("$LAST_PID")
	wait_port "$FRONT_A" "$FRONT_A_PID" frontend-a "$WORK/frontend-a.log"
	wait_port "$FRONT_B" "$LAST_PID" frontend-b "$WORK/frontend-b.log"
	wait_ready "$HTTP_S" sessiond
	wait_ready "$HTTP_A" frontend-a
	wait_ready "$HTTP_B" frontend-b
}
stop_ours() {
	stop_pids 150 "${OUR_PIDS[@]}"
	OUR_PIDS=()
}

# The raw producer first, on a Kafka nothing else of ours is using.
if wants ours && [[ -z $ONLY || " $ONLY " == *" raw_kafka "* ]]; then
	for ((round = 1; round <= ROUNDS; round++)); do
		say "raw_kafka against kafka (round $round)"
		"$BIN/mqtt-bench" --json --quiet --size 64 --duration 12s --raw-kafka --kafka "$TIDEMARK_KAFKA" \
			--publishers 20 --subscribers 10 --inflight 64 --count "$([[ $QUICK == 1 ]] && echo 5000 || echo 400000)" \
			>"$WORK/raw_kafka.kafka.$round.json" 2>"$WORK/raw_kafka.kafka.$round.err" ||
			{ say "  failed: $(tail -n 3 "$WORK/raw_kafka.kafka.$round.err" | tr '\n' ' ')"; rm -f "$WORK/raw_kafka.kafka.$round.json"; }
	done
fi
wants ours && start_ours

# ---- scenarios ----
# Scale: full figures by default, a smoke run with BENCH_QUICK=1. Every
# phase of a run is capped by --duration (DUR; LONG for the connection-bound
# and replay scenarios), so the whole run stays well under 15 minutes even
# when a broker is slow: a capped run reports what it achieved in the time.
if [[ $QUICK == 1 ]]; then
	DUR=2s LONG=10s N0=20000 N1=5000 FANOUT_SUBS=50 FANOUT_N=50 LAT_N=2000 STORM=500 IDLE=500 IDLE_HOLD=2s REPLAY=5000
else
	DUR=12s LONG=45s N0=1000000 N1=400000 FANOUT_SUBS=1000 FANOUT_N=1000 LAT_N=60000 STORM=10000 IDLE=$IDLE_CONNS IDLE_HOLD=10s REPLAY=100000
fi
BENCH=("$BIN/mqtt-bench" --json --quiet --size 64 --duration "$DUR" --drain 5s)

# run NAME TARGET ROUND ARGS...: one mqtt-bench run, JSON to
# $WORK/NAME.TARGET.ROUND.json.
run() {
	local name=$1 target=$2 round=$3 rc=0
	local out="$WORK/$name.$target.$round.json" err="$WORK/$name.$target.$round.err"
	shift 3
	say "$name against $target (round $round)"
	# Profiles of frontend A (BENCH_PROFILE), first round only.
	local prof=0 cpu_pid= extra=()
	if [[ -n $PROFILE && $target == ours && $round == 1 ]]; then
		case $name in qos0_fan_in | qos1_fan_in | connect_storm | idle) prof=1 ;; esac
	fi
	if ((prof)); then
		curl -fsS -o "$PROFILE/$name.cpu.pprof" "http://$HTTP_A/debug/pprof/profile?seconds=$PROFILE_SECONDS" &
		cpu_pid=$!
		if [[ $name == connect_storm ]]; then
			# Every persistent CONNECT waits for the session service too.
			curl -fsS -o "$PROFILE/$name.sessiond.cpu.pprof" "http://$HTTP_S/debug/pprof/profile?seconds=$PROFILE_SECONDS" &
			cpu_pid="$cpu_pid $!"
		fi
		[[ $name != idle ]] || extra=(--heap-profile-url "http://$HTTP_A/debug/pprof/heap" --heap-profile-out "$PROFILE/idle.heap.pprof")
	fi
	"${BENCH[@]}" "$@" "${extra[@]}" >"$out" 2>"$err" || rc=$?
	if ((rc != 0)); then
		say "  failed (exit $rc): $(tail -n 3 "$err" | tr '\n' ' ')"
		rm -f "$out"
	fi
	if ((prof)); then
		# shellcheck disable=SC2086 # one or two pids
		wait $cpu_pid || say "  CPU profile of $name failed"
		[[ $name == idle ]] || curl -fsS -o "$PROFILE/$name.allocs.pprof" "http://$HTTP_A/debug/pprof/allocs" ||
			say "  allocation profile of $name failed"
		say "  profiles of $name in $PROFILE"
	fi
}

# scenario NAME ARGS-FOR-BOTH -- ARGS-FOR-OURS -- ARGS-FOR-MOSQUITTO
# Runs both targets ROUNDS times, alternating which goes first from one round
# (and one scenario) to the next.
TURN=0
scenario() {
	local name=$1 both=() ours=() mosq=() part=0 a
	shift
	[[ -z $ONLY || " $ONLY " == *" $name "* ]] || return 0
	for a in "$@"; do
		if [[ $a == -- ]]; then
			part=$((part + 1))
			continue
		fi
		case $part in 0) both+=("$a") ;; 1) ours+=("$a") ;; 2) mosq+=("$a") ;; esac
	done
	local round order t
	for ((round = 1; round <= ROUNDS; round++)); do
		order=(ours mosquitto)
		((TURN++ % 2 == 1)) && order=(mosquitto ours)
		for t in "${order[@]}"; do
			wants "$t" || continue
			if [[ $t == ours ]]; then
				stop_ours
				start_ours
				run "$name" ours "$round" "${both[@]}" "${ours[@]/@FRONT_A_PID@/$FRONT_A_PID}"
			else
				# Memory the allocator kept from earlier scenarios would
				# hold the idle connections without any growth of RSS.
				[[ $name != idle ]] || start_mosquitto
				run "$name" mosquitto "$round" "${both[@]}" "${mosq[@]/@MOSQ_PID@/$MOSQ_PID}"
			fi
		done
	done
}

# Warm-up, not recorded: the first connections and the first records of a
# topic pay one-off costs (metadata, leader lookups) on both sides.
for t in ours mosquitto; do
	wants "$t" || continue
	if [[ $t == ours ]]; then addr="$FRONT_A,$FRONT_B"; else addr=$MOSQ; fi
	say "warm-up against $t"
	"${BENCH[@]}" --addr "$addr" --publishers 4 --subscribers 4 --qos 1 --count 4000 --duration 5s --drain 1s >/dev/null 2>&1 ||
		say "  warm-up against $t failed (continuing)"
done

scenario qos0_fan_in --pattern fan-in --publishers 20 --subscribers 10 --qos 0 --count "$N0" \
	-- --addr "$FRONT_A" -- --addr "$MOSQ"
scenario qos1_fan_in --pattern fan-in --publishers 20 --subscribers 10 --qos 1 --count "$N1" \
	-- --addr "$FRONT_A" -- --addr "$MOSQ"
scenario qos1_fan_out --pattern fan-out --publishers 1 --subscribers "$FANOUT_SUBS" --qos 1 --count "$FANOUT_N" \
	--concurrency 100 -- --pub-addr "$FRONT_A" --sub-addr "$FRONT_A,$FRONT_B" -- --addr "$MOSQ"
scenario qos1_latency --pattern p2p --publishers 10 --subscribers 10 --qos 1 --rate 5000 --count "$LAT_N" \
	-- --pub-addr "$FRONT_A" --sub-addr "$FRONT_B" -- --addr "$MOSQ"
scenario idle --scenario idle --connections "$IDLE" --duration "$LONG" --hold "$IDLE_HOLD" --concurrency 200 \
	-- --addr "$FRONT_A" --pid @FRONT_A_PID@ -- --addr "$MOSQ" --pid @MOSQ_PID@
scenario connect_storm --scenario connect-storm --connections "$STORM" --concurrency 100 --duration "$LONG" \
	--mqtt-version 5 --session-expiry 60s -- --addr "$FRONT_A" -- --addr "$MOSQ"
scenario replay --scenario replay --publishers 4 --qos 1 --count "$REPLAY" --mqtt-version 5 \
	--session-expiry 120s --duration "$LONG" -- --addr "$FRONT_A" -- --addr "$MOSQ"

# ---- table and results.json ----
python3 - "$WORK" "$OUT" "$TARGETS" <<'EOF'
import datetime, glob, json, os, platform, statistics, sys

work, out, targets = sys.argv[1], sys.argv[2], sys.argv[3].split()

def load(name, target):
    """Every round's result of one scenario against one target."""
    runs = []
    for path in sorted(glob.glob(os.path.join(work, f"{name}.{target}.*.json"))):
        try:
            with open(path) as f:
                runs.append(json.load(f))
        except (OSError, ValueError):
            pass
    return runs

def value_at(r, path):
    for k in path.split("."):
        if r is None:
            return None
        r = r.get(k)
    return r

def get(runs, path):
    """The median over rounds of a field."""
    vals = [v for v in (value_at(r, path) for r in runs) if v is not None]
    return statistics.median(vals) if vals else None

# name, unit, scenario file, field, baseline target, better
rows = [
    # Delivered: what subscribers get end to end. Acked: publishes
    # acknowledged per second, which a broker may run ahead of delivery by
    # queueing (Mosquitto's queue bound is lifted here, ours is the log).
    ("qos0_fan_in_delivered", "msg/s", "qos0_fan_in", "throughput_out", "mosquitto", "higher"),
    ("qos1_fan_in_delivered", "msg/s", "qos1_fan_in", "throughput_out", "mosquitto", "higher"),
    ("qos1_fan_in_acked", "msg/s", "qos1_fan_in", "throughput_in", "mosquitto", "higher"),
    ("qos1_fan_in_acked_vs_raw_producer", "msg/s", "qos1_fan_in", "throughput_in", "kafka", "higher"),
    ("raw_producer_acks_all", "msg/s", "raw_kafka", "throughput_in", None, "higher"),
    ("qos1_fan_out_deliveries", "msg/s", "qos1_fan_out", "throughput_out", "mosquitto", "higher"),
    ("qos1_latency_p50_5k", "ms", "qos1_latency", "latency.p50_ms", "mosquitto", "lower"),
    ("qos1_latency_p99_5k", "ms", "qos1_latency", "latency.p99_ms", "mosquitto", "lower"),
    ("qos1_latency_p99_9_5k", "ms", "qos1_latency", "latency.p99_9_ms", "mosquitto", "lower"),
    ("connect_storm_persistent", "connects/s", "connect_storm", "connect_rate", "mosquitto", "higher"),
    ("idle_rss_per_connection", "KiB", "idle", "kib_per_conn", "mosquitto", "lower"),
    ("offline_replay", "msg/s", "replay", "replay_rate", "mosquitto", "higher"),
]
entries = []
for name, unit, scen, field, base, better in rows:
    if base is None:
        ours, baseline, bname = get(load(scen, "kafka"), field), None, None
    elif base == "kafka":
        ours, baseline, bname = get(load(scen, "ours"), field), get(load("raw_kafka", "kafka"), field), "kafka-producer"
    else:
        ours, baseline, bname = get(load(scen, "ours"), field), get(load(scen, base), field), "mosquitto"
    # RSS growth can be zero or negative when a broker frees memory from an
    # earlier scenario: no meaningful ratio then.
    ratio = round(ours / baseline, 3) if ours is not None and baseline and baseline > 0 and ours >= 0 else None
    e = {"name": name, "unit": unit, "ours": ours, "baseline": baseline, "baseline_name": bname,
         "ratio": ratio, "better": better}
    # Integrity and errors of the runs behind the figure, so a fast but lossy
    # run is visible.
    for tgt, key in (("ours", "ours_check"), (base, "baseline_check")):
        runs = load(scen, "kafka" if base is None else tgt) if tgt else []
        if base == "kafka" and tgt == "kafka":
            runs = load("raw_kafka", "kafka")
        if runs:
            e[key] = {k: sum(r.get(k, 0) for r in runs)
                      for k in ("lost", "duplicated", "errors", "undelivered_at_cap", "unconfirmed")}
            e[key]["rounds"] = len(runs)
            if runs[0].get("connections"):
                e[key]["connects"] = min(r.get("connects", 0) for r in runs)
                e[key]["connections"] = runs[0]["connections"]
            if "params" not in e:
                e["params"] = {k: runs[0][k] for k in ("mqtt_version", "qos", "payload_bytes", "publishers",
                                                       "subscribers", "connections", "target_rate")
                               if k in runs[0]}
    entries.append(e)

def cpu_model():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()

doc = {
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "load_avg_at_start": open(os.path.join(work, "loadavg")).read().split() if os.path.exists(os.path.join(work, "loadavg")) else None,
    "machine": {"cpus": os.cpu_count(), "cpu": cpu_model(), "kernel": platform.release(),
                "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
    "entries": entries,
}
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")

def fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"

print(f"\n{doc['date']}  {doc['machine']['cpus']} x {doc['machine']['cpu']}  load average at start "
      f"{' '.join(doc['load_avg_at_start'] or ['?'])}\n")
print(f"{'scenario':34} {'unit':11} {'ours':>12} {'baseline':>12} {'vs':15} {'ratio':>7}  note")
for e in entries:
    note = []
    for key in ("ours_check", "baseline_check"):
        c = e.get(key)
        if c and (c["lost"] or c["duplicated"] or c["errors"]):
            note.append(f"{key.split('_')[0]}: lost {c['lost']} dup {c['duplicated']} err {c['errors']}")
        if c and c.get("undelivered_at_cap"):
            note.append(f"{key.split('_')[0]}: {c['undelivered_at_cap']} still arriving at the time cap (backlog, not lost)")
        if c and c.get("unconfirmed"):
            note.append(f"{key.split('_')[0]}: {c['unconfirmed']} in failed client writes (not counted as sent)")
        if c and c.get("connections") and c["connects"] < c["connections"]:
            note.append(f"{key.split('_')[0]}: {c['connects']} of {c['connections']} connected in the time cap")
    if e["ratio"] is not None:
        note.insert(0, f"{e['better']} is better")
    wanted_base = e["baseline_name"] == "mosquitto" and "mosquitto" in targets or e["baseline_name"] == "kafka-producer" and "ours" in targets
    if e["ours"] is None and "ours" in targets:
        note.append("ours: no result (see the .err files in the bench work directory)")
    if e["baseline"] is None and wanted_base:
        note.append("baseline: no result")
    r = "-" if e["ratio"] is None else f"{e['ratio']:.2f}"
    print(f"{e['name']:34} {e['unit']:11} {fmt(e['ours']):>12} {fmt(e['baseline']):>12} "
          f"{e['baseline_name'] or '':15} {r:>7}  {'; '.join(note)}")
print(f"\nwritten to {out}\n")
EOF
