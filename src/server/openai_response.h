// The OpenAI response bodies: errors, chat.completion / text_completion objects, the chunks of
// a streamed answer (server-sent events) and their usage, plus flashstream's run figures as an
// extension field ("flashstream") that clients ignore. Pure; thread-compatible.
#pragma once

#include <nlohmann/json.hpp>  // response objects
#include <string>
#include <string_view>

#include "engine/run_stats.h"
#include "server/generation_queue.h"  // LiveStats
#include "server/openai_request.h"

namespace flashstream::server {

// {"error": {"message", "type", "param", "code"}}; empty param/code become null.
std::string ErrorBody(std::string_view message, std::string_view type, std::string_view param = "",
                      std::string_view code = "");

// OpenAI's finish_reason for a RunStats stop reason: "stop" (end of generation, a stop string,
// cancelled) or "length" (max_tokens, context full).
std::string FinishReason(const std::string& stop_reason);

// {"prompt_tokens", "completion_tokens", "total_tokens"}; the end-of-generation token is not
// counted as a completion token.
nlohmann::json Usage(const RunStats& stats);

// Identity shared by every object of one response.
struct ResponseId {
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // unix seconds
  std::string model;
};

// The whole answer of a non-streamed request.
nlohmann::json CompletionObject(Endpoint endpoint, const ResponseId& rid, const std::string& text,
                                const RunStats& stats);

// One streamed chunk as an SSE event ("data: {...}\n\n"). `text` may be empty; `finish_reason`
// "" keeps it null; the chat endpoint's first chunk carries the assistant role.
std::string ChunkEvent(Endpoint endpoint, const ResponseId& rid, std::string_view text, bool first,
                       const std::string& finish_reason, const nlohmann::json& extension);
// The last chunk of stream_options.include_usage: no choices, the usage.
std::string UsageEvent(Endpoint endpoint, const ResponseId& rid, const RunStats& stats);

// Run figures while generating (tokens, seconds, tok/s, bytes streamed per token, I/O wait).
nlohmann::json LiveStatsJson(const LiveStats& live);
// The final figures: SummaryJson's fields.
nlohmann::json FinalStatsJson(const RunStats& stats);

}  // namespace flashstream::server
