#!/usr/bin/env bash
# The real test stack on one machine, without containers: Kafka (KRaft, from
# the Maven Central jars) and Redis (from Debian), plus an optional Jaeger.
#
# usage: scripts/stack.sh up|down|status|env [COMPONENT]...
#   components: kafka, redis, jaeger, and the secured and clustered servers
#   kafka-sasl (a second Kafka with only a SASL_SSL listener: PLAIN and
#   SCRAM-SHA-256/512, certificates made for the run), redis-cluster (three
#   nodes, no replicas) and redis-tls (TLS only, an ACL user with a
#   password, the default user off); `secure` is those three.
#   No component means kafka and redis (what most tests need); all adds
#   jaeger.
#
#   up      start what is not already answering; Kafka and Redis get fresh
#           storage at every start, so tests see a clean cluster. A service
#           that already answers on its port is left alone.
#   down    stop what this script started (SIGTERM, then SIGKILL after a bound).
#   status  one line per component; exit 1 if one is not answering.
#   env     print export lines for TIDEMARK_KAFKA / TIDEMARK_REDIS (and, for
#           jaeger, TIDEMARK_JAEGER_QUERY / TIDEMARK_OTLP_ENDPOINT for the
#           tests and OTEL_EXPORTER_OTLP_ENDPOINT for the binaries; for
#           kafka-sasl TIDEMARK_KAFKA_SASL and TIDEMARK_KAFKA_SASL_DIR, for
#           redis-cluster TIDEMARK_REDIS_CLUSTER_NODES, for redis-tls
#           TIDEMARK_REDIS_TLS_ADDR and TIDEMARK_REDIS_TLS_DIR; a _DIR holds
#           the client's files: ca.crt, username, password).
#
# Environment (defaults in brackets):
#   TIDEMARK_STACK_DIR [.stack]       data, logs and pid files
#   TIDEMARK_CACHE_DIR [.cache]       downloaded Kafka jars, built Jaeger
#   TIDEMARK_KAFKA_PORT [19092]       TIDEMARK_KAFKA_CONTROLLER_PORT [kafka port + 1]
#   TIDEMARK_KAFKA_VERSION [4.1.1]    TIDEMARK_KAFKA_HEAP [768m]
#   TIDEMARK_KAFKA_START_TIMEOUT [120] seconds
#   TIDEMARK_KAFKA_KEEP_DATA [0]      1: an `up` after a `down` keeps the storage
#   TIDEMARK_REDIS_PORT [16379]
#   TIDEMARK_KAFKA_SASL_PORT [29092]  (its controller on the next port)
#   TIDEMARK_KAFKA_SASL_HEAP [512m]
#   TIDEMARK_REDIS_CLUSTER_PORT [17001] (three nodes: this port and the next
#                                     two; cluster bus on each port + 10000)
#   TIDEMARK_REDIS_TLS_PORT [16380]
#   TIDEMARK_JAEGER_VERSION [v1.76.0] TIDEMARK_JAEGER_UI_PORT [16686] (query HTTP API)
#   TIDEMARK_JAEGER_QUERY_GRPC_PORT [16685]
#   TIDEMARK_OTLP_GRPC_PORT [4317]    TIDEMARK_OTLP_HTTP_PORT [4318]
#   TIDEMARK_STOP_TIMEOUT [30] seconds before SIGKILL
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SCRIPTS="$ROOT/scripts"
STACK_DIR=${TIDEMARK_STACK_DIR:-$ROOT/.stack}
CACHE_DIR=${TIDEMARK_CACHE_DIR:-$ROOT/.cache}
HOST=127.0.0.1

KAFKA_VERSION=${TIDEMARK_KAFKA_VERSION:-4.1.1}
KAFKA_PORT=${TIDEMARK_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${TIDEMARK_KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_HEAP=${TIDEMARK_KAFKA_HEAP:-768m}
KAFKA_START_TIMEOUT=${TIDEMARK_KAFKA_START_TIMEOUT:-120}
# log4j2 binding for the slf4j 1.7 API that Kafka logs through; must match
# the log4j-core version Kafka depends on.
LOG4J_VERSION=2.24.3
DEPENDENCY_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1

REDIS_PORT=${TIDEMARK_REDIS_PORT:-16379}
REDIS_START_TIMEOUT=20

KAFKA_SASL_PORT=${TIDEMARK_KAFKA_SASL_PORT:-29092}
REDIS_CLUSTER_PORT=${TIDEMARK_REDIS_CLUSTER_PORT:-17001}
REDIS_TLS_PORT=${TIDEMARK_REDIS_TLS_PORT:-16380}

JAEGER_VERSION=${TIDEMARK_JAEGER_VERSION:-v1.76.0}
JAEGER_UI_PORT=${TIDEMARK_JAEGER_UI_PORT:-16686}
JAEGER_QUERY_GRPC_PORT=${TIDEMARK_JAEGER_QUERY_GRPC_PORT:-16685}
OTLP_GRPC_PORT=${TIDEMARK_OTLP_GRPC_PORT:-4317}
OTLP_HTTP_PORT=${TIDEMARK_OTLP_HTTP_PORT:-4318}
JAEGER_START_TIMEOUT=60

STOP_TIMEOUT=${TIDEMARK_STOP_TIMEOUT:-30}

say() { printf '%s\n' "$*"; }
fail() {
	printf 'stack: %s\n' "$*" >&2
	exit 1
}

# log_tail prints the end of a log file to stderr, so a failure shows its cause.
log_tail() {
	if [[ -s $1 ]]; then
		printf -- '--- last lines of %s ---\n' "$1" >&2
		tail -n "${2:-30}" "$1" >&2
		printf -- '---\n' >&2
	fi
}

# alive PIDFILE PATTERN: the pid in PIDFILE runs and its command line contains
# PATTERN (guards against a recycled pid).
alive() {
	local pid
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$2"
}

# port_open PORT: something accepts TCP connections on HOST:PORT.
port_open() {
	(exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

# stop_pid NAME PIDFILE PATTERN: SIGTERM, wait, SIGKILL after STOP_TIMEOUT.
stop_pid() {
	local name=$1 pidfile=$2 pattern=$3 pid i
	if ! alive "$pidfile" "$pattern"; then
		rm -f "$pidfile"
		return 1
	fi
	pid=$(<"$pidfile")
	say "$name: stopping (pid $pid)"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$pidfile"
	say "$name: stopped"
}

# ---------------------------------------------------------------- kafka

KAFKA_HOME="$CACHE_DIR/kafka"
KAFKA_NAME=kafka # what its lines say; kafka_sasl changes it
KAFKA_STATE="$STACK_DIR/kafka"
KAFKA_PIDFILE="$KAFKA_STATE/kafka.pid"
KAFKA_CONFIG="$KAFKA_STATE/server.properties"

kafka_pom() {
	cat <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.tidemark</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
}

# kafka_fetch downloads the Kafka jars into the cache once. The stamp holds a
# hash of the pom, so a new version (or dependency) fetches again.
kafka_fetch() {
	local stamp want log
	stamp="$KAFKA_HOME/stamp"
	want="$KAFKA_VERSION $(kafka_pom | cksum | cut -d' ' -f1)"
	if [[ -s $stamp && $(<"$stamp") == "$want" && -d $KAFKA_HOME/libs ]]; then
		return 0
	fi
	command -v java >/dev/null || fail "$KAFKA_NAME: java not found (install a JDK 17+)"
	command -v mvn >/dev/null || fail "$KAFKA_NAME: mvn not found (install maven)"
	say "$KAFKA_NAME: fetching Kafka $KAFKA_VERSION jars with Maven into $KAFKA_HOME"
	rm -rf "$KAFKA_HOME"
	mkdir -p "$KAFKA_HOME"
	kafka_pom >"$KAFKA_HOME/pom.xml"
	log="$KAFKA_HOME/fetch.log"
	if ! mvn -B -q -f "$KAFKA_HOME/pom.xml" "$DEPENDENCY_PLUGIN:copy-dependencies" \
		-DoutputDirectory="$KAFKA_HOME/libs.tmp" -DincludeScope=runtime >"$log" 2>&1; then
		log_tail "$log"
		fail "$KAFKA_NAME: maven fetch failed (log: $log)"
	fi
	mv "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/libs"
	printf '%s\n' "$want" >"$stamp"
	say "$KAFKA_NAME: fetched $(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars"
}

# kafka_cluster_id makes a cluster id the way Kafka's Uuid.randomUuid does
# (URL-safe base64 of 16 random bytes, never starting with '-'), without
# paying for a JVM start.
kafka_cluster_id() {
	python3 - <<'EOF'
import base64, uuid
for _ in range(100):
    s = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
    if not s.startswith("-"):
        print(s)
        break
EOF
}

kafka_write_config() {
	mkdir -p "$KAFKA_STATE/data" "$KAFKA_STATE/logs"
	cat >"$KAFKA_CONFIG" <<EOF
# Single-node KRaft cluster for tests: written by scripts/stack.sh at each up.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
controller.listener.names=CONTROLLER
$(kafka_listeners)
log.dirs=$KAFKA_STATE/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
# Lean: the machine has few cores and is shared with the tests.
num.network.threads=2
num.io.threads=2
background.threads=4
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.segment.bytes=16777216
log.cleaner.dedupe.buffer.size=33554432
log.retention.check.interval.ms=60000
EOF
	cat >"$KAFKA_STATE/log4j2.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<!-- Kafka logging for the test stack: one rolling file, quiet request loggers. -->
<Configuration status="warn">
  <Appenders>
    <RollingFile name="server" fileName="$KAFKA_STATE/logs/server.log"
                 filePattern="$KAFKA_STATE/logs/server.log.%i">
      <PatternLayout pattern="[%d] %p %m (%c)%n"/>
      <Policies><SizeBasedTriggeringPolicy size="20 MB"/></Policies>
      <DefaultRolloverStrategy max="3"/>
    </RollingFile>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="server"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="state.change.logger" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
  </Loggers>
</Configuration>
EOF
}

# kafka_listeners prints the listener settings: plaintext, or for
# KAFKA_MODE=sasl one SASL_SSL listener whose PLAIN users are in the JAAS
# line and whose SCRAM users are added at format time.
kafka_listeners() {
	if [[ ${KAFKA_MODE:-plain} != sasl ]]; then
		cat <<EOF
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
EOF
		return
	fi
	local pw admin
	pw=$(<"$KAFKA_STATE/client/password")
	admin=$(<"$KAFKA_STATE/tls/admin-password")
	cat <<EOF
listeners=SASL_SSL://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_SSL://$HOST:$KAFKA_PORT
inter.broker.listener.name=SASL_SSL
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$admin" user_admin="$admin" user_tidemark="$pw";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_STATE/tls/server.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_STATE/tls/ca.crt
EOF
}

# kafka_ready: a real client got metadata (plaintext), or, for the SASL_SSL
# broker, which that probe cannot speak to, the broker logged that it
# started and its port answers.
kafka_ready() {
	if [[ ${KAFKA_MODE:-plain} == sasl ]]; then
		port_open "$KAFKA_PORT" && grep -qs 'Kafka Server started' "$KAFKA_STATE/logs/server.log" &&
			echo "SASL_SSL"
		return
	fi
	python3 "$SCRIPTS/kafka_probe.py" "$HOST:$KAFKA_PORT" 2 2>/dev/null
}

# kafka_jvm fills KAFKA_JVM with the java command line up to the main class.
kafka_jvm() {
	KAFKA_JVM=(java "-Xmx$KAFKA_HEAP" -XX:+ExitOnOutOfMemoryError -XX:-UsePerfData
		-Djava.awt.headless=true
		"-Dlog4j2.configurationFile=$KAFKA_STATE/log4j2.xml"
		"-Dkafka.logs.dir=$KAFKA_STATE/logs"
		-cp "$KAFKA_HOME/libs/*")
}

kafka_up() {
	local info i pid start
	if info=$(kafka_ready); then
		say "$KAFKA_NAME: already answering on $HOST:$KAFKA_PORT ($info), leaving it"
		return 0
	fi
	if alive "$KAFKA_PIDFILE" kafka.Kafka; then
		say "$KAFKA_NAME: pid $(<"$KAFKA_PIDFILE") runs but does not answer; restarting it"
		stop_pid "$KAFKA_NAME" "$KAFKA_PIDFILE" kafka.Kafka || true
	fi
	for i in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
		port_open "$i" && fail "$KAFKA_NAME: port $HOST:$i is taken by another process (set TIDEMARK_KAFKA_PORT or TIDEMARK_KAFKA_CONTROLLER_PORT)"
	done
	command -v python3 >/dev/null || fail "$KAFKA_NAME: python3 not found (needed for the readiness probe)"
	kafka_fetch
	start=$SECONDS
	if [[ ${TIDEMARK_KAFKA_KEEP_DATA:-0} == 1 && -f $KAFKA_STATE/data/meta.properties && -f $KAFKA_CONFIG ]]; then
		# A restart of the same broker (outage tests): topics, records and
		# group offsets stay.
		say "$KAFKA_NAME: keeping the storage in $KAFKA_STATE/data (TIDEMARK_KAFKA_KEEP_DATA=1)"
		kafka_jvm
	else
		rm -rf "$KAFKA_STATE"
		local scram=()
		if [[ ${KAFKA_MODE:-plain} == sasl ]]; then
			kafka_sasl_secrets
			scram=(--add-scram "SCRAM-SHA-256=[name=tidemark,password=$(<"$KAFKA_STATE/client/password")]"
				--add-scram "SCRAM-SHA-512=[name=tidemark,password=$(<"$KAFKA_STATE/client/password")]")
		fi
		kafka_write_config
		say "$KAFKA_NAME: formatting fresh KRaft storage in $KAFKA_STATE/data"
		kafka_jvm
		if ! "${KAFKA_JVM[@]}" kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$KAFKA_CONFIG" "${scram[@]}" \
			>"$KAFKA_STATE/logs/format.log" 2>&1; then
			log_tail "$KAFKA_STATE/logs/format.log"
			fail "$KAFKA_NAME: storage format failed (log: $KAFKA_STATE/logs/format.log)"
		fi
	fi
	say "$KAFKA_NAME: starting on $HOST:$KAFKA_PORT (controller $KAFKA_CONTROLLER_PORT, heap $KAFKA_HEAP)"
	# setsid: a new session, so a Ctrl-C in the terminal that ran `up` does
	# not reach the broker; `down` stops it.
	setsid "${KAFKA_JVM[@]}" kafka.Kafka "$KAFKA_CONFIG" >"$KAFKA_STATE/logs/stdout.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$KAFKA_PIDFILE"
	for ((i = 0; i < KAFKA_START_TIMEOUT * 4; i++)); do
		if info=$(kafka_ready); then
			say "$KAFKA_NAME: ready on $HOST:$KAFKA_PORT in $((SECONDS - start))s (pid $pid, $info)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			log_tail "$KAFKA_STATE/logs/stdout.log"
			log_tail "$KAFKA_STATE/logs/server.log"
			rm -f "$KAFKA_PIDFILE"
			fail "$KAFKA_NAME: broker exited during start (logs: $KAFKA_STATE/logs)"
		fi
		sleep 0.25
	done
	log_tail "$KAFKA_STATE/logs/server.log"
	stop_pid "$KAFKA_NAME" "$KAFKA_PIDFILE" kafka.Kafka || true
	fail "$KAFKA_NAME: not ready after ${KAFKA_START_TIMEOUT}s (logs: $KAFKA_STATE/logs)"
}

kafka_down() {
	if ! stop_pid "$KAFKA_NAME" "$KAFKA_PIDFILE" kafka.Kafka; then
		if kafka_ready >/dev/null; then
			say "$KAFKA_NAME: answering on $HOST:$KAFKA_PORT but not started by this script; leaving it"
		else
			say "$KAFKA_NAME: not running"
		fi
	fi
}

kafka_status() {
	local info
	if info=$(kafka_ready); then
		if alive "$KAFKA_PIDFILE" kafka.Kafka; then
			say "$KAFKA_NAME: up on $HOST:$KAFKA_PORT (pid $(<"$KAFKA_PIDFILE"), $info, logs $KAFKA_STATE/logs)"
		else
			say "$KAFKA_NAME: up on $HOST:$KAFKA_PORT (not started by this script, $info)"
		fi
		return 0
	fi
	if alive "$KAFKA_PIDFILE" kafka.Kafka; then
		say "$KAFKA_NAME: pid $(<"$KAFKA_PIDFILE") runs but $HOST:$KAFKA_PORT does not answer (logs $KAFKA_STATE/logs)"
	else
		say "$KAFKA_NAME: down"
	fi
	return 1
}

# ---------------------------------------------------------------- secured and clustered servers

# make_certs DIR: a CA made for this run and a server certificate it signs
# for $HOST and localhost, as PEM files in DIR (ca.crt, server.crt,
# server.key in PKCS#8, and server.pem: key and certificate together, as
# Kafka's PEM key store takes them).
make_certs() {
	local dir=$1
	command -v openssl >/dev/null || "$SCRIPTS/install-deps.sh" openssl
	mkdir -p "$dir"
	(
		cd "$dir" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
			-subj "/CN=tidemark test ca" -keyout ca.key -out ca.crt 2>/dev/null &&
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
				-subj "/CN=$HOST" -keyout server.key -out server.csr 2>/dev/null &&
			printf 'subjectAltName=IP:%s,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' "$HOST" >server.ext &&
			openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 7 \
				-extfile server.ext -out server.crt 2>/dev/null &&
			cat server.key server.crt >server.pem
	) || fail "could not make certificates in $dir"
	chmod 600 "$dir"/*.key "$dir/server.pem"
}

# random_secret prints a password made for this run.
random_secret() { od -An -N12 -tx1 /dev/urandom | tr -d ' \n'; }

# client_dir DIR CA USER PASSWORD: the files a client of a secured server
# reads (what the tests get through TIDEMARK_*_DIR).
client_dir() {
	mkdir -p "$1"
	cp "$2" "$1/ca.crt"
	printf '%s\n' "$3" >"$1/username"
	printf '%s\n' "$4" >"$1/password"
	chmod 600 "$1/password"
}

KAFKA_SASL_STATE="$STACK_DIR/kafka-sasl"

# kafka_sasl runs a kafka_* function for the SASL_SSL broker: the same
# code with this broker's ports and state (bash's dynamic scope).
kafka_sasl() {
	local KAFKA_NAME=kafka-sasl KAFKA_MODE=sasl KAFKA_STATE=$KAFKA_SASL_STATE KAFKA_PORT=$KAFKA_SASL_PORT
	local KAFKA_CONTROLLER_PORT=$((KAFKA_SASL_PORT + 1)) KAFKA_HEAP=${TIDEMARK_KAFKA_SASL_HEAP:-512m}
	local KAFKA_PIDFILE="$KAFKA_SASL_STATE/kafka.pid" KAFKA_CONFIG="$KAFKA_SASL_STATE/server.properties"
	local TIDEMARK_KAFKA_KEEP_DATA=0
	"$@"
}

# kafka_sasl_secrets makes the broker's certificates and the passwords.
kafka_sasl_secrets() {
	make_certs "$KAFKA_STATE/tls"
	random_secret >"$KAFKA_STATE/tls/admin-password"
	client_dir "$KAFKA_STATE/client" "$KAFKA_STATE/tls/ca.crt" tidemark "$(random_secret)"
}

kafka-sasl_up() { kafka_sasl kafka_up; }
kafka-sasl_down() { kafka_sasl kafka_down; }
kafka-sasl_status() { kafka_sasl kafka_status; }

REDIS_CLUSTER_STATE="$STACK_DIR/redis-cluster"

redis_cluster_ports() { echo "$REDIS_CLUSTER_PORT" $((REDIS_CLUSTER_PORT + 1)) $((REDIS_CLUSTER_PORT + 2)); }

redis-cluster_ready() {
	local p
	for p in $(redis_cluster_ports); do
		redis-cli -h "$HOST" -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
	done
}

redis-cluster_up() {
	local p i start nodes=()
	command -v redis-server >/dev/null || "$SCRIPTS/install-deps.sh" redis-server
	if redis-cluster_ready; then
		say "redis-cluster: already answering on $HOST:$REDIS_CLUSTER_PORT (+2), leaving it"
		return 0
	fi
	for p in $(redis_cluster_ports); do
		stop_pid "redis-cluster $p" "$REDIS_CLUSTER_STATE/$p/redis.pid" redis-server >/dev/null || true
		port_open "$p" && fail "redis-cluster: port $HOST:$p is taken (set TIDEMARK_REDIS_CLUSTER_PORT)"
		port_open $((p + 10000)) && fail "redis-cluster: bus port $HOST:$((p + 10000)) is taken (set TIDEMARK_REDIS_CLUSTER_PORT)"
	done
	start=$SECONDS
	rm -rf "$REDIS_CLUSTER_STATE"
	for p in $(redis_cluster_ports); do
		mkdir -p "$REDIS_CLUSTER_STATE/$p"
		redis-server --bind "$HOST" --port "$p" --dir "$REDIS_CLUSTER_STATE/$p" \
			--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000 \
			--appendonly no --save '' --daemonize yes \
			--pidfile "$REDIS_CLUSTER_STATE/$p/redis.pid" --logfile "$REDIS_CLUSTER_STATE/$p/redis.log" ||
			fail "redis-cluster: node $p failed to start (log: $REDIS_CLUSTER_STATE/$p/redis.log)"
		nodes+=("$HOST:$p")
	done
	for p in $(redis_cluster_ports); do
		for ((i = 0; i < REDIS_START_TIMEOUT * 10; i++)); do
			[[ $(redis-cli -h "$HOST" -p "$p" ping 2>/dev/null) == PONG ]] && break
			sleep 0.1
		done
	done
	say "redis-cluster: creating a cluster of ${nodes[*]}"
	if ! redis-cli --cluster create "${nodes[@]}" --cluster-replicas 0 --cluster-yes \
		>"$REDIS_CLUSTER_STATE/create.log" 2>&1; then
		log_tail "$REDIS_CLUSTER_STATE/create.log"
		fail "redis-cluster: cluster create failed (log: $REDIS_CLUSTER_STATE/create.log)"
	fi
	for ((i = 0; i < REDIS_START_TIMEOUT * 10; i++)); do
		if redis-cluster_ready; then
			say "redis-cluster: ready on ${nodes[*]} in $((SECONDS - start))s"
			return 0
		fi
		sleep 0.1
	done
	fail "redis-cluster: cluster_state not ok after ${REDIS_START_TIMEOUT}s"
}

redis-cluster_down() {
	local p stopped=0
	for p in $(redis_cluster_ports); do
		stop_pid "redis-cluster $p" "$REDIS_CLUSTER_STATE/$p/redis.pid" redis-server && stopped=1
	done
	((stopped)) || say "redis-cluster: not running"
}

redis-cluster_status() {
	if redis-cluster_ready; then
		say "redis-cluster: up on $HOST:$REDIS_CLUSTER_PORT (+2, state ok)"
		return 0
	fi
	say "redis-cluster: down"
	return 1
}

REDIS_TLS_STATE="$STACK_DIR/redis-tls"
REDIS_TLS_PIDFILE="$REDIS_TLS_STATE/redis.pid"

redis-tls_ready() {
	[[ -s $REDIS_TLS_STATE/client/password ]] || return 1
	[[ $(REDISCLI_AUTH=$(<"$REDIS_TLS_STATE/client/password") redis-cli --tls --cacert "$REDIS_TLS_STATE/client/ca.crt" \
		-h "$HOST" -p "$REDIS_TLS_PORT" --user tidemark ping 2>/dev/null) == PONG ]]
}

redis-tls_up() {
	local i start pw
	command -v redis-server >/dev/null || "$SCRIPTS/install-deps.sh" redis-server
	if redis-tls_ready; then
		say "redis-tls: already answering on $HOST:$REDIS_TLS_PORT, leaving it"
		return 0
	fi
	stop_pid redis-tls "$REDIS_TLS_PIDFILE" redis-server >/dev/null || true
	port_open "$REDIS_TLS_PORT" && fail "redis-tls: port $HOST:$REDIS_TLS_PORT is taken (set TIDEMARK_REDIS_TLS_PORT)"
	start=$SECONDS
	rm -rf "$REDIS_TLS_STATE"
	mkdir -p "$REDIS_TLS_STATE/data"
	make_certs "$REDIS_TLS_STATE/tls"
	pw=$(random_secret)
	client_dir "$REDIS_TLS_STATE/client" "$REDIS_TLS_STATE/tls/ca.crt" tidemark "$pw"
	# The password goes in a config file, not on the command line, where
	# the process list would show it.
	cat >"$REDIS_TLS_STATE/redis.conf" <<EOF
bind $HOST
port 0
tls-port $REDIS_TLS_PORT
tls-cert-file $REDIS_TLS_STATE/tls/server.crt
tls-key-file $REDIS_TLS_STATE/tls/server.key
tls-ca-cert-file $REDIS_TLS_STATE/tls/ca.crt
tls-auth-clients no
user default off
user tidemark on >$pw ~* &* +@all
dir $REDIS_TLS_STATE/data
appendonly no
save ""
daemonize yes
pidfile $REDIS_TLS_PIDFILE
logfile $REDIS_TLS_STATE/redis.log
EOF
	chmod 600 "$REDIS_TLS_STATE/redis.conf"
	say "redis-tls: starting on $HOST:$REDIS_TLS_PORT (TLS only, user tidemark)"
	redis-server "$REDIS_TLS_STATE/redis.conf" || fail "redis-tls: redis-server failed to start (log: $REDIS_TLS_STATE/redis.log)"
	for ((i = 0; i < REDIS_START_TIMEOUT * 10; i++)); do
		if redis-tls_ready; then
			say "redis-tls: ready on $HOST:$REDIS_TLS_PORT in $((SECONDS - start))s"
			return 0
		fi
		sleep 0.1
	done
	log_tail "$REDIS_TLS_STATE/redis.log"
	fail "redis-tls: no PONG after ${REDIS_START_TIMEOUT}s (log: $REDIS_TLS_STATE/redis.log)"
}

redis-tls_down() { stop_pid redis-tls "$REDIS_TLS_PIDFILE" redis-server || say "redis-tls: not running"; }

redis-tls_status() {
	if redis-tls_ready; then
		say "redis-tls: up on $HOST:$REDIS_TLS_PORT (TLS, user tidemark)"
		return 0
	fi
	say "redis-tls: down"
	return 1
}

# ---------------------------------------------------------------- redis

REDIS_STATE="$STACK_DIR/redis"
REDIS_PIDFILE="$REDIS_STATE/redis.pid"

redis_ready() {
	[[ $(redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
}

redis_up() {
	local i start
	if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
		"$SCRIPTS/install-deps.sh" redis-server
	fi
	if redis_ready; then
		say "redis: already answering on $HOST:$REDIS_PORT, leaving it"
		return 0
	fi
	port_open "$REDIS_PORT" && fail "redis: port $HOST:$REDIS_PORT is taken by something that is not Redis (set TIDEMARK_REDIS_PORT)"
	stop_pid redis "$REDIS_PIDFILE" redis-server >/dev/null || true
	start=$SECONDS
	rm -rf "$REDIS_STATE"
	mkdir -p "$REDIS_STATE/data"
	say "redis: starting on $HOST:$REDIS_PORT (append-only file in $REDIS_STATE/data)"
	if ! redis-server --bind "$HOST" --port "$REDIS_PORT" --dir "$REDIS_STATE/data" \
		--appendonly yes --save '' --daemonize yes \
		--pidfile "$REDIS_PIDFILE" --logfile "$REDIS_STATE/redis.log" >"$REDIS_STATE/start.log" 2>&1; then
		log_tail "$REDIS_STATE/start.log"
		fail "redis: redis-server failed to start (log: $REDIS_STATE/redis.log)"
	fi
	for ((i = 0; i < REDIS_START_TIMEOUT * 10; i++)); do
		if redis_ready; then
			say "redis: ready on $HOST:$REDIS_PORT in $((SECONDS - start))s (pid $(cat "$REDIS_PIDFILE" 2>/dev/null || echo '?'))"
			return 0
		fi
		sleep 0.1
	done
	log_tail "$REDIS_STATE/redis.log"
	fail "redis: no PONG after ${REDIS_START_TIMEOUT}s (log: $REDIS_STATE/redis.log)"
}

redis_down() {
	if ! stop_pid redis "$REDIS_PIDFILE" redis-server; then
		if command -v redis-cli >/dev/null && redis_ready; then
			say "redis: answering on $HOST:$REDIS_PORT but not started by this script; leaving it"
		else
			say "redis: not running"
		fi
	fi
}

redis_status() {
	if command -v redis-cli >/dev/null && redis_ready; then
		if alive "$REDIS_PIDFILE" redis-server; then
			say "redis: up on $HOST:$REDIS_PORT (pid $(<"$REDIS_PIDFILE"), log $REDIS_STATE/redis.log)"
		else
			say "redis: up on $HOST:$REDIS_PORT (not started by this script)"
		fi
		return 0
	fi
	say "redis: down"
	return 1
}

# ---------------------------------------------------------------- jaeger

JAEGER_STATE="$STACK_DIR/jaeger"
JAEGER_PIDFILE="$JAEGER_STATE/jaeger.pid"
JAEGER_BIN="$CACHE_DIR/jaeger-$JAEGER_VERSION/jaeger"

jaeger_ready() {
	port_open "$JAEGER_UI_PORT" && port_open "$OTLP_HTTP_PORT"
}

# jaeger_build compiles the Jaeger v2 all-in-one binary once (there is no
# container runtime to pull an image from). Jaeger's go.mod has a replace
# directive, which `go install pkg@version` refuses, so it builds inside the
# downloaded module with the versions its own go.mod and go.sum pin.
jaeger_build() {
	local log dir pid start
	[[ -x $JAEGER_BIN ]] && return 0
	command -v go >/dev/null || fail "jaeger: go not found"
	mkdir -p "$(dirname "$JAEGER_BIN")"
	log="$(dirname "$JAEGER_BIN")/build.log"
	say "jaeger: building jaeger $JAEGER_VERSION from source (several minutes, once; log: $log)"
	if ! dir=$(GOWORK=off GOFLAGS=-mod=mod go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_VERSION" 2>"$log" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' 2>>"$log"); then
		log_tail "$log"
		fail "jaeger: download failed (log: $log)"
	fi
	(cd "$dir" && GOWORK=off GOFLAGS=-mod=readonly go build -o "$JAEGER_BIN.tmp" ./cmd/jaeger) >>"$log" 2>&1 &
	pid=$!
	start=$SECONDS
	# A cold build takes minutes: say so now and then, so it does not look hung.
	while kill -0 "$pid" 2>/dev/null; do
		sleep 1
		if (((SECONDS - start) % 30 == 0)); then
			say "jaeger: still building ($((SECONDS - start))s)"
		fi
	done
	if ! wait "$pid"; then
		log_tail "$log"
		fail "jaeger: build failed (log: $log)"
	fi
	mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
	say "jaeger: built in $((SECONDS - start))s"
}

jaeger_write_config() {
	mkdir -p "$JAEGER_STATE"
	cat >"$JAEGER_STATE/config.yaml" <<EOF
# Jaeger v2 all-in-one for the test stack: OTLP in, traces kept in memory.
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
extensions:
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: $HOST:$JAEGER_UI_PORT
    grpc:
      endpoint: $HOST:$JAEGER_QUERY_GRPC_PORT
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 100000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: $HOST:$OTLP_GRPC_PORT
      http:
        endpoint: $HOST:$OTLP_HTTP_PORT
processors:
  batch:
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
EOF
}

jaeger_up() {
	local i pid start
	if jaeger_ready; then
		say "jaeger: already answering on $HOST:$JAEGER_UI_PORT, leaving it"
		return 0
	fi
	jaeger_build
	start=$SECONDS
	stop_pid jaeger "$JAEGER_PIDFILE" "$JAEGER_BIN" >/dev/null || true
	jaeger_write_config
	say "jaeger: starting (query API http://$HOST:$JAEGER_UI_PORT/api, OTLP grpc $OTLP_GRPC_PORT, http $OTLP_HTTP_PORT)"
	setsid "$JAEGER_BIN" --config "$JAEGER_STATE/config.yaml" >"$JAEGER_STATE/jaeger.log" 2>&1 </dev/null &
	pid=$!
	printf '%s\n' "$pid" >"$JAEGER_PIDFILE"
	for ((i = 0; i < JAEGER_START_TIMEOUT * 10; i++)); do
		if jaeger_ready; then
			say "jaeger: ready in $((SECONDS - start))s (pid $pid)"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			log_tail "$JAEGER_STATE/jaeger.log"
			rm -f "$JAEGER_PIDFILE"
			fail "jaeger: exited during start (log: $JAEGER_STATE/jaeger.log)"
		fi
		sleep 0.1
	done
	log_tail "$JAEGER_STATE/jaeger.log"
	stop_pid jaeger "$JAEGER_PIDFILE" "$JAEGER_BIN" || true
	fail "jaeger: not ready after ${JAEGER_START_TIMEOUT}s (log: $JAEGER_STATE/jaeger.log)"
}

jaeger_down() {
	stop_pid jaeger "$JAEGER_PIDFILE" "$JAEGER_BIN" || say "jaeger: not running"
}

jaeger_status() {
	if jaeger_ready; then
		say "jaeger: up (query API http://$HOST:$JAEGER_UI_PORT/api, OTLP http $HOST:$OTLP_HTTP_PORT)"
		return 0
	fi
	say "jaeger: down"
	return 1
}

# ---------------------------------------------------------------- main

env_lines() {
	local c
	for c in "$@"; do
		case $c in
		kafka) say "export TIDEMARK_KAFKA=$HOST:$KAFKA_PORT" ;;
		redis) say "export TIDEMARK_REDIS=$HOST:$REDIS_PORT" ;;
		jaeger)
			say "export TIDEMARK_JAEGER_QUERY=http://$HOST:$JAEGER_UI_PORT"
			say "export TIDEMARK_OTLP_ENDPOINT=http://$HOST:$OTLP_HTTP_PORT"
			say "export OTEL_EXPORTER_OTLP_ENDPOINT=http://$HOST:$OTLP_HTTP_PORT"
			;;
		kafka-sasl)
			say "export TIDEMARK_KAFKA_SASL=$HOST:$KAFKA_SASL_PORT"
			say "export TIDEMARK_KAFKA_SASL_DIR=$KAFKA_SASL_STATE/client"
			;;
		redis-cluster)
			say "export TIDEMARK_REDIS_CLUSTER_NODES=$HOST:$REDIS_CLUSTER_PORT,$HOST:$((REDIS_CLUSTER_PORT + 1)),$HOST:$((REDIS_CLUSTER_PORT + 2))"
			;;
		redis-tls)
			say "export TIDEMARK_REDIS_TLS_ADDR=$HOST:$REDIS_TLS_PORT"
			say "export TIDEMARK_REDIS_TLS_DIR=$REDIS_TLS_STATE/client"
			;;
		esac
	done
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
	exit 2
}

main() {
	local cmd=${1:-} c rc=0
	[[ -n $cmd ]] || usage
	shift
	local components=()
	for c in "${@:-default}"; do
		case $c in
		default) components+=(kafka redis) ;;
		all) components+=(kafka redis jaeger) ;;
		secure) components+=(kafka-sasl redis-cluster redis-tls) ;;
		kafka | redis | jaeger | kafka-sasl | redis-cluster | redis-tls) components+=("$c") ;;
		*) usage ;;
		esac
	done
	case $cmd in
	up)
		mkdir -p "$STACK_DIR"
		for c in "${components[@]}"; do "${c}_up"; done
		;;
	down)
		# Reverse order of up.
		for ((c = ${#components[@]} - 1; c >= 0; c--)); do "${components[c]}_down"; done
		;;
	status)
		for c in "${components[@]}"; do "${c}_status" || rc=1; done
		return "$rc"
		;;
	env) env_lines "${components[@]}" ;;
	*) usage ;;
	esac
}

main "$@"
