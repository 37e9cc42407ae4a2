// ThreadPool: a fixed set of worker threads for fork-join data parallelism in kernels.
// Run(n_tasks, fn) calls fn(task, thread) for every task in [0, n_tasks) with a static
// assignment (task i always runs on thread i % n_threads), so results never depend on timing.
// The calling thread participates as thread 0. Run() must not be called concurrently or
// re-entered from inside fn; the pool is owned by one engine context and passed down.
// Waiting threads spin briefly (kSpinMicros) before sleeping, so the back-to-back Run() calls
// of a decode step cost about a cache-line round trip instead of a futex wake-up each.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace flashstream {

class ThreadPool {
 public:
  // How long an idle worker, or Run() waiting for workers, spins before sleeping.
  static constexpr int kSpinMicros = 50;

  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }
  // Blocks until every task has run. fn must not throw.
  void Run(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

 private:
  void WorkerLoop(int thread);
  void RunShare(int thread);

  int n_threads_;
  std::vector<std::thread> workers_;
  // Published by Run() before generation_ is bumped; read by workers after they see it.
  int64_t n_tasks_ = 0;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // bumped once per Run() with workers
  std::atomic<int> pending_{0};          // workers still running the current generation
  std::atomic<bool> stop_{false};
  std::atomic<bool> running_{false};     // detects re-entry
  // Sleeping: a worker registers in sleepers_ (under mu_) before waiting on start_cv_, and
  // Run() registers in main_waiting_ before waiting on done_cv_; a waker notifies only when
  // the flag says someone may sleep.
  std::mutex mu_;
  std::condition_variable start_cv_;
  std::condition_variable done_cv_;
  std::atomic<int> sleepers_{0};
  std::atomic<bool> main_waiting_{false};
};

// Splits [0, n) into `parts` contiguous ranges; returns the begin of range `i` (i in [0, parts]).
inline int64_t SplitPoint(int64_t n, int64_t parts, int64_t i) { return n * i / parts; }

}  // namespace flashstream
