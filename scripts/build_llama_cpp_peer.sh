#!/usr/bin/env bash
# Builds llama.cpp's own benchmark tools (llama-bench, llama-batched-bench) from
# the exact llama.cpp snapshot vendored in the llama-cpp-python sdist that we
# use for golden fixtures, so the peer comparison and the goldens share one
# llama.cpp version.
#
# Output: third_party/llama.cpp-peer/build/bin/{llama-bench,llama-batched-bench}
# Idempotent: does nothing when both binaries already exist.
#
# Env overrides:
#   LLAMA_CPP_PYTHON_VERSION (default 0.3.36)
#   PEER_DIR                 (default <repo>/third_party/llama.cpp-peer)
#   PEER_JOBS                (default 2; the dev machine is shared)
#   PIP                      (default /opt/llamavenv/bin/pip, else pip3)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
PEER_DIR="${PEER_DIR:-${REPO_ROOT}/third_party/llama.cpp-peer}"
JOBS="${PEER_JOBS:-2}"
BUILD_DIR="${PEER_DIR}/build"
BIN_DIR="${BUILD_DIR}/bin"

if [[ -x "${BIN_DIR}/llama-bench" && -x "${BIN_DIR}/llama-batched-bench" ]]; then
  echo "llama.cpp peer already built: ${BIN_DIR}"
  exit 0
fi

if [[ -z "${PIP:-}" ]]; then
  if [[ -x /opt/llamavenv/bin/pip ]]; then PIP=/opt/llamavenv/bin/pip
  elif command -v pip3 >/dev/null; then PIP=pip3
  else echo "error: no pip found (set PIP=...)" >&2; exit 1; fi
fi
for tool in cmake tar; do
  command -v "${tool}" >/dev/null || { echo "error: '${tool}' not found" >&2; exit 1; }
done

mkdir -p "${PEER_DIR}"
SRC_DIR="${PEER_DIR}/src"
if [[ ! -f "${SRC_DIR}/CMakeLists.txt" ]]; then
  DL_DIR="${PEER_DIR}/sdist"
  mkdir -p "${DL_DIR}"
  SDIST="$(ls "${DL_DIR}"/llama_cpp_python-"${VERSION}".tar.gz 2>/dev/null || true)"
  if [[ -z "${SDIST}" ]]; then
    echo "Downloading llama-cpp-python==${VERSION} sdist..."
    "${PIP}" download --no-deps --no-binary :all: \
      -d "${DL_DIR}" "llama-cpp-python==${VERSION}"
    SDIST="$(ls "${DL_DIR}"/llama_cpp_python-"${VERSION}".tar.gz)"
  fi
  echo "Extracting vendor/llama.cpp from ${SDIST}..."
  rm -rf "${PEER_DIR}/extract" "${SRC_DIR}"
  mkdir -p "${PEER_DIR}/extract"
  tar -xzf "${SDIST}" -C "${PEER_DIR}/extract" \
    "llama_cpp_python-${VERSION}/vendor/llama.cpp"
  mv "${PEER_DIR}/extract/llama_cpp_python-${VERSION}/vendor/llama.cpp" "${SRC_DIR}"
  rm -rf "${PEER_DIR}/extract"
fi

# The vendored llama.cpp is a git submodule whose gitdir is packed in the
# sdist under .git/modules; its HEAD file is the llama.cpp commit.
if [[ ! -f "${PEER_DIR}/LLAMA_CPP_COMMIT" ]]; then
  SDIST="$(ls "${PEER_DIR}"/sdist/llama_cpp_python-"${VERSION}".tar.gz 2>/dev/null || true)"
  commit=unknown
  if [[ -n "${SDIST}" ]]; then
    commit="$(tar -xzOf "${SDIST}" \
      "llama_cpp_python-${VERSION}/.git/modules/vendor/llama.cpp/HEAD" 2>/dev/null \
      | head -1 || true)"
  fi
  echo "${commit:-unknown}" > "${PEER_DIR}/LLAMA_CPP_COMMIT"
fi
echo "llama-cpp-python ${VERSION}, llama.cpp commit $(cat "${PEER_DIR}/LLAMA_CPP_COMMIT")"

echo "Configuring llama.cpp peer in ${BUILD_DIR}..."
GEN=()
command -v ninja >/dev/null && GEN=(-G Ninja)
cmake -S "${SRC_DIR}" -B "${BUILD_DIR}" "${GEN[@]}" \
  -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=OFF

echo "Building llama-bench and llama-batched-bench (-j${JOBS})..."
cmake --build "${BUILD_DIR}" -j"${JOBS}" --target llama-bench llama-batched-bench

for b in llama-bench llama-batched-bench; do
  [[ -x "${BIN_DIR}/${b}" ]] || { echo "error: ${BIN_DIR}/${b} not produced" >&2; exit 1; }
done
echo "llama.cpp peer built: ${BIN_DIR}"
