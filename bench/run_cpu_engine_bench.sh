#!/usr/bin/env bash
# Produces docs/perf/cpu-engine.md in ONE run on ONE machine: memory read
# bandwidth, llama.cpp's own benchmarks on the same GGUF file, and our
# engine-bench, so every number in the table shares hardware, load and date.
#
# Usage: bench/run_cpu_engine_bench.sh
# Env overrides:
#   MODEL             GGUF file (default models/SmolLM2-135M-Instruct.Q4_1.gguf)
#   THREADS           threads for every benchmark (default 2)
#   BUILD_DIR         our Release build dir with bin/membw-bench and
#                     bin/engine-bench (default build)
#   OUT               report path (default docs/perf/cpu-engine.md)
#   ENGINE_BENCH_JSON JSON text to use instead of running engine-bench (for
#                     testing this script; the report is then marked FAKE)
#   SKIP_PEER_BUILD=1 do not call scripts/build_llama_cpp_peer.sh
#   OMP_WAIT_POLICY   passed through to llama.cpp (OpenMP build) and recorded
#   QUICK=1           tiny sizes to smoke-test this script (report marked
#                     QUICK; never quote its numbers)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${REPO_ROOT}"
MODEL="${MODEL:-${REPO_ROOT}/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
THREADS="${THREADS:-2}"
BUILD_DIR="${BUILD_DIR:-${REPO_ROOT}/build}"
OUT="${OUT:-${REPO_ROOT}/docs/perf/cpu-engine.md}"
PEER_DIR="${PEER_DIR:-${REPO_ROOT}/third_party/llama.cpp-peer}"
PEER_BIN="${PEER_DIR}/build/bin"
TIME=/usr/bin/time

die() { echo "run_cpu_engine_bench: error: $*" >&2; exit 1; }

[[ -f "${MODEL}" ]] || die "model not found: ${MODEL} (run scripts/fetch-model.sh)"
[[ -x "${TIME}" ]] || die "${TIME} missing (apt-get install time): needed for peak RSS"
command -v python3 >/dev/null || die "python3 missing: needed to write the report"
[[ -x "${BUILD_DIR}/bin/membw-bench" ]] || die "${BUILD_DIR}/bin/membw-bench missing;" \
  "build it: cmake -S . -B ${BUILD_DIR} -G Ninja -DCMAKE_BUILD_TYPE=Release &&" \
  "cmake --build ${BUILD_DIR} -j2 --target membw-bench engine-bench"
if [[ -z "${ENGINE_BENCH_JSON:-}" && ! -x "${BUILD_DIR}/bin/engine-bench" ]]; then
  die "${BUILD_DIR}/bin/engine-bench missing; build it:" \
    "cmake --build ${BUILD_DIR} -j2 --target engine-bench" \
    "(or set ENGINE_BENCH_JSON to test this script)"
fi
if [[ "${SKIP_PEER_BUILD:-0}" != 1 ]]; then
  "${REPO_ROOT}/scripts/build_llama_cpp_peer.sh"
fi
for b in llama-bench llama-batched-bench; do
  [[ -x "${PEER_BIN}/${b}" ]] || die "${PEER_BIN}/${b} missing; run scripts/build_llama_cpp_peer.sh"
done

LOAD1="$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo 0)"
if [[ -z "${OMP_WAIT_POLICY:-}" ]] && awk -v l="${LOAD1}" -v t="${THREADS}" 'BEGIN{exit !(l > t)}'; then
  echo "warning: load average ${LOAD1} > ${THREADS} threads: llama.cpp's OpenMP" \
    "spin-wait can run ~100x slower; rerun on an idle machine or with" \
    "OMP_WAIT_POLICY=passive (recorded in the report)" >&2
fi

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

# Each step writes its stdout to WORK/<name>.out and, for the model
# benchmarks, /usr/bin/time -v output to WORK/<name>.time.
if [[ "${QUICK:-0}" == 1 ]]; then
  MEMBW_ARGS=(--size-mib 256 --reps 2); PP=32; TG=16; REPS=1; NPP=16; NTG=16; CTX=1024
  ENGINE_ARGS=(--prefill-len "${PP}" --decode-len "${TG}"
    --batch-prompt-len "${NPP}" --batch-gen-len "${NTG}")
else
  MEMBW_ARGS=(); PP=512; TG=256; REPS=3; NPP=128; NTG=128; CTX=8192
  ENGINE_ARGS=()
fi
CMD_MEMBW=("${BUILD_DIR}/bin/membw-bench" "${MEMBW_ARGS[@]}")
CMD_LLAMA_BENCH=("${PEER_BIN}/llama-bench" -m "${MODEL}" -t "${THREADS}"
  -p "${PP}" -n "${TG}" -r "${REPS}" -o json -oe md)
CMD_BATCHED=("${PEER_BIN}/llama-batched-bench" -m "${MODEL}" -t "${THREADS}"
  -c "${CTX}" -npp "${NPP}" -ntg "${NTG}" -npl 1,8,32)
CMD_ENGINE=("${BUILD_DIR}/bin/engine-bench" --model "${MODEL}"
  --threads "${THREADS}" --json "${ENGINE_ARGS[@]}")

echo "[1/4] memory bandwidth: ${CMD_MEMBW[*]}" >&2
"${CMD_MEMBW[@]}" > "${WORK}/membw.out"

echo "[2/4] llama-bench: ${CMD_LLAMA_BENCH[*]}" >&2
"${TIME}" -v -o "${WORK}/llama_bench.time" "${CMD_LLAMA_BENCH[@]}" \
  > "${WORK}/llama_bench.out" 2> "${WORK}/llama_bench.err" \
  || { cat "${WORK}/llama_bench.err" >&2; die "llama-bench failed"; }

echo "[3/4] llama-batched-bench: ${CMD_BATCHED[*]}" >&2
"${TIME}" -v -o "${WORK}/batched.time" "${CMD_BATCHED[@]}" \
  > "${WORK}/batched.out" 2>&1 \
  || { tail -20 "${WORK}/batched.out" >&2; die "llama-batched-bench failed"; }

if [[ -n "${ENGINE_BENCH_JSON:-}" ]]; then
  echo "[4/4] engine-bench: using injected ENGINE_BENCH_JSON (FAKE numbers)" >&2
  printf '%s\n' "${ENGINE_BENCH_JSON}" > "${WORK}/engine.out"
  : > "${WORK}/engine.time"
  ENGINE_FAKE=1
else
  echo "[4/4] engine-bench: ${CMD_ENGINE[*]}" >&2
  "${TIME}" -v -o "${WORK}/engine.time" "${CMD_ENGINE[@]}" \
    > "${WORK}/engine.out" 2> "${WORK}/engine.err" \
    || { tail -20 "${WORK}/engine.err" >&2; die "engine-bench failed"; }
  ENGINE_FAKE=0
fi

GIT_COMMIT="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null || true)" ]]; then
  GIT_COMMIT="${GIT_COMMIT} (working tree has uncommitted changes)"
fi
LLAMA_COMMIT="$(cat "${PEER_DIR}/LLAMA_CPP_COMMIT" 2>/dev/null || echo unknown)"

mkdir -p "$(dirname "${OUT}")"
WORK="${WORK}" OUT="${OUT}" MODEL="${MODEL}" THREADS="${THREADS}" \
BUILD_DIR="${BUILD_DIR}" GIT_COMMIT="${GIT_COMMIT}" LLAMA_COMMIT="${LLAMA_COMMIT}" \
ENGINE_FAKE="${ENGINE_FAKE}" QUICK="${QUICK:-0}" \
CMD_MEMBW="${CMD_MEMBW[*]}" CMD_LLAMA_BENCH="${CMD_LLAMA_BENCH[*]}" \
CMD_BATCHED="${CMD_BATCHED[*]}" CMD_ENGINE="${CMD_ENGINE[*]}" \
  python3 "${REPO_ROOT}/bench/cpu_engine_report.py"
echo "wrote ${OUT}" >&2
