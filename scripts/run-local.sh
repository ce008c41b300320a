#!/usr/bin/env bash
# Sets up (deps, model, build) and runs the engine locally on the CPU with the
# real model: one chat turn with llm-generate, streamed to the terminal.
#   scripts/run-local.sh "Write a haiku about the sea"
#   scripts/run-local.sh            # a default question
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/tmp/llm-setup.log 2>&1 || { cat /tmp/llm-setup.log; exit 1; }
prompt=${1:-"What is the capital of France? Answer in one sentence."}
shift || true
exec build/bin/llm-generate --model models/SmolLM2-135M-Instruct.Q4_1.gguf \
  --chat --max-tokens 256 --prompt "$prompt" "$@"
