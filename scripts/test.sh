#!/usr/bin/env bash
# `make test`: two pytest passes, one after the other.
# 1. every test but the browser tests, on pytest-xdist workers (one per core by default, whole files each, one
#    torch/BLAS thread each: tests/conftest.py);
# 2. the browser tests (tests/browser: a real app server and Chromium each, waits on the page) alone, one after
#    another. Beside the first pass, even at a lower priority, some of their waits timed out on 2 cores.
# Exit status: 0 when both passed; else the first failing pass's (pytest's 5 when a pass ran no test, accepted only
# when the other one ran tests and passed, e.g. with -k selecting tests of one kind). Arguments go to both passes.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
MARKS="not slow and not gpu"

"$PY" -m pytest -q -n "${TEST_WORKERS:-2}" --dist loadfile -m "$MARKS and not browser" "$@"
rest=$?
echo
echo "=============================== browser tests (tests/browser) ==============================="
"$PY" -m pytest -q -m "$MARKS and browser" "$@"
browser=$?

if [ "$rest" -eq 0 ] && [ "$browser" -eq 0 ]; then exit 0; fi
if [ "$rest" -eq 5 ] && [ "$browser" -eq 0 ]; then exit 0; fi
if [ "$browser" -eq 5 ] && [ "$rest" -eq 0 ]; then exit 0; fi
if [ "$rest" -ne 0 ]; then exit "$rest"; fi
exit "$browser"
