// GenerationQueue: serves generation jobs one at a time, in arrival order, on one worker thread
// that owns the engine Session (which is not thread-safe). HTTP threads Submit() jobs and read
// their output through the Job; a job can be cancelled at any time (a client that disconnects),
// and one cancelled while still waiting is dropped without running. There is no batching: a
// waiting job starts when the one before it ends. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "engine/run_stats.h"
#include "engine/session.h"
#include "flashstream/options.h"

namespace flashstream::server {

// Figures of a generation while it runs, taken after each sampled token.
struct LiveStats {
  int tokens = 0;                  // sampled so far
  double seconds = 0;              // since the job started running
  double first_token_seconds = 0;  // prefill: start to the first sampled token
  uint64_t bytes_read = 0;         // weight bytes streamed from disk since the job started
  double io_wait_seconds = 0;      // time compute waited for those reads
};

// One request's generation: its input, a cancel flag and the output as it is produced.
// Thread-safe.
class Job {
 public:
  Job(std::vector<int32_t> prompt, GenerateOptions options)
      : prompt_(std::move(prompt)), options_(std::move(options)) {}

  // What Wait() returns: text produced since the last call, and whether the job is over.
  struct Update {
    std::string text;
    bool finished = false;
    bool started = false;  // the worker has begun this job
    LiveStats live;
  };
  // Blocks until there is new text, the job ends, or `timeout` passes.
  Update Wait(std::chrono::milliseconds timeout);
  // Blocks until the job ends.
  void WaitFinished();
  void Cancel() { cancel_.store(true); }
  bool cancelled() const { return cancel_.load(); }
  // After the job ended: the run statistics, or the engine's error ("cancelled" when it was
  // dropped before running).
  const Result<RunStats>& result() const { return result_; }
  const std::vector<int32_t>& prompt() const { return prompt_; }
  const GenerateOptions& options() const { return options_; }
  double queued_seconds() const { return queued_seconds_; }

 private:
  friend class GenerationQueue;
  void Start(double queued_seconds);
  void Push(std::string_view text, const LiveStats& live);
  void Finish(Result<RunStats> result);

  const std::vector<int32_t> prompt_;
  const GenerateOptions options_;
  std::atomic<bool> cancel_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;  // produced, not yet taken by Wait()
  LiveStats live_;
  bool started_ = false;
  bool finished_ = false;
  double queued_seconds_ = 0;
  Result<RunStats> result_ = Status::Error("not finished");
};

class GenerationQueue {
 public:
  // Called on the worker thread after each job that ran, before its client is told, with its
  // result and the time it waited (for metrics).
  using FinishedFn = std::function<void(const Result<RunStats>& result, double queued_seconds)>;

  // Borrows `session`, which must outlive the queue and not be used by anyone else meanwhile.
  GenerationQueue(Session& session, int max_waiting, FinishedFn on_finished);
  // Cancels every job and joins the worker.
  ~GenerationQueue();
  GenerationQueue(const GenerationQueue&) = delete;
  GenerationQueue& operator=(const GenerationQueue&) = delete;

  // Queues a job; fails when max_waiting jobs already wait.
  Result<std::shared_ptr<Job>> Submit(std::vector<int32_t> prompt, const GenerateOptions& options);
  // Jobs waiting plus the one running.
  int depth() const;

 private:
  void Work();

  Session& session_;
  const int max_waiting_;
  FinishedFn on_finished_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::shared_ptr<Job>, std::chrono::steady_clock::time_point>> waiting_;
  std::shared_ptr<Job> current_;  // the job running, if any
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace flashstream::server
