#!/usr/bin/env python3
"""Condense `go test -json` into what a person reads after a CI run.

Passing tests stay quiet; every package gets one line with its counts;
failing tests show their whole output; skipped tests show why they skipped
(an integration test that skips under `make test` is worth a look). Lines
that are not JSON (errors from the go command itself) pass through.

usage: go test -json ./... 2>&1 | gotest_summary.py [--counts FILE] [--raw FILE]
  --counts FILE  append "passed failed skipped" for this run to FILE
  --raw FILE     also write the untouched stream to FILE
Exit status: 0, or 1 when a test or package failed.
"""

import argparse
import json
import sys
from collections import defaultdict


MAX_LINES = 300  # per unfinished test; the --raw file keeps everything


def write_capped(out, test, lines):
    lines = [l for l in lines if not l.startswith("=== ")]
    if len(lines) > MAX_LINES:
        cut = len(lines) - MAX_LINES
        lines = lines[:MAX_LINES] + [f"... {cut} more lines of {test} in the raw log\n"]
    out.write(f"--- FAIL: {test} (did not finish)\n")
    out.write("".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--counts")
    ap.add_argument("--raw")
    args = ap.parse_args()
    raw = open(args.raw, "w") if args.raw else None

    output = defaultdict(list)  # (package, test or "") -> lines
    counts = defaultdict(lambda: defaultdict(int))  # package -> action -> n
    total = defaultdict(int)
    failed_pkgs = 0  # failed packages with no failed test of their own
    out = sys.stdout

    for line in sys.stdin:
        if raw:
            raw.write(line)
        if not line.startswith("{"):
            out.write(line)
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            out.write(line)
            continue
        action = ev.get("Action")
        pkg = ev.get("Package") or ev.get("ImportPath") or ""
        test = ev.get("Test") or ""
        if action == "build-output":
            out.write(ev.get("Output", ""))
        elif action == "output":
            output[(pkg, test)].append(ev.get("Output", ""))
        elif action in ("pass", "fail", "skip") and test:
            counts[pkg][action] += 1
            total[action] += 1
            lines = output.pop((pkg, test), [])
            if action == "fail":
                out.write("".join(l for l in lines if not l.startswith("=== ")))
            elif action == "skip":
                out.write("".join(l for l in lines if not l.startswith("=== ")))
        elif action in ("pass", "fail", "skip") and pkg:
            lines = output.pop((pkg, ""), [])
            # Tests still open when their package ends were cut short (a
            # timeout panic, os.Exit): they count as failed and show their
            # output, whose tail holds the panic and goroutine dump.
            for key in [k for k in output if k[0] == pkg]:
                counts[pkg]["fail"] += 1
                total["fail"] += 1
                write_capped(out, key[1], output.pop(key))
            c = counts.pop(pkg, {})
            elapsed = ev.get("Elapsed")
            took = f"{elapsed:.1f}s" if elapsed is not None else ""
            if action == "fail":
                if not c.get("fail"):
                    failed_pkgs += 1
                # Panics, timeouts and TestMain failures land here.
                # Drop go's own "=== RUN" and closing "FAIL pkg" lines: the
                # line below replaces the latter.
                out.write("".join(l for l in lines if l != "FAIL\n" and not l.startswith(("=== ", "FAIL\t"))))
                if ev.get("FailedBuild"):
                    out.write(f"FAIL\t{pkg} [build failed]\n")
                else:
                    out.write(f"FAIL\t{pkg}\t{took}\t({c.get('pass', 0)} passed, {c.get('fail', 0)} failed, {c.get('skip', 0)} skipped)\n")
            elif not c and action == "skip":
                out.write(f"?   \t{pkg}\t[no test files]\n")
            else:
                out.write(f"ok  \t{pkg}\t{took}\t({c.get('pass', 0)} passed, {c.get('skip', 0)} skipped)\n")
        out.flush()

    if raw:
        raw.close()
    # Output of a stream cut off before its packages ended.
    for (pkg, test), lines in output.items():
        if test:
            total["fail"] += 1
            write_capped(out, f"{pkg}.{test}", lines)
        else:
            out.write("".join(lines))
    # A failed package whose tests all passed (a panic after the tests, a
    # build failure) still counts as one failure.
    failed = total["fail"] + failed_pkgs
    if args.counts:
        with open(args.counts, "a") as f:
            f.write(f"{total['pass']} {failed} {total['skip']}\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
