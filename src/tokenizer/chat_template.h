// ChatTemplate: renders a model's Jinja2 chat template (GGUF tokenizer.chat_template,
// tokenizer_config.json "chat_template") the way transformers' apply_chat_template does:
// jinja2 with trim_blocks and lstrip_blocks, tojson with ensure_ascii=False, loop controls,
// raise_exception and strftime_now. Output is byte-identical to transformers for the
// supported subset (see src/tokenizer/jinja_*.h); anything else is an error Status, never a
// crash. Immutable after Parse and cheap to copy (shares the parsed tree); Render is const
// and thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>  // nlohmann::ordered_json: render context
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_interp.h"

namespace flashstream {

// One turn of a conversation as transformers' {"role": ..., "content": ...} dict. Value type.
struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool", ...
  std::string content;
};

// Per-render settings for RenderContext. Value type.
struct ChatRenderOptions {
  jinja::Limits limits;             // output size, work, nesting bounds
  std::optional<int64_t> now_unix;  // time for strftime_now (UTC); nullopt = local now
};

class ChatTemplate {
 public:
  // Parses a template. Errors: one line "chat template line L:C: expected X, got Y".
  static Result<ChatTemplate> Parse(std::string_view source);

  // Renders `messages` with the variables transformers passes: messages,
  // add_generation_prompt, bos_token, eos_token, and tools = documents = None.
  Result<std::string> Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                             const std::string& bos_token, const std::string& eos_token) const;

  // Renders with an arbitrary context: each key of the `context` object becomes a template
  // variable (e.g. "messages" with tool_calls, "tools", "add_generation_prompt",
  // "bos_token"). Keys keep their order, as Python dicts do, so tojson output matches.
  Result<std::string> RenderContext(const nlohmann::ordered_json& context, const ChatRenderOptions& options = {}) const;

  // The context Render() uses, for callers that want to add keys before RenderContext.
  static nlohmann::ordered_json MakeContext(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                            const std::string& bos_token, const std::string& eos_token);

 private:
  explicit ChatTemplate(std::shared_ptr<const jinja::Template> root) : root_(std::move(root)) {}
  std::shared_ptr<const jinja::Template> root_;
};

// The ChatML template (<|im_start|>role\ncontent<|im_end|>\n ...) used when a model ships none.
std::string ChatMlTemplateSource();

}  // namespace flashstream
