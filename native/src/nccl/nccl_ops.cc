// NcclComm operations: submission (in call order), enqueueing on the
// communicator's stream, and host-buffer staging.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "../common/time.h"
#include "nccl_comm.h"

namespace gp::nccl {

namespace {
constexpr size_t kStageBytes = 64u << 20;  // pinned staging, reused per chunk
}

cudaEvent_t NcclComm::takeEvent() {
  {
    std::lock_guard<std::mutex> lk(eventMu_);
    if (!freeEvents_.empty()) {
      cudaEvent_t e = freeEvents_.back();
      freeEvents_.pop_back();
      return e;
    }
  }
  // Events belong to the device current at creation; the pool makes this rare.
  int prev = -1;
  a_.cudaGetDevice(&prev);
  if (prev != o_.device) a_.cudaSetDevice(o_.device);
  cudaEvent_t e = nullptr;
  cudaError_t r = a_.cudaEventCreateWithFlags(&e, kCudaEventDisableTiming);
  if (prev != o_.device) a_.cudaSetDevice(prev);
  check(r, "cudaEventCreateWithFlags");
  return e;
}

void NcclComm::giveEvent(cudaEvent_t e) {
  std::lock_guard<std::mutex> lk(eventMu_);
  freeEvents_.push_back(e);
}

WorkPtr NcclComm::allReduceAsync(float* dptr, size_t n, bool avg, void* after) {
  return submitDevice("allReduce", dptr, n, avg, -1, after);
}

WorkPtr NcclComm::broadcastDeviceAsync(float* dptr, size_t n, int root, void* after) {
  return submitDevice("broadcast", dptr, n, false, root, after);
}

// The ready event is recorded now, on the caller's stream: the collective
// waits for exactly the work enqueued there before this call.
WorkPtr NcclComm::submitDevice(const char* what, float* dptr, size_t n, bool avg, int root,
                               void* after) {
  if (dptr == nullptr && n > 0) throw abi::InvalidArgument(std::string(what) + ": NULL buffer");
  cudaEvent_t ready = takeEvent();
  cudaError_t e = a_.cudaEventRecord(ready, static_cast<cudaStream_t>(after));
  if (e != cudaSuccess) {
    giveEvent(ready);
    throw abi::InvalidArgument(std::string(what) + ": cudaEventRecord on the caller's stream failed: " +
                               a_.cudaGetErrorString(e));
  }
  WorkPtr w = queue_.submit(
      nextName(what),
      [this, dptr, n, avg, root, ready](const WorkPtr& w) { enqueue(w, dptr, n, avg, root, ready); },
      /*completesLater=*/true);
  w->onDone([this, ready](const Work&) { giveEvent(ready); });
  return w;
}

std::string NcclComm::nextName(const char* what) {
  std::lock_guard<std::mutex> lk(pmu_);
  return std::string(what) + " #" + std::to_string(++seq_);
}

// Polls a non-blocking communicator's "call still in progress" state away
// (commMu_ held), bounded by the timeout and by failures.
ncclResult_t NcclComm::settle(ncclResult_t r) {
  uint64_t deadline = monoMs() + uint64_t(o_.timeoutMs);
  while (r == ncclInProgress && !broken_ && monoMs() < deadline) {
    {
      std::lock_guard<std::mutex> lk(pmu_);
      if (abortRequest_) break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
    ncclResult_t state = ncclInProgress;
    ncclResult_t q = a_.ncclCommGetAsyncError(comm_, &state);
    r = q != ncclSuccess ? q : state;
  }
  return r;
}

// On the queue's thread: orders after `ready`, enqueues the collective and
// hands the work to the progress thread.
void NcclComm::enqueue(const WorkPtr& w, float* dptr, size_t n, bool avg, int root, cudaEvent_t ready) {
  cudaEvent_t done = takeEvent();
  std::optional<CollectiveError> err;
  {
    std::lock_guard<std::mutex> lk(commMu_);
    if (comm_ == nullptr || broken_) {
      giveEvent(done);
      throwBroken(w->what());
    }
    cudaError_t ce = ready != nullptr ? a_.cudaStreamWaitEvent(stream_, ready, 0) : cudaSuccess;
    ncclResult_t r = ncclSuccess;
    if (ce == cudaSuccess) {
      r = root < 0 ? a_.ncclAllReduce(dptr, dptr, n, ncclFloat32, avg ? ncclAvg : ncclSum, comm_, stream_)
                   : a_.ncclBroadcast(dptr, dptr, n, ncclFloat32, root, comm_, stream_);
      r = settle(r);
      if (r == ncclSuccess) ce = a_.cudaEventRecord(done, stream_);
    }
    if (ce != cudaSuccess) {
      err = CollectiveError(ErrCode::Backend, w->what() + ": " + a_.cudaGetErrorString(ce));
    } else if (r != ncclSuccess) {
      err = CollectiveError(r == ncclRemoteError ? ErrCode::PeerDied : ErrCode::Backend,
                            w->what() + " could not be started: " + ncclErrorText(a_, r, comm_));
    }
  }
  if (err) {
    giveEvent(done);
    failAll(*err);
    throw *err;
  }
  {
    std::lock_guard<std::mutex> lk(pmu_);
    inflight_.push_back({w, done, monoMs() + uint64_t(o_.timeoutMs)});
    doneEvents_[w.get()] = done;
  }
  pcv_.notify_all();
}

void NcclComm::streamWait(const WorkPtr& w, void* stream) {
  std::unique_lock<std::mutex> lk(pmu_);
  for (;;) {
    if (w->done()) {
      if (!w->ok()) throw w->error();
      return;  // finished: everything it wrote is visible to later work on any stream
    }
    auto it = doneEvents_.find(w.get());
    if (it != doneEvents_.end()) {
      cudaError_t e = a_.cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), it->second, 0);
      if (e != cudaSuccess) {
        throw abi::InvalidArgument(std::string("cudaStreamWaitEvent failed: ") + a_.cudaGetErrorString(e));
      }
      return;
    }
    // Still queued behind earlier operations: wait until it is enqueued.
    pcv_.wait_for(lk, std::chrono::milliseconds(1));
  }
}

// ---- host buffers (run on the queue's thread) ---------------------------------

void NcclComm::runDeviceOp(const char* what, float* dptr, size_t n, bool avg, int root) {
  auto w = std::make_shared<Work>(what);
  enqueue(w, dptr, n, avg, root, nullptr);
  w->wait(-1);  // the progress thread finishes or fails it, within the timeout
  if (!w->ok()) throw w->error();
}

void NcclComm::ensureStaging(size_t bytes) {
  if (bytes > devBytes_) {
    if (dev_ != nullptr) a_.cudaFree(dev_);
    dev_ = nullptr;
    devBytes_ = 0;
    check(a_.cudaMalloc(&dev_, bytes), "cudaMalloc");
    devBytes_ = bytes;
  }
  size_t want = std::min(kStageBytes, bytes);
  if (want > pinnedBytes_) {
    if (pinned_ != nullptr) a_.cudaFreeHost(pinned_);
    pinned_ = nullptr;
    pinnedBytes_ = 0;
    check(a_.cudaHostAlloc(&pinned_, want, kCudaHostAllocDefault), "cudaHostAlloc");
    pinnedBytes_ = want;
  }
}

void NcclComm::waitStream(const char* what) {
  cudaEvent_t e = takeEvent();
  cudaError_t r = a_.cudaEventRecord(e, stream_);
  if (r == cudaSuccess) {
    while ((r = a_.cudaEventQuery(e)) == cudaErrorNotReady && !broken_) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  giveEvent(e);
  if (broken_) throwBroken(what);
  check(r, what);
}

void NcclComm::stage(float* host, size_t n, bool toDevice) {
  auto* d = static_cast<char*>(dev_);
  auto* h = reinterpret_cast<char*>(host);
  for (size_t off = 0, total = n * sizeof(float); off < total; off += pinnedBytes_) {
    size_t len = std::min(pinnedBytes_, total - off);
    if (toDevice) {
      std::memcpy(pinned_, h + off, len);
      check(a_.cudaMemcpyAsync(d + off, pinned_, len, cudaMemcpyHostToDevice, stream_), "cudaMemcpyAsync(H2D)");
      waitStream("copy to the device");
    } else {
      check(a_.cudaMemcpyAsync(pinned_, d + off, len, cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync(D2H)");
      waitStream("copy from the device");
      std::memcpy(h + off, pinned_, len);
    }
  }
}

WorkPtr NcclComm::allReduceHostAsync(float* buf, size_t n, bool avg) {
  return queue_.submit(nextName("allReduce"), [this, buf, n, avg](const WorkPtr& w) {
    ensureStaging(std::max<size_t>(n, 1) * sizeof(float));
    stage(buf, n, true);
    runDeviceOp(w->what().c_str(), static_cast<float*>(dev_), n, avg, -1);
    stage(buf, n, false);
  });
}

WorkPtr NcclComm::broadcastHostAsync(float* buf, size_t n, int root) {
  return queue_.submit(nextName("broadcast"), [this, buf, n, root](const WorkPtr& w) {
    ensureStaging(std::max<size_t>(n, 1) * sizeof(float));
    if (o_.rank == root) stage(buf, n, true);
    runDeviceOp(w->what().c_str(), static_cast<float*>(dev_), n, false, root);
    if (o_.rank != root) stage(buf, n, false);
  });
}

WorkPtr NcclComm::barrierAsync() {
  return queue_.submit(nextName("barrier"), [this](const WorkPtr& w) {
    ensureStaging(sizeof(float));
    runDeviceOp(w->what().c_str(), static_cast<float*>(dev_), 1, false, -1);
  });
}

}  // namespace gp::nccl
