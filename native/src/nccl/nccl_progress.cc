// NcclComm's progress thread: completes operations in stream order and turns
// every way an operation can hang into an abort: NCCL's asynchronous error,
// the operation's deadline, an abort request, a local peer that is gone.
#include <signal.h>

#include <chrono>
#include <thread>

#include "../common/process.h"
#include "../common/time.h"
#include "nccl_comm.h"

namespace gp::nccl {

namespace {
constexpr uint64_t kLivenessEveryMs = 2000;
}

void NcclComm::progressLoop() {
  a_.cudaSetDevice(o_.device);
  uint64_t nextLiveness = 0;
  int idle = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(pmu_);
      if (stopProgress_) return;
      bool work = !inflight_.empty() || (abortRequest_ && !broken_);
      if (!work) {
        pcv_.wait_for(lk, std::chrono::milliseconds(250));
        nextLiveness = monoMs() + kLivenessEveryMs;  // the clock starts when work is pending
        continue;
      }
    }
    bool progressed = pollCompletions();
    std::optional<CollectiveError> err = findFailure();
    if (!err && monoMs() >= nextLiveness) {
      nextLiveness = monoMs() + kLivenessEveryMs;
      err = deadPeer();
    }
    if (err) failAll(*err);
    idle = progressed ? 0 : std::min(idle + 1, 500);
    std::this_thread::sleep_for(std::chrono::microseconds(idle < 50 ? 20 : 500));
  }
}

bool NcclComm::pollCompletions() {
  bool any = false;
  for (;;) {
    InFlight f;
    {
      std::lock_guard<std::mutex> lk(pmu_);
      if (inflight_.empty()) return any;
      f = inflight_.front();
    }
    cudaError_t q = a_.cudaEventQuery(f.done);
    if (q == cudaErrorNotReady) return any;
    {
      std::lock_guard<std::mutex> lk(pmu_);
      if (inflight_.empty() || inflight_.front().work != f.work) return any;  // failed meanwhile
      inflight_.pop_front();
      doneEvents_.erase(f.work.get());
    }
    pcv_.notify_all();
    giveEvent(f.done);
    if (q == cudaSuccess) {
      f.work->succeed();
    } else {
      CollectiveError e(ErrCode::Backend, f.work->what() + ": " + a_.cudaGetErrorString(q));
      f.work->fail(e);
      failAll(e);
    }
    any = true;
  }
}

std::optional<CollectiveError> NcclComm::findFailure() {
  {
    std::lock_guard<std::mutex> lk(pmu_);
    if (broken_) return std::nullopt;
    if (abortRequest_) return abortRequest_;
  }
  {
    std::lock_guard<std::mutex> lk(commMu_);
    ncclResult_t state = ncclSuccess;
    if (comm_ != nullptr && a_.ncclCommGetAsyncError(comm_, &state) == ncclSuccess &&
        state != ncclSuccess && state != ncclInProgress) {
      return CollectiveError(state == ncclRemoteError ? ErrCode::PeerDied : ErrCode::Backend,
                             "NCCL reported an asynchronous error: " + ncclErrorText(a_, state, comm_) +
                                 " (communicator aborted)");
    }
  }
  std::lock_guard<std::mutex> lk(pmu_);
  if (!inflight_.empty() && monoMs() >= inflight_.front().deadline) {
    return CollectiveError(ErrCode::Timeout, inflight_.front().work->what() + " did not complete within " +
                                                 std::to_string(o_.timeoutMs) + " ms (communicator aborted)");
  }
  return std::nullopt;
}

// NCCL does not notice a dead peer on the same node: its kernels spin.
std::optional<CollectiveError> NcclComm::deadPeer() {
  for (const LocalPeer& p : o_.localPeers) {
    if (processGone(p.pid)) {
      return CollectiveError(ErrCode::PeerDied, "rank " + std::to_string(p.rank) + " (pid " +
                                                    std::to_string(p.pid) +
                                                    ") is no longer running (communicator aborted)",
                             p.rank);
    }
  }
  return std::nullopt;
}

void NcclComm::failAll(const CollectiveError& e) {
  std::deque<InFlight> failed;
  {
    std::lock_guard<std::mutex> lk(pmu_);
    if (!failure_) failure_ = e;
    broken_ = true;
    failed.swap(inflight_);
    doneEvents_.clear();
  }
  pcv_.notify_all();
  abortComm();
  queue_.poison(e);
  for (auto& f : failed) {
    giveEvent(f.done);
    f.work->fail(e);
  }
}

void NcclComm::abortComm() {
  std::lock_guard<std::mutex> lk(commMu_);
  if (comm_ != nullptr) {
    a_.ncclCommAbort(comm_);
    comm_ = nullptr;
  }
}

void NcclComm::throwBroken(const std::string& what) {
  std::lock_guard<std::mutex> lk(pmu_);
  throw CollectiveError(ErrCode::Broken,
                        what + " not run: the NCCL communicator is unusable after an earlier failure" +
                            (failure_ ? " (" + std::string(failure_->what()) + ")" : std::string()) +
                            "; destroy it and create a new one",
                        failure_ ? failure_->rank : -1);
}

}  // namespace gp::nccl
