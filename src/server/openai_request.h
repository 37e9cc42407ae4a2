// The OpenAI request bodies the server accepts (POST /v1/chat/completions and /v1/completions),
// parsed and validated into a CompletionRequest. Bad JSON, wrong types, out-of-range values and
// unsupported features (n > 1, logprobs, penalties other than 0) are errors naming the field;
// unknown fields are ignored, as clients send extras. Extensions (as llama.cpp's server has
// them): top_k, min_p, repeat_penalty, ignore_eos, and flashstream_stats (run figures in the
// stream). Pure; thread-compatible.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "flashstream/options.h"
#include "tokenizer/chat_template.h"  // ChatMessage

namespace flashstream::server {

// Which endpoint a body was sent to.
enum class Endpoint { kChat, kCompletion };

struct CompletionRequest {
  Endpoint endpoint = Endpoint::kChat;
  std::string model;                  // as sent; "" when absent
  std::vector<ChatMessage> messages;  // kChat: the conversation, at least one message
  std::string prompt;                 // kCompletion: the text to continue
  bool stream = false;                // answer as server-sent events
  bool include_usage = false;         // stream_options.include_usage: a last chunk with usage
  bool live_stats = false;            // extension "flashstream_stats": run figures in each chunk
  bool max_tokens_given = false;      // max_tokens (or max_completion_tokens) was in the body
  bool seed_given = false;            // seed was in the body
  GenerateOptions options;            // the server's defaults with the request's values over them
};

// Parses `body` for `endpoint` over `defaults`. On error, `*error_param` names the offending
// field ("" when the body as a whole is wrong) and the message says what was expected.
Status ParseCompletionRequest(std::string_view body, Endpoint endpoint, const GenerateOptions& defaults,
                              CompletionRequest* out, std::string* error_param);

}  // namespace flashstream::server
