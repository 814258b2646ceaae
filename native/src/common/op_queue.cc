#include "op_queue.h"

namespace gp {

OpQueue::OpQueue(std::function<void()> onStart) : onStart_(std::move(onStart)) {}

OpQueue::~OpQueue() { stop(); }

WorkPtr OpQueue::submit(const std::string& what, Task task, bool completesLater) {
  auto w = std::make_shared<Work>(what);
  CollectiveError refused(ErrCode::Broken, "communicator is destroyed");
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!stopping_ && !poison_) {
      items_.push_back({w, std::move(task), completesLater});
      if (!thread_.joinable()) thread_ = std::thread([this] { loop(); });
      cv_.notify_all();
      return w;
    }
    if (!stopping_) refused = brokenError(w);
  }
  w->fail(refused);
  return w;
}

CollectiveError OpQueue::brokenError(const WorkPtr& w) const {
  return CollectiveError(ErrCode::Broken,
                         w->what() + " not run: the communicator is unusable after an earlier "
                                     "failure (" + std::string(poison_->what()) +
                             "); destroy it and create a new one",
                         poison_->rank);
}

void OpQueue::poison(const CollectiveError& e) {
  std::deque<Item> dropped;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!poison_) poison_ = e;
    dropped.swap(items_);
  }
  for (auto& it : dropped) it.work->fail(brokenError(it.work));
}

std::optional<CollectiveError> OpQueue::poisoned() const {
  std::lock_guard<std::mutex> lk(mu_);
  return poison_;
}

size_t OpQueue::pending() const {
  std::lock_guard<std::mutex> lk(mu_);
  return items_.size() + (running_ ? 1 : 0);
}

void OpQueue::loop() {
  if (onStart_) onStart_();
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return !items_.empty() || stopping_; });
    if (items_.empty()) return;
    Item it = std::move(items_.front());
    items_.pop_front();
    running_ = true;
    lk.unlock();
    try {
      it.task(it.work);
      if (!it.completesLater) it.work->succeed();
    } catch (const CollectiveError& e) {
      it.work->fail(e);
      poison(e);
    } catch (const std::exception& e) {
      CollectiveError ce(ErrCode::Backend, e.what());
      it.work->fail(ce);
      poison(ce);
    }
    lk.lock();
    running_ = false;
    cv_.notify_all();
  }
}

void OpQueue::stop() {
  std::deque<Item> dropped;
  {
    std::lock_guard<std::mutex> lk(mu_);
    stopping_ = true;
    dropped.swap(items_);
    cv_.notify_all();
  }
  for (auto& it : dropped) it.work->fail(CollectiveError(ErrCode::Broken, "communicator is destroyed"));
  if (!thread_.joinable()) return;
  // stop() from a completion callback runs on the queue's own thread.
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

}  // namespace gp
