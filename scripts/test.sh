#!/usr/bin/env bash
# The whole test suite from a clean clone: installs what is missing, fetches
# the model, builds, runs CTest (GoogleTest), ends with CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cd build
ctest --output-on-failure -j "${JOBS:-2}" --timeout 900
