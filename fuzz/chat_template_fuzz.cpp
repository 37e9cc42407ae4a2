// libFuzzer target: arbitrary template source through ChatTemplate::Parse and, when it
// parses, RenderContext over a fixed conversation (with tool calls and tools). Any crash,
// sanitizer report, leak or hang is a bug: bad templates must come back as error Status.
// Limits are lowered so that every input finishes well inside libFuzzer's -timeout.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tokenizer/chat_template.h"

namespace {

const nlohmann::ordered_json& Context() {
  static const nlohmann::ordered_json ctx = nlohmann::ordered_json::parse(R"({
    "messages": [
      {"role": "system", "content": "You are helpful."},
      {"role": "user", "content": "Hi there, \"friend\" \\ é 中文"},
      {"role": "assistant", "tool_calls": [{"id": "call00001", "type": "function",
        "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
      {"role": "tool", "tool_call_id": "call00001", "content": "{\"t\": 21}"},
      {"role": "assistant", "content": "It is 21 C.\n"},
      {"role": "user", "content": "  Thanks!  "}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather.",
      "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "documents": null,
    "add_generation_prompt": true,
    "bos_token": "<s>",
    "eos_token": "</s>"
  })");
  return ctx;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view source(reinterpret_cast<const char*>(data), size);
  flashstream::Result<flashstream::ChatTemplate> tmpl = flashstream::ChatTemplate::Parse(source);
  if (!tmpl.ok()) return 0;
  flashstream::ChatRenderOptions options;
  options.now_unix = 1721952000;
  options.limits.max_output_bytes = 64 << 10;
  options.limits.max_steps = 200'000;
  options.limits.max_bytes_built = 8 << 20;
  (void)tmpl->RenderContext(Context(), options);
  return 0;
}
