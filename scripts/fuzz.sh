#!/usr/bin/env bash
# Run Go fuzz targets, each for a fixed time. Used by `make test` (short) and
# `make fuzz` (longer).
#
# usage: scripts/fuzz.sh [dir:FuzzName...]
#   targets also come from FUZZ_TARGETS (space separated `pkg/dir:FuzzName`);
#   FUZZTIME (default 5s) is passed to -fuzztime.
# Exit status: the number of failed targets (capped at 100); 0 when all pass.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FUZZTIME=${FUZZTIME:-5s}
read -r -a targets <<<"${FUZZ_TARGETS:-}"
targets+=("$@")

if ((${#targets[@]} == 0)); then
	echo "fuzz: no targets (set FUZZ_TARGETS)"
	exit 0
fi

failed=0
for t in "${targets[@]}"; do
	dir=${t%%:*}
	name=${t#*:}
	if [[ $dir == "$t" || -z $name || ! -d $ROOT/$dir ]]; then
		echo "fuzz: bad target '$t' (want an existing pkg/dir:FuzzName)" >&2
		failed=$((failed + 1))
		continue
	fi
	echo "fuzz: $dir $name for $FUZZTIME"
	corpus="$ROOT/$dir/testdata/fuzz/$name"
	for attempt in 1 2; do
		before=$(find "$corpus" -type f 2>/dev/null | wc -l)
		# -run '^$' skips the unit tests, which the test step already ran.
		out=$(cd "$ROOT/$dir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" . 2>&1)
		rc=$?
		printf '%s\n' "$out"
		((rc == 0)) && break
		after=$(find "$corpus" -type f 2>/dev/null | wc -l)
		# The fuzzing engine sometimes ends a short run with "context
		# deadline exceeded" when a worker answers late, without any failing
		# input: try such a run once more. A real failure saves its input.
		if ((attempt == 1 && after == before)) && grep -q 'context deadline exceeded' <<<"$out"; then
			echo "fuzz: $dir $name ended with a deadline and no failing input; running it again"
			continue
		fi
		echo "fuzz: FAIL $dir $name (a failing input is saved under $dir/testdata/fuzz/$name)" >&2
		failed=$((failed + 1))
		break
	done
done
echo "fuzz: $((${#targets[@]} - failed)) passed, $failed failed"
exit $((failed > 100 ? 100 : failed))
