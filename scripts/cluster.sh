#!/usr/bin/env bash
# The distributed shape on one machine, behind `make up` / `make down`: the
# test stack's Kafka and Redis, two frontends and one session service, each a
# background process with its log and pid under .stack/run/.
#
# usage: scripts/cluster.sh up|down|status
#
# Environment (defaults in brackets; `make up` passes its variables):
#   FRONTEND_A_MQTT [127.0.0.1:1884] FRONTEND_A_WS [127.0.0.1:8093] FRONTEND_A_HTTP [127.0.0.1:9184]
#   FRONTEND_B_MQTT [127.0.0.1:1885] FRONTEND_B_WS [127.0.0.1:8094] FRONTEND_B_HTTP [127.0.0.1:9185]
#   SESSIOND_HTTP [127.0.0.1:9186] SESSIOND_ADMIN [127.0.0.1:9187] (the admin API; its
#   token file is made once in .stack/run/admin-tokens with a random admin token)
#   LOG_FORMAT [text] LOG_LEVEL [info]
#   the TIDEMARK_* port variables of scripts/stack.sh
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STACK_DIR=${TIDEMARK_STACK_DIR:-$ROOT/.stack}
export TIDEMARK_STACK_DIR=$STACK_DIR
RUN_DIR="$STACK_DIR/run"
BIN="$ROOT/bin"

FRONTEND_A_MQTT=${FRONTEND_A_MQTT:-127.0.0.1:1884}
FRONTEND_A_WS=${FRONTEND_A_WS:-127.0.0.1:8093}
FRONTEND_A_HTTP=${FRONTEND_A_HTTP:-127.0.0.1:9184}
FRONTEND_B_MQTT=${FRONTEND_B_MQTT:-127.0.0.1:1885}
FRONTEND_B_WS=${FRONTEND_B_WS:-127.0.0.1:8094}
FRONTEND_B_HTTP=${FRONTEND_B_HTTP:-127.0.0.1:9185}
SESSIOND_HTTP=${SESSIOND_HTTP:-127.0.0.1:9186}
SESSIOND_ADMIN=${SESSIOND_ADMIN:-127.0.0.1:9187}
LOG_FORMAT=${LOG_FORMAT:-text}
LOG_LEVEL=${LOG_LEVEL:-info}
START_TIMEOUT=60
STOP_TIMEOUT=30

# Processes in start order; down stops them in reverse.
PROCS=(sessiond frontend-a frontend-b)

fail() {
	printf 'cluster: %s\n' "$*" >&2
	exit 1
}

# port_open HOST:PORT: something accepts TCP connections there.
port_open() {
	(exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null
}

alive() {
	local pidfile="$RUN_DIR/$1.pid" pid
	[[ -s $pidfile ]] || return 1
	pid=$(<"$pidfile")
	[[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--node $1"
}

# ready HOST:PORT: GET /readyz there answers 200 (every binary serves it on
# its --http-addr once its listeners, Kafka and Redis are usable).
ready() {
	python3 - "http://$1/readyz" <<'PY' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)
PY
}

# spec NAME sets CMD (the command line) and HTTP (its --http-addr).
spec() {
	local common=(--kafka "$TIDEMARK_KAFKA" --redis "$TIDEMARK_REDIS" --node "$1"
		--log-format "$LOG_FORMAT" --log-level "$LOG_LEVEL")
	# Anonymous access is off by default in the binaries; the local cluster
	# asks for it unless CLUSTER_AUTH says otherwise (e.g. --password-file).
	local auth
	read -r -a auth <<<"${CLUSTER_AUTH:---allow-anonymous}"
	case $1 in
	sessiond)
		CMD=("$BIN/mqtt-sessiond" --http-addr "$SESSIOND_HTTP" --admin-addr "$SESSIOND_ADMIN"
			--admin-tokens "$RUN_DIR/admin-tokens" "${common[@]}")
		HTTP=$SESSIOND_HTTP
		;;
	frontend-a)
		CMD=("$BIN/mqtt-frontend" --mqtt-addr "$FRONTEND_A_MQTT" --ws-addr "$FRONTEND_A_WS"
			--http-addr "$FRONTEND_A_HTTP" "${common[@]}" "${auth[@]}")
		HTTP=$FRONTEND_A_HTTP
		;;
	frontend-b)
		CMD=("$BIN/mqtt-frontend" --mqtt-addr "$FRONTEND_B_MQTT" --ws-addr "$FRONTEND_B_WS"
			--http-addr "$FRONTEND_B_HTTP" "${common[@]}" "${auth[@]}")
		HTTP=$FRONTEND_B_HTTP
		;;
	esac
}

start() {
	local name=$1 pid i log="$RUN_DIR/$1.log"
	spec "$name"
	if alive "$name"; then
		echo "cluster: $name already running (pid $(<"$RUN_DIR/$name.pid"))"
		return 0
	fi
	[[ -x ${CMD[0]} ]] || fail "$name: ${CMD[0]} is missing (run make build)"
	port_open "$HTTP" && fail "$name: $HTTP is taken by another process"
	echo "cluster: starting $name (log: $log)"
	setsid "${CMD[@]}" >"$log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$RUN_DIR/$name.pid"
	for ((i = 0; i < START_TIMEOUT * 10; i++)); do
		if ready "$HTTP"; then
			echo "cluster: $name ready (pid $pid, http://$HTTP/readyz)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$log" >&2
			rm -f "$RUN_DIR/$name.pid"
			fail "$name exited during start (log: $log)"
		fi
		sleep 0.1
	done
	tail -n 20 "$log" >&2
	fail "$name: http://$HTTP/readyz not ready after ${START_TIMEOUT}s (log: $log)"
}

stop() {
	local name=$1 pid i
	if ! alive "$name"; then
		rm -f "$RUN_DIR/$name.pid"
		echo "cluster: $name not running"
		return 0
	fi
	pid=$(<"$RUN_DIR/$name.pid")
	echo "cluster: stopping $name (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "cluster: $name still running after ${STOP_TIMEOUT}s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$RUN_DIR/$name.pid"
}

eval "$(scripts/stack.sh env kafka redis)"
case ${1:-} in
up)
	scripts/stack.sh up kafka redis
	mkdir -p "$RUN_DIR"
	if [[ ! -s $RUN_DIR/admin-tokens ]]; then
		(umask 077 && printf 'local admin %s\n' "$(python3 -c 'import secrets; print(secrets.token_hex(24))')" >"$RUN_DIR/admin-tokens")
	fi
	for p in "${PROCS[@]}"; do start "$p"; done
	cat <<EOF
cluster: up
  frontend-a  mqtt://$FRONTEND_A_MQTT  ws://$FRONTEND_A_WS  http://$FRONTEND_A_HTTP
  frontend-b  mqtt://$FRONTEND_B_MQTT  ws://$FRONTEND_B_WS  http://$FRONTEND_B_HTTP
  sessiond    http://$SESSIOND_HTTP  admin API http://$SESSIOND_ADMIN
  kafka       $TIDEMARK_KAFKA    redis $TIDEMARK_REDIS
  logs        $RUN_DIR/*.log
  mqtt-admin  export TIDEMARK_ADMIN_ADDR=$SESSIOND_ADMIN TIDEMARK_ADMIN_TOKEN=\$(awk '{print \$3}' $RUN_DIR/admin-tokens)
EOF
	;;
down)
	for ((i = ${#PROCS[@]} - 1; i >= 0; i--)); do stop "${PROCS[i]}"; done
	scripts/stack.sh down kafka redis
	;;
status)
	rc=0
	for p in "${PROCS[@]}"; do
		spec "$p"
		if alive "$p" && ready "$HTTP"; then
			echo "$p: ready (pid $(<"$RUN_DIR/$p.pid"), log $RUN_DIR/$p.log)"
		elif alive "$p"; then
			echo "$p: running but not ready (pid $(<"$RUN_DIR/$p.pid"), log $RUN_DIR/$p.log)"
			rc=1
		else
			echo "$p: down"
			rc=1
		fi
	done
	scripts/stack.sh status kafka redis || rc=1
	exit "$rc"
	;;
*)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
	;;
esac
