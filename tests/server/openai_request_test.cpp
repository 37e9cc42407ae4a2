// The request parser and response builders on their own (no model, no sockets): defaults and
// overrides, every accepted shape, every error naming its field; chunk and usage objects;
// the Prometheus text.
#include "server/openai_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/metrics.h"
#include "server/openai_response.h"

namespace flashstream::server {
namespace {

using nlohmann::json;

GenerateOptions Defaults() {
  GenerateOptions g;
  g.max_tokens = 77;
  g.sampling.temperature = 0.3f;
  g.sampling.top_k = 11;
  g.stop = {"END"};
  return g;
}

struct Parsed {
  Status status;
  std::string param;
  CompletionRequest request;
};

Parsed Parse(const std::string& body, Endpoint endpoint = Endpoint::kChat) {
  Parsed p;
  p.status = ParseCompletionRequest(body, endpoint, Defaults(), &p.request, &p.param);
  return p;
}

TEST(OpenAiRequest, DefaultsFillWhatTheRequestLeavesOut) {
  Parsed p = Parse(R"({"model": "m", "messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_TRUE(p.status.ok()) << p.status.message();
  const CompletionRequest& r = p.request;
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 1u);
  EXPECT_EQ(r.messages[0].role, "user");
  EXPECT_EQ(r.messages[0].content, "hi");
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.max_tokens_given);
  EXPECT_FALSE(r.seed_given);
  EXPECT_EQ(r.options.max_tokens, 77);
  EXPECT_FLOAT_EQ(r.options.sampling.temperature, 0.3f);
  EXPECT_EQ(r.options.sampling.top_k, 11);
  EXPECT_EQ(r.options.stop, std::vector<std::string>{"END"});
}

TEST(OpenAiRequest, RequestValuesOverrideTheDefaults) {
  Parsed p = Parse(R"({"messages": [{"role": "system", "content": "s"}, {"role": "developer", "content": "d"},
      {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
      "stream": true, "stream_options": {"include_usage": true}, "max_completion_tokens": 5,
      "temperature": 0, "top_p": 0.5, "top_k": 3, "min_p": 0.1, "repeat_penalty": 1.2, "seed": 42,
      "stop": ["x", "yy"], "ignore_eos": true, "flashstream_stats": true, "n": 1, "presence_penalty": 0,
      "logprobs": false, "user": "ignored", "unknown_field": {"ignored": true}, "tools": []})");
  ASSERT_TRUE(p.status.ok()) << p.status.message();
  const CompletionRequest& r = p.request;
  ASSERT_EQ(r.messages.size(), 3u);
  EXPECT_EQ(r.messages[1].role, "system");  // developer is the system role
  EXPECT_EQ(r.messages[2].content, "ab");
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_TRUE(r.live_stats);
  EXPECT_TRUE(r.max_tokens_given);
  EXPECT_EQ(r.options.max_tokens, 5);
  EXPECT_EQ(r.options.sampling.temperature, 0.0f);
  EXPECT_FLOAT_EQ(r.options.sampling.top_p, 0.5f);
  EXPECT_EQ(r.options.sampling.top_k, 3);
  EXPECT_FLOAT_EQ(r.options.sampling.min_p, 0.1f);
  EXPECT_FLOAT_EQ(r.options.sampling.repeat_penalty, 1.2f);
  EXPECT_EQ(r.options.sampling.seed, 42u);
  EXPECT_TRUE(r.seed_given);
  EXPECT_TRUE(r.options.ignore_eos);
  EXPECT_EQ(r.options.stop, (std::vector<std::string>{"x", "yy"}));
}

TEST(OpenAiRequest, CompletionPromptShapes) {
  Parsed a = Parse(R"({"prompt": "once", "stop": "z", "max_tokens": 3})", Endpoint::kCompletion);
  ASSERT_TRUE(a.status.ok()) << a.status.message();
  EXPECT_EQ(a.request.prompt, "once");
  EXPECT_EQ(a.request.options.stop, std::vector<std::string>{"z"});
  Parsed b = Parse(R"({"prompt": ["once"]})", Endpoint::kCompletion);
  ASSERT_TRUE(b.status.ok());
  EXPECT_EQ(b.request.prompt, "once");
  // max_completion_tokens belongs to chat only: ignored here like any unknown field.
  Parsed c = Parse(R"({"prompt": "x", "max_completion_tokens": 0})", Endpoint::kCompletion);
  EXPECT_TRUE(c.status.ok());
}

TEST(OpenAiRequest, NullMeansAbsent) {
  Parsed p =
      Parse(R"({"messages": [{"role": "user", "content": "hi"}], "temperature": null, "stop": null, "seed": null})");
  ASSERT_TRUE(p.status.ok()) << p.status.message();
  EXPECT_FLOAT_EQ(p.request.options.sampling.temperature, 0.3f);
  EXPECT_EQ(p.request.options.stop, std::vector<std::string>{"END"});
}

TEST(OpenAiRequest, ErrorsNameTheField) {
  const std::string user = R"("messages": [{"role": "user", "content": "hi"}])";
  struct Case {
    std::string body;
    std::string param;
    std::string message_part;
  };
  const std::vector<Case> cases = {
      {"{", "", "invalid JSON"},
      {"\"text\"", "", "JSON object"},
      {std::string(40, '[') + std::string(40, ']'), "", "nested"},
      {"{\"messages\": [{\"role\": \"user\", \"content\": \"\xe2\x82\"}]}", "", "invalid JSON"},
      {"{}", "messages", "required"},
      {R"({"messages": {}})", "messages", "expected an array, got object"},
      {R"({"messages": []})", "messages", "at least one"},
      {R"({"messages": [3]})", "messages", "messages[0]: expected an object"},
      {R"({"messages": [{"content": "x"}]})", "messages", "messages[0].role"},
      {R"({"messages": [{"role": "tool", "content": "x"}]})", "messages", "'tool'"},
      {R"({"messages": [{"role": "user"}]})", "messages", "messages[0].content: is required"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages", "type \"text\""},
      {R"({"messages": [{"role": "user", "content": true}]})", "messages", "got boolean"},
      {"{" + user + R"(, "model": 5})", "model", "expected a string, got integer"},
      {"{" + user + R"(, "stream": 1})", "stream", "expected a boolean"},
      {"{" + user + R"(, "stream_options": 1})", "stream_options", "expected an object"},
      {"{" + user + R"(, "stream_options": {"include_usage": "yes"}})", "stream_options", "include_usage"},
      {"{" + user + R"(, "max_tokens": "5"})", "max_tokens", "expected an integer, got string"},
      {"{" + user + R"(, "max_tokens": 5.5})", "max_tokens", "expected an integer, got number"},
      {"{" + user + R"(, "max_tokens": -1})", "max_tokens", "[1, "},
      {"{" + user + R"(, "max_tokens": 18446744073709551615})", "max_tokens", "[1, "},
      {"{" + user + R"(, "max_completion_tokens": 0})", "max_completion_tokens", "[1, "},
      {"{" + user + R"(, "temperature": -0.5})", "temperature", "a number >= 0"},
      {"{" + user + R"(, "temperature": [1]})", "temperature", "expected a number, got array"},
      {"{" + user + R"(, "top_p": 2})", "top_p", "[0, 1]"},
      {"{" + user + R"(, "top_k": 1.5})", "top_k", "expected an integer"},
      {"{" + user + R"(, "min_p": -1})", "min_p", "[0, 1]"},
      {"{" + user + R"(, "repeat_penalty": 0})", "repeat_penalty", "> 0"},
      {"{" + user + R"(, "seed": -1})", "seed", "[0, 2^64)"},
      {"{" + user + R"(, "seed": 1.5})", "seed", "expected an integer"},
      {"{" + user + R"(, "stop": 5})", "stop", "a string or an array"},
      {"{" + user + R"(, "stop": [""]})", "stop", "must not be empty"},
      {"{" + user + R"(, "stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]})", "stop",
       "at most 16"},
      {"{" + user + R"(, "n": 2})", "n", "not supported"},
      {"{" + user + R"(, "presence_penalty": 0.5})", "presence_penalty", "not supported"},
      {"{" + user + R"(, "frequency_penalty": 1})", "frequency_penalty", "not supported"},
      {"{" + user + R"(, "logprobs": true})", "logprobs", "not supported"},
      {"{" + user + R"(, "tools": [{"type": "function"}]})", "tools", "not supported"},
      {"{" + user + R"(, "ignore_eos": "no"})", "ignore_eos", "expected a boolean"},
  };
  for (const Case& c : cases) {
    Parsed p = Parse(c.body);
    EXPECT_FALSE(p.status.ok()) << c.body;
    EXPECT_EQ(p.param, c.param) << c.body << " -> " << p.status.message();
    EXPECT_NE(p.status.message().find(c.message_part), std::string::npos) << c.body << " -> " << p.status.message();
  }
  const std::vector<Case> completion_cases = {
      {"{}", "prompt", "required"},
      {R"({"prompt": ""})", "prompt", "empty"},
      {R"({"prompt": ["a", "b"]})", "prompt", "an array of one string"},
      {R"({"prompt": [1, 2]})", "prompt", "an array of one string"},
      {R"({"prompt": "a", "echo": true})", "echo", "not supported"},
      {R"({"prompt": "a", "suffix": "s"})", "suffix", "not supported"},
      {R"({"prompt": "a", "logprobs": 2})", "logprobs", "not supported"},
  };
  for (const Case& c : completion_cases) {
    Parsed p = Parse(c.body, Endpoint::kCompletion);
    EXPECT_FALSE(p.status.ok()) << c.body;
    EXPECT_EQ(p.param, c.param) << c.body << " -> " << p.status.message();
    EXPECT_NE(p.status.message().find(c.message_part), std::string::npos) << c.body << " -> " << p.status.message();
  }
}

TEST(OpenAiResponse, ErrorBodyAndObjects) {
  const json e = json::parse(ErrorBody("bad thing", "invalid_request_error", "temperature"));
  EXPECT_EQ(e["error"]["message"], "bad thing");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["param"], "temperature");
  EXPECT_TRUE(e["error"]["code"].is_null());

  RunStats s;
  s.prompt_tokens = 10;
  s.reused_tokens = 4;
  s.generated_tokens = 6;
  s.stop_reason = "eos";
  const ResponseId rid{"chatcmpl-1", 1700000000, "m"};
  const json chat = CompletionObject(Endpoint::kChat, rid, "hello", s);
  EXPECT_EQ(chat["object"], "chat.completion");
  EXPECT_EQ(chat["choices"][0]["message"]["content"], "hello");
  EXPECT_EQ(chat["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(chat["usage"]["completion_tokens"], 5);  // the end-of-generation token is not counted
  EXPECT_EQ(chat["usage"]["total_tokens"], 15);
  EXPECT_EQ(chat["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
  s.stop_reason = "length";
  const json text = CompletionObject(Endpoint::kCompletion, rid, "abc", s);
  EXPECT_EQ(text["object"], "text_completion");
  EXPECT_EQ(text["choices"][0]["text"], "abc");
  EXPECT_EQ(text["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(text["usage"]["completion_tokens"], 6);
  EXPECT_EQ(FinishReason("context"), "length");
  EXPECT_EQ(FinishReason("stop"), "stop");
  EXPECT_EQ(FinishReason("cancelled"), "stop");

  const std::string first = ChunkEvent(Endpoint::kChat, rid, "", true, "", json());
  ASSERT_EQ(first.rfind("data: ", 0), 0u);
  ASSERT_EQ(first.substr(first.size() - 2), "\n\n");
  const json c = json::parse(first.substr(6));
  EXPECT_EQ(c["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(c.contains("flashstream"));
  const json last = json::parse(ChunkEvent(Endpoint::kChat, rid, "", false, "stop", json{{"x", 1}}).substr(6));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(last["choices"][0]["delta"].empty());
  EXPECT_EQ(last["flashstream"]["x"], 1);
  const json usage = json::parse(UsageEvent(Endpoint::kChat, rid, s).substr(6));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["prompt_tokens"], 10);
}

TEST(OpenAiResponse, LiveStatsRates) {
  LiveStats live;
  live.tokens = 11;
  live.seconds = 3;
  live.first_token_seconds = 1;
  live.bytes_read = 1100;
  live.io_wait_seconds = 0.5;
  const json j = LiveStatsJson(live);
  EXPECT_DOUBLE_EQ(j["tokens_per_second"].get<double>(), 5.0);  // 10 tokens after the first, in 2 s
  EXPECT_EQ(j["bytes_read_per_token"], 100);
}

TEST(ServerMetrics, PrometheusText) {
  ModelFacts facts;
  facts.model_id = "m\"1";
  facts.weight_bytes_per_pass = 1000;
  facts.resident_bytes = 600;
  ServerMetrics m(facts);
  m.CountRequest("/v1/completions", 200);
  m.CountRequest("/v1/completions", 200);
  m.CountRequest("/v1/completions", 400);
  RunStats s;
  s.prompt_tokens = 8;
  s.reused_tokens = 2;
  s.generated_tokens = 5;
  s.decode_passes = 4;  // + the prompt's pass = 5 passes = 5000 weight bytes used
  s.stop_reason = "length";
  s.store.bytes_read = 2000;
  m.CountGeneration(s, 0.25);
  const std::string t = m.Render(3);
  for (const char* line : {"flashstream_http_requests_total{route=\"/v1/completions\",code=\"200\"} 2\n",
                           "flashstream_http_requests_total{route=\"/v1/completions\",code=\"400\"} 1\n",
                           "flashstream_generations_total{reason=\"length\"} 1\n", "flashstream_queue_depth 3\n",
                           "flashstream_prompt_tokens_total 8\n", "flashstream_generated_tokens_total 5\n",
                           "flashstream_streamed_bytes_total 2000\n", "flashstream_prompt_cache_hit_ratio 0.25\n",
                           "flashstream_weight_cache_hit_ratio 0.6\n", "flashstream_queue_seconds_total 0.25\n",
                           "flashstream_model_info{model=\"m\\\"1\"} 1\n", "# TYPE flashstream_queue_depth gauge\n"}) {
    EXPECT_NE(t.find(line), std::string::npos) << line << "\n" << t;
  }
}

}  // namespace
}  // namespace flashstream::server
