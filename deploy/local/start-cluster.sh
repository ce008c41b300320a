#!/usr/bin/env bash
# Starts a local cluster on loopback with the real model on the CPU: N
# llm-workers and one llm-scheduler, waits (bounded) until the scheduler
# reports SERVING, prints how to call it, and keeps running in the
# foreground. Ctrl-C or SIGTERM stops everything it started (scheduler
# first, so it drains; then the workers) and waits for them.
#
#   deploy/local/start-cluster.sh                       # 1 worker, port 50051
#   deploy/local/start-cluster.sh --workers 2 --threads 1
#   deploy/local/start-cluster.sh --prompt "Write a haiku about the sea"
#   deploy/local/start-cluster.sh -- --batching static --max-num-seqs 32
#
# Options:
#   --workers N         worker processes, each its own data-parallel group [1]
#   --port P            scheduler gRPC port [50051]; workers use P+10, P+11, ...
#   --metrics-port P    scheduler /metrics port [9090]; workers use P+1, P+2, ...
#   --threads N         CPU threads per worker (0 = one per core) [0]
#   --kv-cache-bytes N  KV pool per worker (0 = the worker's default) [0]
#   --prompt TEXT       once serving, answer TEXT as a chat turn (llmctl), then keep serving
#   --wait-timeout S    seconds to wait for SERVING [180]
#   --detach            return once serving and leave the processes running;
#                       their pids are in $LOG_DIR/pids (kill them to stop)
#   -- ARGS...          extra llm-scheduler flags
# Environment: LLM_BIN_DIR [build/bin], LLM_MODEL [models/SmolLM2-135M-Instruct.Q4_1.gguf],
#   LOG_DIR [/tmp/llm-local-cluster] (one log per process).
set -euo pipefail
cd "$(dirname "$0")/../.."

BIN=${LLM_BIN_DIR:-build/bin}
MODEL=${LLM_MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
LOG_DIR=${LOG_DIR:-/tmp/llm-local-cluster}
workers=1 port=50051 metrics_port=9090 threads=0 kv_bytes=0 prompt="" wait_timeout=180 detach=0
scheduler_args=()
while (($#)); do
  case "$1" in
    --workers) workers=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --metrics-port) metrics_port=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --kv-cache-bytes) kv_bytes=$2; shift 2 ;;
    --prompt) prompt=$2; shift 2 ;;
    --wait-timeout) wait_timeout=$2; shift 2 ;;
    --detach) detach=1; shift ;;
    --) shift; scheduler_args=("$@"); break ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "start-cluster: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

for bin in llm-worker llm-scheduler llmctl; do
  [ -x "$BIN/$bin" ] || { echo "start-cluster: $BIN/$bin not built (run scripts/setup.sh)" >&2; exit 1; }
done
[ -f "$MODEL" ] || { echo "start-cluster: model $MODEL not found (scripts/fetch-model.sh)" >&2; exit 1; }
mkdir -p "$LOG_DIR"

pids=()    # workers first, scheduler last
names=()
stopping=0
stop_all() {
  ((stopping)) && return
  stopping=1
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    # The scheduler drains before the workers go away.
    if [ "${names[i]}" = llm-scheduler ]; then wait "${pids[i]}" 2>/dev/null || true; fi
  done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
if ((!detach)); then
  trap 'echo; echo "start-cluster: stopping"; stop_all; exit 130' INT
  trap 'stop_all; exit 143' TERM
  trap 'stop_all' EXIT
else
  trap 'stop_all' EXIT  # only until serving; cleared below
fi

# Polls `llmctl health` until SERVING; fails when the process has exited.
wait_serving() {
  local addr=$1 pid=$2 log=$3 deadline=$((SECONDS + wait_timeout))
  until "$BIN/llmctl" --server "$addr" --timeout 1 health >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "start-cluster: process for $addr exited; last lines of $log:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "start-cluster: $addr not SERVING after ${wait_timeout}s; see $log" >&2
      return 1
    fi
    sleep 0.2
  done
}

worker_addrs=()
for ((i = 0; i < workers; i++)); do
  addr="127.0.0.1:$((port + 10 + i))"
  log="$LOG_DIR/worker$i.log"
  extra=()
  ((kv_bytes > 0)) && extra=(--kv-cache-bytes "$kv_bytes")
  "$BIN/llm-worker" --model "$MODEL" --listen "$addr" \
    --metrics-listen "127.0.0.1:$((metrics_port + 1 + i))" --threads "$threads" \
    "${extra[@]}" >"$log" 2>&1 &
  pids+=($!); names+=(llm-worker)
  worker_addrs+=("$addr")
done
for ((i = 0; i < workers; i++)); do
  wait_serving "${worker_addrs[i]}" "${pids[i]}" "$LOG_DIR/worker$i.log"
done

server="127.0.0.1:$port"
workers_flag=$(IFS=,; echo "${worker_addrs[*]}")
# Async scheduling overlaps the scheduler's work with the worker's step; on
# one host whose cores the workers' threads already take, that work preempts
# a compute thread mid-step and costs more than it hides
# (docs/perf/batching-analysis.md, "Async scheduling"). So unless the
# caller chose, it is off when the workers' threads cover every core.
if [[ " ${scheduler_args[*]-} " != *" --async-scheduling"* ]]; then
  cores=$(nproc)
  per_worker=$threads
  ((per_worker > 0)) || per_worker=$cores
  if ((workers * per_worker >= cores)); then
    scheduler_args+=(--async-scheduling=false)
  fi
fi
"$BIN/llm-scheduler" --model "$MODEL" --listen "$server" \
  --metrics-listen "127.0.0.1:$metrics_port" --workers "$workers_flag" \
  "${scheduler_args[@]}" >"$LOG_DIR/scheduler.log" 2>&1 &
pids+=($!); names+=(llm-scheduler)
wait_serving "$server" "${pids[-1]}" "$LOG_DIR/scheduler.log"

cat <<MSG
Local cluster SERVING: llm-scheduler at $server (metrics http://127.0.0.1:$metrics_port/metrics),
$workers llm-worker(s) at ${worker_addrs[*]}; logs in $LOG_DIR.
Call it:
  $BIN/llmctl --server $server generate --chat --prompt "Write a haiku about the sea"
  $BIN/llmctl --server $server generate --prompt "The capital of France is" --max-tokens 16 --temperature 0
  $BIN/llmctl --server $server info
  python3 examples/python_client/client.py --server $server --prompt "Hello" --chat
MSG

if ((detach)); then
  printf '%s\n' "${pids[@]}" >"$LOG_DIR/pids"
  trap - EXIT
  echo "Detached; stop with: kill \$(cat $LOG_DIR/pids)"
  exit 0
fi

if [ -n "$prompt" ]; then
  # SmolLM2's model card samples chat at temperature 0.2, top-p 0.9; the
  # API's default (temperature 1) makes a 135M Q4_1 model ramble.
  "$BIN/llmctl" --server "$server" generate --chat --max-tokens 256 --temperature 0.2 --top-p 0.9 \
    --prompt "$prompt" || true
fi
echo "Press Ctrl-C to stop."
# Stay in the foreground until a signal, or until any process dies.
set +e
wait -n "${pids[@]}"
status=$?
echo "start-cluster: a process exited ($status); stopping the others" >&2
exit 1
