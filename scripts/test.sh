#!/usr/bin/env bash
# The whole check behind `make test` and CI: install missing system packages,
# bring the test stack up if it is not (and take down only what this run
# started, also on failure or Ctrl-C), vet and test every Go module with the
# race detector against the real Kafka, Redis and Jaeger (built from source
# once into the cache, which takes a few minutes on a fresh clone), run the
# short fuzz step, and print one summary line. Exit status is non-zero if
# any step failed.
#
# Environment: FUZZ_TARGETS, FUZZTIME (see scripts/fuzz.sh); GO_TEST_TIMEOUT
# (default 20m, per module); GO_TEST_FLAGS (extra flags for go test, e.g.
# "-run TestX"); the TIDEMARK_* port variables of scripts/stack.sh.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
STACK_DIR=${TIDEMARK_STACK_DIR:-$ROOT/.stack}
export TIDEMARK_STACK_DIR=$STACK_DIR
LOG_DIR="$STACK_DIR/test"
GO_TEST_TIMEOUT=${GO_TEST_TIMEOUT:-20m}
read -r -a GO_TEST_EXTRA <<<"${GO_TEST_FLAGS:-}"

started=()
failures=()
start=$SECONDS

teardown() {
	if ((${#started[@]})); then
		echo "test: stopping the stack this run started (${started[*]})"
		scripts/stack.sh down "${started[@]}" || true
	fi
}
trap teardown EXIT
trap 'echo "test: interrupted" >&2; exit 130' INT TERM

# modules lists the directory of every go.mod under the root, so a module
# works here as soon as it exists (hidden and testdata directories aside).
modules() {
	find . -mindepth 1 \( -name '.*' -o -name testdata \) -prune -o -name go.mod -print |
		sed -e 's|^\./||' -e 's|/\{0,1\}go.mod$||' -e 's|^$|.|' | sort
}

# has_go_files DIR: the module has Go files of its own yet (not counting
# nested modules), so `./...` matches something.
has_go_files() {
	local f
	while IFS= read -r f; do
		return 0
	done < <(find "$1" -mindepth 1 \( -name '.*' -o -name testdata \) -prune -o \
		-type d -exec test -e '{}/go.mod' \; -prune -o -name '*.go' -print -quit)
	return 1
}

fail_step() {
	failures+=("$1")
	echo "test: FAIL $1" >&2
}

echo "test: checking system packages"
scripts/install-deps.sh || fail_step "install-deps"

# The secured and clustered servers (a SASL_SSL Kafka, a Redis Cluster, a
# TLS Redis with an ACL user) run beside the plain ones, on ports and state
# of their own; together they add under a minute to the run.
for c in kafka redis jaeger kafka-sasl redis-cluster redis-tls; do
	if scripts/stack.sh status "$c" >/dev/null 2>&1; then
		scripts/stack.sh status "$c"
	elif scripts/stack.sh up "$c"; then
		started+=("$c")
	else
		fail_step "stack up $c"
	fi
done
# The tests get the stack's addresses; OTEL_* stays unset, so only the tests
# that install an exporter themselves send spans to Jaeger.
eval "$(scripts/stack.sh env kafka redis jaeger kafka-sasl redis-cluster redis-tls | grep -v OTEL_)"
export TIDEMARK_REQUIRE_STACK=1
echo "test: TIDEMARK_KAFKA=$TIDEMARK_KAFKA TIDEMARK_REDIS=$TIDEMARK_REDIS TIDEMARK_JAEGER_QUERY=$TIDEMARK_JAEGER_QUERY TIDEMARK_OTLP_ENDPOINT=$TIDEMARK_OTLP_ENDPOINT TIDEMARK_REQUIRE_STACK=1"
echo "test: TIDEMARK_KAFKA_SASL=$TIDEMARK_KAFKA_SASL TIDEMARK_REDIS_CLUSTER_NODES=$TIDEMARK_REDIS_CLUSTER_NODES TIDEMARK_REDIS_TLS_ADDR=$TIDEMARK_REDIS_TLS_ADDR"

mapfile -t mods < <(modules)
testable=()
for m in "${mods[@]}"; do
	if has_go_files "$m"; then
		testable+=("$m")
	else
		echo "test: skip module $m (no Go files yet)"
	fi
done
echo "test: ${#testable[@]} modules: ${testable[*]}"

for m in "${testable[@]}"; do
	echo "test: go vet ($m)"
	(cd "$m" && go vet ./...) || fail_step "vet $m"
done

rm -rf "$LOG_DIR"
mkdir -p "$LOG_DIR"
counts="$LOG_DIR/counts"
: >"$counts"
untested=0
for m in "${testable[@]}"; do
	echo "test: go test -race ($m)"
	raw="$LOG_DIR/$(tr / _ <<<"$m").json"
	(cd "$m" && go test -race -count=1 -timeout "$GO_TEST_TIMEOUT" "${GO_TEST_EXTRA[@]}" -json ./... 2>&1) |
		python3 scripts/gotest_summary.py --counts "$counts" --raw "$raw"
	rc=("${PIPESTATUS[@]}")
	if ((rc[0] != 0 || rc[1] != 0)); then
		fail_step "test $m (full output: $raw)"
		# go failed before any test could (a broken go.mod or go.work).
		((rc[1] != 0)) || untested=$((untested + 1))
	fi
done

scripts/fuzz.sh || fail_step "fuzz"

read -r passed failed skipped < <(awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}' "$counts")
# Steps that failed without a failing test (vet, stack, fuzz) count too, so
# the summary never says "0 failed" for a red run.
other=$untested
for f in "${failures[@]}"; do
	[[ $f == test\ * ]] || other=$((other + 1))
done
failed=$((failed + other))
# Stop the stack before the summary, so the summary is the last line.
teardown
started=()
if ((${#failures[@]})); then
	echo "test: failed steps:"
	printf '  %s\n' "${failures[@]}"
	echo "test: FAILED after $((SECONDS - start))s"
else
	echo "test: all steps passed in $((SECONDS - start))s"
fi
echo "summary: $passed passed, $failed failed, $skipped skipped"
((${#failures[@]} == 0))
