#!/usr/bin/env bash
# Continuous vs static batching through the cluster, and the cost of the
# gRPC hop, in ONE run on ONE machine; writes docs/perf/batching.md.
#
#  1. The local cluster (deploy/local/start-cluster.sh: one llm-worker, the
#     llm-scheduler) with --batching=continuous, then --batching=static, the
#     same --max-num-seqs; llm-bench sends the same workload to each
#     (default 200 requests, prompts 32:512 tokens, outputs 16:256 tokens,
#     closed loop at concurrency 32, ignore_eos so lengths are exact).
#  2. The gRPC hop: one workload at concurrency 1 through the in-process
#     path (llm-bench --in-process: engine + local worker in one process, as
#     llm-generate) and through the cluster (continuous).
#
# Usage: bench/run_batching_bench.sh
# Env overrides: BUILD_DIR [build], MODEL, THREADS (worker threads) [2],
#   NUM_REQUESTS [200], INPUT_LEN [32:512], OUTPUT_LEN [16:256],
#   CONCURRENCY [32], MAX_NUM_SEQS [32], MAX_BATCHED_TOKENS [2048],
#   HOP_REQUESTS [8], HOP_INPUT_LEN [128], HOP_OUTPUT_LEN [128],
#   HOP_ROUNDS [3] (in-process and cluster runs alternate, so a change in
#   the machine's load hits both; the medians are compared), SEED [1],
#   KV_CACHE_BYTES per worker [805306368: 768 MiB, room for 32 x (512 + 256)
#   tokens, so neither policy preempts], PORT [53051], METRICS_PORT [19190],
#   OUT [docs/perf/batching.md], AUTOGROUP_NICE [unset], SCHEDULER_ARGS [unset]:
#   extra llm-scheduler flags for every cluster run, split on spaces (e.g.
#   "--async-scheduling=false"); recorded in the report. HOP_THREADS [1]:
#   worker threads in the hop rounds (both paths). One, so that the
#   scheduler and the client have a core of their own as they do in a
#   deployment (their own pods): on 2 cores a 2-thread worker shares its
#   cores with them and the hop's cost becomes a CPU-sharing cost (see
#   docs/perf/batching-analysis.md).
# On a machine shared with other sessions (each its own scheduler autogroup,
# where plain `nice` does not reach), AUTOGROUP_NICE=-19 gives this run's
# session CPU priority over them (root only; recorded in the report): the
# 2-thread worker's fork-join regions otherwise stall whenever another
# session's process takes one of the two cores.
# Both paths get the same THREADS. (An earlier spinning thread pool collapsed
# when its threads shared the 2 cores with llm-scheduler and llm-bench; the
# pool now blocks after a short spin, so 2 threads are the default.)
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
BUILD_DIR=${BUILD_DIR:-build}
BIN="$BUILD_DIR/bin"
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
THREADS=${THREADS:-2}
HOP_THREADS=${HOP_THREADS:-1}
NUM_REQUESTS=${NUM_REQUESTS:-200}
INPUT_LEN=${INPUT_LEN:-32:512}
OUTPUT_LEN=${OUTPUT_LEN:-16:256}
CONCURRENCY=${CONCURRENCY:-32}
MAX_NUM_SEQS=${MAX_NUM_SEQS:-32}
MAX_BATCHED_TOKENS=${MAX_BATCHED_TOKENS:-2048}
HOP_REQUESTS=${HOP_REQUESTS:-8}
HOP_ROUNDS=${HOP_ROUNDS:-3}
HOP_INPUT_LEN=${HOP_INPUT_LEN:-128}
HOP_OUTPUT_LEN=${HOP_OUTPUT_LEN:-128}
SEED=${SEED:-1}
KV_CACHE_BYTES=${KV_CACHE_BYTES:-805306368}
PORT=${PORT:-53051}
METRICS_PORT=${METRICS_PORT:-19190}
OUT=${OUT:-docs/perf/batching.md}
WORK=$(mktemp -d /tmp/llm-batching-bench-XXXXXX)
AUTOGROUP_NICE=${AUTOGROUP_NICE:-}
SCHEDULER_ARGS=${SCHEDULER_ARGS:-}
read -r -a scheduler_extra <<<"$SCHEDULER_ARGS"
if [ -n "$AUTOGROUP_NICE" ]; then
  echo "$AUTOGROUP_NICE" >/proc/$$/autogroup || echo "run_batching_bench: cannot set autogroup nice" >&2
fi
priority=$(cat /proc/$$/autogroup 2>/dev/null || echo "n/a")
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

die() { echo "run_batching_bench: $*" >&2; exit 1; }
for b in llm-worker llm-scheduler llmctl llm-bench; do
  [ -x "$BIN/$b" ] || die "$BIN/$b not built"
done
[ -f "$MODEL" ] || die "model $MODEL not found"

cluster_pids=""
stop_cluster() {
  [ -n "$cluster_pids" ] || return 0
  # Scheduler (last line) first so it drains, then the workers.
  for pid in $(tac <<<"$cluster_pids"); do
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
  cluster_pids=""
}
trap stop_cluster EXIT

# start_cluster BATCHING THREADS NAME: a detached local cluster on $PORT.
start_cluster() {
  LLM_BIN_DIR="$BIN" LLM_MODEL="$MODEL" LOG_DIR="$WORK/cluster-$3" \
    deploy/local/start-cluster.sh --detach --port "$PORT" --metrics-port "$METRICS_PORT" \
    --threads "$2" --kv-cache-bytes "$KV_CACHE_BYTES" -- --batching "$1" --max-num-seqs "$MAX_NUM_SEQS" \
    --max-batched-tokens "$MAX_BATCHED_TOKENS" --max-queue 4096 ${scheduler_extra[@]+"${scheduler_extra[@]}"} \
    >"$WORK/start-$3.log" 2>&1 ||
    { cat "$WORK/start-$3.log"; die "cluster ($3) did not start"; }
  cluster_pids=$(cat "$WORK/cluster-$3/pids")
}

BENCH_ARGS=(--num-requests "$NUM_REQUESTS" --concurrency "$CONCURRENCY"
            --input-len "$INPUT_LEN" --output-len "$OUTPUT_LEN" --seed "$SEED" --json)
HOP_ARGS=(--num-requests "$HOP_REQUESTS" --concurrency 1 --input-len "$HOP_INPUT_LEN"
          --output-len "$HOP_OUTPUT_LEN" --json)

for mode in continuous static; do
  echo "run_batching_bench: $mode batching, $NUM_REQUESTS requests..." >&2
  start_cluster "$mode" "$THREADS" "$mode"
  "$BIN/llm-bench" --server "127.0.0.1:$PORT" "${BENCH_ARGS[@]}" >"$WORK/$mode.json"
  curl -s "http://127.0.0.1:$METRICS_PORT/metrics" |
    awk '/^llm_preemptions_total/ {print $2}' >"$WORK/$mode.preemptions" || true
  stop_cluster
done

# The hop: the (idle) cluster stays up while the in-process rounds run.
# Each round has its own seed, hence its own prompts: the cluster's prefix
# cache must not serve a round the prompts of an earlier one.
start_cluster continuous "$HOP_THREADS" hop
for ((r = 1; r <= HOP_ROUNDS; r++)); do
  echo "run_batching_bench: gRPC hop, round $r of $HOP_ROUNDS..." >&2
  "$BIN/llm-bench" --in-process --model "$MODEL" --threads "$HOP_THREADS" \
    --max-num-seqs "$MAX_NUM_SEQS" --max-batched-tokens "$MAX_BATCHED_TOKENS" \
    --kv-cache-bytes "$KV_CACHE_BYTES" "${HOP_ARGS[@]}" --seed "$((SEED + 100 + r))" \
    >"$WORK/hop-inprocess-$r.json"
  "$BIN/llm-bench" --server "127.0.0.1:$PORT" "${HOP_ARGS[@]}" --seed "$((SEED + 100 + r))" \
    >"$WORK/hop-grpc-$r.json"
done
stop_cluster

# As the scheduler resolved it (its start-up line), e.g. "auto" -> true;
# start-cluster.sh turns it off where the worker's threads take every core.
resolved_async() {
  local mode
  mode=$(grep -o '"async_scheduling":[a-z]*' "$WORK/cluster-$1/scheduler.log" 2>/dev/null |
    head -1 | cut -d: -f2)
  echo "${mode:-unknown}"
}
async_mode="batching runs $(resolved_async continuous), hop runs $(resolved_async hop)"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cores=$(nproc)
mem=$(free -g | awk '/^Mem:/ {print $2 " GiB"}')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet 2>/dev/null || commit="$commit (with uncommitted changes)"
load=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$WORK" "$OUT" <<PY
import json, sys
work, out = sys.argv[1], sys.argv[2]
def load(name):
    with open(f"{work}/{name}.json") as f:
        return json.load(f)
cont, stat = load("continuous"), load("static")
rounds = int("$HOP_ROUNDS")
hop_i_runs = [load(f"hop-inprocess-{r}") for r in range(1, rounds + 1)]
hop_g_runs = [load(f"hop-grpc-{r}") for r in range(1, rounds + 1)]
def median_run(runs):
    return sorted(runs, key=lambda x: x["output_tokens_per_s"])[len(runs) // 2]
hop_i, hop_g = median_run(hop_i_runs), median_run(hop_g_runs)
def preemptions(mode):
    try:
        with open(f"{work}/{mode}.preemptions") as f:
            return f.read().strip() or "n/a"
    except OSError:
        return "n/a"
def row(name, r):
    return (f"| {name} | {r['completed']}/{r['num_requests']} | {r['requests_per_s']:.2f} | "
            f"{r['output_tokens_per_s']:.1f} | {r['ttft_ms']['p50']:.0f} / {r['ttft_ms']['p90']:.0f} / "
            f"{r['ttft_ms']['p99']:.0f} | {r['itl_ms']['p50']:.1f} / {r['itl_ms']['p90']:.1f} / "
            f"{r['itl_ms']['p99']:.1f} | {r['e2e_ms']['p50']:.0f} / {r['e2e_ms']['p90']:.0f} / "
            f"{r['e2e_ms']['p99']:.0f} |")
head = ("| run | completed | requests/s | output tokens/s | TTFT ms p50 / p90 / p99 | "
        "ITL ms p50 / p90 / p99 | e2e ms p50 / p90 / p99 |\n|---|---|---|---|---|---|---|")
ratio = cont["output_tokens_per_s"] / max(stat["output_tokens_per_s"], 1e-9)
ttft_ratio = stat["ttft_ms"]["p50"] / max(cont["ttft_ms"]["p50"], 1e-9)
loss = 1 - hop_g["output_tokens_per_s"] / max(hop_i["output_tokens_per_s"], 1e-9)
text = f"""# Continuous vs static batching, and the gRPC hop

Produced by \`bench/run_batching_bench.sh\` in one run on one machine; do not
edit by hand (rerun the script).

- machine: $cpu, $cores cores, $mem; load average at the start: $load_start,
  at the end: $load (the machine was shared with other work: compare rows of
  this file with each other, not with other files); this run's scheduler
  autogroup: $priority
- date: $(date -u +%Y-%m-%dT%H:%MZ); commit: $commit; build: Release (-O3)
- model: \`$MODEL\`; one llm-worker (\`--threads $THREADS\`; \`--threads $HOP_THREADS\` for the
  hop) and llm-scheduler
  on loopback, \`--max-num-seqs $MAX_NUM_SEQS --max-batched-tokens $MAX_BATCHED_TOKENS\`,
  worker \`--kv-cache-bytes $KV_CACHE_BYTES\`; extra scheduler flags
  (SCHEDULER_ARGS): \`${SCHEDULER_ARGS:-none}\`; async scheduling: $async_mode

## Batching policy

Workload: $NUM_REQUESTS requests, prompt lengths uniform $INPUT_LEN tokens
(random token ids), output lengths uniform $OUTPUT_LEN tokens (ignore_eos),
greedy, closed loop at concurrency $CONCURRENCY, seed $SEED.

\`\`\`sh
deploy/local/start-cluster.sh --threads $THREADS -- --batching continuous --max-num-seqs $MAX_NUM_SEQS
llm-bench --server 127.0.0.1:50051 --num-requests $NUM_REQUESTS --concurrency $CONCURRENCY \\\\
  --input-len $INPUT_LEN --output-len $OUTPUT_LEN --seed $SEED --json
# then the same with --batching static
\`\`\`

{head}
{row("continuous", cont)}
{row("static", stat)}

Continuous / static output tokens/s: **{ratio:.2f}x** (target >= 2x); static /
continuous median TTFT: **{ttft_ratio:.2f}x** (target > 1x). Preemptions
(scheduler's llm_preemptions_total): continuous {preemptions("continuous")},
static {preemptions("static")}.

How to read it: on a 2-core CPU a step's time grows almost
linearly with the tokens in it (compute-bound, unlike a GPU or a many-core
CPU, where a decode step of 32 sequences costs little more than one of 1), so
throughput depends mostly on how much work there is, not on how it is
batched; the policy shows in the latencies: static batching makes a new
request wait for the whole previous batch (TTFT), continuous batching admits
it at the next step and mixes its prefill chunks into the running decodes
(longer inter-token gaps while prompts are being prefilled). The
measurements behind this (step time against batch size, where the gRPC
hop's time goes) are in [batching-analysis.md](batching-analysis.md).

## The gRPC hop

Workload: $HOP_REQUESTS requests, prompts $HOP_INPUT_LEN tokens, outputs
$HOP_OUTPUT_LEN tokens, concurrency 1 (one request at a time), greedy;
$HOP_ROUNDS rounds, each an in-process run then a cluster run, so that a change
in the machine's load hits both paths alike; the rows are each path's median
round (by output tokens/s), then every round. Round r uses seed
$SEED + 100 + r for both paths (same prompts within a round, new prompts
for each round, so no prefix-cache hits).

The worker (and the in-process run) use $HOP_THREADS thread(s) here, so
that llm-scheduler and llm-bench have a core of their own, as a
scheduler pod and a client have in a deployment: with every core taken
by the worker's threads, the scheduler's CPU time preempts a compute
thread mid-step and the measurement becomes one of CPU sharing on this
machine rather than of the hop (batching-analysis.md has both).

\`\`\`sh
deploy/local/start-cluster.sh --threads $HOP_THREADS
llm-bench --in-process --model $MODEL --threads $HOP_THREADS --num-requests $HOP_REQUESTS \\\\
  --concurrency 1 --input-len $HOP_INPUT_LEN --output-len $HOP_OUTPUT_LEN --seed SEED_R --json
llm-bench --server 127.0.0.1:50051 --num-requests $HOP_REQUESTS --concurrency 1 \\\\
  --input-len $HOP_INPUT_LEN --output-len $HOP_OUTPUT_LEN --seed SEED_R --json
\`\`\`

{head}
{row("in-process (engine + local worker), median", hop_i)}
{row("cluster (llm-bench -> llm-scheduler -> llm-worker), median", hop_g)}
{chr(10).join(row(f"round {k + 1}: in-process", a) + chr(10) + row(f"round {k + 1}: cluster", b) for k, (a, b) in enumerate(zip(hop_i_runs, hop_g_runs)))}

Throughput loss through the gRPC hop: **{loss * 100:.1f}%** (target < 5%).

Raw llm-bench reports: continuous \`{json.dumps(cont)}\`

static \`{json.dumps(stat)}\`

hop in-process \`{json.dumps(hop_i)}\`

hop cluster \`{json.dumps(hop_g)}\`
"""
with open(out, "w") as f:
    f.write(text)
print(text)
PY
echo "run_batching_bench: wrote $OUT" >&2
