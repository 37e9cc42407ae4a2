#include "py_engine.h"

#include <chrono>

#include "engine/model_source.h"  // model paths and hub ids, as the CLI resolves them
#include "engine/option_table.h"  // named options: the same checks as the Modelfile
#include "hub/puller.h"

namespace flashstream::python {

Result<std::shared_ptr<Engine>> Engine::Load(const std::map<std::string, std::string>& named) {
  EngineOptions options;
  for (const auto& [name, value] : named) {
    FS_RETURN_IF_ERROR(SetOption(name, value, OptionTarget{&options, nullptr, nullptr}));
  }
  if (options.model_path.empty()) return Errorf("no model given");
  FS_ASSIGN_OR_RETURN(options.model_path,
                      ResolveModelSource(options.model_path, options.revision, hub::PullOptionsFromEnv()));
  auto engine = std::make_shared<Engine>();
  FS_ASSIGN_OR_RETURN(engine->session_, Session::Open(options, nullptr));
  if (!engine->session_->has_tokenizer()) {
    return Errorf("{}: no tokenizer: the model has none that flashstream can read", options.model_path);
  }
  FS_ASSIGN_OR_RETURN(ChatFormatter chat,
                      ChatFormatter::Create(engine->session_->index().tokenizer, engine->session_->tokenizer()));
  engine->chat_.emplace(std::move(chat));
  return engine;
}

void Engine::CancelActive() {
  std::lock_guard lock(active_mu_);
  if (active_cancel_ != nullptr) active_cancel_->store(true);
}

void Engine::SetActive(std::atomic<bool>* cancel) {
  std::lock_guard lock(active_mu_);
  active_cancel_ = cancel;
}

GenerationStream::GenerationStream(std::shared_ptr<Engine> engine, std::vector<int32_t> prompt, GenerateOptions options)
    : engine_(std::move(engine)), prompt_(std::move(prompt)), options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

GenerationStream::~GenerationStream() {
  Cancel();
  Join();
}

void GenerationStream::Join() {
  if (thread_.joinable()) thread_.join();
}

void GenerationStream::Run() {
  std::lock_guard run(engine_->run_mutex());  // one generation at a time per engine
  Result<RunStats> result = RunStats{};       // cancelled before it started: an empty run
  result.value().stop_reason = "cancelled";
  if (!cancel_.load()) {
    engine_->SetActive(&cancel_);
    result = engine_->mutable_session().Generate(
        prompt_, options_,
        [this](std::string_view piece) {
          {
            std::lock_guard lock(mu_);
            pieces_.emplace_back(piece);
          }
          cv_.notify_all();
        },
        &cancel_);
    engine_->SetActive(nullptr);
  }
  {
    std::lock_guard lock(mu_);
    if (result.ok()) {
      stats_json_ = SummaryJson(result.value());
    } else {
      error_ = result.status();
    }
    finished_ = true;
  }
  cv_.notify_all();
}

GenerationStream::Next GenerationStream::WaitNext(int timeout_ms, std::string* piece) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [this] { return !pieces_.empty() || finished_; });
  if (!pieces_.empty()) {
    *piece = std::move(pieces_.front());
    pieces_.pop_front();
    return Next::kPiece;
  }
  if (!finished_) return Next::kTimeout;
  if (!error_.ok()) {
    *piece = error_.message();
    return Next::kError;
  }
  return Next::kEnd;
}

std::string GenerationStream::StatsJson() const {
  std::lock_guard lock(mu_);
  return stats_json_;
}

}  // namespace flashstream::python
