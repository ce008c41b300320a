#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks, fetches the model, builds.
# Idempotent: packages already present are skipped, the model is fetched once,
# the build is incremental.
#   scripts/setup.sh            # deps + model + build
#   SKIP_BUILD=1 scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config clang lld
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev libcli11-dev
  prometheus-cpp-dev nlohmann-json3-dev python3-pip unzip curl ca-certificates
  prometheus
  # TLS: libssl-dev checks certificate files (proto/tls_credentials.cc);
  # the openssl CLI makes the TLS tests' certificates.
  libssl-dev openssl
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Python client example (examples/python_client) and its test.
# grpcio-reflection: the generic reflection client of tests/cluster/reflection_test.
if ! python3 -c 'import grpc, grpc_tools, grpc_reflection' 2>/dev/null; then
  echo "setup: installing grpcio, grpcio-tools and grpcio-reflection"
  python3 -m pip install --quiet grpcio==1.85.1 grpcio-tools==1.85.1 grpcio-reflection==1.85.1 ||
    python3 -m pip install --quiet --break-system-packages grpcio==1.85.1 grpcio-tools==1.85.1 grpcio-reflection==1.85.1
fi

# Chart and monitoring checks (tests/deploy): Helm's engine, Kubernetes schemas, yamllint.
python3 -c 'import helm_python, kubernetes_validate, yamllint, jsonschema' 2>/dev/null || python3 -m pip install --quiet helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 yamllint==1.38.0 jsonschema 2>/dev/null || python3 -m pip install --quiet --break-system-packages helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 yamllint==1.38.0 jsonschema || echo "setup: chart-check packages not installed; tests/deploy chart checks will skip"

scripts/fetch-model.sh

if [ -z "${SKIP_BUILD:-}" ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-}
  cmake --build build -j "${JOBS:-2}"
fi
