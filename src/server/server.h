// Server: flashstream's OpenAI-compatible HTTP server (cpp-httplib), over one engine Session.
//   POST /v1/chat/completions, /v1/completions   streamed (SSE) or not; see openai_request.h
//   GET  /v1/models, /health, /metrics (Prometheus text), / (the chat page)
// Requests are queued and generated one at a time (GenerationQueue); a client that disconnects
// cancels its generation, or drops it from the queue. Every error is an OpenAI-style JSON body
// with a 4xx/5xx status. With an API key, /v1/* and /metrics need "Authorization: Bearer KEY"
// (401 otherwise); / and /health stay open.
// Borrows the Session, which must outlive the Server and must not be used elsewhere while it
// serves. Start() and Stop() from one thread (Stop() may be called more than once).
#pragma once

#include <memory>

#include "core/status.h"
#include "engine/session.h"
#include "flashstream/options.h"

namespace flashstream::server {

class Server {
 public:
  // `defaults` fill what a request leaves out (CLI flags / Modelfile PARAMETER); `chat` gives
  // the system message and preset turns of chat requests.
  static Result<std::unique_ptr<Server>> Create(Session& session, const ServerOptions& options,
                                                const GenerateOptions& defaults, const ChatOptions& chat);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0 = any free port) and serves on a background thread.
  Status Start();
  // The bound port; valid after Start().
  int port() const;
  // Cancels the running and waiting generations, closes the listener and joins the threads.
  void Stop();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace flashstream::server
