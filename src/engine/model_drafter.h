// ModelDrafter: drafts with a small model that shares the target's tokenizer (--draft-model).
// Owns the draft model's resident Session and keeps its K/V in step with the target's
// conversation: CatchUp() rewinds the draft session to the prefix it shares with the context
// and runs the rest in one batch; Draft() does that, then greedily proposes k tokens one pass
// each. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "engine/session.h"

namespace flashstream {

class ModelDrafter {
 public:
  // Opens `options.model_path` fully resident and checks that its vocabulary is the target's
  // token for token.
  static Result<std::unique_ptr<ModelDrafter>> Open(const EngineOptions& options, const Tokenizer& target);

  // Tokens of `context` (the target's tokens so far) that CatchUp() would run.
  size_t Pending(std::span<const int32_t> context) const;
  // Brings the draft session to `context`: after it, the draft model's logits follow context's
  // last token.
  Status CatchUp(std::span<const int32_t> context);
  // Appends k greedy continuations of `context` to `draft`.
  Status Draft(std::span<const int32_t> context, int k, std::vector<int32_t>* draft);
  const Session& session() const { return *session_; }

 private:
  explicit ModelDrafter(std::unique_ptr<Session> session) : session_(std::move(session)) {}

  std::unique_ptr<Session> session_;
  std::vector<float> logits_;  // [vocab] of the draft model's last pass
  size_t logits_after_ = 0;    // history length whose last token logits_ follow (0: none)
};

}  // namespace flashstream
