// File: scheduler/scheduler_server.cc
#include "scheduler/scheduler_server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/gguf.h"
#include "common/model_config.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "scheduler/grpc_worker_channel.h"
#include "scheduler/worker_group_channel.h"

namespace llm {
namespace {

constexpr char kServiceName[] = "llm.v1.Inference";

// The group's ranks, not yet connected: its engine loop connects them.
WorkerGroup StartGroup(const std::string& spec, const SchedulerOptions& options,
                       const EngineOptions& engine_options, const ModelConfig& config,
                       std::function<void()> on_availability_change) {
  std::vector<std::string> ranks = absl::StrSplit(spec, '+', absl::SkipEmpty());
  GrpcWorkerChannelOptions channel_options;
  channel_options.credentials = options.worker_credentials;
  channel_options.step_timeout = options.step_timeout;
  std::vector<std::unique_ptr<WorkerChannel>> channels;
  for (const std::string& address : ranks) {
    channels.push_back(GrpcWorkerChannel::Create(address, channel_options));
  }
  LoopOptions lo;
  lo.engine = engine_options;
  lo.name = spec;
  lo.connect_timeout = options.connect_timeout;
  lo.log = true;
  lo.on_availability_change = std::move(on_availability_change);
  const int block_size = options.block_size;
  const int n_vocab = config.n_vocab;
  const int context_length = config.context_length;
  lo.validate = [spec, block_size, n_vocab,
                 context_length](const WorkerDescription& d) -> absl::Status {
    if (block_size != 0 && d.block_size != block_size) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "worker group %s uses block size %d but --block-size is %d", spec, d.block_size,
          block_size));
    }
    if (d.vocab_size != n_vocab || d.context_length != context_length) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "worker group %s serves another model (vocab %d, context %d; --model has %d, %d)",
          spec, d.vocab_size, d.context_length, n_vocab, context_length));
    }
    return absl::OkStatus();
  };
  auto group = std::make_unique<WorkerGroupChannel>(std::move(channels));
  return WorkerGroup{std::move(ranks),
                     EngineLoop::StartConnecting(std::move(lo), std::move(group))};
}

}  // namespace

absl::Status SchedulerOptions::Validate() const {
  if (model_path.empty()) return absl::InvalidArgumentError("--model is required");
  if (workers.empty()) return absl::InvalidArgumentError("--workers is required");
  for (const std::string& spec : workers) {
    std::vector<std::string> ranks = absl::StrSplit(spec, '+', absl::SkipEmpty());
    if (ranks.empty()) return absl::InvalidArgumentError("--workers has an empty group");
  }
  if (batching != "continuous" && batching != "static") {
    return absl::InvalidArgumentError(
        absl::StrCat("--batching must be continuous or static, got '", batching, "'"));
  }
  if (max_num_seqs < 1) return absl::InvalidArgumentError("--max-num-seqs must be >= 1");
  if (max_batched_tokens < 1) {
    return absl::InvalidArgumentError("--max-batched-tokens must be >= 1");
  }
  if (block_size < 0) return absl::InvalidArgumentError("--block-size must be >= 0");
  if (max_queue < 1) return absl::InvalidArgumentError("--max-queue must be >= 1");
  if (routing != "prefix" && routing != "least-loaded") {
    return absl::InvalidArgumentError(
        absl::StrCat("--routing must be prefix or least-loaded, got '", routing, "'"));
  }
  if (async_scheduling != "auto" && async_scheduling != "true" &&
      async_scheduling != "false") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--async-scheduling must be auto, true or false, got '", async_scheduling, "'"));
  }
  if (async_scheduling == "true" && speculative.source != DraftSource::kNone) {
    return absl::InvalidArgumentError(
        "--async-scheduling=true cannot be combined with --draft (a speculative step "
        "returns a variable number of tokens, so the next step cannot be planned before "
        "it returns); use --async-scheduling=auto or false");
  }
  return absl::OkStatus();
}

bool SchedulerOptions::async_scheduling_enabled() const {
  if (async_scheduling == "auto") return speculative.source == DraftSource::kNone;
  return async_scheduling == "true";
}

absl::StatusOr<std::unique_ptr<SchedulerServer>> SchedulerServer::Start(
    const SchedulerOptions& options) {
  if (absl::Status s = options.Validate(); !s.ok()) return s;
  // Metadata only: the tensors stay unmapped pages of the file.
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(options.model_path);
  if (!file.ok()) return file.status();
  absl::StatusOr<ModelConfig> config = ModelConfigFromGguf(**file);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromGguf(**file);
  if (!tokenizer.ok()) return tokenizer.status();

  ModelFacts facts;
  facts.tokenizer = tokenizer->get();
  facts.context_length = config->context_length;
  facts.vocab_size = config->n_vocab;
  if (absl::StatusOr<ChatTemplateFamily> family =
          DetectChatTemplate((*tokenizer)->chat_template());
      family.ok()) {
    facts.chat_family = *family;
  }

  EngineOptions engine_options;
  engine_options.batching =
      options.batching == "static" ? BatchingMode::kStatic : BatchingMode::kContinuous;
  engine_options.max_num_seqs = options.max_num_seqs;
  engine_options.max_batched_tokens = options.max_batched_tokens;
  engine_options.eog_token_ids = (*tokenizer)->end_of_generation_ids();
  engine_options.speculative = options.speculative;
  engine_options.async_scheduling = options.async_scheduling_enabled();

  InferenceOptions io;
  io.max_queue = options.max_queue;
  io.batching = options.batching;
  io.max_num_seqs = options.max_num_seqs;
  io.max_batched_tokens = options.max_batched_tokens;
  io.model_name = config->name;
  io.architecture = config->architecture;
  io.cache_salt = engine_options.cache_salt;
  io.prefix_routing = options.routing == "prefix";

  std::unique_ptr<SchedulerServer> s(new SchedulerServer());
  s->service_ = std::make_unique<InferenceService>(io, std::move(*tokenizer), facts);
  InferenceService* service = s->service_.get();
  absl::StatusOr<std::unique_ptr<SchedulerMetrics>> metrics = SchedulerMetrics::Create(
      options.metrics_listen, [service] { return service->Gauges(); });
  if (!metrics.ok()) return metrics.status();
  s->metrics_ = std::move(*metrics);
  s->service_->set_metrics(s->metrics_.get());

  // Serve at once, NOT_SERVING, so that probes see the process come up
  // while the workers are being connected.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.listen,
                           options.server_credentials != nullptr
                               ? options.server_credentials
                               : grpc::InsecureServerCredentials(),
                           &s->port_);
  builder.RegisterService(s->service_.get());
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    s->server_.reset();
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen));
  }
  {
    absl::MutexLock lock(&s->health_mu_);
    s->health_ = s->server_->GetHealthCheckService();
    s->health_->SetServingStatus("", false);
    s->health_->SetServingStatus(kServiceName, false);
  }

  // Every group's first attempt runs concurrently; a wrong worker (block
  // size, model) fails the start, an absent one is retried in the background.
  SchedulerServer* self = s.get();
  std::vector<WorkerGroup> groups;
  for (const std::string& spec : options.workers) {
    groups.push_back(StartGroup(spec, options, engine_options, *config,
                                [self] { self->UpdateHealth(); }));
  }
  for (WorkerGroup& g : groups) {
    const absl::Status first = g.loop->WaitFirstAttempt();
    if (absl::IsFailedPrecondition(first)) return first;
  }
  s->service_->SetGroups(std::move(groups));
  s->UpdateHealth();
  return s;
}

void SchedulerServer::UpdateHealth() {
  // Called from the groups' loop threads too; health_ is null once the
  // server is going away.
  absl::MutexLock lock(&health_mu_);
  if (health_ == nullptr) return;
  const bool serving = !draining_.load() && service_->any_group_available();
  health_->SetServingStatus("", serving);
  health_->SetServingStatus(kServiceName, serving);
}

void SchedulerServer::Drain(absl::Duration timeout) {
  if (server_ == nullptr) return;
  draining_.store(true);
  UpdateHealth();
  service_->StartDrain();
  service_->WaitForStreams(timeout);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
}

SchedulerServer::~SchedulerServer() {
  {
    absl::MutexLock lock(&health_mu_);
    health_ = nullptr;
  }
  if (server_ != nullptr) server_->Shutdown(absl::ToChronoTime(absl::Now()));
  // Streams are gone; then the scrapes that read the service, then the
  // loops (inside the service).
  server_.reset();
  if (service_ != nullptr) service_->set_metrics(nullptr);
  metrics_.reset();
  service_.reset();
}

}  // namespace llm
