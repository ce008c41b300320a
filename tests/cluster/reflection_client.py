#!/usr/bin/env python3
"""A generic gRPC client built on server reflection alone (like grpcurl).

It imports no generated code: every service, method and message type comes
from the server's grpc.reflection.v1alpha service at run time, and requests
are built as dynamic messages from JSON. tests/cluster/reflection_test.cc runs
it against real llm-scheduler and llm-worker processes.

  reflection_client.py --server HOST:PORT list
      prints {"services": [...]} (sorted full names)
  reflection_client.py --server HOST:PORT describe SERVICE
      prints {"service", "methods": [{"name", "input", "output",
      "client_streaming", "server_streaming"}]}
  reflection_client.py --server HOST:PORT call SERVICE/METHOD JSON
      calls a unary or server-streaming method with the request JSON
      (protobuf JSON mapping) and prints {"responses": [...]}, one entry per
      response message, as protobuf JSON with field names as in the .proto

Exit codes: 0 ok; 1 usage or reflection failure; 2 the call failed (the
status code name and details are printed to stderr).
"""

import argparse
import json
import sys

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def method_descriptor(pool, full_method):
    service_name, _, method_name = full_method.rpartition("/")
    service = pool.FindServiceByName(service_name)
    method = service.methods_by_name.get(method_name)
    if method is None:
        raise KeyError(f"{service_name} has no method {method_name}")
    return method


def to_dict(message):
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="HOST:PORT")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per call")
    parser.add_argument("command", choices=["list", "describe", "call"])
    parser.add_argument("args", nargs="*")
    a = parser.parse_args()

    channel = grpc.insecure_channel(a.server)
    database = ProtoReflectionDescriptorDatabase(channel)
    pool = descriptor_pool.DescriptorPool(database)
    try:
        if a.command == "list":
            print(json.dumps({"services": sorted(database.get_services())}))
            return 0
        if a.command == "describe":
            service = pool.FindServiceByName(a.args[0])
            methods = [
                {
                    "name": m.name,
                    "input": m.input_type.full_name,
                    "output": m.output_type.full_name,
                    "client_streaming": m.client_streaming,
                    "server_streaming": m.server_streaming,
                }
                for m in service.methods
            ]
            print(json.dumps({"service": service.full_name, "methods": methods}))
            return 0
        full_method, request_json = a.args[0], a.args[1] if len(a.args) > 1 else "{}"
        method = method_descriptor(pool, full_method)
    except (KeyError, IndexError, grpc.RpcError) as e:
        print(f"reflection: {e}", file=sys.stderr)
        return 1

    if method.client_streaming:
        print("reflection: client-streaming methods are not supported", file=sys.stderr)
        return 1
    request_class = message_factory.GetMessageClass(method.input_type)
    response_class = message_factory.GetMessageClass(method.output_type)
    request = json_format.Parse(request_json, request_class())
    path = f"/{method.containing_service.full_name}/{method.name}"
    make_call = channel.unary_stream if method.server_streaming else channel.unary_unary
    call = make_call(
        path,
        request_serializer=lambda m: m.SerializeToString(),
        response_deserializer=response_class.FromString,
    )
    try:
        result = call(request, timeout=a.timeout)
        responses = list(result) if method.server_streaming else [result]
    except grpc.RpcError as e:
        print(f"{e.code().name}: {e.details()}", file=sys.stderr)
        return 2
    print(json.dumps({"responses": [to_dict(r) for r in responses]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
