#!/usr/bin/env bash
# Speculative decoding speed-up, single stream and concurrency 8, written as
# a markdown table of medians over REPEATS runs (each run measures its own
# baseline back to back with the speculative pass, so a change in the
# machine's speed hits both): docs/perf/speculative-results.md.
#
#  - draft model: the F32 rewrite of SmolLM2 (every tensor F32, embedding
#    and LM head included) as the target, the Q4_1 file as its draft (chat
#    prompts, open generation), K in KS;
#  - n-gram prompt lookup: the Q4_1 model on input-grounded prompts
#    (repeat / rewrite / extract / summarise a given text), K = 5, fixed and
#    adaptive.
# Each at --threads 1 and --threads 2 (THREADS_LIST).
#
# Usage: bench/run_spec_bench.sh
# Env overrides: BUILD_DIR [build], REPEATS [3], KS ["2 3 4"],
#   THREADS_LIST ["1 2"], MAX_TOKENS [64], PROMPTS [4],
#   OUT [docs/perf/speculative-results.md]
set -euo pipefail
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
BUILD_DIR=${BUILD_DIR:-build}
BIN="$BUILD_DIR/bin"
REPEATS=${REPEATS:-3}
KS=${KS:-"2 3 4"}
THREADS_LIST=${THREADS_LIST:-"1 2"}
MAX_TOKENS=${MAX_TOKENS:-64}
PROMPTS=${PROMPTS:-4}
OUT=${OUT:-docs/perf/speculative-results.md}
Q4=models/SmolLM2-135M-Instruct.Q4_1.gguf
F32=models/SmolLM2-135M-Instruct.F32.gguf
RAW=$(mktemp /tmp/llm-spec-bench-XXXXXX.jsonl)

for b in llm-spec-bench llm-make-model; do
  [ -x "$BIN/$b" ] || { echo "run_spec_bench: $BIN/$b not built" >&2; exit 1; }
done
[ -f "$Q4" ] || { echo "run_spec_bench: $Q4 missing (scripts/fetch-model.sh)" >&2; exit 1; }
[ -f "$F32" ] || "$BIN/llm-make-model" --from "$Q4" --type f32 --embedding-type f32 --out "$F32"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

# run LABEL ARGS...: one llm-spec-bench invocation, its JSON lines tagged.
run() {
  local label=$1
  shift
  echo "run_spec_bench: $label $*" >&2
  "$BIN/llm-spec-bench" "$@" --max-tokens "$MAX_TOKENS" --single-stream-prompts "$PROMPTS" \
    --concurrency 1 8 2>/dev/null | grep '^{' | sed "s/^{/{\"label\":\"$label\",/" >>"$RAW"
}

for rep in $(seq "$REPEATS"); do
  for t in $THREADS_LIST; do
    for k in $KS; do
      run "draft model (Q4_1) -> F32" --model "$F32" --draft-model "$Q4" \
        --num-speculative-tokens "$k" --threads "$t"
    done
    run "n-gram -> Q4_1" --model "$Q4" --draft ngram --num-speculative-tokens 5 --threads "$t"
    run "n-gram, adaptive K -> Q4_1" --model "$Q4" --draft ngram --num-speculative-tokens 5 \
      --adaptive --threads "$t"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RAW" "$OUT" "$REPEATS" "$load_start" "$load_end" "$MAX_TOKENS" "$PROMPTS" <<'EOF'
import json, statistics, subprocess, sys, datetime, platform
raw, out, repeats, load_start, load_end, max_tokens, prompts = sys.argv[1:]
rows = {}
for line in open(raw):
    d = json.loads(line)
    key = (d["label"], d["threads"], d["k"], d["concurrency"])
    rows.setdefault(key, []).append(d)
cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
if subprocess.run(["git", "diff", "--quiet"]).returncode != 0:
    commit += " (with uncommitted changes)"
med = lambda xs: statistics.median(xs)
lines = [
    "# Speculative decoding: results (generated)",
    "",
    "Produced by `bench/run_spec_bench.sh`; do not edit by hand (rerun the script).",
    "",
    f"- machine: {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} cores; "
    f"load average at the start {load_start}, at the end {load_end}",
    f"- date: {datetime.datetime.utcnow().strftime('%Y-%m-%dT%H:%MZ')}; commit: {commit}",
    f"- tool: `llm-spec-bench` (greedy, --max-tokens {max_tokens}, {prompts} single-stream prompts "
    "one at a time, then 8 together); every cell is the median of "
    f"{repeats} runs, each run measuring its baseline and its speculative pass back to back",
    "- decode tokens/s counts from the step after which every sequence has its first token "
    "(prefill, including the draft's prompt catch-up, excluded)",
    "",
    "| source -> target | threads | K | concurrency | baseline tok/s | speculative tok/s | speed-up "
    "(median of per-run ratios) | per-run speed-ups | acceptance | mean accepted / verification | identical output |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
]
for key in sorted(rows, key=lambda k: (k[0].startswith("n-gram"), k[0], k[1], k[3], k[2])):
    label, threads, k, conc = key
    ds = rows[key]
    ratios = [d["speedup"] for d in ds]
    lines.append(
        f"| {label} | {threads} | {k} | {conc} | {med([d['baseline_decode_tok_s'] for d in ds]):.1f} | "
        f"{med([d['spec_decode_tok_s'] for d in ds]):.1f} | **{med(ratios):.2f}x** | "
        f"{', '.join(f'{r:.2f}' for r in ratios)} | {med([d['acceptance_rate'] for d in ds]):.2f} | "
        f"{med([d['mean_accepted_per_verification'] for d in ds]):.2f} | "
        f"{'yes' if all(d['identical_outputs'] for d in ds) else 'NO'} |")
lines.append("")
open(out, "w").write("\n".join(lines))
print("\n".join(lines))
EOF
rm -f "$RAW"
