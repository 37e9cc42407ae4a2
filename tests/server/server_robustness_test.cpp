// The server under abuse, over loopback with the real SmolLM2: malformed requests get 4xx with
// an OpenAI error body and the server keeps serving; the API key; 16 concurrent clients all get
// their own correct answer; a client that disconnects (streamed or not) cancels its generation
// and frees the engine; a full queue answers 503.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server_fixture.h"

namespace flashstream::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class ServerRobustnessTest : public ServerTest {
 protected:
  // The value of one metric line "name value" (-1 when absent).
  double Metric(const std::string& name) const {
    auto res = Client()->Get("/metrics");
    if (!res) return -1;
    const size_t at = res->body.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::stod(res->body.substr(at + name.size() + 2));
  }
  // Polls until the metric reaches `value` (the engine finishes a cancelled token, then stops);
  // generous deadline, no timing asserted.
  bool WaitMetric(const std::string& name, double value) const {
    for (int i = 0; i < 600; ++i) {
      if (Metric(name) == value) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }
  static void ExpectError(int status, const std::string& body, int want_status, const std::string& param = "") {
    EXPECT_EQ(status, want_status) << body;
    const json j = json::parse(body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << body;
    ASSERT_TRUE(j.contains("error")) << body;
    EXPECT_TRUE(j["error"]["message"].is_string());
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
    EXPECT_TRUE(j["error"]["type"].is_string());
    if (!param.empty()) {
      EXPECT_EQ(j["error"]["param"], param) << body;
    }
  }
  // A streamed generation that would run long (end of generation ignored).
  static json LongStream() {
    json j = ChatBody("Tell me a long story.", 400, true);
    j["ignore_eos"] = true;
    return j;
  }
};

TEST_F(ServerRobustnessTest, MalformedRequestsGet4xxAndTheServerKeepsServing) {
  Start();
  const std::string chat = "/v1/chat/completions";
  auto expect = [&](const std::string& body, int status, const std::string& param = "") {
    auto [s, b] = Post(chat, body);
    ExpectError(s, b, status, param);
  };
  expect("{not json", 400);
  expect("", 400);
  expect("[1, 2]", 400);
  expect(std::string(100, '[') + std::string(100, ']'), 400);
  expect(R"({"messages": "hello"})", 400, "messages");
  expect(R"({"messages": []})", 400, "messages");
  expect(R"({"messages": [{"role": "wizard", "content": "x"}]})", 400, "messages");
  expect(R"({"messages": [{"role": "user", "content": 7}]})", 400, "messages");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": "hot"})", 400, "temperature");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": -1})", 400, "temperature");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "top_p": 1.5})", 400, "top_p");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2.5})", 400, "max_tokens");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0})", 400, "max_tokens");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 99999999999})", 400, "max_tokens");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000})", 400, "max_tokens");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "stream": "yes"})", 400, "stream");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "stop": [1]})", 400, "stop");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "seed": -3})", 400, "seed");
  expect(R"({"messages": [{"role": "user", "content": "hi"}], "n": 3})", 400, "n");
  expect("{\"messages\": [{\"role\": \"user\", \"content\": \"\xff\xfe bad\"}]}", 400);  // invalid UTF-8
  expect("{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\"}]}", 400);          // truncated character
  // A prompt longer than the context (512 tokens here).
  std::string words;
  for (int i = 0; i < 700; ++i) words += "word ";
  expect(ChatBody(words, 4).dump(), 400, "messages");
  auto [sp, bp] = Post("/v1/completions", json{{"prompt", words}}.dump());
  ExpectError(sp, bp, 400, "prompt");
  // 10 MB body: refused before it is read.
  auto [sb, bb] = Post(chat, std::string(10 << 20, 'a'));
  ExpectError(sb, bb, 413);
  // Wrong method and unknown route.
  auto get = Client()->Get(chat.c_str());
  ASSERT_TRUE(get);
  EXPECT_GE(get->status, 400);
  EXPECT_LT(get->status, 500);

  auto [s, b] = Post(chat, ChatBody("Say hello.", 4).dump());
  EXPECT_EQ(s, 200) << b;
  EXPECT_EQ(Metric("flashstream_queue_depth"), 0);
}

TEST_F(ServerRobustnessTest, ApiKeyIsRequiredWhenSet) {
  ServerOptions o;
  o.api_key = "sk-test-key";
  Start(o);
  const std::string body = ChatBody("Hi", 2).dump();
  auto [s1, b1] = Post("/v1/chat/completions", body);
  ExpectError(s1, b1, 401);
  auto [s2, b2] = Post("/v1/chat/completions", body, {{"Authorization", "Bearer wrong"}});
  ExpectError(s2, b2, 401);
  auto [s3, b3] = Post("/v1/chat/completions", body, {{"Authorization", "Bearer sk-test-key"}});
  EXPECT_EQ(s3, 200) << b3;
  auto c = Client();
  EXPECT_EQ(c->Get("/v1/models")->status, 401);
  EXPECT_EQ(c->Get("/metrics")->status, 401);
  EXPECT_EQ(c->Get("/health")->status, 200);
  EXPECT_EQ(c->Get("/")->status, 200);
  c->set_bearer_token_auth("sk-test-key");
  EXPECT_EQ(c->Get("/v1/models")->status, 200);
}

TEST_F(ServerRobustnessTest, SixteenConcurrentClientsGetTheirOwnAnswers) {
  Start();
  constexpr int kClients = 16;
  auto body = [](int i) {
    return ChatBody("Add " + std::to_string(i) + " and " + std::to_string(i) + ".", 5, i % 2 == 1);
  };
  auto answer = [](int status, const std::string& b, bool stream) -> std::string {
    if (status != 200) return "HTTP " + std::to_string(status) + ": " + b;
    if (stream) return ParseSse(b).text;
    return json::parse(b)["choices"][0]["message"]["content"];
  };
  // One at a time first: the expected answers.
  std::vector<std::string> expected(kClients);
  for (int i = 0; i < kClients; ++i) {
    auto [s, b] = Post("/v1/chat/completions", body(i).dump());
    expected[i] = answer(s, b, i % 2 == 1);
    ASSERT_EQ(s, 200) << b;
  }
  std::vector<std::string> got(kClients);
  std::vector<std::thread> threads;
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      auto [s, b] = Post("/v1/chat/completions", body(i).dump());
      got[i] = answer(s, b, i % 2 == 1);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(got[i], expected[i]) << "client " << i;
  EXPECT_EQ(Metric("flashstream_queue_depth"), 0);
}

TEST_F(ServerRobustnessTest, StreamingClientThatDisconnectsCancelsItsGeneration) {
  Start();
  std::atomic<int> chunks{0};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = LongStream().dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 4; };  // then hang up
  auto res = Client()->send(req);
  EXPECT_GE(chunks.load(), 4);
  EXPECT_TRUE(WaitMetric("flashstream_generations_total{reason=\"cancelled\"}", 1)) << "generation not cancelled";
  EXPECT_LT(Metric("flashstream_generated_tokens_total"), 400);
  auto [s, b] = Post("/v1/chat/completions", ChatBody("Say hello.", 4).dump());
  EXPECT_EQ(s, 200) << b;
}

TEST_F(ServerRobustnessTest, NonStreamingClientThatDisconnectsCancelsItsGeneration) {
  Start();
  json long_answer = LongStream();
  long_answer["stream"] = false;
  auto impatient = Client(/*read_timeout_s=*/1);
  auto res = impatient->Post("/v1/chat/completions", long_answer.dump(), "application/json");
  EXPECT_FALSE(res);  // timed out and closed the connection
  impatient.reset();
  EXPECT_TRUE(WaitMetric("flashstream_generations_total{reason=\"cancelled\"}", 1)) << "generation not cancelled";
  auto [s, b] = Post("/v1/chat/completions", ChatBody("Say hello.", 4).dump());
  EXPECT_EQ(s, 200) << b;
}

TEST_F(ServerRobustnessTest, FullQueueAnswers503AndCancelledWaitersFreeTheirPlace) {
  ServerOptions o;
  o.max_queue = 1;
  Start(o);
  // One running (streamed, long), one waiting: the third is refused.
  std::atomic<bool> hang_up{false};
  std::thread running([&] {
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = LongStream().dump();
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return !hang_up.load(); };
    Client()->send(req);
  });
  ASSERT_TRUE(WaitMetric("flashstream_queue_depth", 1));
  auto waiting_client = Client(/*read_timeout_s=*/1);
  std::thread waiting(
      [&] { waiting_client->Post("/v1/chat/completions", ChatBody("Hi", 2).dump(), "application/json"); });
  ASSERT_TRUE(WaitMetric("flashstream_queue_depth", 2));
  auto [s, b] = Post("/v1/chat/completions", ChatBody("Hi", 2).dump());
  ExpectError(s, b, 503);
  waiting.join();  // its client gave up after 1 s: the waiting job is cancelled and dropped
  hang_up.store(true);
  running.join();
  // The running generation was cancelled by its client hanging up (not run to its 400 tokens);
  // the waiting one never ran, so it is no generation at all.
  EXPECT_TRUE(WaitMetric("flashstream_generations_total{reason=\"cancelled\"}", 1));
  ASSERT_TRUE(WaitMetric("flashstream_queue_depth", 0));
  EXPECT_EQ(Metric("flashstream_generations_total{reason=\"length\"}"), -1);
  auto [s2, b2] = Post("/v1/chat/completions", ChatBody("Hi", 2).dump());
  EXPECT_EQ(s2, 200) << b2;
}

}  // namespace
}  // namespace flashstream::testing
