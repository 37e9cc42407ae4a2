// ThreadPool under the patterns kernels use: thousands of back-to-back Run() calls (the
// spinning hand-off) and Run() calls separated by idle gaps longer than the spin (the
// sleeping hand-off), always with the static task -> thread assignment.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "core/thread_pool.h"

namespace flashstream {
namespace {

void CheckOneRun(ThreadPool& pool, int64_t n_tasks, std::vector<int>& owner, std::vector<int>& count) {
  owner.assign(static_cast<size_t>(n_tasks), -1);
  count.assign(static_cast<size_t>(n_tasks), 0);
  pool.Run(n_tasks, [&](int64_t task, int thread) {
    owner[static_cast<size_t>(task)] = thread;
    ++count[static_cast<size_t>(task)];
  });
  for (int64_t i = 0; i < n_tasks; ++i) {
    ASSERT_EQ(count[static_cast<size_t>(i)], 1) << "task " << i;
    ASSERT_EQ(owner[static_cast<size_t>(i)], n_tasks == 1 ? 0 : static_cast<int>(i % pool.size())) << "task " << i;
  }
}

TEST(ThreadPool, BackToBackRuns) {
  ThreadPool pool(2);
  std::vector<int> owner, count;
  for (int rep = 0; rep < 20000; ++rep) CheckOneRun(pool, 1 + rep % 5, owner, count);
}

TEST(ThreadPool, RunsAfterIdleGapsWakeSleepingWorkers) {
  ThreadPool pool(3);
  std::vector<int> owner, count;
  for (int rep = 0; rep < 20; ++rep) {
    std::this_thread::sleep_for(std::chrono::microseconds(3 * ThreadPool::kSpinMicros));
    CheckOneRun(pool, 7, owner, count);
  }
}

// A slow task keeps the caller waiting past its spin, so it must sleep and be woken.
TEST(ThreadPool, CallerSleepsWhileAWorkerIsSlow) {
  ThreadPool pool(2);
  std::vector<int> done(2, 0);
  for (int rep = 0; rep < 5; ++rep) {
    pool.Run(2, [&](int64_t task, int) {
      if (task == 1) std::this_thread::sleep_for(std::chrono::microseconds(5 * ThreadPool::kSpinMicros));
      done[static_cast<size_t>(task)] = rep + 1;
    });
    EXPECT_EQ(done[0], rep + 1);
    EXPECT_EQ(done[1], rep + 1);
  }
}

}  // namespace
}  // namespace flashstream
