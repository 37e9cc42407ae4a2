// POST /v1/chat/completions and /v1/completions: validate, build the prompt, check it against
// the context, queue the generation, then answer at once (JSON) or as it goes (SSE).
#include <fmt/format.h>  // messages

#include <atomic>
#include <chrono>

#include "server/openai_response.h"
#include "server/peer_probe.h"
#include "server/server_impl.h"

namespace flashstream::server {
namespace {

using namespace std::chrono_literals;

constexpr auto kPoll = 100ms;  // how often a waiting handler checks for a closed client

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A seed for a request that brings none (and a server without a fixed one).
uint64_t RandomSeed() {
  static std::atomic<uint64_t> counter{0};
  const uint64_t t = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return t ^ (0x9E3779B97F4A7C15ull * ++counter);
}

}  // namespace

std::string Server::Impl::NewId(Endpoint endpoint) {
  return fmt::format("{}-{:x}{:06x}", endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl", UnixNow(), next_id++);
}

Result<std::vector<int32_t>> Server::Impl::PromptTokens(const CompletionRequest& r) const {
  if (r.endpoint == Endpoint::kCompletion) {
    return session.tokenizer().Encode(r.prompt, /*add_special=*/true, /*parse_special=*/false);
  }
  std::vector<ChatMessage> messages;
  const bool has_system = !r.messages.empty() && r.messages.front().role == "system";
  if (!has_system && !chat.system.empty()) messages.push_back({"system", chat.system});
  for (const PresetMessage& m : chat.messages) messages.push_back({m.role, m.content});
  messages.insert(messages.end(), r.messages.begin(), r.messages.end());
  Result<std::string> rendered = formatter.Render(messages, /*add_generation_prompt=*/true);
  if (!rendered.ok()) return rendered.status();
  return formatter.Tokenize(*rendered);
}

void Server::Impl::Complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  CompletionRequest r;
  std::string param;
  Status parsed = ParseCompletionRequest(req.body, endpoint, defaults, &r, &param);
  if (!parsed.ok()) return Fail(res, 400, parsed.message(), "invalid_request_error", param);
  if (!r.seed_given && !options.fixed_seed) r.options.sampling.seed = RandomSeed();
  Result<std::vector<int32_t>> prompt = PromptTokens(r);
  if (!prompt.ok()) return Fail(res, 400, prompt.status().message(), "invalid_request_error", "messages");
  const int n = static_cast<int>(prompt->size());
  const int ctx = session.context_length();
  if (n == 0) return Fail(res, 400, "the prompt is empty after tokenization", "invalid_request_error", "prompt");
  if (n >= ctx) {
    return Fail(res, 400, fmt::format("the prompt has {} tokens; the context holds {} (raise --ctx)", n, ctx),
                "invalid_request_error", endpoint == Endpoint::kChat ? "messages" : "prompt",
                "context_length_exceeded");
  }
  if (r.max_tokens_given && static_cast<int64_t>(n) + r.options.max_tokens > ctx) {
    return Fail(res, 400,
                fmt::format("max_tokens {} plus the prompt's {} tokens exceed the context of {} tokens",
                            r.options.max_tokens, n, ctx),
                "invalid_request_error", "max_tokens", "context_length_exceeded");
  }
  Result<std::shared_ptr<Job>> job = queue->Submit(std::move(prompt).value(), r.options);
  if (!job.ok()) {
    res.set_header("Retry-After", "1");
    return Fail(res, 503, job.status().message(), "server_error", "", "server_busy");
  }
  if (r.stream) return Stream(req, res, r, *job);
  Answer(req, res, r, *job);
}

void Server::Impl::Answer(const httplib::Request& req, httplib::Response& res, const CompletionRequest& r,
                          const std::shared_ptr<Job>& job) {
  PeerProbe probe(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  std::string text;
  for (;;) {
    Job::Update u = job->Wait(kPoll);
    text += u.text;
    if (u.finished) break;
    if (!job->cancelled() && (stopping.load() || probe.PeerClosed())) job->Cancel();
  }
  const Result<RunStats>& result = job->result();
  if (!result.ok()) {
    const bool gone = job->cancelled();
    return Fail(res, gone ? 503 : 500, gone ? "the request was cancelled" : result.status().message(), "server_error");
  }
  const ResponseId rid{NewId(r.endpoint), UnixNow(), options.model_id};
  res.set_content(CompletionObject(r.endpoint, rid, text, result.value())
                      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                  "application/json");
}

namespace {

// What a streamed response keeps between calls of its content provider.
struct StreamState {
  std::shared_ptr<Job> job;
  CompletionRequest request;
  ResponseId rid;
  std::unique_ptr<PeerProbe> probe;
  bool first = true;
};

}  // namespace

void Server::Impl::Stream(const httplib::Request& req, httplib::Response& res, const CompletionRequest& r,
                          std::shared_ptr<Job> job) {
  auto st = std::make_shared<StreamState>();
  st->job = std::move(job);
  st->request = r;
  st->rid = ResponseId{NewId(r.endpoint), UnixNow(), options.model_id};
  st->probe = std::make_unique<PeerProbe>(req.local_addr, req.local_port, req.remote_addr, req.remote_port);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  const Endpoint endpoint = r.endpoint;
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, st, endpoint](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& event) {
          if (sink.write(event.data(), event.size())) return true;
          st->job->Cancel();  // the client is gone
          return false;
        };
        if (st->first && endpoint == Endpoint::kChat) {
          st->first = false;
          if (!send(ChunkEvent(endpoint, st->rid, "", true, "", nlohmann::json()))) return false;
        }
        for (;;) {
          Job::Update u = st->job->Wait(kPoll);
          if (!u.text.empty()) {
            const nlohmann::json ext = st->request.live_stats ? LiveStatsJson(u.live) : nlohmann::json();
            if (!send(ChunkEvent(endpoint, st->rid, u.text, false, "", ext))) return false;
          }
          if (u.finished) break;
          if (!u.text.empty()) return true;
          if (stopping.load() || st->probe->PeerClosed()) {
            st->job->Cancel();
            return false;
          }
        }
        const Result<RunStats>& result = st->job->result();
        if (!result.ok()) {
          send("data: " + ErrorBody(result.status().message(), "server_error") + "\n\n");
        } else {
          const nlohmann::json ext = st->request.live_stats ? FinalStatsJson(result.value()) : nlohmann::json();
          if (!send(ChunkEvent(endpoint, st->rid, "", false, FinishReason(result->stop_reason), ext))) return false;
          if (st->request.include_usage && !send(UsageEvent(endpoint, st->rid, result.value()))) return false;
        }
        if (!send("data: [DONE]\n\n")) return false;
        sink.done();
        return true;
      },
      [st](bool success) {
        if (!success) st->job->Cancel();
      });
}

}  // namespace flashstream::server
