// ServerTest: the real SmolLM2 (FS_MODEL_SMOLLM2) loaded once per test binary, served in-process
// by a server::Server on a loopback port per test, and helpers to talk to it with httplib's
// client (JSON requests, server-sent events).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>  // cpp-httplib client

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "e2e/test_env.h"
#include "engine/session.h"
#include "server/server.h"

namespace flashstream::testing {

// One parsed server-sent event stream.
struct SseStream {
  std::vector<nlohmann::json> chunks;  // every "data: {...}" event, in order
  bool done = false;                   // "data: [DONE]" came last
  std::string text;                    // the concatenated content / text deltas
  std::string finish_reason;           // from the chunk that has one
};

inline SseStream ParseSse(const std::string& body) {
  SseStream s;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    const std::string event = body.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    pos = end == std::string::npos ? body.size() : end + 2;
    if (event.rfind("data: ", 0) != 0) continue;
    const std::string data = event.substr(6);
    EXPECT_FALSE(s.done) << "an event after [DONE]";
    if (data == "[DONE]") {
      s.done = true;
      continue;
    }
    nlohmann::json chunk = nlohmann::json::parse(data);
    for (const auto& choice : chunk.value("choices", nlohmann::json::array())) {
      if (choice.contains("delta") && choice["delta"].contains("content")) {
        s.text += choice["delta"]["content"].get<std::string>();
      }
      if (choice.contains("text")) s.text += choice["text"].get<std::string>();
      if (!choice["finish_reason"].is_null()) s.finish_reason = choice["finish_reason"].get<std::string>();
    }
    s.chunks.push_back(std::move(chunk));
  }
  return s;
}

class ServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (SmolLm2Path().empty() || session_) return;
    EngineOptions o;
    o.model_path = SmolLm2Path();
    o.threads = 2;
    o.ctx = 512;
    Result<std::unique_ptr<Session>> s = Session::Open(o, nullptr);
    ASSERT_TRUE(s.ok()) << s.status().message();
    session_ = std::move(s).value();
  }
  static void TearDownTestSuite() { session_.reset(); }

  void SetUp() override { FS_REQUIRE_SMOLLM2(); }
  void TearDown() override { server_.reset(); }

  // Greedy by default, so answers are reproducible.
  static GenerateOptions Greedy() {
    GenerateOptions g;
    g.sampling.temperature = 0;
    g.max_tokens = 16;
    return g;
  }

  void Start(ServerOptions options = {}, GenerateOptions defaults = Greedy(), ChatOptions chat = {}) {
    options.port = 0;
    Result<std::unique_ptr<server::Server>> s = server::Server::Create(*session_, options, defaults, chat);
    ASSERT_TRUE(s.ok()) << s.status().message();
    server_ = std::move(s).value();
    Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started.message();
  }

  // The generous default read timeout covers a request waiting behind others on a loaded machine.
  std::unique_ptr<httplib::Client> Client(int read_timeout_s = 600) const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    c->set_read_timeout(read_timeout_s, 0);
    return c;
  }

  // POSTs a JSON body; returns status and body (status -1 when the connection failed).
  std::pair<int, std::string> Post(const std::string& path, const std::string& body,
                                   const httplib::Headers& headers = {}) const {
    auto res = Client()->Post(path.c_str(), headers, body, "application/json");
    if (!res) return {-1, ""};
    return {res->status, res->body};
  }

  // GET /metrics once the text holds `needle` (a request is counted just after its response
  // went out, so a client may see the answer before the count); the last text otherwise.
  std::string MetricsWith(const std::string& needle) const {
    std::string text;
    for (int i = 0; i < 300; ++i) {
      auto res = Client()->Get("/metrics");
      text = res ? res->body : "";
      if (text.find(needle) != std::string::npos) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return text;
  }

  static nlohmann::json ChatBody(const std::string& user, int max_tokens, bool stream = false) {
    return {{"messages", {{{"role", "user"}, {"content", user}}}}, {"max_tokens", max_tokens}, {"stream", stream}};
  }

  static Session& session() { return *session_; }

  static inline std::unique_ptr<Session> session_;  // shared by the tests of one suite
  std::unique_ptr<server::Server> server_;
};

}  // namespace flashstream::testing
