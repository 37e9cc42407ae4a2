#include "engine/chat.h"

namespace flashstream {

Result<ChatFormatter> ChatFormatter::Create(const TokenizerSpec& spec, const Tokenizer& tokenizer) {
  const bool fallback = spec.chat_template.empty();
  const std::string source = fallback ? ChatMlTemplateSource() : spec.chat_template;
  Result<ChatTemplate> tmpl = ChatTemplate::Parse(source);
  if (!tmpl.ok()) return Errorf("chat template: {}", tmpl.status().message());
  auto text = [&](int32_t id) { return id >= 0 ? tokenizer.TokenText(id) : std::string(); };
  return ChatFormatter(std::move(tmpl).value(), fallback, tokenizer, text(spec.bos_id), text(spec.eos_id));
}

Result<std::string> ChatFormatter::Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const {
  return template_.Render(messages, add_generation_prompt, bos_, eos_);
}

std::vector<int32_t> ChatFormatter::Tokenize(const std::string& rendered) const {
  const bool has_bos = !bos_.empty() && rendered.rfind(bos_, 0) == 0;
  return tokenizer_->Encode(rendered, /*add_special=*/!has_bos, /*parse_special=*/true);
}

}  // namespace flashstream
