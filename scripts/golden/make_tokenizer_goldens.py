#!/usr/bin/env python3
"""Writes llama.cpp tokenizer goldens for tests/common/tokenizer_test.cc.

Run with the llama-cpp-python venv (not run in CI):
  /opt/llamavenv/bin/python scripts/golden/make_tokenizer_goldens.py

Outputs (tests/fixtures/):
  tokenizer_golden.jsonl         one line per (text, special flag):
                                 {"b64": <text bytes>, "text": <str if valid
                                 UTF-8>, "special": bool, "ids": [...]}
  tokenizer_golden_pre.jsonl     same, for copies of the vocabulary whose
                                 tokenizer.ggml.pre is changed ("pre" field):
                                 gpt-2, llama-bpe, default
  tokenizer_golden_spm.jsonl     same fields plus "ids_add_special" (BOS per
                                 llama.cpp), for a SentencePiece-style copy of
                                 the vocabulary (see spm_vocab_copy)
  tokenizer_decode_golden.jsonl  {"id", "b64" (special=False), "b64_special"}
                                 = llama_token_to_piece bytes for sampled ids
  tokenizer_golden.meta.json     versions, model hash, bos/eos/eog, counts
  (the vocabulary copies live in a temporary directory only)

Texts are bytes (they may be invalid UTF-8); the corpus is
scripts/golden/tokenizer_corpus.py.
"""
import base64
import ctypes
import hashlib
import json
import os
import random
import struct
import sys
import tempfile

import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from tokenizer_corpus import corpus  # noqa: E402

MODEL = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def record(text, special, ids, pre=None):
    rec = {"b64": base64.b64encode(text).decode()}
    try:
        rec["text"] = text.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if pre is not None:
        rec["pre"] = pre
    rec["special"] = special
    rec["ids"] = ids
    return json.dumps(rec, ensure_ascii=False)


def token_to_piece(vocab, tid, special):
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(vocab, tid, buf, len(buf), 0, special)
    if n < 0:
        buf = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, tid, buf, len(buf), 0, special)
    return buf.raw[:n]


_SCALAR_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _skip_value(buf, off, vtype):
    if vtype in _SCALAR_SIZES:
        return off + _SCALAR_SIZES[vtype]
    if vtype == 8:  # string
        (n,) = struct.unpack_from("<Q", buf, off)
        return off + 8 + n
    if vtype == 9:  # array
        etype, n = struct.unpack_from("<IQ", buf, off)
        off += 12
        if etype in _SCALAR_SIZES:
            return off + n * _SCALAR_SIZES[etype]
        for _ in range(n):
            off = _skip_value(buf, off, etype)
        return off
    raise ValueError("bad GGUF value type %d" % vtype)


def vocab_copy_with_pre(pre, path):
    """A tensor-less copy of the model's metadata with tokenizer.ggml.pre set
    (a minimal GGUF rewriter, so this venv needs no `gguf` package)."""
    with open(MODEL, "rb") as f:
        buf = f.read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
    assert magic == b"GGUF"
    off = 24
    kvs = []
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", buf, off)
        key = buf[off + 8:off + 8 + klen].decode()
        (vtype,) = struct.unpack_from("<I", buf, off + 8 + klen)
        vstart = off + 12 + klen
        vend = _skip_value(buf, vstart, vtype)
        raw = buf[off:vend]
        if key == "tokenizer.ggml.pre":
            val = pre.encode()
            raw = struct.pack("<Q", klen) + key.encode() + struct.pack("<IQ", 8, len(val)) + val
        kvs.append(raw)
        off = vend
    with open(path, "wb") as f:
        f.write(struct.pack("<4sIQQ", b"GGUF", version, 0, len(kvs)))
        for raw in kvs:
            f.write(raw)


def _pack_string(b):
    return struct.pack("<Q", len(b)) + b


def _pack_kv(key, vtype, payload):
    return _pack_string(key.encode()) + struct.pack("<I", vtype) + payload


def spm_vocab_copy(path):
    """A SentencePiece-style ("llama") vocabulary derived from SmolLM2's, so
    llama.cpp's SPM path can be compared without another model file. Rule
    (mirrored in tests/common/tokenizer_test.cc): token i keeps its text with
    "\u0120" (GPT-2 space) replaced by "\u2581", its type, and score -i; then
    256 byte tokens "<0xXX>" (type 6, score 0) are appended. Merges, the
    pre-tokenizer, add_space_prefix and add_bos_token are dropped, so
    llama.cpp's SPM defaults apply (space prefix on, BOS added)."""
    with open(MODEL, "rb") as f:
        buf = f.read()
    magic, version, n_tensors, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
    off = 24
    kvs = []
    tokens = types = None
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", buf, off)
        key = buf[off + 8:off + 8 + klen].decode()
        (vtype,) = struct.unpack_from("<I", buf, off + 8 + klen)
        vstart = off + 12 + klen
        vend = _skip_value(buf, vstart, vtype)
        if key == "tokenizer.ggml.tokens":
            etype, n = struct.unpack_from("<IQ", buf, vstart)
            p = vstart + 12
            tokens = []
            for _ in range(n):
                (ln,) = struct.unpack_from("<Q", buf, p)
                tokens.append(buf[p + 8:p + 8 + ln].decode("utf-8"))
                p += 8 + ln
        elif key == "tokenizer.ggml.token_type":
            etype, n = struct.unpack_from("<IQ", buf, vstart)
            types = list(struct.unpack_from("<%di" % n, buf, vstart + 12))
        elif key in ("tokenizer.ggml.merges", "tokenizer.ggml.pre", "tokenizer.ggml.model",
                     "tokenizer.ggml.add_space_prefix", "tokenizer.ggml.add_bos_token"):
            pass
        else:
            kvs.append(buf[off:vend])
        off = vend
    texts = [t.replace("\u0120", "\u2581") for t in tokens]
    scores = [-float(i) for i in range(len(texts))]
    for b in range(256):
        texts.append("<0x%02X>" % b)
        types.append(6)
        scores.append(0.0)
    kvs.append(_pack_kv("tokenizer.ggml.model", 8, _pack_string(b"llama")))
    kvs.append(_pack_kv("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, len(texts)) +
                        b"".join(_pack_string(t.encode()) for t in texts)))
    kvs.append(_pack_kv("tokenizer.ggml.token_type", 9, struct.pack("<IQ", 5, len(types)) +
                        struct.pack("<%di" % len(types), *types)))
    kvs.append(_pack_kv("tokenizer.ggml.scores", 9, struct.pack("<IQ", 6, len(scores)) +
                        struct.pack("<%df" % len(scores), *scores)))
    with open(path, "wb") as f:
        f.write(struct.pack("<4sIQQ", b"GGUF", version, 0, len(kvs)))
        for raw in kvs:
            f.write(raw)


def main():
    texts = corpus()
    assert len(texts) >= 300, len(texts)
    llm = Llama(model_path=MODEL, vocab_only=True, verbose=False)
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)

    lines = []
    n_special_false = 0
    for i, t in enumerate(texts):
        lines.append(record(t, True, llm.tokenize(t, add_bos=False, special=True)))
        # parse_special=False for every text containing '<' and every 3rd one.
        if b"<" in t or i % 3 == 0:
            lines.append(record(t, False, llm.tokenize(t, add_bos=False, special=False)))
            n_special_false += 1
    with open(os.path.join(FIXTURES, "tokenizer_golden.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")

    # Other pre-tokenizers on the same vocabulary (llama.cpp's behaviour for
    # those names; the ids are not meaningful for SmolLM2 itself).
    pre_lines = []
    pre_names = []
    if os.environ.get("SKIP_PRE") is None:
        with tempfile.TemporaryDirectory() as tmp:
            for pre in ["gpt-2", "llama-bpe", "default"]:
                path = os.path.join(tmp, "vocab_%s.gguf" % pre)
                try:
                    vocab_copy_with_pre(pre, path)
                    other = Llama(model_path=path, vocab_only=True, verbose=False)
                except Exception as e:  # llama.cpp may not know the name
                    print("skipping pre=%s: %s" % (pre, e), file=sys.stderr)
                    continue
                pre_names.append(pre)
                for t in texts:
                    pre_lines.append(record(t, True, other.tokenize(t, add_bos=False, special=True),
                                            pre=pre))
                del other
    with open(os.path.join(FIXTURES, "tokenizer_golden_pre.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(pre_lines) + ("\n" if pre_lines else ""))

    # SentencePiece-style vocabulary (see spm_vocab_copy), with BOS and with
    # parse_special both ways.
    spm_lines = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vocab_spm.gguf")
        spm_vocab_copy(path)
        spm = Llama(model_path=path, vocab_only=True, verbose=False)
        for i, t in enumerate(texts):
            for special in ([True, False] if (b"<" in t or i % 3 == 0) else [True]):
                rec = json.loads(record(t, special, spm.tokenize(t, add_bos=False, special=special)))
                rec["ids_add_special"] = spm.tokenize(t, add_bos=True, special=special)
                spm_lines.append(json.dumps(rec, ensure_ascii=False))
        del spm
    with open(os.path.join(FIXTURES, "tokenizer_golden_spm.jsonl"), "w", encoding="utf-8") as f:
        f.write("\n".join(spm_lines) + "\n")

    rng = random.Random(1234)
    ids = sorted(set(list(range(0, 600)) + rng.sample(range(600, n_vocab), 2400) +
                     list(range(n_vocab - 50, n_vocab))))
    with open(os.path.join(FIXTURES, "tokenizer_decode_golden.jsonl"), "w") as f:
        for tid in ids:
            f.write(json.dumps({
                "id": tid,
                "b64": base64.b64encode(token_to_piece(vocab, tid, False)).decode(),
                "b64_special": base64.b64encode(token_to_piece(vocab, tid, True)).decode(),
            }) + "\n")

    with open(MODEL, "rb") as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    libllama = os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libllama.so")
    with open(libllama, "rb") as f:
        libllama_sha = hashlib.sha256(f.read()).hexdigest()
    meta = {
        "llama_cpp_python_version": llama_cpp.__version__,
        # llama-cpp-python exposes no llama.cpp build number; the library hash
        # identifies the exact build used.
        "libllama_so": os.path.basename(os.path.realpath(libllama)),
        "libllama_so_sha256": libllama_sha,
        "llama_cpp_system_info": llama_cpp.llama_print_system_info().decode(),
        "model": os.path.basename(MODEL),
        "model_sha256": sha,
        "n_vocab": n_vocab,
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "eot": llama_cpp.llama_vocab_eot(vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
        "eog_ids": [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i)],
        "is_eog_0_16": {str(i): bool(llama_cpp.llama_vocab_is_eog(vocab, i)) for i in range(17)},
        "n_texts": len(texts),
        "n_special_false": n_special_false,
        "pre_tokenizers": pre_names,
        "n_decode_ids": len(ids),
        "note": "texts with code points above U+10FFFF are excluded: llama.cpp aborts on them",
    }
    with open(os.path.join(FIXTURES, "tokenizer_golden.meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(json.dumps({k: meta[k] for k in ("n_texts", "n_special_false", "eog_ids",
                                           "pre_tokenizers", "n_decode_ids")}))


if __name__ == "__main__":
    main()
