// File: proto/step_plan_proto.h
//
// Conversion between the worker protocol (proto/llm/worker/v1/worker.proto)
// and the in-memory step contract (common/step_plan.h), in one place so the
// worker service and the scheduler's gRPC channel agree field for field.
// The conversions are total: a proto that is well-formed on the wire always
// converts; whether a plan makes sense is the model runner's to judge.
//
// Thread safety: stateless functions.
#ifndef LLM_PROTO_STEP_PLAN_PROTO_H_
#define LLM_PROTO_STEP_PLAN_PROTO_H_

#include "absl/status/status.h"
#include "common/step_plan.h"
#include "common/worker_channel.h"
#include "llm/worker/v1/worker.pb.h"

namespace llm {

void ToProto(const StepPlan& plan, worker::v1::StepPlan* out);
StepPlan FromProto(const worker::v1::StepPlan& plan);

void ToProto(const StepResult& result, worker::v1::StepResult* out);
// The status carried in a result (OkStatus when unset).
absl::Status StatusFromProto(const worker::v1::StepResult& result);
void StatusToProto(const absl::Status& status, worker::v1::StepResult* out);
StepResult FromProto(const worker::v1::StepResult& result);

void ToProto(const WorkerDescription& description,
             worker::v1::DescribeResponse* out);
WorkerDescription FromProto(const worker::v1::DescribeResponse& description);

void ToProto(const SamplingParams& params, worker::v1::SamplingParams* out);
SamplingParams FromProto(const worker::v1::SamplingParams& params);

}  // namespace llm

#endif  // LLM_PROTO_STEP_PLAN_PROTO_H_
