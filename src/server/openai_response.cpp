#include "server/openai_response.h"

#include <algorithm>

namespace flashstream::server {

using nlohmann::json;

std::string ErrorBody(std::string_view message, std::string_view type, std::string_view param, std::string_view code) {
  auto or_null = [](std::string_view s) { return s.empty() ? json(nullptr) : json(std::string(s)); };
  return json{{"error",
               {{"message", std::string(message)},
                {"type", std::string(type)},
                {"param", or_null(param)},
                {"code", or_null(code)}}}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string FinishReason(const std::string& stop_reason) {
  return stop_reason == "length" || stop_reason == "context" ? "length" : "stop";
}

json Usage(const RunStats& s) {
  const int completion = std::max(0, s.generated_tokens - (s.stop_reason == "eos" ? 1 : 0));
  return {{"prompt_tokens", s.prompt_tokens},
          {"completion_tokens", completion},
          {"total_tokens", s.prompt_tokens + completion},
          {"prompt_tokens_details", {{"cached_tokens", s.reused_tokens}}}};
}

json CompletionObject(Endpoint endpoint, const ResponseId& rid, const std::string& text, const RunStats& stats) {
  json choice = {{"index", 0}, {"finish_reason", FinishReason(stats.stop_reason)}, {"logprobs", nullptr}};
  if (endpoint == Endpoint::kChat) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  return {{"id", rid.id},
          {"object", endpoint == Endpoint::kChat ? "chat.completion" : "text_completion"},
          {"created", rid.created},
          {"model", rid.model},
          {"choices", json::array({choice})},
          {"usage", Usage(stats)},
          {"flashstream", FinalStatsJson(stats)}};
}

namespace {

json ChunkBase(Endpoint endpoint, const ResponseId& rid) {
  return {{"id", rid.id},
          {"object", endpoint == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
          {"created", rid.created},
          {"model", rid.model}};
}

std::string Event(const json& j) { return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n"; }

}  // namespace

std::string ChunkEvent(Endpoint endpoint, const ResponseId& rid, std::string_view text, bool first,
                       const std::string& finish_reason, const json& extension) {
  json chunk = ChunkBase(endpoint, rid);
  json choice = {{"index", 0},
                 {"finish_reason", finish_reason.empty() ? json(nullptr) : json(finish_reason)},
                 {"logprobs", nullptr}};
  if (endpoint == Endpoint::kChat) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || (first && finish_reason.empty())) delta["content"] = std::string(text);
    choice["delta"] = delta;
  } else {
    choice["text"] = std::string(text);
  }
  chunk["choices"] = json::array({choice});
  if (!extension.is_null()) chunk["flashstream"] = extension;
  return Event(chunk);
}

std::string UsageEvent(Endpoint endpoint, const ResponseId& rid, const RunStats& stats) {
  json chunk = ChunkBase(endpoint, rid);
  chunk["choices"] = json::array();
  chunk["usage"] = Usage(stats);
  return Event(chunk);
}

json LiveStatsJson(const LiveStats& live) {
  const double decode = live.seconds - live.first_token_seconds;
  return {{"tokens", live.tokens},
          {"seconds", live.seconds},
          {"tokens_per_second", decode > 0 && live.tokens > 1 ? (live.tokens - 1) / decode : 0},
          {"bytes_read", live.bytes_read},
          {"bytes_read_per_token", live.tokens > 0 ? live.bytes_read / live.tokens : 0},
          {"io_wait_seconds", live.io_wait_seconds}};
}

json FinalStatsJson(const RunStats& stats) { return json::parse(SummaryJson(stats)); }

}  // namespace flashstream::server
