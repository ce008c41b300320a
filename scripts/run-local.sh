#!/usr/bin/env bash
# Sets up (deps, model, build) and runs the cluster locally on the CPU with
# the real model: one llm-worker and the llm-scheduler on loopback, in the
# foreground until Ctrl-C (which stops both). With a prompt, it is answered
# as a chat turn (streamed) once the cluster is up, and the cluster keeps
# serving.
#   scripts/run-local.sh                                   # serve on 127.0.0.1:50051
#   scripts/run-local.sh "Write a haiku about the sea"     # serve, and answer this
#   scripts/run-local.sh -- --workers 2 --threads 1        # deploy/local/start-cluster.sh flags
# The one-shot in-process path (no servers) is build/bin/llm-generate (README).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/tmp/llm-setup.log 2>&1 || { cat /tmp/llm-setup.log; exit 1; }
args=()
if (($#)) && [ "$1" != "--" ]; then
  args=(--prompt "$1")
  shift
fi
[ "${1:-}" = "--" ] && shift
exec deploy/local/start-cluster.sh "${args[@]}" "$@"
