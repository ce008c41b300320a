"""The soak's request mix and its clients (used by bench/soak/soak.py).

Each request is one of a few kinds, drawn at random with fixed weights; every
kind knows which gRPC status codes are the expected outcome, so the soak can
tell "the server did what it should" from "something broke":

  normal    a chat prompt, 16-64 tokens                      -> OK
  n_gt_1    n = 2..4 samples of a chat prompt                 -> OK, every sample finished
  cancel    a long generation the client cancels after 1-4
            streamed messages                                 -> CANCELLED (OK if it ended first)
  deadline  a long generation with a 50-500 ms deadline       -> DEADLINE_EXCEEDED (or OK)
  overlong  a prompt longer than the context, or max_tokens
            that cannot fit it                                -> INVALID_ARGUMENT

Thread-safety: Client is used from many threads at once (one gRPC channel is
shared; the stubs are thread-safe); OutcomeLog is guarded by its own lock.
"""

import dataclasses
import importlib
import os
import random
import sys
import threading
import time

import grpc
from grpc_tools import protoc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTO_ROOT = os.path.join(REPO, "proto")

PROMPTS = [
    "Write a haiku about the sea.",
    "What is the capital of France?",
    "Explain in two sentences why the sky is blue.",
    "List three fruits that are red.",
    "Give me a short tip for learning to cook.",
    "Translate 'good morning' into Spanish.",
    "Write one sentence about a cat on a roof.",
    "What is 12 times 7?",
    "Describe a forest at night in one paragraph.",
    "Name a famous scientist and what they discovered.",
]

# Kind -> (weight, expected status codes). The weights sum to 1.
KINDS = {
    "normal": (0.50, {"OK"}),
    "n_gt_1": (0.12, {"OK"}),
    "cancel": (0.13, {"CANCELLED", "OK"}),
    "deadline": (0.13, {"DEADLINE_EXCEEDED", "OK"}),
    "overlong": (0.12, {"INVALID_ARGUMENT"}),
}

# SmolLM2's context is 8192 tokens; a prompt of this many token ids cannot fit.
OVERLONG_PROMPT_TOKENS = 8300
# A token id every SmolLM2 vocabulary has (plain text, not special).
FILLER_TOKEN_ID = 1000


def load_stubs(out_dir):
    """Generates llm.v1 stubs into out_dir (as examples/python_client does) and imports them."""
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "grpc_tools.protoc", f"-I{PROTO_ROOT}", f"-I{well_known}",
        f"--python_out={out_dir}", f"--grpc_python_out={out_dir}",
        os.path.join(PROTO_ROOT, "llm", "v1", "inference.proto"),
    ])
    if rc != 0:
        raise RuntimeError(f"protoc failed ({rc}) on inference.proto")
    sys.path.insert(0, out_dir)
    return (importlib.import_module("llm.v1.inference_pb2"),
            importlib.import_module("llm.v1.inference_pb2_grpc"))


@dataclasses.dataclass
class Outcome:
    kind: str
    status: str           # gRPC status code name, e.g. "OK"
    start: float          # time.monotonic() when the call began
    end: float
    ttft: float | None    # seconds to the first message carrying tokens
    tokens: int           # tokens received, all samples
    expected: bool        # status is one the kind expects (and samples check out)
    detail: str = ""


class OutcomeLog:
    """Every finished request, in completion order. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self._items = []

    def add(self, outcome):
        with self._lock:
            self._items.append(outcome)

    def since(self, index):
        """Outcomes from position index on, and the new end position."""
        with self._lock:
            return self._items[index:], len(self._items)

    def all(self):
        with self._lock:
            return list(self._items)


def pick_kind(rng):
    x = rng.random()
    for kind, (weight, _) in KINDS.items():
        x -= weight
        if x < 0:
            return kind
    return "normal"


class Client:
    """Sends one request of a given kind and records its Outcome."""

    def __init__(self, pb2, pb2_grpc, server, log):
        self._pb2 = pb2
        # Enough concurrent streams on one channel for the soak's in-flight calls.
        self._channel = grpc.insecure_channel(server, options=[
            ("grpc.max_concurrent_streams", 1000)])
        self._stub = pb2_grpc.InferenceStub(self._channel)
        self._log = log

    def close(self):
        self._channel.close()

    def _chat(self, rng, max_tokens, **extra):
        req = self._pb2.GenerateRequest(max_tokens=max_tokens, **extra)
        req.chat.messages.add(role="user", content=rng.choice(PROMPTS))
        req.sampling.temperature = 0.8
        req.sampling.seed = rng.getrandbits(32)
        return req

    def run(self, kind, rng):
        pb2 = self._pb2
        timeout = 300.0
        cancel_after = None
        n = 1
        if kind == "normal":
            req = self._chat(rng, rng.randint(16, 64))
        elif kind == "n_gt_1":
            n = rng.randint(2, 4)
            req = self._chat(rng, rng.randint(8, 32), n=n)
        elif kind == "cancel":
            req = self._chat(rng, 128, ignore_eos=True)
            cancel_after = rng.randint(1, 4)
        elif kind == "deadline":
            req = self._chat(rng, 128, ignore_eos=True)
            timeout = rng.uniform(0.05, 0.5)
        elif kind == "overlong":
            if rng.random() < 0.5:
                req = pb2.GenerateRequest(max_tokens=16)
                req.token_ids.ids.extend([FILLER_TOKEN_ID] * OVERLONG_PROMPT_TOKENS)
            else:
                req = self._chat(rng, 100000)  # cannot fit the 8192-token context
        else:
            raise ValueError(kind)

        start = time.monotonic()
        ttft = None
        tokens = 0
        messages = 0
        finished = set()
        status = "OK"
        detail = ""
        call = self._stub.Generate(req, timeout=timeout)
        try:
            for resp in call:
                messages += 1
                if resp.token_ids and ttft is None:
                    ttft = time.monotonic() - start
                tokens += len(resp.token_ids)
                if resp.finish_reason:
                    finished.add(resp.index)
                if cancel_after is not None and messages >= cancel_after:
                    call.cancel()
        except grpc.RpcError as e:
            status = e.code().name
            detail = (e.details() or "")[:200]
        end = time.monotonic()
        _, expected_codes = KINDS[kind]
        expected = status in expected_codes
        if status == "OK" and kind in ("normal", "n_gt_1") and len(finished) != n:
            expected = False
            detail = f"only samples {sorted(finished)} of {n} finished"
        self._log.add(Outcome(kind, status, start, end, ttft, tokens, expected, detail))
