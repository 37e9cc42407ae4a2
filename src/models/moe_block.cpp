#include "models/moe_block.h"

#include <fmt/format.h>  // tensor names

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace flashstream {
namespace {

// Presence and shape of one tensor; `matrix` allows quantized dtypes, else f32/f16/bf16 only.
Status CheckOne(const ModelIndex& index, const std::string& name, const Shape& want, bool matrix) {
  const TensorInfo* t = index.Find(name);
  if (t == nullptr) return Errorf("{}: required tensor {} is missing", index.files.at(0), name);
  if (!(t->shape == want)) {
    return Errorf("{}: tensor {} has shape {}, expected {}", index.files.at(0), name, t->shape.ToString(),
                  want.ToString());
  }
  const bool plain = t->dtype == DType::kF32 || t->dtype == DType::kF16 || t->dtype == DType::kBF16;
  if (!matrix && !plain) {
    return Errorf("{}: tensor {} has dtype {}, expected f32, f16 or bf16", index.files.at(0), name, Name(t->dtype));
  }
  if (t->dtype == DType::kI32) {
    return Errorf("{}: tensor {} has dtype i32, expected a float or quantized type", index.files.at(0), name);
  }
  return Status::Ok();
}

}  // namespace

std::string MoeBlock::ExpertRole(const char* kind, int e) { return fmt::format("ffn_{}.{}.weight", kind, e); }

Status MoeBlock::CheckLayer(const ModelIndex& index, int l) {
  const ModelConfig& c = index.config;
  const std::string p = fmt::format("blk.{}.", l);
  FS_RETURN_IF_ERROR(CheckOne(index, p + "ffn_gate_inp.weight", MakeShape({c.n_expert, c.n_embd}), true));
  for (int e = 0; e < c.n_expert; ++e) {
    FS_RETURN_IF_ERROR(CheckOne(index, p + ExpertRole("gate", e), MakeShape({c.n_ff_expert, c.n_embd}), true));
    FS_RETURN_IF_ERROR(CheckOne(index, p + ExpertRole("up", e), MakeShape({c.n_ff_expert, c.n_embd}), true));
    FS_RETURN_IF_ERROR(CheckOne(index, p + ExpertRole("down", e), MakeShape({c.n_embd, c.n_ff_expert}), true));
  }
  if (c.n_ff_shared == 0) return Status::Ok();
  FS_RETURN_IF_ERROR(CheckOne(index, p + "ffn_gate_shexp.weight", MakeShape({c.n_ff_shared, c.n_embd}), true));
  FS_RETURN_IF_ERROR(CheckOne(index, p + "ffn_up_shexp.weight", MakeShape({c.n_ff_shared, c.n_embd}), true));
  FS_RETURN_IF_ERROR(CheckOne(index, p + "ffn_down_shexp.weight", MakeShape({c.n_embd, c.n_ff_shared}), true));
  const std::string gate = p + "ffn_gate_inp_shexp.weight";
  const TensorInfo* g = index.Find(gate);
  const bool row = g != nullptr && g->shape.rank == 2;  // HF's Linear(n_embd, 1)
  return CheckOne(index, gate, row ? MakeShape({1, c.n_embd}) : MakeShape({c.n_embd}), true);
}

MoeBlock::MoeBlock(const ModelConfig& config) : config_(config) {
  FS_CHECK(config.n_expert > 0 && config.n_expert_used > 0 && config.n_expert_used <= config.n_expert, "MoE config");
}

void MoeBlock::Route(int64_t n, float* logits, std::vector<int32_t>& selected, std::vector<float>& weights) const {
  const int n_exp = config_.n_expert;
  const int k = config_.n_expert_used;
  selected.resize(static_cast<size_t>(n * k));
  weights.resize(static_cast<size_t>(n * k));
  std::vector<int32_t> order(static_cast<size_t>(n_exp));
  for (int64_t t = 0; t < n; ++t) {
    float* p = logits + t * n_exp;
    const float max = *std::max_element(p, p + n_exp);
    float sum = 0.f;
    for (int e = 0; e < n_exp; ++e) {
      p[e] = std::exp(p[e] - max);
      sum += p[e];
    }
    for (int e = 0; e < n_exp; ++e) p[e] /= sum;
    for (int e = 0; e < n_exp; ++e) order[static_cast<size_t>(e)] = e;
    std::partial_sort(order.begin(), order.begin() + k, order.end(),
                      [p](int32_t a, int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
    float top_sum = 0.f;
    for (int j = 0; j < k; ++j) top_sum += p[order[static_cast<size_t>(j)]];
    for (int j = 0; j < k; ++j) {
      const int32_t e = order[static_cast<size_t>(j)];
      selected[static_cast<size_t>(t * k + j)] = e;
      weights[static_cast<size_t>(t * k + j)] = config_.expert_weights_norm ? p[e] / top_sum : p[e];
    }
  }
}

void MoeBlock::Distinct(const std::vector<int32_t>& selected, std::vector<int32_t>& experts) const {
  std::vector<uint8_t> seen(static_cast<size_t>(config_.n_expert), 0);
  for (int32_t e : selected) seen[static_cast<size_t>(e)] = 1;
  experts.clear();
  for (int e = 0; e < config_.n_expert; ++e) {
    if (seen[static_cast<size_t>(e)] != 0) experts.push_back(e);
  }
}

void MoeBlock::RunExpert(const TensorView& gate, const TensorView& up, const TensorView& down, int64_t m, int64_t ff,
                         Backend& backend) {
  ge_.resize(static_cast<size_t>(m * ff));
  ue_.resize(static_cast<size_t>(m * ff));
  ye_.resize(static_cast<size_t>(m * config_.n_embd));
  backend.MatMul(gate, xe_.data(), m, ge_.data());
  backend.MatMul(up, xe_.data(), m, ue_.data());
  backend.SwiGlu(ge_.data(), ue_.data(), m * ff, ge_.data());
  backend.MatMul(down, ge_.data(), m, ye_.data());
}

Status MoeBlock::Forward(int l, const LayerWeights& w, const float* x, int64_t n, Backend& backend, float* out) {
  const int64_t d = config_.n_embd;
  in_.assign(x, x + n * d);
  const float* in = in_.data();
  const int k = config_.n_expert_used;
  logits_.resize(static_cast<size_t>(n * config_.n_expert));
  backend.MatMul(w.Get("ffn_gate_inp.weight"), in, n, logits_.data());
  Route(n, logits_.data(), selected_, weights_);
  if (routing_hook_) routing_hook_(l, selected_, n);
  if (source_ != nullptr) {
    Distinct(selected_, used_);
    source_->Need(l, used_);
    if (const TensorView* next = source_->Router(l + 1); next != nullptr) {
      next_logits_.resize(static_cast<size_t>(n * config_.n_expert));
      backend.MatMul(*next, in, n, next_logits_.data());
      Route(n, next_logits_.data(), next_selected_, next_weights_);
      Distinct(next_selected_, next_used_);
      source_->Prefetch(l + 1, next_used_);
    } else if (l == config_.n_layers - 1 && source_->PrefetchNextToken() && source_->Router(0) != nullptr) {
      // The next token follows the last row: layer 0's router on its input here predicts it.
      next_logits_.resize(static_cast<size_t>(config_.n_expert));
      backend.MatMul(*source_->Router(0), in + (n - 1) * d, 1, next_logits_.data());
      Route(1, next_logits_.data(), next_selected_, next_weights_);
      Distinct(next_selected_, next_used_);
      source_->Prefetch(0, next_used_);
    }
  }
  std::fill(out, out + n * d, 0.f);
  for (int e = 0; e < config_.n_expert; ++e) {
    rows_.clear();
    row_w_.clear();
    for (int64_t t = 0; t < n; ++t) {
      for (int j = 0; j < k; ++j) {
        if (selected_[static_cast<size_t>(t * k + j)] != e) continue;
        rows_.push_back(static_cast<int32_t>(t));
        row_w_.push_back(weights_[static_cast<size_t>(t * k + j)]);
      }
    }
    const int64_t m = static_cast<int64_t>(rows_.size());
    if (m == 0) continue;
    xe_.resize(static_cast<size_t>(m * d));
    for (int64_t i = 0; i < m; ++i) std::copy_n(in + rows_[static_cast<size_t>(i)] * d, d, xe_.data() + i * d);
    if (source_ != nullptr) {
      FS_ASSIGN_OR_RETURN(const ExpertViews v, source_->Expert(l, e));
      RunExpert(v.gate, v.up, v.down, m, config_.n_ff_expert, backend);
    } else {
      RunExpert(w.Get(ExpertRole("gate", e)), w.Get(ExpertRole("up", e)), w.Get(ExpertRole("down", e)), m,
                config_.n_ff_expert, backend);
    }
    for (int64_t i = 0; i < m; ++i) {
      float* o = out + rows_[static_cast<size_t>(i)] * d;
      const float* y = ye_.data() + i * d;
      const float s = row_w_[static_cast<size_t>(i)];
      for (int64_t c = 0; c < d; ++c) o[c] += s * y[c];
    }
  }
  if (config_.n_ff_shared == 0) return Status::Ok();
  // Shared expert on every token, scaled by its sigmoid gate.
  xe_.assign(in, in + n * d);
  RunExpert(w.Get("ffn_gate_shexp.weight"), w.Get("ffn_up_shexp.weight"), w.Get("ffn_down_shexp.weight"), n,
            config_.n_ff_shared, backend);
  sg_.resize(static_cast<size_t>(n));
  backend.MatMul(w.Get("ffn_gate_inp_shexp.weight"), in, n, sg_.data());
  for (int64_t t = 0; t < n; ++t) {
    const float s = 1.f / (1.f + std::exp(-sg_[static_cast<size_t>(t)]));
    float* o = out + t * d;
    const float* y = ye_.data() + t * d;
    for (int64_t c = 0; c < d; ++c) o[c] += s * y[c];
  }
  return Status::Ok();
}

}  // namespace flashstream
