// The C++ side of the Python API (module flashstream._flashstream): an Engine that owns one
// Session, and GenerationStream, a generation running on its own thread whose pieces Python
// pulls one by one. Python-free, so the threading can be read (and reasoned about) on its own;
// bindings.cpp adds the GIL handling and the conversions.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "engine/chat.h"
#include "engine/session.h"

namespace flashstream::python {

// Owns the Session and its chat formatter. Generations run one at a time (run_mu); the
// tokenizer calls are const and may run alongside. Thread-safe.
class Engine {
 public:
  // `options`: named engine options (engine/option_table.h); "model" is required. A hub id is
  // resolved (and downloaded if missing) like the CLI's -m.
  static Result<std::shared_ptr<Engine>> Load(const std::map<std::string, std::string>& options);

  const Session& session() const { return *session_; }
  Session& mutable_session() { return *session_; }
  const ChatFormatter& chat() const { return *chat_; }
  // Held by a generation for its whole run.
  std::mutex& run_mutex() { return run_mu_; }
  // Cancels the generation running now, if any.
  void CancelActive();
  void SetActive(std::atomic<bool>* cancel);

 private:
  std::unique_ptr<Session> session_;
  std::optional<ChatFormatter> chat_;
  std::mutex run_mu_;
  std::mutex active_mu_;
  std::atomic<bool>* active_cancel_ = nullptr;  // the running generation's flag
};

// One generation on a background thread. Next() hands out the text as it comes. Destroying or
// cancelling the stream stops the generation after the current token. Thread-safe.
class GenerationStream {
 public:
  GenerationStream(std::shared_ptr<Engine> engine, std::vector<int32_t> prompt, GenerateOptions options);
  ~GenerationStream();
  GenerationStream(const GenerationStream&) = delete;
  GenerationStream& operator=(const GenerationStream&) = delete;

  // What WaitNext() found.
  enum class Next { kPiece, kEnd, kError, kTimeout };
  // Waits up to `timeout_ms` for the next piece (stored in *piece), the end, or an error
  // (message in *piece).
  Next WaitNext(int timeout_ms, std::string* piece);
  void Cancel() { cancel_.store(true); }
  // Blocks until the generation thread is done.
  void Join();
  // After the end: the run statistics as SummaryJson; "" before.
  std::string StatsJson() const;

 private:
  void Run();

  std::shared_ptr<Engine> engine_;
  const std::vector<int32_t> prompt_;
  const GenerateOptions options_;
  std::atomic<bool> cancel_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> pieces_;
  bool finished_ = false;
  Status error_;
  std::string stats_json_;
  std::thread thread_;
};

}  // namespace flashstream::python
