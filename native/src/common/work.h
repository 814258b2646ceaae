// One submitted collective: its outcome, waiters and completion callbacks.
//
// A Work is completed exactly once, by whichever thread finishes or fails
// the operation (a communicator's executor, or the nccl progress thread);
// callbacks run on that thread, outside the lock.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "errors.h"

namespace gp {

class Work {
 public:
  using Callback = std::function<void(const Work&)>;

  explicit Work(std::string what) : what_(std::move(what)) {}

  void succeed();
  void fail(const CollectiveError& e);

  bool done() const;
  bool ok() const;  // done and succeeded
  // Blocks up to timeoutMs (< 0: forever); true when done.
  bool wait(long timeoutMs) const;
  // Runs cb when done (at once, on this thread, if already done).
  void onDone(Callback cb);
  // The failure; only meaningful when done() && !ok().
  CollectiveError error() const;
  const std::string& what() const { return what_; }

  // For backends that attach per-work state (the nccl completion event).
  std::mutex& mutex() const { return mu_; }

 private:
  void finish(bool ok, const CollectiveError* e);

  const std::string what_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  bool done_ = false;
  bool ok_ = false;
  ErrCode code_ = ErrCode::Backend;
  std::string message_;
  int rank_ = -1;
  std::vector<Callback> callbacks_;
};

using WorkPtr = std::shared_ptr<Work>;

}  // namespace gp
