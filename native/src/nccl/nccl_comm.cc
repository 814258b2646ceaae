// NcclComm life cycle: non-blocking init against a deadline, abort, and a
// close that finalizes only when every rank finished normally.
#include "nccl_comm.h"

#include <chrono>

#include "../common/time.h"

namespace gp::nccl {

namespace {
constexpr int kInitialEvents = 16;
}

NcclComm::NcclComm(NcclOptions o)
    : a_(api()), o_(std::move(o)), queue_([this] { a_.cudaSetDevice(o_.device); }) {}

NcclComm::~NcclComm() {
  // Never closed (collected by the GC, or init failed): nothing may block here.
  {
    std::lock_guard<std::mutex> lk(pmu_);
    stopProgress_ = true;
  }
  pcv_.notify_all();
  queue_.stop();
  if (progress_.joinable()) {
    if (progress_.get_id() == std::this_thread::get_id()) {
      progress_.detach();
    } else {
      progress_.join();
    }
  }
  if (!broken_) failAll(CollectiveError(ErrCode::Broken, "communicator destroyed"));
  abortComm();
  freeResources();
}

void NcclComm::check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  throw CollectiveError(ErrCode::Backend, std::string(what) + " failed: " + a_.cudaGetErrorString(e));
}

void NcclComm::init() {
  int count = 0;
  a_.cudaGetDeviceCount(&count);
  if (o_.device < 0 || o_.device >= count) {
    throw CollectiveError(ErrCode::Unavailable, "CUDA device " + std::to_string(o_.device) +
                                                    " does not exist (" + std::to_string(count) +
                                                    " visible)");
  }
  check(a_.cudaSetDevice(o_.device), "cudaSetDevice");
  char bus[64] = {0};
  if (a_.cudaDeviceGetPCIBusId(bus, sizeof(bus), o_.device) == cudaSuccess) busId_ = bus;
  check(a_.cudaStreamCreateWithFlags(&stream_, kCudaStreamNonBlocking), "cudaStreamCreate");
  for (int i = 0; i < kInitialEvents; ++i) {
    cudaEvent_t e = nullptr;
    check(a_.cudaEventCreateWithFlags(&e, kCudaEventDisableTiming), "cudaEventCreate");
    giveEvent(e);
  }
  ncclConfig_t cfg = nonBlockingConfig();
  ncclResult_t r;
  {
    std::lock_guard<std::mutex> lk(commMu_);
    r = a_.ncclCommInitRankConfig(&comm_, o_.worldSize, o_.id, o_.rank, &cfg);
    if (r != ncclSuccess && r != ncclInProgress) {
      std::string text = ncclErrorText(a_, r, comm_);
      if (comm_ != nullptr) a_.ncclCommAbort(comm_);
      comm_ = nullptr;
      broken_ = true;
      throw CollectiveError(ErrCode::Backend, "ncclCommInitRankConfig failed: " + text);
    }
  }
  pollUntilReady("NCCL communicator init", o_.initTimeoutMs);
  progress_ = std::thread([this] { progressLoop(); });
}

// Polls ncclCommGetAsyncError until ncclSuccess; on an error, a dead local
// peer, an abort request or the deadline, aborts and throws.
void NcclComm::pollUntilReady(const char* what, int timeoutMs) {
  const uint64_t start = monoMs(), deadline = start + uint64_t(timeoutMs);
  uint64_t nextLiveness = start + 500;
  for (;;) {
    std::optional<CollectiveError> err;
    {
      std::lock_guard<std::mutex> lk(commMu_);
      ncclResult_t state = ncclInProgress;
      if (comm_ == nullptr) {
        err = CollectiveError(ErrCode::Broken, std::string(what) + ": communicator already aborted");
      } else if (a_.ncclCommGetAsyncError(comm_, &state) != ncclSuccess || (state != ncclSuccess && state != ncclInProgress)) {
        err = CollectiveError(state == ncclRemoteError ? ErrCode::PeerDied : ErrCode::Backend,
                              std::string(what) + " failed: " + ncclErrorText(a_, state, comm_));
      } else if (state == ncclSuccess) {
        return;
      }
    }
    if (!err) {
      std::lock_guard<std::mutex> lk(pmu_);
      if (abortRequest_) err = *abortRequest_;
    }
    if (!err && monoMs() >= nextLiveness) {
      nextLiveness = monoMs() + 500;
      err = deadPeer();
    }
    if (!err && monoMs() >= deadline) {
      err = CollectiveError(ErrCode::Timeout, std::string(what) + " did not complete within " +
                                                  std::to_string(timeoutMs) +
                                                  " ms (communicator aborted): a rank never joined");
    }
    if (err) {
      failAll(*err);
      throw *err;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(monoMs() - start < 20 ? 50 : 1000));
  }
}

void NcclComm::requestAbort(const CollectiveError& e) {
  {
    std::lock_guard<std::mutex> lk(pmu_);
    if (!abortRequest_) abortRequest_ = e;
  }
  pcv_.notify_all();
}

void NcclComm::abort(const std::string& reason) {
  // The progress thread (or a running init/close) performs ncclCommAbort, so
  // the caller (the JS thread, a torch thread) never blocks on it.
  CollectiveError e(ErrCode::Aborted,
                    "communicator aborted on rank " + std::to_string(o_.rank) + ": " + reason, o_.rank);
  requestAbort(e);
  queue_.poison(e);
}

void NcclComm::abortPeer(int rank, const std::string& why) {
  requestAbort(CollectiveError(ErrCode::PeerDied, why + " (communicator aborted)", rank));
}

size_t NcclComm::pending() const {
  std::lock_guard<std::mutex> lk(pmu_);
  return queue_.pending() + inflight_.size();
}

CloseResult NcclComm::close(bool graceful) {
  // Let what was submitted finish first; a failure on the way makes it an abort.
  uint64_t deadline = monoMs() + uint64_t(o_.finalizeTimeoutMs);
  while (graceful && !broken_ && pending() > 0 && monoMs() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  bool clean = graceful && !broken_ && pending() == 0;
  if (!clean && !broken_) {
    failAll(CollectiveError(ErrCode::Aborted, graceful ? "operations still pending at close"
                                                       : "closed after a failure"));
  }
  queue_.stop();
  {
    std::lock_guard<std::mutex> lk(pmu_);
    stopProgress_ = true;
  }
  pcv_.notify_all();
  if (progress_.joinable()) progress_.join();
  CloseResult res = finalizeOrAbort(clean);
  freeResources();
  return res;
}

CloseResult NcclComm::finalizeOrAbort(bool clean) {
  CloseResult res;
  if (!clean) {
    abortComm();
    std::lock_guard<std::mutex> lk(pmu_);
    res.how = "aborted: " + std::string(failure_ ? failure_->what() : "not every rank finished");
    return res;
  }
  ncclResult_t r;
  {
    std::lock_guard<std::mutex> lk(commMu_);
    r = a_.ncclCommFinalize(comm_);
  }
  try {
    if (r != ncclSuccess && r != ncclInProgress) {
      throw CollectiveError(ErrCode::Backend, "ncclCommFinalize failed: " + ncclErrorText(a_, r, comm_));
    }
    // Finalize completes only when every rank reached it: a rank that failed
    // or died makes this time out, and then we abort.
    pollUntilReady("ncclCommFinalize", o_.finalizeTimeoutMs);
  } catch (const CollectiveError& e) {
    abortComm();
    res.how = std::string("aborted: ") + e.what();
    return res;
  }
  std::lock_guard<std::mutex> lk(commMu_);
  a_.ncclCommDestroy(comm_);
  comm_ = nullptr;
  res.finalized = true;
  res.how = "finalized";
  return res;
}

void NcclComm::freeResources() {
  // This is a pool thread: without cudaSetDevice these calls would create a
  // context on device 0 (and free through it).
  if (stream_ == nullptr) return;
  a_.cudaSetDevice(o_.device);
  std::lock_guard<std::mutex> lk(pmu_);
  for (auto& f : inflight_) giveEvent(f.done);
  inflight_.clear();
  doneEvents_.clear();
  {
    std::lock_guard<std::mutex> ek(eventMu_);
    for (cudaEvent_t e : freeEvents_) a_.cudaEventDestroy(e);
    freeEvents_.clear();
  }
  if (dev_ != nullptr) a_.cudaFree(dev_);
  if (pinned_ != nullptr) a_.cudaFreeHost(pinned_);
  a_.cudaStreamDestroy(stream_);
  dev_ = pinned_ = nullptr;
  stream_ = nullptr;
  devBytes_ = pinnedBytes_ = 0;
}

}  // namespace gp::nccl
