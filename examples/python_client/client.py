#!/usr/bin/env python3
"""A Python client of llm-scheduler, built from the project's own .proto files.

The stubs are generated at run time with grpcio-tools from
proto/llm/v1/inference.proto into a temporary directory (nothing generated is
committed), so this file shows that the API serves any gRPC language.

    python3 examples/python_client/client.py --server 127.0.0.1:50051 \
        --prompt "Write a haiku about the sea" --max-tokens 64

Streams the completion as it arrives. Errors are handled by status code:
  INVALID_ARGUMENT    the request is wrong; retrying cannot help: the server's
                      message names the field. Exit 2.
  RESOURCE_EXHAUSTED  the admission queue is full: retry with exponential
                      backoff (--retries times), then exit 3.
  UNAVAILABLE         no server (or it is draining): exit 4.
  anything else       exit 1.
With --json, one JSON object per sample is printed at the end instead:
{"index", "token_ids", "text", "finish_reason", "usage"}.
"""

import argparse
import importlib
import json
import os
import random
import sys
import tempfile
import time

import grpc
from grpc_tools import protoc

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROTO_ROOT = os.path.join(REPO, "proto")

EXIT_INVALID_ARGUMENT = 2
EXIT_RESOURCE_EXHAUSTED = 3
EXIT_UNAVAILABLE = 4


def load_stubs(out_dir):
    """Generates inference_pb2 / inference_pb2_grpc into out_dir and imports them."""
    # grpc_tools ships the well-known protos (none needed today) next to itself.
    well_known = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{well_known}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        os.path.join(PROTO_ROOT, "llm", "v1", "inference.proto"),
    ])
    if rc != 0:
        raise RuntimeError(f"protoc failed ({rc}) on {PROTO_ROOT}/llm/v1/inference.proto")
    sys.path.insert(0, out_dir)
    pb2 = importlib.import_module("llm.v1.inference_pb2")
    pb2_grpc = importlib.import_module("llm.v1.inference_pb2_grpc")
    return pb2, pb2_grpc


def build_request(pb2, args):
    req = pb2.GenerateRequest(request_id=args.request_id or "")
    if args.chat:
        req.chat.messages.add(role="user", content=args.prompt)
    else:
        req.text = args.prompt
    # Only what the user gave is set: the server's defaults apply otherwise,
    # and its validation (not ours) decides what is acceptable.
    if args.temperature is not None:
        req.sampling.temperature = args.temperature
    if args.top_p is not None:
        req.sampling.top_p = args.top_p
    if args.top_k is not None:
        req.sampling.top_k = args.top_k
    if args.seed is not None:
        req.sampling.seed = args.seed
    if args.n is not None:
        req.n = args.n
    if args.max_tokens is not None:
        req.max_tokens = args.max_tokens
    req.ignore_eos = args.ignore_eos
    req.stop.extend(args.stop)
    return req


def generate(stub, req, args):
    """One streamed Generate call; returns {index: sample} or raises RpcError."""
    samples = {}
    stream_text = not args.json and req.n <= 1
    for resp in stub.Generate(req, timeout=args.timeout):
        s = samples.setdefault(resp.index, {"index": resp.index, "token_ids": [], "text": "",
                                            "finish_reason": "", "usage": None})
        s["token_ids"].extend(resp.token_ids)
        s["text"] += resp.text
        if stream_text and resp.text:
            print(resp.text, end="", flush=True)
        if resp.finish_reason:
            s["finish_reason"] = resp.finish_reason
            s["usage"] = {"prompt_tokens": resp.usage.prompt_tokens,
                          "completion_tokens": resp.usage.completion_tokens,
                          "cached_tokens": resp.usage.cached_tokens}
    if stream_text:
        print(flush=True)
    return samples


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--server", default="127.0.0.1:50051")
    p.add_argument("--prompt", required=True)
    p.add_argument("--chat", action="store_true", help="send the prompt as a user message")
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float)
    p.add_argument("--top-k", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--n", type=int)
    p.add_argument("--ignore-eos", action="store_true")
    p.add_argument("--stop", action="append", default=[])
    p.add_argument("--request-id")
    p.add_argument("--timeout", type=float, default=300, help="deadline in seconds")
    p.add_argument("--retries", type=int, default=5,
                   help="retries after RESOURCE_EXHAUSTED (exponential backoff)")
    p.add_argument("--json", action="store_true", help="one JSON object per sample at the end")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="llm-python-client-") as out_dir:
        pb2, pb2_grpc = load_stubs(out_dir)
        with grpc.insecure_channel(args.server) as channel:
            stub = pb2_grpc.InferenceStub(channel)
            req = build_request(pb2, args)
            delay = 0.2
            for attempt in range(args.retries + 1):
                try:
                    samples = generate(stub, req, args)
                    break
                except grpc.RpcError as e:
                    code, message = e.code(), e.details()
                    if code == grpc.StatusCode.INVALID_ARGUMENT:
                        print(f"INVALID_ARGUMENT: {message} (fix the request; not retried)",
                              file=sys.stderr)
                        return EXIT_INVALID_ARGUMENT
                    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                        if attempt == args.retries:
                            print(f"RESOURCE_EXHAUSTED: {message} (gave up after "
                                  f"{args.retries} retries)", file=sys.stderr)
                            return EXIT_RESOURCE_EXHAUSTED
                        # Full queue: back off with jitter, then try again.
                        wait = delay * (1 + random.random())
                        print(f"RESOURCE_EXHAUSTED: {message}; retrying in {wait:.2f} s",
                              file=sys.stderr)
                        time.sleep(wait)
                        delay = min(delay * 2, 5.0)
                        continue
                    if code == grpc.StatusCode.UNAVAILABLE:
                        print(f"UNAVAILABLE: {message}", file=sys.stderr)
                        return EXIT_UNAVAILABLE
                    print(f"{code.name}: {message}", file=sys.stderr)
                    return 1
    if args.json:
        for index in sorted(samples):
            print(json.dumps(samples[index]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
