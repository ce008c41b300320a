#!/usr/bin/env bash
# One command for a machine with an NVIDIA GPU: builds the project for the
# local GPU (CMAKE_CUDA_ARCHITECTURES=native), runs every GPU test (tests/gpu,
# plus the CUDA index and backend-selection tests), runs the GPU benchmarks
# (decode attention bytes/s vs device-to-device copy bandwidth, prefill
# TFLOP/s, end-to-end tokens/s of an 8B-shaped random model at batch
# 1/16/64/256) and writes docs/perf/gpu.md with the device name and date.
#
# Usage: scripts/gpu-check.sh [--skip-e2e] [--build-dir DIR]
# Env: JOBS (build parallelism, default nproc), MODEL_8B (reuse a model file).
#
# Exits non-zero when there is no usable GPU (nvidia-smi), when the build
# fails, or when a GPU test fails; the benchmark report is still written if
# the tests failed, with the failure noted at its top.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD=build-gpu
SKIP_E2E=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --skip-e2e) SKIP_E2E=1; shift ;;
    --build-dir) BUILD="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
JOBS=${JOBS:-$(nproc)}
REPORT=docs/perf/gpu.md
LOG_DIR=$BUILD/gpu-check
if ! command -v nvidia-smi >/dev/null || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu-check: no NVIDIA GPU visible (nvidia-smi -L failed); nothing to do" >&2
  exit 1
fi
DEVICE=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)
echo "gpu-check: device: $DEVICE"
mkdir -p "$LOG_DIR" docs/perf

# 1. Build for the local GPU only (fast), Release, CUDA required.
NVCC=${CUDACXX:-/usr/local/cuda/bin/nvcc}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DLLM_CUDA=ON \
  -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES=native \
  >"$LOG_DIR/configure.log" 2>&1 || { tail -40 "$LOG_DIR/configure.log"; exit 1; }
TEST_TARGETS=$(cd tests && ls gpu/*_test.cc 2>/dev/null | sed 's#/#_#; s#\.cc$##' | tr '\n' ' ')
TARGETS="$TEST_TARGETS kernels_cuda_index_test worker_cuda_philox_test worker_backend_factory_test llm-make-model gpu-attention-bench gpu-e2e-bench"
# shellcheck disable=SC2086
cmake --build "$BUILD" -j "$JOBS" --target $TARGETS >"$LOG_DIR/build.log" 2>&1 \
  || { tail -60 "$LOG_DIR/build.log"; exit 1; }

# 2. Tests.
TEST_STATUS=0
TEST_SUMMARY=""
for t in $TARGETS; do
  [[ "$t" == *_test ]] || continue
  bin="$BUILD/bin/$t"
  [[ -x "$bin" ]] || bin=$(find "$BUILD" -name "$t" -type f -perm -u+x | head -1)
  if [[ -z "$bin" ]]; then echo "gpu-check: $t not built" >&2; TEST_STATUS=1; continue; fi
  if "$bin" >"$LOG_DIR/$t.log" 2>&1; then
    passed=$(grep -oE '^\[  PASSED  \] [0-9]+' "$LOG_DIR/$t.log" | grep -oE '[0-9]+$' || echo 0)
    skipped=$(grep -oE '^\[  SKIPPED \] [0-9]+ test' "$LOG_DIR/$t.log" | grep -oE '[0-9]+' || echo 0)
    line="PASS $t ($passed passed, $skipped skipped)"
    if grep -q "no CUDA device" "$LOG_DIR/$t.log"; then
      # On this machine a GPU test must run, not skip.
      line="FAIL $t (skipped: $(grep -m1 -o 'no CUDA device.*' "$LOG_DIR/$t.log"))"
      TEST_STATUS=1
    fi
  else
    line="FAIL $t (see $LOG_DIR/$t.log)"
    TEST_STATUS=1
    tail -30 "$LOG_DIR/$t.log"
  fi
  echo "$line"
  TEST_SUMMARY+="- $line"$'\n'
done

# 3. Benchmarks.
"$BUILD/bin/gpu-attention-bench" --markdown >"$LOG_DIR/attention.md" 2>"$LOG_DIR/attention.err" \
  || echo "(gpu-attention-bench failed: $(tail -3 "$LOG_DIR/attention.err"))" >>"$LOG_DIR/attention.md"
# Prefill attention vs PyTorch SDPA on the same shapes, when torch is
# importable (the GPU machines have it; setup.sh does not install it).
SDPA="(skipped: python3 cannot import torch)"
if python3 -c "import torch" >/dev/null 2>&1; then
  if python3 bench/prefill_vs_sdpa.py --bench-bin "$BUILD/bin/gpu-attention-bench" \
      --out docs/perf/prefill_vs_sdpa.md >"$LOG_DIR/sdpa.md" 2>"$LOG_DIR/sdpa.err"; then
    SDPA=$(tail -n +3 "$LOG_DIR/sdpa.md")
  else
    SDPA="(bench/prefill_vs_sdpa.py failed: $(tail -3 "$LOG_DIR/sdpa.err" "$LOG_DIR/sdpa.md"))"
  fi
fi
E2E="(skipped: --skip-e2e)"
if [[ $SKIP_E2E == 0 ]]; then
  MODEL=${MODEL_8B:-$BUILD/llama3-8b-shape.Q4_0.gguf}
  if [[ ! -s "$MODEL" ]]; then
    echo "gpu-check: writing an 8B-shaped random model to $MODEL (once)"
    "$BUILD/bin/llm-make-model" --out "$MODEL" --d-model 4096 --n-layer 32 --n-head 32 \
      --n-head-kv 8 --n-ff 14336 --n-vocab 128256 --context-length 8192 \
      --rope-base 500000 --type Q4_0 --embedding-type Q8_0 --untied \
      >"$LOG_DIR/make-model.log" 2>&1 || { tail -5 "$LOG_DIR/make-model.log"; MODEL=""; }
  fi
  if [[ -n "$MODEL" ]]; then
    "$BUILD/bin/gpu-e2e-bench" --model "$MODEL" --batch 1 --batch 16 --batch 64 --batch 256 \
      --markdown >"$LOG_DIR/e2e.md" 2>"$LOG_DIR/e2e.err" \
      || echo "(gpu-e2e-bench failed: $(tail -3 "$LOG_DIR/e2e.err"))" >>"$LOG_DIR/e2e.md"
    E2E=$(cat "$LOG_DIR/e2e.md")
  else
    E2E="(could not write the 8B-shaped model; see $LOG_DIR/make-model.log)"
  fi
fi

# 4. Report.
{
  echo "# GPU results"
  echo
  echo "Written by \`scripts/gpu-check.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "Device: $DEVICE. CUDA: $("$NVCC" --version | tail -1)."
  echo
  if [[ $TEST_STATUS != 0 ]]; then echo "**Some GPU tests FAILED** (logs in \`$LOG_DIR\`)."; echo; fi
  echo "## Tests"
  echo
  printf '%s\n' "$TEST_SUMMARY"
  echo "## Attention kernels"
  echo
  cat "$LOG_DIR/attention.md"
  echo
  echo "## Prefill attention vs PyTorch SDPA (bench/prefill_vs_sdpa.py)"
  echo
  echo "$SDPA"
  echo
  echo "## End to end (Llama-3-8B shape, random Q4_0 weights, through LlamaModel on CudaBackend)"
  echo
  echo "$E2E"
} >"$REPORT"
echo "gpu-check: wrote $REPORT"
exit $TEST_STATUS
