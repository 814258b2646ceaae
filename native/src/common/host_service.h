// A blocking host-memory communicator (shm, gloo) behind its operation
// queue: what its JS binding and the C ABI both submit to. Core provides
// allReduce(buf, n, avg), broadcast(buf, n, root), barrier() and close().
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "../abi/provider.h"
#include "op_queue.h"

namespace gp {

template <typename Core>
class HostService : public abi::Provider {
 public:
  using AbortCore = std::function<void(Core&, const std::string& reason)>;

  HostService(std::shared_ptr<Core> core, const char* name, int rank, int worldSize, AbortCore abortCore)
      : core_(std::move(core)), name_(name), rank_(rank), world_(worldSize), abortCore_(std::move(abortCore)) {}

  WorkPtr allReduceAsync(float* buf, size_t n, bool avg, void* afterStream) override {
    abi::requireNoStream(*this, afterStream);
    auto c = core_;
    return queue_.submit("allReduce", [c, buf, n, avg](const WorkPtr&) { c->allReduce(buf, n, avg); });
  }
  WorkPtr broadcastAsync(float* buf, size_t n, int root) {
    auto c = core_;
    return queue_.submit("broadcast", [c, buf, n, root](const WorkPtr&) { c->broadcast(buf, n, root); });
  }
  WorkPtr barrierAsync() {
    auto c = core_;
    return queue_.submit("barrier", [c](const WorkPtr&) { c->barrier(); });
  }
  // Fails the running operation where the core can (shm), and the queued ones.
  void abort(const std::string& reason) override {
    abortCore_(*core_, reason);
    queue_.poison(CollectiveError(ErrCode::Aborted,
                                  "communicator aborted on rank " + std::to_string(rank_) + ": " + reason, rank_));
  }
  // Blocking: waits for the running operation (an abort ends it early where the core can).
  void close() {
    queue_.stop();
    core_->close();
  }
  size_t pending() const { return queue_.pending(); }

  const char* backend() const override { return name_; }
  int rank() const override { return rank_; }
  int worldSize() const override { return world_; }

 private:
  std::shared_ptr<Core> core_;
  const char* name_;
  int rank_, world_;
  AbortCore abortCore_;
  OpQueue queue_;
};

}  // namespace gp
