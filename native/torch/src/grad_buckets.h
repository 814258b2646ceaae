// The libtorch engine's gradient reducer, as DDP's: the flat gradient is cut
// into buckets (about 25 MB, the first one 1 MiB so communication starts
// early) in reverse parameter order, which is the order backward produces
// them; a post-hook on each parameter's AccumulateGrad node counts the
// bucket's parameters down, and when a bucket is complete (and every bucket
// before it has started, so all ranks submit the same sequence) its in-place
// all-reduce (sum) is submitted through the collectives C ABI
// (native/include/gradpool/collectives_abi.h) while backward goes on.
//
// Memory: with nccl the buckets are device memory, ordered after the compute
// stream by the event the ABI records on it (no host copy, no device-wide
// sync); with shm/gloo they are the CPU engine's host gradient itself.
// Only an armed backward communicates: the trainer arms the last micro-batch
// of an accumulation, so the k-1 earlier ones cost nothing.
#pragma once

#include <ATen/ATen.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <node_api.h>

#include "gradpool/collectives_abi.h"

namespace torch::autograd {
struct Node;
}

namespace gp {

// How one synchronised backward went, for overlap reports (host clock).
struct SyncReport {
  int buckets = 0;
  // Buckets submitted before backward returned (the rest were submitted by finish()).
  int launchedDuringBackward = 0;
  // Milliseconds the communicator was busy with this backward's buckets, and how
  // much of that lay before backward returned (hidden behind compute).
  double commMs = 0, hiddenMs = 0;
};

// The table behind a JS External from Communicator.collectiveAbi(); throws when it is not one.
const gp_coll_abi* unwrapCollectiveAbi(napi_env env, napi_value value);

class GradBuckets {
 public:
  using Clock = std::chrono::steady_clock;

  // params: the fp32 leaves in flat order; ranges: each one's [offset, size) in grads.
  GradBuckets(const gp_coll_abi* abi, const std::vector<at::Tensor>& params,
              const std::vector<std::pair<int64_t, int64_t>>& ranges, at::Tensor grads, int64_t bucketBytes);
  ~GradBuckets();
  GradBuckets(const GradBuckets&) = delete;
  GradBuckets& operator=(const GradBuckets&) = delete;

  // The next backward all-reduces the gradient. Throws if the previous one was not waited for.
  void arm();
  bool armed() const;
  // After an armed backward (or instead of it): submits the buckets not started yet, in order.
  void finish();
  // Blocks until every bucket of the armed backward has completed (CUDA: the legacy default
  // stream also waits on the device); throws naming the bucket and the cause on failure.
  SyncReport wait();
  // The hook's entry: parameter `param`'s gradient is complete for this backward.
  void ready(size_t param);

  int numBuckets() const { return (int)buckets_.size(); }
  std::vector<std::pair<int64_t, int64_t>> bucketRanges() const;
  const gp_coll_abi* abi() const { return abi_; }

 private:
  struct Bucket {
    int64_t offset = 0, count = 0;
    int params = 0;   // parameters in the bucket
    int pending = 0;  // of them not ready yet in this backward
    gp_coll_work* work = nullptr;
    gp_coll_status submitStatus = GP_COLL_OK;
    std::string submitError;
    Clock::time_point launched;
  };
  // What the done callback writes: apart from the owner, so that a communicator finishing
  // late after a failed dispose cannot write into freed memory (the array is then leaked).
  struct DoneCtx {
    std::atomic<bool> finished{false};
    std::atomic<int64_t> doneNs{0};
  };
  static void onDone(void* user, gp_coll_status status, int32_t rank, const char* message);
  void launchReadyLocked();
  void launchLocked(size_t b);

  const gp_coll_abi* abi_;
  at::Tensor grads_;
  std::vector<Bucket> buckets_;
  std::unique_ptr<DoneCtx[]> doneCtx_;
  std::vector<size_t> bucketOf_;  // parameter → bucket
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hookKeys_;
  mutable std::mutex mu_;
  bool armed_ = false;
  bool backwardOver_ = false;
  size_t nextLaunch_ = 0;
  int launchedDuringBackward_ = 0;
  Clock::time_point backwardEnd_;
};

// A Promise that settles, off the JavaScript thread, when buckets->wait() returns:
// { buckets, launchedDuringBackward, commMs, hiddenMs }, or rejects with its error.
napi_value waitAsync(napi_env env, std::shared_ptr<GradBuckets> buckets);

}  // namespace gp
