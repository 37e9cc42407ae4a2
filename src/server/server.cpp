#include "server/server.h"

#include <fmt/format.h>  // messages

#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>  // /v1/models and /health bodies

#include "server/chat_page.h"
#include "server/openai_response.h"
#include "server/server_impl.h"

namespace flashstream::server {
namespace {

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Compares without an early exit, so the time taken does not reveal how much of the key matched.
bool SameKey(const std::string& a, const std::string& b) {
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ (i < b.size() ? b[i] : 0));
  return diff == 0;
}

bool NeedsKey(const std::string& path) { return path.rfind("/v1/", 0) == 0 || path == "/metrics"; }

// The route label of a request for the metrics (bounded: unknown paths are "other").
std::string RouteLabel(const std::string& path) {
  for (const char* r : {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/"}) {
    if (path == r) return r;
  }
  return "other";
}

// The model file's name without ".gguf", or the folder's name.
std::string DefaultModelId(const Session& session) {
  std::filesystem::path p(session.options().model_path);
  if (!p.has_filename()) p = p.parent_path();
  return p.extension() == ".gguf" ? p.stem().string() : p.filename().string();
}

}  // namespace

Server::Impl::Impl(Session& s, const ServerOptions& o, const GenerateOptions& d, const ChatOptions& c, ChatFormatter f,
                   ModelFacts facts)
    : session(s), options(o), defaults(d), chat(c), formatter(std::move(f)), metrics(std::move(facts)) {}

void Server::Impl::Fail(httplib::Response& res, int status, std::string_view message, std::string_view type,
                        std::string_view param, std::string_view code) {
  res.status = status;
  res.set_content(ErrorBody(message, type, param, code), "application/json");
}

void Server::Impl::Routes() {
  http.set_payload_max_length(options.max_body_bytes);
  const size_t threads = static_cast<size_t>(options.max_queue) + 8;  // every waiting request holds one
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (options.api_key.empty() || !NeedsKey(req.path)) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0 && SameKey(auth.substr(7), options.api_key)) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    Fail(res, 401, auth.empty() ? "missing API key: send the header 'Authorization: Bearer KEY'" : "invalid API key",
         "invalid_request_error", "", "invalid_api_key");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler already wrote an error body
    switch (res.status) {
      case 404:
        return Fail(res, 404, fmt::format("no route for {} {}", req.method, req.path), "invalid_request_error", "",
                    "not_found");
      case 413:
        return Fail(res, 413, "request body too large (--max-body-mb)", "invalid_request_error", "",
                    "request_too_large");
      default:
        return Fail(res, res.status, fmt::format("HTTP {}", res.status),
                    res.status >= 500 ? "server_error" : "invalid_request_error");
    }
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    Fail(res, 500, fmt::format("internal error: {}", what), "server_error");
  });
  http.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.CountRequest(RouteLabel(req.path), res.status);
  });

  http.Post("/v1/chat/completions",
            [this](const httplib::Request& req, httplib::Response& res) { Complete(req, res, Endpoint::kChat); });
  http.Post("/v1/completions",
            [this](const httplib::Request& req, httplib::Response& res) { Complete(req, res, Endpoint::kCompletion); });
  const nlohmann::json model = {
      {"id", options.model_id}, {"object", "model"}, {"created", UnixNow()}, {"owned_by", "flashstream"}};
  http.Get("/v1/models", [model](const httplib::Request&, httplib::Response& res) {
    res.set_content(nlohmann::json{{"object", "list"}, {"data", nlohmann::json::array({model})}}.dump(),
                    "application/json");
  });
  http.Get("/v1/models/(.+)", [this, model](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1].str() != options.model_id) {
      return Fail(
          res, 404,
          fmt::format("model '{}' is not served here (this server has '{}')", req.matches[1].str(), options.model_id),
          "invalid_request_error", "model", "model_not_found");
    }
    res.set_content(model.dump(), "application/json");
  });
  http.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(
        nlohmann::json{{"status", "ok"}, {"model", options.model_id}, {"queue_depth", queue->depth()}}.dump(),
        "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics.Render(queue->depth()), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(ChatPageHtml()), "text/html; charset=utf-8");
  });
}

Result<std::unique_ptr<Server>> Server::Create(Session& session, const ServerOptions& given,
                                               const GenerateOptions& defaults, const ChatOptions& chat) {
  if (!session.has_tokenizer()) return Errorf("{}: no tokenizer: the server needs one", session.options().model_path);
  if (given.max_queue < 1) return Errorf("max_queue: expected >= 1, got {}", given.max_queue);
  Result<ChatFormatter> formatter = ChatFormatter::Create(session.index().tokenizer, session.tokenizer());
  if (!formatter.ok()) return formatter.status();
  ServerOptions options = given;
  if (options.model_id.empty()) options.model_id = DefaultModelId(session);
  const ResidencyPlan& plan = session.plan();
  ModelFacts facts;
  facts.model_id = options.model_id;
  facts.load_seconds = session.load_seconds();
  facts.resident_bytes = session.store().stats().resident_bytes;
  facts.staging_bytes = plan.staging_bytes;
  facts.weight_bytes_per_pass = facts.resident_bytes + plan.streamed_bytes_per_pass;
  facts.context_length = session.context_length();
  auto impl = std::make_unique<Impl>(session, options, defaults, chat, std::move(formatter).value(), facts);
  Impl* p = impl.get();
  impl->queue = std::make_unique<GenerationQueue>(session, options.max_queue,
                                                  [p](const Result<RunStats>& result, double queued_seconds) {
                                                    if (result.ok())
                                                      p->metrics.CountGeneration(result.value(), queued_seconds);
                                                  });
  impl->Routes();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

Status Server::Start() {
  Impl& s = *impl_;
  if (s.options.port == 0) {
    s.port = s.http.bind_to_any_port(s.options.host);
    if (s.port <= 0) return Errorf("cannot listen on {} (any port)", s.options.host);
  } else {
    if (!s.http.bind_to_port(s.options.host, s.options.port)) {
      return Errorf("cannot listen on {}:{} (in use, or not an address of this machine)", s.options.host,
                    s.options.port);
    }
    s.port = s.options.port;
  }
  s.listener = std::thread([&s] { s.http.listen_after_bind(); });
  return Status::Ok();
}

int Server::port() const { return impl_->port; }

void Server::Stop() {
  Impl& s = *impl_;
  s.stopping.store(true);
  s.http.stop();
  if (s.listener.joinable()) s.listener.join();
  s.queue.reset();  // cancels what is left; the session is free again
}

}  // namespace flashstream::server
