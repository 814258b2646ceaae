// One NCCL communicator per run.
//
// Nothing here may hang: init is non-blocking (ncclCommInitRankConfig with
// blocking = 0) and polled against a deadline; every operation goes through
// one FIFO (OpQueue), is enqueued on the communicator's own stream and
// completed by a progress thread that watches its completion event, NCCL's
// asynchronous error, its deadline, abort requests and (every 2 s while
// anything is pending) whether the local peers' processes still exist. Any
// failure aborts the NCCL communicator (ncclCommAbort) and fails everything
// pending. close() finalizes against a deadline and aborts unless every rank
// finished normally; it runs off the JS thread.
//
// Device buffers are all-reduced in place, ordered after the caller's stream
// by an event (no host or device-wide synchronisation). Host Float32Arrays
// are staged through a pinned host buffer and a device buffer.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../abi/provider.h"
#include "../common/op_queue.h"
#include "api.h"

namespace gp::nccl {

struct LocalPeer {
  int rank;
  int pid;
};

struct NcclOptions {
  int rank = 0;
  int worldSize = 1;
  int device = 0;
  ncclUniqueId id{};
  int timeoutMs = 30000;          // longest wait for one operation
  int initTimeoutMs = 30000;      // for the communicator to come up
  int finalizeTimeoutMs = 10000;  // for every rank to finish at close
  std::vector<LocalPeer> localPeers;  // same host and pid namespace: watched by pid
};

struct CloseResult {
  bool finalized = false;  // ncclCommFinalize + ncclCommDestroy (else ncclCommAbort)
  std::string how;
};

class NcclComm : public abi::Provider {
 public:
  explicit NcclComm(NcclOptions o);
  ~NcclComm() override;

  void init();  // blocking (a pool thread): until every rank joined, or throws

  // Asynchronous: queued at once, in call order.
  WorkPtr allReduceAsync(float* dptr, size_t n, bool avg, void* afterStream) override;
  WorkPtr broadcastDeviceAsync(float* dptr, size_t n, int root, void* afterStream);
  WorkPtr allReduceHostAsync(float* buf, size_t n, bool avg);
  WorkPtr broadcastHostAsync(float* buf, size_t n, int root);
  WorkPtr barrierAsync();
  void streamWait(const WorkPtr& w, void* stream) override;

  void abort(const std::string& reason) override;  // any thread; returns at once
  void abortPeer(int rank, const std::string& why);  // a peer found dead elsewhere
  CloseResult close(bool graceful);  // blocking (a pool thread)

  size_t pending() const;
  int device() const { return o_.device; }
  std::string busId() const { return busId_; }

  const char* backend() const override { return "nccl"; }
  int rank() const override { return o_.rank; }
  int worldSize() const override { return o_.worldSize; }
  bool deviceMemory() const override { return true; }
  int cudaDevice() const override { return o_.device; }

 private:
  struct InFlight {
    WorkPtr work;
    cudaEvent_t done;
    uint64_t deadline;
  };

  // init / close
  void pollUntilReady(const char* what, int timeoutMs);
  CloseResult finalizeOrAbort(bool graceful);
  void freeResources();

  // operations (nccl_ops.cc)
  WorkPtr submitDevice(const char* what, float* dptr, size_t n, bool avg, int root, void* after);
  void enqueue(const WorkPtr& w, float* dptr, size_t n, bool avg, int root, cudaEvent_t ready);
  void runDeviceOp(const char* what, float* dptr, size_t n, bool avg, int root);
  void ensureStaging(size_t bytes);
  void stage(float* host, size_t n, bool toDevice);
  void waitStream(const char* what);
  cudaEvent_t takeEvent();
  void giveEvent(cudaEvent_t e);
  ncclResult_t settle(ncclResult_t r);
  std::string nextName(const char* what);

  // progress and failure (nccl_progress.cc)
  void progressLoop();
  bool pollCompletions();
  std::optional<CollectiveError> findFailure();
  std::optional<CollectiveError> deadPeer();
  void failAll(const CollectiveError& e);
  void abortComm();
  void requestAbort(const CollectiveError& e);
  [[noreturn]] void throwBroken(const std::string& what);
  void check(cudaError_t e, const char* what);

  const Api& a_;
  NcclOptions o_;
  std::string busId_;
  cudaStream_t stream_ = nullptr;

  std::mutex commMu_;  // every use of comm_; abort takes it too
  ncclComm_t comm_ = nullptr;

  std::mutex eventMu_;
  std::vector<cudaEvent_t> freeEvents_;

  void* dev_ = nullptr;  // staging for host buffers (executor thread only)
  size_t devBytes_ = 0;
  void* pinned_ = nullptr;
  size_t pinnedBytes_ = 0;

  mutable std::mutex pmu_;  // in-flight list, events of works, failure
  std::condition_variable pcv_;
  std::deque<InFlight> inflight_;
  std::map<const Work*, cudaEvent_t> doneEvents_;  // for streamWait
  std::optional<CollectiveError> failure_;
  std::optional<CollectiveError> abortRequest_;
  std::atomic<bool> broken_{false};
  bool stopProgress_ = false;
  std::thread progress_;
  uint64_t seq_ = 0;  // operations submitted (names them in errors)

  OpQueue queue_;
};

}  // namespace gp::nccl
