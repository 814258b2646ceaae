// N-API module for tests: runs the libtorch engine's gradient reducer
// (native/torch/src/grad_buckets.cc) over CUDA memory of the stand-in
// runtime, so its device branch (the stream it orders after, stream_wait on
// the optimizer's stream, wait) runs without a GPU. CPU autograd computes
// straight into that memory: the stand-in's "device" memory is host memory.
//
//   deviceBuckets(ext, { sizes, bucketBytes, delayMs, otherStream? })
//     → { min, max, want, wrong, buckets, launchedDuringBackward, lateRan, lateRanBeforeSumReturned }
//
// Every element's gradient is rank + 1. A "kernel" enqueued on the legacy
// default stream before backward adds 1 to every element after delayMs, long
// after backward's hooks have started the buckets: an all-reduce ordered
// after that stream sums (rank + 1 + 1) over the ranks; one that is not sees
// the gradient without the +1.
#include <napi.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "../../torch/src/grad_buckets.h"
#include "harness.h"

namespace harness {

namespace {

struct Late {
  float* data;
  size_t n;
  int delayMs;
  std::atomic<bool> ran{false};
};

void late(void* p) {
  auto* l = static_cast<Late*>(p);
  std::this_thread::sleep_for(std::chrono::milliseconds(l->delayMs));
  for (size_t i = 0; i < l->n; i++) l->data[i] += 1.0f;
  l->ran = true;
}

Napi::Value DeviceBuckets(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    const gp_coll_abi* abi = gp::unwrapCollectiveAbi(env, info[0]);
    auto o = info[1].As<Napi::Object>();
    auto sizesJs = o.Get("sizes").As<Napi::Array>();
    const int64_t bucketBytes = o.Get("bucketBytes").As<Napi::Number>().Int64Value();
    const int delayMs = o.Get("delayMs").As<Napi::Number>().Int32Value();
    // The control: the late kernel on a stream of its own, which the sum must not wait for.
    const bool otherStream = o.Has("otherStream") && o.Get("otherStream").ToBoolean();
    const Cuda& c = cuda();
    if (!c.ok) throw std::runtime_error(c.error);
    if (abi->memory != GP_COLL_MEMORY_CUDA) throw std::runtime_error("deviceBuckets needs an nccl communicator");
    std::vector<std::pair<int64_t, int64_t>> ranges;
    int64_t n = 0;
    for (uint32_t i = 0; i < sizesJs.Length(); i++) {
      const int64_t s = sizesJs.Get(i).As<Napi::Number>().Int64Value();
      ranges.emplace_back(n, s);
      n += s;
    }
    c.setDevice(abi->cuda_device);
    void* dev = nullptr;
    if (c.malloc(&dev, (size_t)n * sizeof(float)) != 0) throw std::runtime_error("cudaMalloc failed");
    std::memset(dev, 0, (size_t)n * sizeof(float));
    at::Tensor G = at::from_blob(dev, {n}, at::kFloat);
    at::Tensor P = at::zeros({n});
    std::vector<at::Tensor> params;
    for (auto [off, size] : ranges) {
      at::Tensor p = P.narrow(0, off, size).detach().requires_grad_(true);
      p.mutable_grad() = G.narrow(0, off, size);
      params.push_back(p);
    }
    Napi::Object out = Napi::Object::New(env);
    {
      auto buckets = std::make_shared<gp::GradBuckets>(abi, params, ranges, G, bucketBytes);
      Late l{static_cast<float*>(dev), (size_t)n, delayMs};
      void* stream = nullptr;
      if (otherStream && c.streamCreate(&stream, 1) != 0) throw std::runtime_error("cudaStreamCreateWithFlags failed");
      c.launchHostFunc(stream, late, &l);
      buckets->arm();
      at::Tensor loss = at::zeros({});
      for (auto& p : params) loss = loss + (p * float(abi->rank + 1)).sum();
      torch::autograd::backward({loss});
      buckets->finish();
      gp::SyncReport r = buckets->wait();
      const bool ranBeforeSum = l.ran.load();
      c.streamSynchronize(stream);
      if (stream) c.streamDestroy(stream);
      float mn = 1e30f, mx = -1e30f;
      int64_t wrong = 0;
      const float want = float(abi->world_size) * (abi->world_size + 1) / 2 + float(abi->world_size);
      for (int64_t i = 0; i < n; i++) {
        const float v = static_cast<float*>(dev)[i];
        mn = std::min(mn, v);
        mx = std::max(mx, v);
        if (v != want) wrong++;
      }
      out.Set("min", mn);
      out.Set("max", mx);
      out.Set("want", want);
      out.Set("wrong", Napi::Number::New(env, (double)wrong));
      out.Set("buckets", r.buckets);
      out.Set("launchedDuringBackward", r.launchedDuringBackward);
      out.Set("lateRan", l.ran.load());
      out.Set("lateRanBeforeSumReturned", ranBeforeSum);
      params.clear();
    }
    c.free(dev);
    return out;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

}  // namespace

}  // namespace harness

static Napi::Object InitGradBuckets(Napi::Env env, Napi::Object exports) {
  exports.Set("deviceBuckets", Napi::Function::New(env, harness::DeviceBuckets));
  return exports;
}

NODE_API_MODULE(grad_buckets_harness, InitGradBuckets)
