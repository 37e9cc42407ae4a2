// The CPU backend's attention over KV tiers (backend.h TieredAttentionArgs; the plain Attention
// op is the special case of one f32 hot block). Work is split statically into tasks that depend
// only on the shapes, never on the thread count: blocks of up to AttnTask::kMaxQueries query
// tokens over their keys, or, with fewer queries than kSplitTokens, each token's keys cut at
// multiples of kSplitKeys positions (every thread then streams keys) with the partial softmaxes
// combined in order. A task walks its keys tier by tier and block by block; f32 blocks are read
// in place, other formats are decoded 64 rows at a time into the thread's scratch, so no more
// than that is ever materialised in f32. Holds scratch reused across calls; borrows the pool and
// the kernel table; not thread-safe (one backend's calls at a time).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/kernels.h"
#include "core/thread_pool.h"

namespace flashstream::cpu {

class TieredAttentionRunner {
 public:
  static constexpr int64_t kSplitTokens = 4;
  static constexpr int64_t kSplitKeys = 1024;
  static constexpr int kDecodeRows = 64;

  TieredAttentionRunner(ThreadPool& pool, const CpuKernels& kernels) : pool_(pool), k_(kernels) {}
  void Run(const TieredAttentionArgs& args);

 private:
  struct Task {
    int64_t t0 = 0;  // first query token
    int n_q = 1;
    int64_t j0 = 0, j1 = 0;  // key positions [j0, j1)
  };
  // Per-task running softmax state and the thread's scratch, for the walk over key runs.
  struct TaskState;
  void RunTask(const TieredAttentionArgs& a, int64_t task, int thread);
  void Walk(const TieredAttentionArgs& a, std::span<const KvBlockView> tier, bool cold, int64_t from, int64_t to,
            TaskState& s);
  void Combine(const TieredAttentionArgs& a, int64_t first, int64_t last, float* out);

  ThreadPool& pool_;
  const CpuKernels& k_;
  std::vector<Task> tasks_;
  std::vector<int64_t> first_task_;          // [n_blocks + 1]: first task of each query block
  std::vector<float> stats_;                 // per task: max[kMaxQueries, n_heads], sum[kMaxQueries, n_heads]
  std::vector<float> partial_;               // per task of a split token: out[n_heads, head_dim]
  std::vector<std::vector<float>> scratch_;  // per thread: kernel scratch, then K and V rows [kDecodeRows, kv_width]
};

}  // namespace flashstream::cpu
