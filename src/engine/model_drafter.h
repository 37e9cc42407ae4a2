// ModelDrafter: drafts with a small model that shares the target's tokenizer (--draft-model).
// Owns the draft model's resident Session and keeps its K/V in step with the target's
// conversation: each Draft() rewinds the draft session to the prefix it shares with the
// context, runs the rest in one batch and greedily proposes k tokens one pass each. Not
// thread-safe.
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

  // Appends k greedy continuations of `context` (the target's tokens so far) to `draft`.
  Status Draft(std::span<const int32_t> context, int k, std::vector<int32_t>* draft);
  const Session& session() const { return *session_; }

 private:
  explicit ModelDrafter(std::unique_ptr<Session> session) : session_(std::move(session)) {}

  std::unique_ptr<Session> session_;
  std::vector<float> logits_;  // [vocab] of the draft model's last pass
};

}  // namespace flashstream
