#include "server/generation_queue.h"

#include "core/clock.h"

namespace flashstream::server {

Job::Update Job::Wait(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [this] { return !pending_.empty() || finished_; });
  Update u;
  u.text.swap(pending_);
  u.finished = finished_ && pending_.empty();
  u.started = started_;
  u.live = live_;
  return u;
}

void Job::WaitFinished() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return finished_; });
}

void Job::Start(double queued_seconds) {
  std::lock_guard lock(mu_);
  started_ = true;
  queued_seconds_ = queued_seconds;
}

void Job::Push(std::string_view text, const LiveStats& live) {
  {
    std::lock_guard lock(mu_);
    pending_.append(text);
    live_ = live;
  }
  cv_.notify_all();
}

void Job::Finish(Result<RunStats> result) {
  {
    std::lock_guard lock(mu_);
    result_ = std::move(result);
    finished_ = true;
  }
  cv_.notify_all();
}

GenerationQueue::GenerationQueue(Session& session, int max_waiting, FinishedFn on_finished)
    : session_(session), max_waiting_(max_waiting), on_finished_(std::move(on_finished)) {
  worker_ = std::thread([this] { Work(); });
}

GenerationQueue::~GenerationQueue() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [job, since] : waiting_) job->Cancel();
    if (current_) current_->Cancel();
  }
  cv_.notify_all();
  worker_.join();
}

Result<std::shared_ptr<Job>> GenerationQueue::Submit(std::vector<int32_t> prompt, const GenerateOptions& options) {
  auto job = std::make_shared<Job>(std::move(prompt), options);
  std::vector<std::shared_ptr<Job>> dropped;  // cancelled while waiting: they free their place now
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Errorf("the server is shutting down");
    for (auto it = waiting_.begin(); it != waiting_.end();) {
      if (it->first->cancelled()) {
        dropped.push_back(std::move(it->first));
        it = waiting_.erase(it);
      } else {
        ++it;
      }
    }
    if (static_cast<int>(waiting_.size()) >= max_waiting_) {
      return Errorf("the server is busy: {} requests are already waiting (--max-queue)", waiting_.size());
    }
    waiting_.emplace_back(job, std::chrono::steady_clock::now());
  }
  for (const auto& d : dropped) d->Finish(Status::Error("cancelled before it started"));
  cv_.notify_all();
  return job;
}

int GenerationQueue::depth() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(waiting_.size()) + (current_ ? 1 : 0);
}

void GenerationQueue::Work() {
  for (;;) {
    std::shared_ptr<Job> job;
    std::chrono::steady_clock::time_point queued_at;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !waiting_.empty(); });
      if (waiting_.empty()) {
        return;  // stopping, nothing left
      }
      std::tie(job, queued_at) = std::move(waiting_.front());
      waiting_.pop_front();
      current_ = job;
    }
    job->Start(SecondsSince(queued_at));
    Result<RunStats> result = Status::Error("cancelled before it started");
    if (!job->cancelled()) {
      const auto t0 = std::chrono::steady_clock::now();
      const StoreStats before = session_.store().stats();
      std::vector<int32_t> generated;
      LiveStats live;
      auto on_piece = [&](std::string_view piece) {
        // Runs between forward passes on this thread, so reading the store's counters is safe.
        const StoreStats now = session_.store().stats();
        live.tokens = static_cast<int>(generated.size());
        live.seconds = SecondsSince(t0);
        if (live.first_token_seconds == 0) live.first_token_seconds = live.seconds;
        live.bytes_read = now.bytes_read - before.bytes_read;
        live.io_wait_seconds = now.io_wait_seconds - before.io_wait_seconds;
        job->Push(piece, live);
      };
      result = session_.Generate(job->prompt(), job->options(), on_piece, &job->cancel_, &generated);
      if (on_finished_) on_finished_(result, job->queued_seconds());
    }
    // Counted and off the queue before its client hears that it ended.
    {
      std::lock_guard lock(mu_);
      current_.reset();
    }
    job->Finish(std::move(result));
  }
}

}  // namespace flashstream::server
