// Server::Impl: the state the HTTP handlers share (internal to src/server). Routes and
// authentication live in server.cpp, the completion endpoints in completions.cpp.
// The handlers run on httplib's thread pool; everything they touch here is thread-safe
// (the queue, the metrics, the immutable options) or const (the tokenizer and chat template).
#pragma once

#include <httplib.h>  // cpp-httplib: the HTTP server

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "engine/chat.h"
#include "engine/session.h"
#include "server/generation_queue.h"
#include "server/metrics.h"
#include "server/openai_request.h"
#include "server/server.h"

namespace flashstream::server {

class Server::Impl {
 public:
  Impl(Session& session, const ServerOptions& options, const GenerateOptions& defaults, const ChatOptions& chat,
       ChatFormatter formatter, ModelFacts facts);

  void Routes();
  // POST /v1/chat/completions and /v1/completions.
  void Complete(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  // Sets an OpenAI-style error body and status.
  static void Fail(httplib::Response& res, int status, std::string_view message, std::string_view type,
                   std::string_view param = "", std::string_view code = "");

  Session& session;
  const ServerOptions options;
  const GenerateOptions defaults;
  const ChatOptions chat;
  const ChatFormatter formatter;
  ServerMetrics metrics;
  std::unique_ptr<GenerationQueue> queue;
  httplib::Server http;
  std::thread listener;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> next_id{0};

 private:
  // The prompt's tokens: the chat template over the preset and request messages, or the raw
  // completion prompt. Template errors come back as the error.
  Result<std::vector<int32_t>> PromptTokens(const CompletionRequest& r) const;
  void Stream(const httplib::Request& req, httplib::Response& res, const CompletionRequest& r,
              std::shared_ptr<Job> job);
  void Answer(const httplib::Request& req, httplib::Response& res, const CompletionRequest& r,
              const std::shared_ptr<Job>& job);
  std::string NewId(Endpoint endpoint);
};

}  // namespace flashstream::server
