#!/usr/bin/env bash
# The whole test suite from a clean clone: installs what is missing, fetches
# the model, builds, runs CTest (GoogleTest), ends with CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j "${JOBS:-2}" --timeout 900
# Opt-in, off in CI: the ASan+UBSan build and run of the tests takes far
# longer than CI's budget leaves (docs/perf/sanitizers.md).
#   SANITIZE=1 scripts/test.sh
if [ -n "${SANITIZE:-}" ]; then
  cd .. && scripts/sanitize.sh
fi
