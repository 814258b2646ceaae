// The FIFO every operation of one communicator goes through, whether it
// comes from JavaScript or from the C ABI: submission order is execution
// order, so ranks that submit in the same order run the same collectives.
//
// One thread runs the tasks. A task either completes its Work itself
// (blocking backends: shm, gloo, nccl host buffers) or hands it to someone
// who completes it later (nccl device buffers: the progress thread). After a
// failure the queue is poisoned: tasks still queued and later submissions
// fail with BROKEN, naming the first failure.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "work.h"

namespace gp {

class OpQueue {
 public:
  // Runs the task; throw CollectiveError to fail the Work.
  using Task = std::function<void(const WorkPtr&)>;

  // onStart runs first on the queue's thread (e.g. cudaSetDevice).
  explicit OpQueue(std::function<void()> onStart = nullptr);
  ~OpQueue();

  // completesLater: the task hands its Work on instead of finishing it.
  WorkPtr submit(const std::string& what, Task task, bool completesLater = false);
  // Marks the queue broken by e (first call wins); queued tasks fail.
  void poison(const CollectiveError& e);
  std::optional<CollectiveError> poisoned() const;
  // Tasks queued or running.
  size_t pending() const;
  // Waits for the running task, fails the queued ones ("destroyed") and joins.
  void stop();

 private:
  struct Item {
    WorkPtr work;
    Task task;
    bool completesLater;
  };
  void loop();
  CollectiveError brokenError(const WorkPtr& w) const;

  std::function<void()> onStart_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;
  bool running_ = false;
  bool stopping_ = false;
  std::optional<CollectiveError> poison_;
  std::thread thread_;
};

}  // namespace gp
