#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer run of the unit tests and the
# cluster integration tests (issue 6 item 7). Off in CI (scripts/test.sh runs
# it only with SANITIZE=1): on the 2-core CI machine the instrumented build and
# test run take far longer than the ~15 minutes left in CI's budget, so it is
# run by hand and its last result is recorded in docs/perf/sanitizers.md.
#
#   scripts/sanitize.sh            # configure + build + test
#   SKIP_BUILD=1 scripts/sanitize.sh
#   BUILD_DIR=build-asan JOBS=2 CTEST_ARGS="-R ^ClusterErrorsTest\\." scripts/sanitize.sh
#   TARGETS="llm-scheduler llm-worker cluster_streaming_test" scripts/sanitize.sh
#
# Needs the model (scripts/fetch-model.sh) and the packages of scripts/setup.sh.
# Exit status: CTest's (non-zero when any test failed or a sanitizer fired).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-2}
SANITIZERS=${SANITIZERS:-address,undefined}

if [ -z "${SKIP_BUILD:-}" ]; then
  # -O1 -g: ASan's documented setting (fast enough, exact stacks); no NDEBUG
  # so assert()s stay on. CUDA off: nvcc code is not instrumented and the GPU
  # tests skip without a device anyway. Benchmarks are not run here.
  cmake -S . -B "$BUILD_DIR" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g" \
    -DLLM_CUDA=OFF -DLLM_BUILD_BENCH=OFF \
    -DLLM_SANITIZE="$SANITIZERS" >/dev/null
  # TARGETS: build only these (e.g. the cluster tests first on a busy machine).
  # shellcheck disable=SC2086
  nice -n 10 cmake --build "$BUILD_DIR" -j "$JOBS" ${TARGETS:+--target $TARGETS}
fi

# Every report of every process goes to a file in $REPORT_DIR instead of
# stderr (and still fails that process): the cluster tests start llm-scheduler and llm-worker
# as child processes whose stderr goes to log files the tests do not scan, and
# a leak found when such a child exits would otherwise go unseen.
# (One run at a time per build directory: a run starts by emptying it.)
REPORT_DIR="$(cd "$BUILD_DIR" && pwd)/sanitizer-reports"
rm -rf "$REPORT_DIR"
mkdir -p "$REPORT_DIR"

# halt_on_error: the first report ends the process, so a test fails on it.
# detect_leaks: LeakSanitizer works here (x86-64 Linux, not under ptrace);
# leaks in uninstrumented system libraries are suppressed by
# scripts/sanitize/lsan.supp, where each entry says why.
# abort_on_error=0: a report ends the process with a non-zero exit, not a core dump.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:print_summary=1:log_path=$REPORT_DIR/asan}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$ROOT/scripts/sanitize/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$ROOT/scripts/sanitize/ubsan.supp:log_path=$REPORT_DIR/ubsan}

# The scheduler's step deadline (--step-timeout, 60 s) exists to detect hung
# workers. Instrumented workers run 2-5x slower, and on a busy 2-core machine
# a big step of the cluster tests then took over a minute: the scheduler
# declared a healthy worker hung (CancelledStreamsReturnTheirKvBlocksAndNoneHang
# failed that way). Tests that exercise the deadline pass --step-timeout
# themselves, which wins over this environment variable.
export LLM_SCHEDULER_STEP_TIMEOUT=${LLM_SCHEDULER_STEP_TIMEOUT:-600}

# Tests excluded from the sanitizer run, each with its reason. A regular
# expression for ctest -E; keep it in step with docs/perf/sanitizers.md.
# Names are GoogleTest names (Suite.Test), as gtest_discover_tests registers
# them. The GPU tests (Cuda*Test) need no entry: with CUDA off they skip.
EXCLUDE=(
  # The two 64-client streaming tests: instrumented, on a busy 2-core machine,
  # their clients ran out of deadline (DEADLINE_EXCEEDED after 180 s and 480 s;
  # no sanitizer report from any process). Their paths run here in smaller
  # tests: cancel -> blocks freed in SchedulerServiceTest.CancellationFreesTheBlocks,
  # concurrent streams in ClusterStreamingTest.ParallelSamples* and
  # .SharedSystemPrompt*; and the greedy-equality check in the Release CI run.
  '^ClusterStreamingTest\.CancelledStreamsReturnTheirKvBlocksAndNoneHang$'
  '^ClusterStreamingTest\.GreedyResultsOf64ConcurrentClientsEqualOfflineGeneration$'
)
exclude_re=$(IFS='|'; echo "${EXCLUDE[*]:-}")

cd "$BUILD_DIR"
args=(--output-on-failure -j "$JOBS" --timeout "${TEST_TIMEOUT:-1800}")
[ -n "$exclude_re" ] && args+=(-E "$exclude_re")
rc=0
# shellcheck disable=SC2086
nice -n 10 ctest "${args[@]}" ${CTEST_ARGS:-} || rc=$?

reports=("$REPORT_DIR"/*)
if [ -e "${reports[0]}" ]; then
  echo "sanitize: ${#reports[@]} sanitizer report(s) in $REPORT_DIR:" >&2
  for f in "${reports[@]}"; do echo "== $f" >&2; head -n 60 "$f" >&2; done
  rc=1
else
  echo "sanitize: no sanitizer reports (ASan, LSan, UBSan) from any process"
fi
exit "$rc"
