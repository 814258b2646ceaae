#include "nccl_comm.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "../common/errors.h"
#include "../common/time.h"

namespace gp::nccl {

namespace {
constexpr size_t kStageBytes = 64u << 20;  // pinned staging, reused per chunk

struct BusyGuard {
  explicit BusyGuard(std::atomic<bool>& b) : b_(b) { b_.store(true); }
  ~BusyGuard() { b_.store(false); }
  std::atomic<bool>& b_;
};
}  // namespace

NcclComm::NcclComm(int rank, int worldSize, int device, const ncclUniqueId& id,
                   int timeoutMs)
    : a_(api()), rank_(rank), world_(worldSize), device_(device), timeoutMs_(timeoutMs), id_(id) {}

NcclComm::~NcclComm() { close(); }

void NcclComm::check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  broken_ = true;
  throw CollectiveError(ErrCode::Backend,
                        std::string(what) + " failed: " + a_.cudaGetErrorString(e));
}

void NcclComm::checkNccl(ncclResult_t r, const char* what) {
  if (r == ncclSuccess) return;
  std::string detail = a_.ncclGetErrorString(r);
  if (a_.ncclGetLastError != nullptr && comm_ != nullptr) {
    const char* last = a_.ncclGetLastError(comm_);
    if (last != nullptr && *last != '\0') detail += " (" + std::string(last) + ")";
  }
  abortNow();
  throw CollectiveError(r == ncclRemoteError ? ErrCode::PeerDied : ErrCode::Backend,
                        std::string(what) + " failed: " + detail);
}

void NcclComm::init() {
  int count = 0;
  check(a_.cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (device_ < 0 || device_ >= count) {
    throw CollectiveError(ErrCode::Unavailable, "CUDA device " + std::to_string(device_) +
                                                    " does not exist (" + std::to_string(count) +
                                                    " visible)");
  }
  check(a_.cudaSetDevice(device_), "cudaSetDevice");
  char bus[64] = {0};
  if (a_.cudaDeviceGetPCIBusId(bus, sizeof(bus), device_) == cudaSuccess) busId_ = bus;
  check(a_.cudaStreamCreateWithFlags(&stream_, kCudaStreamNonBlocking), "cudaStreamCreate");
  ncclComm_t c = nullptr;
  // The rendezvous has already confirmed that every rank is alive, so the
  // blocking init returns promptly unless a rank dies in this very window.
  ncclResult_t r = a_.ncclCommInitRank(&c, world_, id_, rank_);
  if (r != ncclSuccess) {
    broken_ = true;
    throw CollectiveError(ErrCode::Backend,
                          std::string("ncclCommInitRank failed: ") + a_.ncclGetErrorString(r));
  }
  std::lock_guard<std::mutex> lk(commMu_);
  comm_ = c;
}

void NcclComm::ready() {
  if (broken_ || comm_ == nullptr) {
    throw CollectiveError(ErrCode::Broken,
                          "NCCL communicator is unusable after an earlier failure or abort; "
                          "destroy it and create a new one");
  }
  check(a_.cudaSetDevice(device_), "cudaSetDevice");  // per pool thread
}

void NcclComm::abortNow() {
  std::lock_guard<std::mutex> lk(commMu_);
  broken_ = true;
  if (comm_ != nullptr) {
    a_.ncclCommAbort(comm_);
    comm_ = nullptr;
  }
}

void NcclComm::abort() {
  abortRequested_ = true;
  broken_ = true;
  // With an op in flight its wait loop performs the abort (NCCL wants the
  // abort to come while nobody is inside a blocking call on the comm).
  if (!busy_) abortNow();
}

void NcclComm::wait(const char* what) {
  uint64_t deadline = monoMs() + uint64_t(timeoutMs_);
  for (int spins = 0;; ++spins) {
    cudaError_t e = a_.cudaStreamQuery(stream_);
    if (e == cudaSuccess) return;
    if (e != cudaErrorNotReady) check(e, what);
    if (a_.ncclCommGetAsyncError != nullptr) {
      ncclResult_t async = ncclSuccess;
      a_.ncclCommGetAsyncError(comm_, &async);
      if (async != ncclSuccess) checkNccl(async, what);
    }
    if (abortRequested_) {
      abortNow();
      throw CollectiveError(ErrCode::Aborted, std::string(what) + " aborted (ncclCommAbort)");
    }
    if (monoMs() >= deadline) {
      abortNow();
      throw CollectiveError(ErrCode::Timeout, std::string(what) + " timed out after " +
                                                  std::to_string(timeoutMs_) +
                                                  " ms (communicator aborted)");
    }
    if (spins > 1000) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void NcclComm::ensureDevice(size_t bytes) {
  if (bytes <= devBytes_) return;
  if (dev_ != nullptr) a_.cudaFree(dev_);
  dev_ = nullptr;
  devBytes_ = 0;
  check(a_.cudaMalloc(&dev_, bytes), "cudaMalloc");
  devBytes_ = bytes;
  if (pinned_ == nullptr) {
    check(a_.cudaHostAlloc(&pinned_, kStageBytes, kCudaHostAllocDefault), "cudaHostAlloc");
    pinnedBytes_ = kStageBytes;
  }
}

void NcclComm::toDevice(const float* src, size_t n) {
  auto* d = static_cast<char*>(dev_);
  auto* s = reinterpret_cast<const char*>(src);
  for (size_t off = 0, total = n * sizeof(float); off < total; off += pinnedBytes_) {
    size_t len = std::min(pinnedBytes_, total - off);
    std::memcpy(pinned_, s + off, len);
    check(a_.cudaMemcpyAsync(d + off, pinned_, len, cudaMemcpyHostToDevice, stream_),
          "cudaMemcpyAsync(H2D)");
    check(a_.cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
}

void NcclComm::toHost(float* dst, size_t n) {
  auto* d = static_cast<const char*>(dev_);
  auto* o = reinterpret_cast<char*>(dst);
  for (size_t off = 0, total = n * sizeof(float); off < total; off += pinnedBytes_) {
    size_t len = std::min(pinnedBytes_, total - off);
    check(a_.cudaMemcpyAsync(pinned_, d + off, len, cudaMemcpyDeviceToHost, stream_),
          "cudaMemcpyAsync(D2H)");
    check(a_.cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    std::memcpy(o + off, pinned_, len);
  }
}

void NcclComm::allReduceDevice(void* dptr, size_t n, bool avg) {
  ready();
  BusyGuard g(busy_);
  if (avg && !a_.hasAvg) {
    throw CollectiveError(ErrCode::Unavailable,
                          "op 'avg' on device buffers needs NCCL >= 2.10 (have " +
                              ncclVersionString(a_.ncclVersion) + ")");
  }
  checkNccl(a_.ncclAllReduce(dptr, dptr, n, ncclFloat32, avg ? ncclAvg : ncclSum, comm_, stream_),
            "ncclAllReduce");
  wait("allReduce");
}

void NcclComm::allReduceHost(float* buf, size_t n, bool avg) {
  ready();
  BusyGuard g(busy_);
  size_t bytes = std::max<size_t>(n, 1) * sizeof(float);
  ensureDevice(bytes);
  toDevice(buf, n);
  bool native = !avg || a_.hasAvg;
  checkNccl(a_.ncclAllReduce(dev_, dev_, n, ncclFloat32, avg && native ? ncclAvg : ncclSum, comm_,
                             stream_),
            "ncclAllReduce");
  wait("allReduce");
  toHost(buf, n);
  if (avg && !native) {  // pre-2.10: sum, then scale here
    float s = 1.0f / float(world_);
    for (size_t i = 0; i < n; ++i) buf[i] *= s;
  }
}

void NcclComm::broadcastDevice(void* dptr, size_t n, int root) {
  ready();
  BusyGuard g(busy_);
  checkNccl(a_.ncclBroadcast(dptr, dptr, n, ncclFloat32, root, comm_, stream_), "ncclBroadcast");
  wait("broadcast");
}

void NcclComm::broadcastHost(float* buf, size_t n, int root) {
  ready();
  BusyGuard g(busy_);
  ensureDevice(std::max<size_t>(n, 1) * sizeof(float));
  if (rank_ == root) toDevice(buf, n);
  checkNccl(a_.ncclBroadcast(dev_, dev_, n, ncclFloat32, root, comm_, stream_), "ncclBroadcast");
  wait("broadcast");
  if (rank_ != root) toHost(buf, n);
}

void NcclComm::barrier() {
  ready();
  BusyGuard g(busy_);
  ensureDevice(sizeof(float));
  checkNccl(a_.ncclAllReduce(dev_, dev_, 1, ncclFloat32, ncclSum, comm_, stream_), "barrier");
  wait("barrier");
}

void NcclComm::close() {
  {
    std::lock_guard<std::mutex> lk(commMu_);
    if (comm_ != nullptr) {
      // A healthy comm is destroyed; a failed one was already aborted.
      a_.ncclCommDestroy(comm_);
      comm_ = nullptr;
    }
  }
  if (dev_ != nullptr) a_.cudaFree(dev_);
  if (pinned_ != nullptr) a_.cudaFreeHost(pinned_);
  if (stream_ != nullptr) a_.cudaStreamDestroy(stream_);
  dev_ = pinned_ = nullptr;
  stream_ = nullptr;
  devBytes_ = pinnedBytes_ = 0;
}

}  // namespace gp::nccl
