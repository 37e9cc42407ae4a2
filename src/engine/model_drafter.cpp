#include "engine/model_drafter.h"

#include <algorithm>

namespace flashstream {

Result<std::unique_ptr<ModelDrafter>> ModelDrafter::Open(const EngineOptions& options, const Tokenizer& target) {
  EngineOptions o = options;
  o.ram_gib = 0;  // the draft runs every step: it must be resident
  FS_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, Session::Open(o, nullptr));
  if (!session->has_tokenizer()) return Errorf("{}: the draft model has no tokenizer", options.model_path);
  const Tokenizer& mine = session->tokenizer();
  if (mine.vocab_size() != target.vocab_size()) {
    return Errorf("{}: the draft model's vocabulary has {} tokens, the model's {}: they must share a tokenizer",
                  options.model_path, mine.vocab_size(), target.vocab_size());
  }
  for (size_t id = 0; id < mine.vocab_size(); ++id) {
    const auto i = static_cast<int32_t>(id);
    if (mine.TokenText(i) != target.TokenText(i)) {
      return Errorf("{}: the draft model's token {} is '{}', the model's '{}': they must share a tokenizer",
                    options.model_path, id, mine.TokenText(i), target.TokenText(i));
    }
  }
  if (session->index().config.vocab_size != static_cast<int>(target.vocab_size())) {
    return Errorf("{}: the draft model's output has {} logits, expected {}", options.model_path,
                  session->index().config.vocab_size, target.vocab_size());
  }
  return std::unique_ptr<ModelDrafter>(new ModelDrafter(std::move(session)));
}

size_t ModelDrafter::Pending(std::span<const int32_t> context) const {
  const std::vector<int32_t>& seen = session_->history();
  const size_t shared = std::mismatch(seen.begin(), seen.end(), context.begin(), context.end()).first - seen.begin();
  if (shared == context.size() && logits_after_ == context.size()) return 0;
  return context.size() - std::min(shared, context.size() - 1);  // the last token runs again for its logits
}

Status ModelDrafter::CatchUp(std::span<const int32_t> context) {
  const size_t pending = context.empty() ? 0 : Pending(context);
  if (pending == 0) return Status::Ok();
  const size_t shared = context.size() - pending;
  logits_after_ = 0;
  FS_RETURN_IF_ERROR(session_->Rewind(static_cast<int>(shared)));
  FS_RETURN_IF_ERROR(session_->Append(context.subspan(shared), false, &logits_));
  logits_after_ = context.size();
  return Status::Ok();
}

Status ModelDrafter::Draft(std::span<const int32_t> context, int k, std::vector<int32_t>* draft) {
  if (k <= 0 || context.empty()) return Status::Ok();
  FS_RETURN_IF_ERROR(CatchUp(context));
  for (int i = 0; i < k; ++i) {
    const int32_t token[1] = {static_cast<int32_t>(std::max_element(logits_.begin(), logits_.end()) - logits_.begin())};
    draft->push_back(token[0]);
    if (i + 1 < k) {
      logits_after_ = 0;
      FS_RETURN_IF_ERROR(session_->Append(token, false, &logits_));
      logits_after_ = session_->history().size();
    }
  }
  return Status::Ok();
}

}  // namespace flashstream
