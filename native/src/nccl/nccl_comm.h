// One NCCL communicator per run, driven from libuv pool threads.
//
// Host Float32Arrays are staged through one pinned host buffer and one device
// buffer that are reused across calls; device pointers skip staging. NCCL
// runs on the communicator's own non-blocking stream, and every wait polls
// the stream so a timeout or abort() can call ncclCommAbort instead of
// blocking forever on a dead peer.
#pragma once

#include <atomic>
#include <mutex>
#include <string>

#include "api.h"

namespace gp::nccl {

class NcclComm {
 public:
  NcclComm(int rank, int worldSize, int device, const ncclUniqueId& id, int timeoutMs);
  ~NcclComm();

  void init();  // blocks until every rank has joined
  void allReduceHost(float* buf, size_t n, bool avg);
  void allReduceDevice(void* dptr, size_t n, bool avg);
  void broadcastHost(float* buf, size_t n, int root);
  void broadcastDevice(void* dptr, size_t n, int root);
  void barrier();
  void abort();  // any thread
  void close();

  int device() const { return device_; }
  std::string busId() const { return busId_; }

 private:
  void check(cudaError_t e, const char* what);
  void checkNccl(ncclResult_t r, const char* what);
  void ready();
  void wait(const char* what);
  void abortNow();
  void ensureDevice(size_t bytes);
  void toDevice(const float* src, size_t n);
  void toHost(float* dst, size_t n);

  const Api& a_;
  int rank_, world_, device_, timeoutMs_;
  ncclUniqueId id_;
  std::string busId_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  void* dev_ = nullptr;
  size_t devBytes_ = 0;
  void* pinned_ = nullptr;
  size_t pinnedBytes_ = 0;
  std::mutex commMu_;  // comm_ is aborted from either thread
  std::atomic<bool> busy_{false};
  std::atomic<bool> abortRequested_{false};
  std::atomic<bool> broken_{false};
};

}  // namespace gp::nccl
