#!/opt/llamavenv/bin/python
"""Produces model-level golden fixtures from llama.cpp (via llama-cpp-python).

Writes
  tests/fixtures/model_golden.jsonl      one JSON object per prompt
  tests/fixtures/model_golden_meta.json  how the goldens were produced

Run manually (not in CI), with the pinned llama-cpp-python venv:
  /opt/llamavenv/bin/python scripts/golden/make_model_goldens.py \
      [--threads 2] [--verify-threads N --verify-count 4]
On a busy machine use --threads 1 (ggml's OpenMP spin-wait collapses when
cores are oversubscribed) and --verify-threads 2 to prove the thread count
does not change the results.

Method (REFERENCE.md section 6): prompts are tokenized with
tokenize(text, add_bos=False, special=True); chat prompts are rendered with the
SmolLM2 ChatML template here, never by llama.cpp's generic "chatml" renderer
(which drops SmolLM2's default system turn). The prompt is evaluated in one
eval() call, then greedy decoding is an argmax loop over the last logits row,
evaluating one token at a time, stopping early only on EOG ids 0 / 2.

Each line:
  name, kind ("raw" | "chat"), prompt (the exact text tokenized),
  messages (chat only: the [role, content] list that was rendered),
  prompt_token_ids, greedy_token_ids, stopped_on_eog (bool),
  top_logits: top-20 [id, logit] at the final prompt position,
  step_top_logits: for step k = 0..7, top-20 [id, logit] of the logits row
      that chose greedy_token_ids[k] (so step 0 equals top_logits),
  step_margins: for every greedy step k, logit(top-1) - logit(top-2) of the
      row that chose greedy_token_ids[k]; a small margin explains a near-tie
      divergence from another implementation.
Logits are rounded to 5 decimals (llama.cpp itself is only ~1e-3 accurate
against a float reference, see REFERENCE.md 2.1).
"""

import argparse
import datetime
import hashlib
import json
import os
import platform
import sys

import numpy as np
import llama_cpp
from llama_cpp import Llama

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
MODEL_PATH = os.path.join(REPO_ROOT, "models",
                          "SmolLM2-135M-Instruct.Q4_1.gguf")
MODEL_SHA256 = (
    "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53")
OUT_JSONL = os.path.join(REPO_ROOT, "tests", "fixtures", "model_golden.jsonl")
OUT_META = os.path.join(REPO_ROOT, "tests", "fixtures",
                        "model_golden_meta.json")
PEER_COMMIT_FILE = os.path.join(REPO_ROOT, "third_party", "llama.cpp-peer",
                                "LLAMA_CPP_COMMIT")

N_CTX = 2048
N_THREADS = 2
SEED = 0
MAX_NEW_TOKENS = 64
TOP_K = 20
N_STEP_TOPS = 8
EOG_IDS = (0, 2)  # <|endoftext|>, <|im_end|>

SYSTEM_PROMPT = ("You are a helpful AI assistant named SmolLM, trained by "
                 "Hugging Face")

LONG_PROMPT = (
    "The history of the printing press begins long before Johannes Gutenberg. "
    "In China, woodblock printing was used to reproduce texts on paper as "
    "early as the Tang dynasty, and the oldest dated printed book, the "
    "Diamond Sutra, was produced in 868. Around 1040 the artisan Bi Sheng "
    "invented movable type made of baked clay, but the enormous number of "
    "Chinese characters made the technique cumbersome. Korean printers later "
    "cast movable type in bronze, and in 1377 the Jikji, a collection of "
    "Buddhist teachings, was printed with metal type. In Europe, Gutenberg "
    "combined several existing technologies around 1440: a screw press "
    "adapted from those used to make wine and olive oil, an oil-based ink "
    "that adhered well to metal, and a hand mould that allowed type pieces "
    "of uniform height to be cast quickly from an alloy of lead, tin and "
    "antimony. His Bible, completed around 1455, demonstrated that printed "
    "books could rival the beauty of manuscripts. Within fifty years, "
    "printing shops had spread to more than two hundred cities, and millions "
    "of volumes were in circulation. The consequences were profound: the "
    "cost of books fell, literacy rose, scientific results could be shared "
    "accurately, and religious and political ideas travelled faster than "
    "authorities could control them. Historians often argue that the "
    "Reformation, the Scientific Revolution and the rise of the modern "
    "newspaper would have been impossible without the press. In summary, "
    "the three most important effects of the printing press were")

RAW_PROMPTS = [
    ("story_once", "Once upon a time, in a small village by the sea,"),
    ("story_dragon", "The dragon opened its eyes for the first time in a "
     "thousand years and"),
    ("story_space", "Captain Lee stared at the blinking console. \"We have "
     "about ten minutes of oxygen left,\" she said."),
    ("fact_capital", "The capital of France is"),
    ("fact_water", "Water boils at a temperature of"),
    ("fact_photosynthesis", "Photosynthesis is the process by which plants"),
    ("fact_planets", "The planets of the solar system, in order from the "
     "Sun, are"),
    ("list_fruits", "Here is a list of fruits:\n1. Apple\n2. Banana\n3."),
    ("list_steps", "How to make a cup of tea:\n- Boil water\n-"),
    ("math_add", "2 + 2 = 4\n3 + 5 = 8\n7 + 6 ="),
    ("math_word", "Question: If a train travels 60 miles per hour for 3 "
     "hours, how far does it travel?\nAnswer:"),
    ("math_digits", "The first ten digits of pi are 3.14159"),
    ("code_python", "def fibonacci(n):\n    \"\"\"Return the n-th Fibonacci "
     "number.\"\"\"\n"),
    ("code_cpp", "#include <iostream>\n\nint main() {\n    std::cout <<"),
    ("code_json", "{\"name\": \"Alice\", \"age\": 30, \"hobbies\": ["),
    ("code_sql", "SELECT name, COUNT(*) FROM orders"),
    ("ml_french", "La tour Eiffel est située à Paris. Elle a été construite "
     "en"),
    ("ml_spanish", "Había una vez un niño que vivía en"),
    ("ml_german", "Die Hauptstadt von Deutschland ist"),
    ("ml_chinese", "中国的首都是"),
    ("ml_japanese", "日本で一番高い山は"),
    ("ml_russian", "Москва — столица"),
    ("ws_mixed", "  Leading spaces,\ttabs,\n\nnewlines   and   runs of "
     "spaces...  "),
    ("punct_emoji", "I love pizza 🍕!!! Don't you? It's 12:30 p.m. (maybe)"),
    ("numbers", "In 2023, the population was 1,234,567 and rose by 3.5%"),
    ("long_printing", LONG_PROMPT),
]

# Each chat entry is a list of (role, content); the default system turn is
# inserted when the first message is not a system message.
CHAT_PROMPTS = [
    ("chat_hi", [("user", "Hi")]),
    ("chat_capital", [("user", "What is the capital of France?")]),
    ("chat_poem", [("user", "Write a short poem about the ocean.")]),
    ("chat_explain_gravity", [("user", "Explain gravity to a five year old.")]),
    ("chat_math", [("user", "What is 15 multiplied by 4?")]),
    ("chat_code_reverse", [("user", "Write a Python function that reverses "
                            "a string.")]),
    ("chat_list_colors", [("user", "List three primary colors.")]),
    ("chat_translate", [("user", "Translate 'good morning' into Spanish.")]),
    ("chat_french", [("user", "Bonjour ! Comment ça va ?")]),
    ("chat_name", [("user", "What is your name?")]),
    ("chat_recipe", [("user", "Give me a simple recipe for pancakes.")]),
    ("chat_advice", [("user", "How can I sleep better at night?")]),
    ("chat_summary", [("user", "Summarize in one sentence: The quick brown "
                       "fox jumps over the lazy dog. The dog did not react "
                       "and kept sleeping in the sun.")]),
    ("chat_history", [("user", "Who was the first person to walk on the "
                       "moon?")]),
    ("chat_science", [("user", "Why is the sky blue?")]),
    ("chat_yesno", [("user", "Is the earth flat? Answer yes or no.")]),
    ("chat_joke", [("user", "Tell me a joke about computers.")]),
    ("chat_email", [("user", "Write a polite email asking my manager for a "
                     "day off on Friday.")]),
    ("chat_emoji", [("user", "What does this emoji mean: 🎉")]),
    ("chat_multiturn", [("user", "What is 2+2?"), ("assistant", "2+2 equals "
                        "4."), ("user", "And what is that times 3?")]),
    ("chat_custom_system", [("system", "You are a pirate. Always answer like "
                             "a pirate."), ("user", "Where is the treasure?")]),
    ("chat_long", [("user", "Read this text and answer the question.\n\n" +
                    LONG_PROMPT + "...\n\nQuestion: In which year was the "
                    "Diamond Sutra printed?")]),
]


def render_chat(messages):
  """SmolLM2-Instruct ChatML (REFERENCE.md section 6), generation prompt on."""
  out = []
  if not messages or messages[0][0] != "system":
    out.append(f"<|im_start|>system\n{SYSTEM_PROMPT}<|im_end|>\n")
  for role, content in messages:
    out.append(f"<|im_start|>{role}\n{content}<|im_end|>\n")
  out.append("<|im_start|>assistant\n")
  return "".join(out)


def top_k(row, k=TOP_K):
  # Stable order on ties: by logit descending, then id ascending.
  idx = np.argpartition(-row, k)[:k]
  idx = sorted(idx.tolist(), key=lambda i: (-float(row[i]), i))
  return [[int(i), round(float(row[i]), 5)] for i in idx]


def margin(row):
  two = np.partition(row, -2)[-2:]
  return round(float(two[1] - two[0]), 5)


def sha256_file(path):
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def run_prompt(llm, text):
  ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
  llm.reset()
  llm.eval(ids)
  row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
  prompt_top = top_k(row)
  greedy, step_tops, margins = [], [], []
  stopped = False
  for step in range(MAX_NEW_TOKENS):
    # np.argmax returns the lowest id on exact ties, like a plain argmax loop.
    tok = int(np.argmax(row))
    greedy.append(tok)
    margins.append(margin(row))
    if step < N_STEP_TOPS:
      step_tops.append(top_k(row))
    if tok in EOG_IDS:
      stopped = True
      break
    if step + 1 == MAX_NEW_TOKENS:
      break
    llm.eval([tok])
    row = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
  return ids, greedy, prompt_top, step_tops, margins, stopped


def verify_threads(threads, entries, lines):
  """Re-runs entries with another thread count; exits on any difference."""
  global MAX_NEW_TOKENS
  saved, MAX_NEW_TOKENS = MAX_NEW_TOKENS, N_STEP_TOPS
  llm = Llama(model_path=MODEL_PATH, n_ctx=N_CTX, logits_all=True,
              n_threads=threads, n_threads_batch=threads, verbose=False,
              seed=SEED, flash_attn=False)
  names = []
  for (name, _, text, _), line in zip(entries, lines):
    want = json.loads(line)
    ids, greedy, top, step_tops, _, _ = run_prompt(llm, text)
    n = len(greedy)
    if (ids != want["prompt_token_ids"] or
        greedy != want["greedy_token_ids"][:n] or top != want["top_logits"] or
        step_tops != want["step_top_logits"][:n]):
      sys.exit(f"{name}: results differ with {threads} threads")
    names.append(name)
    print(f"verified {name} with {threads} threads", file=sys.stderr,
          flush=True)
  MAX_NEW_TOKENS = saved
  return {"threads": threads, "steps": N_STEP_TOPS, "prompts": names,
          "result": "identical token ids and top-20 logits"}


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--threads", type=int, default=N_THREADS,
                  help="llama.cpp threads (results do not depend on it: each "
                  "output element is one full-length dot product)")
  ap.add_argument("--verify-threads", type=int, default=0,
                  help="after writing, re-run the first --verify-count "
                  "prompts (first 8 steps) with this many threads and check "
                  "token ids and recorded logits are identical")
  ap.add_argument("--verify-count", type=int, default=4)
  args = ap.parse_args()
  if not os.path.exists(MODEL_PATH):
    sys.exit(f"model not found: {MODEL_PATH} (run scripts/fetch-model.sh)")
  digest = sha256_file(MODEL_PATH)
  if digest != MODEL_SHA256:
    sys.exit(f"model sha256 mismatch: {digest}")

  llm = Llama(model_path=MODEL_PATH, n_ctx=N_CTX, logits_all=True,
              n_threads=args.threads, n_threads_batch=args.threads,
              verbose=False,
              seed=SEED, flash_attn=False)
  vocab = llama_cpp.llama_model_get_vocab(llm.model)
  eog_set = [i for i in range(llm.n_vocab())
             if llama_cpp.llama_vocab_is_eog(vocab, i)]

  entries = [(n, "raw", t, None) for n, t in RAW_PROMPTS]
  entries += [(n, "chat", render_chat(m), m) for n, m in CHAT_PROMPTS]
  lines = []
  for name, kind, text, messages in entries:
    ids, greedy, top, step_tops, margins, stopped = run_prompt(llm, text)
    if len(ids) + MAX_NEW_TOKENS > N_CTX:
      sys.exit(f"{name}: prompt too long")
    rec = {"name": name, "kind": kind, "prompt": text}
    if messages is not None:
      rec["messages"] = [[r, c] for r, c in messages]
    rec.update({
        "prompt_token_ids": ids,
        "greedy_token_ids": greedy,
        "stopped_on_eog": stopped,
        "top_logits": top,
        "step_top_logits": step_tops,
        "step_margins": margins,
    })
    lines.append(json.dumps(rec, ensure_ascii=False))
    print(f"{name:24s} prompt={len(ids):4d} gen={len(greedy):3d} "
          f"eog={stopped} min_margin={min(margins):.4f} "
          f"text={llm.detokenize(greedy).decode('utf-8', 'replace')[:60]!r}",
          file=sys.stderr, flush=True)

  os.makedirs(os.path.dirname(OUT_JSONL), exist_ok=True)
  with open(OUT_JSONL, "w", encoding="utf-8") as f:
    f.write("\n".join(lines) + "\n")

  peer_commit = None
  if os.path.exists(PEER_COMMIT_FILE):
    peer_commit = open(PEER_COMMIT_FILE).read().strip()
  meta = {
      "generator": "scripts/golden/make_model_goldens.py",
      "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
          timespec="seconds"),
      "llama_cpp_python_version": llama_cpp.__version__,
      "llama_cpp_commit": peer_commit,
      "llama_cpp_commit_source": (
          "HEAD of .git/modules/vendor/llama.cpp in the llama-cpp-python "
          "sdist of the same version (the installed wheel does not embed it)"),
      "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode(),
      "model_file": os.path.basename(MODEL_PATH),
      "model_sha256": digest,
      "n_ctx": N_CTX,
      "n_threads": args.threads,
      "n_threads_batch": args.threads,
      "n_batch": llm.n_batch,
      "seed": SEED,
      "logits_all": True,
      "flash_attn": False,
      "kv_cache_type": "f16 (default) for K and V",
      "prompt_eval": "whole prompt in one eval() call (n_batch=512 chunks), "
                     "then one token per eval()",
      "tokenize": "tokenize(text, add_bos=False, special=True)",
      "max_new_tokens": MAX_NEW_TOKENS,
      "top_k_recorded": TOP_K,
      "step_top_logits_steps": N_STEP_TOPS,
      "eog_stop_ids": list(EOG_IDS),
      "llama_vocab_is_eog_ids": eog_set,
      "chat_system_prompt": SYSTEM_PROMPT,
      "logit_rounding_decimals": 5,
      "host": platform.node(),
      "python": platform.python_version(),
      "n_prompts": len(lines),
  }
  if args.threads != N_THREADS:
    meta["n_threads_note"] = (
        f"run with {args.threads} thread(s) instead of {N_THREADS}: on the "
        "shared, oversubscribed dev machine ggml's OpenMP spin-wait made "
        "multi-thread runs ~100x slower; results do not depend on the thread "
        "count (see thread_invariance_check)")
  if args.verify_threads:
    meta["thread_invariance_check"] = verify_threads(
        args.verify_threads, entries[:args.verify_count], lines)
  with open(OUT_META, "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=2, ensure_ascii=False)
    f.write("\n")
  print(f"wrote {len(lines)} goldens to {OUT_JSONL}", file=sys.stderr)


if __name__ == "__main__":
  main()
