#include "work.h"

#include <chrono>

namespace gp {

void Work::succeed() { finish(true, nullptr); }

void Work::fail(const CollectiveError& e) { finish(false, &e); }

void Work::finish(bool ok, const CollectiveError* e) {
  std::vector<Callback> cbs;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (done_) return;
    done_ = true;
    ok_ = ok;
    if (e != nullptr) {
      code_ = e->code;
      message_ = e->what();
      rank_ = e->rank;
    }
    cbs.swap(callbacks_);
  }
  cv_.notify_all();
  for (auto& cb : cbs) cb(*this);
}

bool Work::done() const {
  std::lock_guard<std::mutex> lk(mu_);
  return done_;
}

bool Work::ok() const {
  std::lock_guard<std::mutex> lk(mu_);
  return done_ && ok_;
}

bool Work::wait(long timeoutMs) const {
  std::unique_lock<std::mutex> lk(mu_);
  if (timeoutMs < 0) {
    cv_.wait(lk, [&] { return done_; });
    return true;
  }
  return cv_.wait_for(lk, std::chrono::milliseconds(timeoutMs), [&] { return done_; });
}

void Work::onDone(Callback cb) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (!done_) {
      callbacks_.push_back(std::move(cb));
      return;
    }
  }
  cb(*this);
}

CollectiveError Work::error() const {
  std::lock_guard<std::mutex> lk(mu_);
  return CollectiveError(code_, message_, rank_);
}

}  // namespace gp
