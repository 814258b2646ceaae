// DDP-style bucketed all-reduce of the libtorch engine's flat gradient (see grad_buckets.h).
#include "grad_buckets.h"

#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <napi.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <stdexcept>

namespace gp {

namespace {

int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(GradBuckets::Clock::now().time_since_epoch()).count();
}

// Runs after AccumulateGrad has added this backward's gradient into the parameter's .grad
// (a view of the flat buffer): the parameter is complete.
struct ReadyHook : torch::autograd::FunctionPostHook {
  GradBuckets* owner;
  size_t param;
  ReadyHook(GradBuckets* o, size_t p) : owner(o), param(p) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs,
                                            const torch::autograd::variable_list&) override {
    owner->ready(param);
    return outputs;
  }
};

// The first bucket is small, as in DDP, so that communication starts early in backward.
constexpr int64_t kFirstBucketBytes = 1 << 20;

}  // namespace

const gp_coll_abi* unwrapCollectiveAbi(napi_env env, napi_value value) {
  napi_valuetype t;
  if (napi_typeof(env, value, &t) != napi_ok || t != napi_external) {
    throw std::runtime_error("attachCollectives: not a collectives ABI External (Communicator.collectiveAbi())");
  }
  napi_type_tag tag{GP_COLL_ABI_TYPE_TAG_LOWER, GP_COLL_ABI_TYPE_TAG_UPPER};
  bool ok = false;
  if (napi_check_object_type_tag(env, value, &tag, &ok) != napi_ok || !ok) {
    throw std::runtime_error("attachCollectives: the External is not a gradpool collectives ABI table");
  }
  void* data = nullptr;
  napi_get_value_external(env, value, &data);
  auto* abi = static_cast<const gp_coll_abi*>(data);
  if (!abi || abi->version != GP_COLL_ABI_VERSION || abi->size < sizeof(gp_coll_abi)) {
    throw std::runtime_error("attachCollectives: collectives ABI version " + std::to_string(abi ? abi->version : 0) +
                             ", this engine speaks " + std::to_string(GP_COLL_ABI_VERSION) + " (rebuild both addons)");
  }
  return abi;
}

GradBuckets::GradBuckets(const gp_coll_abi* abi, const std::vector<at::Tensor>& params,
                         const std::vector<std::pair<int64_t, int64_t>>& ranges, at::Tensor grads, int64_t bucketBytes)
    : abi_(abi), grads_(std::move(grads)) {
  if (bucketBytes <= 0) throw std::runtime_error("bucketBytes must be positive");
  // Reverse parameter order ≈ the order backward completes them (the last layers first).
  // Parameters are contiguous in the flat buffer, so every bucket is one contiguous range.
  bucketOf_.assign(params.size(), 0);
  for (size_t k = params.size(); k-- > 0;) {
    const int64_t bytes = ranges[k].second * (int64_t)sizeof(float);
    // While one bucket exists it is the first (capped at 1 MiB, or less); later ones at bucketBytes.
    const int64_t cap = buckets_.size() == 1 ? std::min(kFirstBucketBytes, bucketBytes) : bucketBytes;
    if (buckets_.empty() || (buckets_.back().count > 0 && (buckets_.back().count * (int64_t)sizeof(float) + bytes > cap))) {
      buckets_.emplace_back();
    }
    Bucket& b = buckets_.back();
    b.offset = ranges[k].first;  // descending: the lowest offset so far
    b.count += ranges[k].second;
    b.params++;
    bucketOf_[k] = buckets_.size() - 1;
  }
  doneCtx_.reset(new DoneCtx[buckets_.size()]);
  abi_->retain(abi_->comm);
  for (size_t k = 0; k < params.size(); k++) {
    auto acc = torch::autograd::impl::grad_accumulator(params[k]);
    if (!acc) throw std::runtime_error("parameter " + std::to_string(k) + " has no gradient accumulator");
    hookKeys_.push_back(acc->add_post_hook(std::make_unique<ReadyHook>(this, k)));
    // Held here: autograd keeps only a weak reference between backward passes.
    accumulators_.push_back(std::move(acc));
  }
}

GradBuckets::~GradBuckets() {
  for (size_t k = 0; k < accumulators_.size(); k++) accumulators_[k]->del_post_hook(hookKeys_[k]);
  bool leftover = false;
  for (size_t b = 0; b < buckets_.size(); b++) {
    Bucket& bk = buckets_[b];
    if (!bk.work) continue;
    // Submitted and not waited for (a failed step): give it the time a peer failure takes to surface.
    int32_t rank = -1;
    char err[256];
    if (abi_->wait(bk.work, 60'000, &rank, err, sizeof err) == GP_COLL_PENDING) leftover = true;
    abi_->work_release(bk.work);
  }
  // A collective still running writes its completion into doneCtx_ later: keep it alive.
  if (leftover) (void)doneCtx_.release();
  abi_->release(abi_->comm);
}

std::vector<std::pair<int64_t, int64_t>> GradBuckets::bucketRanges() const {
  std::vector<std::pair<int64_t, int64_t>> r;
  for (auto& b : buckets_) r.emplace_back(b.offset, b.count);
  return r;
}

void GradBuckets::arm() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& b : buckets_) {
    if (b.work) throw std::runtime_error("gradient sync armed again before the previous one was waited for");
  }
  for (size_t b = 0; b < buckets_.size(); b++) {
    buckets_[b].pending = buckets_[b].params;
    buckets_[b].submitStatus = GP_COLL_OK;
    buckets_[b].submitError.clear();
    doneCtx_[b].finished = false;
  }
  nextLaunch_ = 0;
  launchedDuringBackward_ = 0;
  backwardOver_ = false;
  armed_ = true;
}

bool GradBuckets::armed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return armed_;
}

void GradBuckets::ready(size_t param) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_ || backwardOver_) return;
  Bucket& b = buckets_[bucketOf_[param]];
  if (b.pending > 0) b.pending--;
  launchReadyLocked();
}

// Buckets start strictly in index order, so every rank submits the same sequence of
// all-reduces even when its backward completes parameters in another order.
void GradBuckets::launchReadyLocked() {
  while (nextLaunch_ < buckets_.size() && buckets_[nextLaunch_].pending == 0) {
    launchLocked(nextLaunch_++);
    if (!backwardOver_) launchedDuringBackward_++;
  }
}

void GradBuckets::launchLocked(size_t b) {
  Bucket& bk = buckets_[b];
  void* stream = nullptr;
  if (abi_->memory == GP_COLL_MEMORY_CUDA) {
    // The ABI orders the all-reduce after `stream`; the engine computes on the current stream,
    // which must then be the default one (NULL, the legacy stream) we name here.
    const auto* impl = c10::impl::getDeviceGuardImpl(grads_.device().type());
    if (impl->getStream(grads_.device()).id() != 0) {
      bk.submitStatus = GP_COLL_INVALID;
      bk.submitError = "the engine computes on a non-default CUDA stream, which the gradient sync cannot name";
      abi_->abort(abi_->comm, bk.submitError.c_str());
      return;
    }
  }
  char err[512] = {0};
  bk.launched = Clock::now();
  float* data = grads_.data_ptr<float>() + bk.offset;
  bk.submitStatus = abi_->all_reduce(abi_->comm, data, (size_t)bk.count, GP_COLL_SUM, stream, &GradBuckets::onDone,
                                     &doneCtx_[b], &bk.work, err, sizeof err);
  if (bk.submitStatus != GP_COLL_OK) {
    bk.submitError = err;
    bk.work = nullptr;
    // The peers would wait for this bucket until their timeout: fail them now.
    abi_->abort(abi_->comm, ("gradient bucket all-reduce not started: " + bk.submitError).c_str());
  }
}

void GradBuckets::onDone(void* user, gp_coll_status, int32_t, const char*) {
  auto* ctx = static_cast<DoneCtx*>(user);
  ctx->doneNs = nowNs();
  ctx->finished = true;
}

void GradBuckets::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!armed_) return;
  if (!backwardOver_) {
    backwardOver_ = true;
    backwardEnd_ = Clock::now();
  }
  // Parameters this backward did not reach (no gradient) count as ready: their zeros are summed too.
  for (auto& b : buckets_) b.pending = 0;
  launchReadyLocked();
}

SyncReport GradBuckets::wait() {
  if (!armed()) throw std::runtime_error("gradient sync was not armed for this backward (armGradientSync first)");
  finish();
  std::string firstError;
  SyncReport r;
  r.buckets = (int)buckets_.size();
  {
    std::lock_guard<std::mutex> lock(mu_);
    r.launchedDuringBackward = launchedDuringBackward_;
  }
  const int64_t endNs = std::chrono::duration_cast<std::chrono::nanoseconds>(backwardEnd_.time_since_epoch()).count();
  int64_t prevDone = 0;
  for (size_t b = 0; b < buckets_.size(); b++) {
    Bucket& bk = buckets_[b];
    const std::string what = "gradient bucket " + std::to_string(b + 1) + "/" + std::to_string(buckets_.size()) + " (" +
                             std::to_string(bk.count) + " floats at " + std::to_string(bk.offset) + ")";
    if (!bk.work) {
      if (firstError.empty()) firstError = what + " was not started: " + gp_coll_status_name(bk.submitStatus) + ": " + bk.submitError;
      continue;
    }
    char err[512] = {0};
    int32_t rank = -1;
    if (abi_->memory == GP_COLL_MEMORY_CUDA) {
      // The optimizer runs on the default stream: it waits for the sum on the device.
      if (abi_->stream_wait(bk.work, nullptr, err, sizeof err) != GP_COLL_OK && firstError.empty()) firstError = what + ": " + err;
    }
    // The communicator's own deadlines and liveness checks bound this wait.
    gp_coll_status s = abi_->wait(bk.work, -1, &rank, err, sizeof err);
    if (s != GP_COLL_OK && firstError.empty()) {
      firstError = what + " failed: " + gp_coll_status_name(s) + (rank >= 0 ? " (rank " + std::to_string(rank) + ")" : "") + ": " + err;
    }
    abi_->work_release(bk.work);
    bk.work = nullptr;
    // The communicator runs buckets one after another: bucket b is busy from when it was
    // submitted or the previous one finished, whichever is later, until it finishes.
    const int64_t launchNs = std::chrono::duration_cast<std::chrono::nanoseconds>(bk.launched.time_since_epoch()).count();
    const int64_t doneNs = doneCtx_[b].finished ? doneCtx_[b].doneNs.load() : nowNs();
    const int64_t start = std::max(launchNs, prevDone);
    prevDone = doneNs;
    if (doneNs > start) {
      r.commMs += (doneNs - start) / 1e6;
      r.hiddenMs += (std::min(doneNs, endNs) > start ? std::min(doneNs, endNs) - start : 0) / 1e6;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    armed_ = false;
  }
  if (!firstError.empty()) throw std::runtime_error(firstError);
  return r;
}

namespace {

class SyncWaiter : public Napi::AsyncWorker {
 public:
  SyncWaiter(Napi::Env env, std::shared_ptr<GradBuckets> b)
      : Napi::AsyncWorker(env, "gradpool:gradientSync"), b_(std::move(b)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise promise() const { return deferred_.Promise(); }
  void Execute() override {
    try {
      report_ = b_->wait();
    } catch (const std::exception& e) {
      SetError(e.what());
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    auto o = Napi::Object::New(env);
    o.Set("buckets", Napi::Number::New(env, report_.buckets));
    o.Set("launchedDuringBackward", Napi::Number::New(env, report_.launchedDuringBackward));
    o.Set("commMs", Napi::Number::New(env, report_.commMs));
    o.Set("hiddenMs", Napi::Number::New(env, report_.hiddenMs));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override {
    deferred_.Reject(Napi::Error::New(Env(), std::string("torch engine: gradient sync: ") + e.Message()).Value());
  }

 private:
  std::shared_ptr<GradBuckets> b_;
  Napi::Promise::Deferred deferred_;
  SyncReport report_;
};

}  // namespace

napi_value waitAsync(napi_env env, std::shared_ptr<GradBuckets> buckets) {
  auto* w = new SyncWaiter(Napi::Env(env), std::move(buckets));
  Napi::Promise p = w->promise();
  w->Queue();
  return p;
}

}  // namespace gp
