// ChatTemplate: parse once, render per request (see chat_template.h).
#include "tokenizer/chat_template.h"

#include "tokenizer/jinja_parser.h"

namespace flashstream {

Result<ChatTemplate> ChatTemplate::Parse(std::string_view source) {
  Result<jinja::Template> t = jinja::ParseTemplate(source);
  if (!t.ok()) return Status::Error("chat template " + t.status().message());
  return ChatTemplate(std::make_shared<const jinja::Template>(std::move(t).value()));
}

nlohmann::ordered_json ChatTemplate::MakeContext(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                                 const std::string& bos_token, const std::string& eos_token) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const ChatMessage& m : messages) {
    nlohmann::ordered_json msg = nlohmann::ordered_json::object();
    msg["role"] = m.role;
    msg["content"] = m.content;
    list.push_back(std::move(msg));
  }
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = std::move(list);
  ctx["tools"] = nullptr;
  ctx["documents"] = nullptr;
  ctx["add_generation_prompt"] = add_generation_prompt;
  ctx["bos_token"] = bos_token;
  ctx["eos_token"] = eos_token;
  return ctx;
}

Result<std::string> ChatTemplate::Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                         const std::string& bos_token, const std::string& eos_token) const {
  return RenderContext(MakeContext(messages, add_generation_prompt, bos_token, eos_token));
}

Result<std::string> ChatTemplate::RenderContext(const nlohmann::ordered_json& context,
                                                const ChatRenderOptions& options) const {
  if (!context.is_object()) return Status::Error("chat template context must be a JSON object");
  Result<jinja::Value> ctx = jinja::FromJson(context, options.limits.max_depth);
  if (!ctx.ok()) return Status::Error("chat template " + ctx.status().message());
  jinja::Interp interp(options.limits, options.now_unix);
  Result<std::string> out = interp.Render(*root_, ctx->dict());
  if (!out.ok()) return Status::Error("chat template " + out.status().message());
  return out;
}

std::string ChatMlTemplateSource() {
  return "{% for message in messages %}"
         "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
         "{% endfor %}"
         "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
}

}  // namespace flashstream
