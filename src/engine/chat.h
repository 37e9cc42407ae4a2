// Chat: turns a conversation into prompt tokens through the model's own chat template (the
// Jinja template in its metadata) or ChatML when it has none. Borrows the tokenizer and spec.
// Thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "formats/model_index.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace flashstream {

class ChatFormatter {
 public:
  static Result<ChatFormatter> Create(const TokenizerSpec& spec, const Tokenizer& tokenizer);
  // True when the model has no template of its own and ChatML is used.
  bool uses_fallback() const { return fallback_; }
  // Renders the conversation (with the assistant's turn opened when add_generation_prompt).
  Result<std::string> Render(const std::vector<ChatMessage>& messages, bool add_generation_prompt) const;
  // Rendered text -> token ids, special tokens parsed; BOS added when the model wants it and the
  // template did not already write it.
  std::vector<int32_t> Tokenize(const std::string& rendered) const;

 private:
  ChatFormatter(ChatTemplate tmpl, bool fallback, const Tokenizer& tokenizer, std::string bos, std::string eos)
      : template_(std::move(tmpl)),
        fallback_(fallback),
        tokenizer_(&tokenizer),
        bos_(std::move(bos)),
        eos_(std::move(eos)) {}

  ChatTemplate template_;
  bool fallback_;
  const Tokenizer* tokenizer_;
  std::string bos_, eos_;  // token texts passed to the template
};

}  // namespace flashstream
