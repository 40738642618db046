#!/usr/bin/env bash
# `make test`: two pytest passes at once on a 2-core machine.
# - the browser tests (tests/browser: a real app server and Chromium each, waits on the page) one after another,
#   at normal priority: beside CPU-bound model tests at equal priority their waits timed out;
# - the other tests on pytest-xdist workers (whole files each, one thread each) at a lower priority (nice 10),
#   on what the browser tests leave of the CPU.
# The second pass prints as it goes, the browser pass's log follows when both are done. Exit status: 0 when both
# passed; else the first failing pass's (pytest's 5 when a pass ran no test, accepted only when the other one
# ran tests and passed, e.g. with -k selecting tests of one kind). Arguments go to both passes.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MARKS="not slow and not gpu"
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

"$PY" -m pytest -q -m "$MARKS and browser" "$@" > "$logs/browser.log" 2>&1 &
browser_pid=$!
nice -n 10 "$PY" -m pytest -q -n "${TEST_WORKERS:-2}" --dist loadfile -m "$MARKS and not browser" "$@"
rest=$?
wait "$browser_pid"
browser=$?
echo
echo "=============================== browser tests (tests/browser), run alongside ==============================="
cat "$logs/browser.log"

if [ "$rest" -eq 0 ] && [ "$browser" -eq 0 ]; then exit 0; fi
if [ "$rest" -eq 5 ] && [ "$browser" -eq 0 ]; then exit 0; fi
if [ "$browser" -eq 5 ] && [ "$rest" -eq 0 ]; then exit 0; fi
if [ "$rest" -ne 0 ]; then exit "$rest"; fi
exit "$browser"
