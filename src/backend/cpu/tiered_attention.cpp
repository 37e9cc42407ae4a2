#include "backend/cpu/tiered_attention.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace flashstream::cpu {

struct TieredAttentionRunner::TaskState {
  const Task* task = nullptr;
  AttnTask attn;  // q, heads, state pointers filled once; k, v, n_keys, lo, hi per run
  bool started = false;
  float* kbuf = nullptr;  // [kDecodeRows, kv_width]
  float* vbuf = nullptr;
  int64_t lo[AttnTask::kMaxQueries] = {};
  int64_t hi[AttnTask::kMaxQueries] = {};
};

void TieredAttentionRunner::Run(const TieredAttentionArgs& a) {
  FS_CHECK(a.n_kv_heads > 0 && a.n_heads % a.n_kv_heads == 0, "Attention: {} heads over {} kv heads", a.n_heads,
           a.n_kv_heads);
  FS_CHECK(a.n_tok > 0 && a.pos0 >= 0 && a.window >= 0, "Attention: {} queries at {}, window {}", a.n_tok, a.pos0,
           a.window);
  const bool split = a.n_tok < kSplitTokens;
  const int64_t block = split ? 1 : AttnTask::kMaxQueries;
  const int64_t n_blocks = (a.n_tok + block - 1) / block;
  tasks_.clear();
  first_task_.assign(static_cast<size_t>(n_blocks + 1), 0);
  for (int64_t b = 0; b < n_blocks; ++b) {
    Task t;
    t.t0 = b * block;
    t.n_q = static_cast<int>(std::min(block, a.n_tok - t.t0));
    const int64_t first_pos = a.pos0 + t.t0;
    const int64_t lo = a.window > 0 ? std::max<int64_t>(0, first_pos - a.window + 1) : 0;
    const int64_t hi = first_pos + t.n_q;
    if (split) {
      for (int64_t r = lo / kSplitKeys * kSplitKeys; r < hi; r += kSplitKeys) {
        t.j0 = std::max(lo, r);
        t.j1 = std::min(hi, r + kSplitKeys);
        tasks_.push_back(t);
      }
    } else {
      t.j0 = lo;
      t.j1 = hi;
      tasks_.push_back(t);
    }
    first_task_[static_cast<size_t>(b + 1)] = static_cast<int64_t>(tasks_.size());
  }
  const int64_t n_tasks = static_cast<int64_t>(tasks_.size());
  const int64_t hhd = int64_t{a.n_heads} * a.head_dim;
  const int64_t kv_width = int64_t{a.n_kv_heads} * a.head_dim;
  stats_.resize(static_cast<size_t>(n_tasks * 2 * AttnTask::kMaxQueries * a.n_heads));
  if (n_tasks > n_blocks) partial_.resize(static_cast<size_t>(n_tasks * hhd));
  scratch_.resize(static_cast<size_t>(pool_.size()));
  for (auto& s : scratch_) s.resize(static_cast<size_t>(AttnScratchFloats(a.n_heads) + 2 * kDecodeRows * kv_width));
  pool_.Run(n_tasks, [&](int64_t task, int thread) { RunTask(a, task, thread); });
  for (int64_t b = 0; b < n_blocks; ++b) {
    const int64_t first = first_task_[static_cast<size_t>(b)], last = first_task_[static_cast<size_t>(b + 1)];
    if (last - first > 1) Combine(a, first, last, a.out + b * hhd);  // split tokens: block == 1
  }
}

void TieredAttentionRunner::RunTask(const TieredAttentionArgs& a, int64_t task, int thread) {
  const Task& t = tasks_[static_cast<size_t>(task)];
  const int64_t b = t.t0 / (a.n_tok < kSplitTokens ? 1 : AttnTask::kMaxQueries);
  const bool whole = first_task_[static_cast<size_t>(b + 1)] - first_task_[static_cast<size_t>(b)] == 1;
  const int64_t hhd = int64_t{a.n_heads} * a.head_dim;
  const int64_t kv_width = int64_t{a.n_kv_heads} * a.head_dim;
  TaskState s;
  s.task = &t;
  float* scratch = scratch_[static_cast<size_t>(thread)].data();
  s.kbuf = scratch + AttnScratchFloats(a.n_heads);
  s.vbuf = s.kbuf + kDecodeRows * kv_width;
  AttnTask& at = s.attn;
  at.q = a.q + t.t0 * hhd;
  at.kv_stride = kv_width;
  at.lo = s.lo;
  at.hi = s.hi;
  at.n_q = t.n_q;
  at.n_heads = a.n_heads;
  at.n_kv_heads = a.n_kv_heads;
  at.head_dim = a.head_dim;
  at.scale = a.scale;
  at.max = stats_.data() + task * 2 * AttnTask::kMaxQueries * a.n_heads;
  at.sum = at.max + AttnTask::kMaxQueries * a.n_heads;
  at.out = whole ? a.out + t.t0 * hhd : partial_.data() + task * hhd;
  at.scratch = scratch;
  int64_t split_min = t.j1, split_max = t.j0;
  for (int i = 0; i < t.n_q; ++i) {
    split_min = std::min(split_min, a.split[t.t0 + i]);
    split_max = std::max(split_max, a.split[t.t0 + i]);
  }
  Walk(a, a.cold, true, t.j0, std::min(t.j1, split_max), s);
  Walk(a, a.hot, false, std::max(t.j0, split_min), t.j1, s);
  const int64_t rows = int64_t{t.n_q} * a.n_heads;
  if (!s.started) {  // no key visible in this task's range (cannot happen for well-formed tiers)
    std::fill(at.max, at.max + rows, -INFINITY);
    std::fill(at.sum, at.sum + rows, 0.f);
    std::fill(at.out, at.out + rows * a.head_dim, 0.f);
  }
  if (whole) {
    for (int64_t th = 0; th < rows; ++th) {
      const float inv = 1.f / at.sum[th];
      for (int d = 0; d < a.head_dim; ++d) at.out[th * a.head_dim + d] *= inv;
    }
  }
}

void TieredAttentionRunner::Walk(const TieredAttentionArgs& a, std::span<const KvBlockView> tier, bool cold,
                                 int64_t from, int64_t to, TaskState& s) {
  if (from >= to) return;
  const Task& t = *s.task;
  AttnTask& at = s.attn;
  // Runs keys [c0, c0 + n) whose rows are at k, v.
  auto attend = [&](int64_t c0, int64_t n, const float* k, const float* v) {
    bool any = false;
    for (int i = 0; i < t.n_q; ++i) {
      const int64_t p = a.pos0 + t.t0 + i;
      const int64_t sp = a.split[t.t0 + i];
      int64_t lo = a.window > 0 ? p - a.window + 1 : 0;
      int64_t hi = p + 1;
      if (cold)
        hi = std::min(hi, sp);
      else
        lo = std::max(lo, sp);
      s.lo[i] = std::max(lo, t.j0) - c0;
      s.hi[i] = std::min(hi, t.j1) - c0;
      any = any || (std::max<int64_t>(s.lo[i], 0) < std::min(s.hi[i], n));
    }
    if (!any) return;
    at.k = k;
    at.v = v;
    at.n_keys = n;
    at.resume = s.started;
    k_.attend(at);
    s.started = true;
  };
  // The block holding `from`: the last one starting at or before it.
  auto it =
      std::upper_bound(tier.begin(), tier.end(), from, [](int64_t pos, const KvBlockView& b) { return pos < b.first; });
  size_t i = it == tier.begin() ? 0 : static_cast<size_t>(it - tier.begin() - 1);
  for (int64_t pos = from; pos < to; ++i) {
    FS_CHECK(i < tier.size() && tier[i].first <= pos && pos < tier[i].first + tier[i].n,
             "{} KV tier does not hold position {}", cold ? "cold" : "hot", pos);
    const KvBlockView& bl = tier[i];
    const int64_t end = std::min(to, bl.first + bl.n);
    const int row0 = static_cast<int>(pos - bl.first);
    if (bl.k_layout.format == KvFormat::kF32 && bl.v_layout.format == KvFormat::kF32) {
      const size_t off = static_cast<size_t>(row0) * bl.k_layout.row_code_bytes();
      attend(pos, end - pos, reinterpret_cast<const float*>(bl.k + off), reinterpret_cast<const float*>(bl.v + off));
    } else {
      for (int64_t c = pos; c < end; c += kDecodeRows) {
        const int n = static_cast<int>(std::min<int64_t>(kDecodeRows, end - c));
        const int r = static_cast<int>(c - bl.first);
        k_.decode_kv(bl.k_layout, bl.k, r, n, s.kbuf);
        k_.decode_kv(bl.v_layout, bl.v, r, n, s.vbuf);
        attend(c, n, s.kbuf, s.vbuf);
      }
    }
    pos = end;
  }
}

// out[h] = sum_s e^(m_s - M) out_s[h] / sum_s e^(m_s - M) sum_s over tasks [first, last).
void TieredAttentionRunner::Combine(const TieredAttentionArgs& a, int64_t first, int64_t last, float* out) {
  const int64_t stride = 2 * AttnTask::kMaxQueries * a.n_heads;
  const int64_t sum_off = AttnTask::kMaxQueries * a.n_heads;
  for (int h = 0; h < a.n_heads; ++h) {
    float m = -INFINITY;
    for (int64_t s = first; s < last; ++s) m = std::fmax(m, stats_[static_cast<size_t>(s * stride + h)]);
    float* o = out + static_cast<int64_t>(h) * a.head_dim;
    for (int d = 0; d < a.head_dim; ++d) o[d] = 0.f;
    float total = 0.f;
    for (int64_t s = first; s < last; ++s) {
      const float ms = stats_[static_cast<size_t>(s * stride + h)];
      if (ms == -INFINITY) continue;
      const float w = std::exp(ms - m);
      total += w * stats_[static_cast<size_t>(s * stride + sum_off + h)];
      const float* po = partial_.data() + (s * a.n_heads + h) * a.head_dim;
      for (int d = 0; d < a.head_dim; ++d) o[d] += w * po[d];
    }
    const float inv = 1.f / total;
    for (int d = 0; d < a.head_dim; ++d) o[d] *= inv;
  }
}

}  // namespace flashstream::cpu
