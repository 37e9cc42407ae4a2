// The server's endpoints over loopback against the real SmolLM2: answers equal what the engine
// generates directly for the same conversation (greedy), streamed and not, chat and completions,
// plus /v1/models, /health, /metrics and the chat page.
#include <gtest/gtest.h>

#include <thread>

#include "engine/chat.h"
#include "server_fixture.h"

namespace flashstream::testing {
namespace {

using nlohmann::json;

class ServerApiTest : public ServerTest {
 protected:
  // What the engine itself answers to one user message (greedy), before the server starts.
  static std::string Reference(const std::vector<ChatMessage>& messages, int max_tokens) {
    Result<ChatFormatter> f = ChatFormatter::Create(session().index().tokenizer, session().tokenizer());
    EXPECT_TRUE(f.ok());
    Result<std::string> rendered = f->Render(messages, true);
    EXPECT_TRUE(rendered.ok());
    GenerateOptions g = Greedy();
    g.max_tokens = max_tokens;
    std::string out;
    Result<RunStats> r = session().Generate(f->Tokenize(*rendered), g, [&](std::string_view p) { out += p; });
    EXPECT_TRUE(r.ok()) << r.status().message();
    return out;
  }
};

TEST_F(ServerApiTest, ChatAnswerEqualsTheEngineStreamedOrNot) {
  const std::string expected = Reference({{"user", "What is the capital of France?"}}, 12);
  ASSERT_NE(expected.find("Paris"), std::string::npos) << expected;
  Start();
  auto [status, body] = Post("/v1/chat/completions", ChatBody("What is the capital of France?", 12).dump());
  ASSERT_EQ(status, 200) << body;
  const json j = json::parse(body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], expected);
  const json& usage = j["usage"];
  EXPECT_GT(usage["prompt_tokens"].get<int>(), 10);
  EXPECT_GE(usage["completion_tokens"].get<int>(), 1);
  EXPECT_LE(usage["completion_tokens"].get<int>(), 12);
  EXPECT_EQ(usage["total_tokens"].get<int>(),
            usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());

  json req = ChatBody("What is the capital of France?", 12, true);
  req["stream_options"] = {{"include_usage", true}};
  auto [s2, sse] = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(s2, 200);
  const SseStream stream = ParseSse(sse);
  EXPECT_TRUE(stream.done);
  EXPECT_EQ(stream.text, expected);
  ASSERT_GE(stream.chunks.size(), 3u);
  EXPECT_EQ(stream.chunks.front()["object"], "chat.completion.chunk");
  EXPECT_EQ(stream.chunks.front()["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(stream.finish_reason, j["choices"][0]["finish_reason"]);
  // The usage chunk comes last, with no choices, and counts as the non-streamed answer did
  // (the prompt's K/V are now cached, which changes the cached count only).
  const json& last = stream.chunks.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"]["completion_tokens"], usage["completion_tokens"]);
  EXPECT_EQ(last["usage"]["prompt_tokens"], usage["prompt_tokens"]);
  EXPECT_GT(last["usage"]["prompt_tokens_details"]["cached_tokens"].get<int>(), 0);
  for (const json& c : stream.chunks) EXPECT_EQ(c["id"], stream.chunks.front()["id"]);
}

TEST_F(ServerApiTest, CompletionContinuesTheRawPrompt) {
  GenerateOptions g = Greedy();
  g.max_tokens = 6;
  const std::vector<int32_t> ids = session().tokenizer().Encode("The capital of France is", true, false);
  std::string expected;
  ASSERT_TRUE(session().Generate(ids, g, [&](std::string_view p) { expected += p; }).ok());
  Start();
  auto [status, body] = Post("/v1/completions", R"({"prompt": "The capital of France is", "max_tokens": 6})");
  ASSERT_EQ(status, 200) << body;
  const json j = json::parse(body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], expected);
  EXPECT_EQ(j["usage"]["prompt_tokens"], ids.size());
  auto [s2, sse] =
      Post("/v1/completions", R"({"prompt": ["The capital of France is"], "max_tokens": 6, "stream": true})");
  ASSERT_EQ(s2, 200);
  const SseStream stream = ParseSse(sse);
  EXPECT_TRUE(stream.done);
  EXPECT_EQ(stream.text, expected);
}

TEST_F(ServerApiTest, StopStringsAndLengthFinishReasons) {
  Start();
  json req = ChatBody("Count from 1 to 9, separated by commas.", 24);
  auto [s1, b1] = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(s1, 200) << b1;
  const std::string full = json::parse(b1)["choices"][0]["message"]["content"];
  ASSERT_NE(full.find('5'), std::string::npos) << full;
  req["stop"] = json::array({"5"});
  auto [s2, b2] = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(s2, 200);
  const json j = json::parse(b2);
  EXPECT_EQ(j["choices"][0]["message"]["content"], full.substr(0, full.find('5')));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  req.erase("stop");
  req["max_tokens"] = 3;
  auto [s3, b3] = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(s3, 200);
  EXPECT_EQ(json::parse(b3)["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(json::parse(b3)["usage"]["completion_tokens"], 3);
}

TEST_F(ServerApiTest, SeededSamplingRepeatsAndSystemDefaultApplies) {
  ChatOptions chat;
  chat.system = "You always answer in French.";
  Start({}, Greedy(), chat);
  json req = ChatBody("Write one sentence about the sea.", 10);
  req["temperature"] = 1.0;
  req["top_p"] = 0.9;
  req["seed"] = 1234;
  auto [s1, b1] = Post("/v1/chat/completions", req.dump());
  auto [s2, b2] = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(s1, 200);
  ASSERT_EQ(s2, 200);
  EXPECT_EQ(json::parse(b1)["choices"][0]["message"]["content"], json::parse(b2)["choices"][0]["message"]["content"]);
  // The default system message adds its tokens to a request that brings no system message.
  const int with_default = json::parse(b1)["usage"]["prompt_tokens"];
  req["messages"] = {{{
                          "role",
                          "system",
                      },
                      {"content", "Be brief."}},
                     {{"role", "user"}, {"content", "Write one sentence about the sea."}}};
  auto [s3, b3] = Post("/v1/chat/completions", req.dump());
  ASSERT_EQ(s3, 200);
  EXPECT_LT(json::parse(b3)["usage"]["prompt_tokens"].get<int>(), with_default);
}

TEST_F(ServerApiTest, ModelsHealthMetricsAndChatPage) {
  ServerOptions o;
  o.model_id = "smol";
  Start(o);
  auto c = Client();
  auto models = c->Get("/v1/models");
  ASSERT_TRUE(models);
  EXPECT_EQ(models->status, 200);
  const json m = json::parse(models->body);
  EXPECT_EQ(m["object"], "list");
  ASSERT_EQ(m["data"].size(), 1u);
  EXPECT_EQ(m["data"][0]["id"], "smol");
  EXPECT_EQ(c->Get("/v1/models/smol")->status, 200);
  EXPECT_EQ(c->Get("/v1/models/other")->status, 404);
  auto health = c->Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(json::parse(health->body)["status"], "ok");

  ASSERT_EQ(Post("/v1/chat/completions", ChatBody("Hi", 4).dump()).first, 200);
  auto metrics = c->Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(metrics->get_header_value("Content-Type").find("text/plain"), std::string::npos);
  const std::string t = MetricsWith("flashstream_http_requests_total{route=\"/v1/chat/completions\",code=\"200\"} 1");
  for (const char* name : {"flashstream_queue_depth 0", "flashstream_generated_tokens_total ",
                           "flashstream_decode_tokens_per_second ", "flashstream_streamed_bytes_total 0",
                           "flashstream_prompt_cache_hit_ratio ", "flashstream_weight_cache_hit_ratio 1",
                           "flashstream_http_requests_total{route=\"/v1/chat/completions\",code=\"200\"} 1",
                           "# TYPE flashstream_generated_tokens_total counter"}) {
    EXPECT_NE(t.find(name), std::string::npos) << name << "\n" << t;
  }
  auto page = c->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);
  EXPECT_NE(page->body.find("/v1/chat/completions"), std::string::npos);
  EXPECT_EQ(c->Get("/nothing-here")->status, 404);
}

}  // namespace
}  // namespace flashstream::testing
