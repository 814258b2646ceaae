// gradpool's libtorch engine: a model (model/: a family's encoder and a task
// head, Hugging Face layout) as functional ATen ops over one flat fp32
// parameter buffer, one flat gradient buffer (each parameter's .grad is a
// view into it) and a fused AdamW. This file is the N-API surface, the
// buffers and the optimizer; the models live in model/*.cc.
//
// The TypeScript side (engine/torch/) owns names, strict state-dict matching
// and the dropout RNG stream; this file only sees flat buffers in ParamSpec order.
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <c10/core/InferenceMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>

#include "grad_buckets.h"
#include "model/model.h"
#include "napi_args.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#if TORCH_VERSION_MAJOR >= 2
#define GP_HAVE_SDPA 1
#else
#define GP_HAVE_SDPA 0
#endif


namespace {

using gp::Batch;
using gp::Fwd;

struct Spec {
  int64_t offset, size;
  std::vector<int64_t> shape;
  bool decay;
};

using gp::toJs;

class TorchEngine : public Napi::ObjectWrap<TorchEngine> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "TorchEngine", {
      InstanceMethod<&TorchEngine::ForwardBackward>("forwardBackward"),
      InstanceMethod<&TorchEngine::ClassifyForwardBackward>("classifyForwardBackward"),
      InstanceMethod<&TorchEngine::Classify>("classify"),
      InstanceMethod<&TorchEngine::Gradients>("gradients"),
      InstanceMethod<&TorchEngine::ZeroGrad>("zeroGrad"),
      InstanceMethod<&TorchEngine::OptimizerStep>("optimizerStep"),
      InstanceMethod<&TorchEngine::Evaluate>("evaluate"),
      InstanceMethod<&TorchEngine::TopK>("topK"),
      InstanceMethod<&TorchEngine::Logits>("logits"),
      InstanceMethod<&TorchEngine::GetParameters>("getParameters"),
      InstanceMethod<&TorchEngine::SetParameters>("setParameters"),
      InstanceMethod<&TorchEngine::GetOptimizerState>("getOptimizerState"),
      InstanceMethod<&TorchEngine::SetOptimizerState>("setOptimizerState"),
      InstanceMethod<&TorchEngine::Dispose>("dispose"),
      InstanceMethod<&TorchEngine::Stats>("stats"),
      InstanceMethod<&TorchEngine::AttachCollectives>("attachCollectives"),
      InstanceMethod<&TorchEngine::DetachCollectives>("detachCollectives"),
      InstanceMethod<&TorchEngine::ArmGradientSync>("armGradientSync"),
      InstanceMethod<&TorchEngine::GradientSync>("gradientSync"),
    });
  }

  // new TorchEngine({ config, family, head, numLabels, classifierDropout, specs: [{offset,size,shape,decay}],
  //                   params: Float32Array, device, threads, amp })
  explicit TorchEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TorchEngine>(info), dev_(at::kCPU) {
    Napi::Env env = info.Env();
    try {
      auto o = info[0].As<Napi::Object>();
      cfg_ = gp::cfgOf(o);
      auto str = [&](const char* k, const char* def) { return o.Has(k) ? o.Get(k).As<Napi::String>().Utf8Value() : std::string(def); };
      encoder_ = gp::makeEncoder(str("family", "bert"), cfg_);
      head_ = gp::makeHead(str("head", "mlm"), cfg_, *encoder_, encoder_->numParams());
      auto specs = o.Get("specs").As<Napi::Array>();
      for (uint32_t i = 0; i < specs.Length(); i++) {
        auto s = specs.Get(i).As<Napi::Object>();
        Spec sp;
        sp.offset = (int64_t)s.Get("offset").As<Napi::Number>().DoubleValue();
        sp.size = (int64_t)s.Get("size").As<Napi::Number>().DoubleValue();
        auto sh = s.Get("shape").As<Napi::Array>();
        for (uint32_t j = 0; j < sh.Length(); j++) sp.shape.push_back((int64_t)sh.Get(j).As<Napi::Number>().DoubleValue());
        sp.decay = s.Get("decay").ToBoolean();
        specs_.push_back(sp);
      }
      const int64_t expected = encoder_->numParams() + head_->numParams();
      if ((int64_t)specs_.size() != expected) {
        throw std::runtime_error("parameter list has " + std::to_string(specs_.size()) + " entries, expected " + std::to_string(expected));
      }
      n_ = specs_.back().offset + specs_.back().size;
      int threads = o.Has("threads") ? o.Get("threads").As<Napi::Number>().Int32Value() : 1;
      if (threads > 0) gp::setThreads(threads);
      std::string device = o.Has("device") ? o.Get("device").As<Napi::String>().Utf8Value() : "cpu";
      dev_ = at::Device(device);
      amp_ = dev_.is_cuda() && (!o.Has("amp") || o.Get("amp").ToBoolean());
      auto f32 = at::TensorOptions().dtype(at::kFloat).device(dev_);
      auto flat = o.Get("params").As<Napi::Float32Array>();
      if ((int64_t)flat.ElementLength() != n_) throw std::runtime_error("params: wrong length");
      at::NoGradGuard ng;
      P_ = at::from_blob(flat.Data(), {n_}, at::kFloat).to(f32, /*non_blocking=*/false, /*copy=*/true);
      G_ = at::zeros({n_}, f32);
      M_ = at::zeros({n_}, f32);
      V_ = at::zeros({n_}, f32);
      for (auto& s : specs_) {
        at::Tensor p = P_.narrow(0, s.offset, s.size).view(s.shape).detach().requires_grad_(true);
        p.mutable_grad() = G_.narrow(0, s.offset, s.size).view(s.shape);
        params_.push_back(p);
      }
    } catch (const c10::Error& e) {
      Napi::Error::New(env, std::string("torch engine: ") + e.what_without_backtrace()).ThrowAsJavaScriptException();
    } catch (const std::exception& e) {
      Napi::Error::New(env, std::string("torch engine: ") + e.what()).ThrowAsJavaScriptException();
    }
  }

 private:
  gp::Cfg cfg_;
  std::unique_ptr<gp::Encoder> encoder_;
  std::unique_ptr<gp::Head> head_;
  std::vector<Spec> specs_;
  int64_t n_ = 0;
  at::Device dev_;
  bool amp_ = false;
  bool disposed_ = false;
  at::Tensor P_, G_, M_, V_, hostG_;
  int64_t step_ = 0;
  int64_t gradRebinds_ = 0;  // backward passes after which a .grad was no longer a view of G_ (expected 0)
  std::vector<at::Tensor> params_;
  Napi::Reference<Napi::Float32Array> gradView_;
  // Set while a communicator is attached: the engine all-reduces G_ itself (grad_buckets.h).
  std::shared_ptr<gp::GradBuckets> buckets_;

  // ---- model ---------------------------------------------------------------------------------

  // This pass's view of the parameters: under amp, Linear weights/biases go to bf16;
  // LayerNorm and embeddings stay fp32, as autocast's policy does. The fp32 leaves
  // receive the gradients.
  Fwd weights(bool train, uint64_t seed) const {
    Fwd f;
    f.amp = amp_;
    f.w.reserve(params_.size());
    for (size_t i = 0; i < params_.size(); i++) {
      const auto& p = params_[i];
      f.w.push_back(amp_ && isLinearParam((int)i) ? p.to(at::kBFloat16) : p);
    }
    if (train && (cfg_.hdrop > 0 || cfg_.adrop > 0 || cfg_.clsDrop > 0)) {
      f.dropout = true;
      if (dev_.is_cpu()) {
        f.gen = at::detail::createCPUGenerator(seed);
      } else {
        at::Generator g = at::globalContext().defaultGenerator(dev_);
        std::lock_guard<std::mutex> lock(g.mutex());
        g.set_current_seed(seed);  // resets the Philox offset: the stream replays from (seed, 0)
        f.gen = g;
      }
    }
    return f;
  }

  bool isLinearParam(int i) const {
    const int nE = encoder_->numParams();
    return i < nE ? encoder_->isLinear(i) : head_->isLinear(i - nE);
  }

  // ---- argument helpers ----------------------------------------------------------------------

  at::Tensor longs(const Napi::Value& v, int64_t n, const char* what) const { return gp::longsOf(v, n, what, dev_); }
  Batch batch(const Napi::CallbackInfo& info, int start) const { return gp::batchOf(info, start, cfg_.P, dev_); }
  at::Tensor index(const Napi::Value& v) const { return gp::indexOf(v, dev_); }

  void check() const {
    if (disposed_) throw std::runtime_error("the engine was disposed");
  }

  // CUDA: the trainer holds the host Float32Array from gradients() for the whole run and
  // all-reduces it in place after the last micro-batch. So the host mirror is refreshed after
  // every forwardBackward (device → pinned host) and is authoritative at optimizerStep (host →
  // device). Writes to it belong between a forwardBackward (or zeroGrad) and optimizerStep.
  // With a communicator attached the gradient never leaves the device: no mirror at all.
  // The mirror itself is allocated on the first gradients() call, so an engine that syncs
  // on the device never holds a pinned copy of its gradient.
  void pushGradsToHost() {
    if (!dev_.is_cpu() && !buckets_ && hostG_.defined()) hostG_.copy_(G_);
  }
  void pullGradsFromHost() {
    if (!dev_.is_cpu() && !buckets_ && hostG_.defined()) G_.copy_(hostG_);
  }

  template <typename F>
  Napi::Value guarded(const Napi::CallbackInfo& info, F&& fn) {
    try {
      check();
      return fn();
    } catch (const c10::Error& e) {
      Napi::Error::New(info.Env(), std::string("torch engine: ") + e.what_without_backtrace()).ThrowAsJavaScriptException();
      return info.Env().Undefined();
    } catch (const std::exception& e) {
      Napi::Error::New(info.Env(), std::string("torch engine: ") + e.what()).ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
  }

  // ---- methods -------------------------------------------------------------------------------

  static uint64_t seedOf(const Napi::CallbackInfo& info, int hi) {
    return ((uint64_t)info[hi].As<Napi::Number>().Uint32Value() << 32) | info[hi + 1].As<Napi::Number>().Uint32Value();
  }

  // forwardBackward(ids, tt, am, B, S, positions, labels, train, seedHi, seedLo) → lossSum
  Napi::Value ForwardBackward(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Batch b = batch(info, 0);
      at::Tensor pos = index(info[5]);
      at::Tensor lab = index(info[6]);
      bool train = info[7].ToBoolean();
      uint64_t seed = seedOf(info, 8);
      if (pos.numel() == 0) return Napi::Number::New(info.Env(), 0);
      at::Tensor loss;
      {
        at::AutoGradMode on(true);
        Fwd f = weights(train, seed);
        at::Tensor h = encoder_->hidden(b, f).index_select(0, pos);
        loss = at::cross_entropy_loss(head_->tokenLogits(f, h), lab, {}, at::Reduction::Sum, -100, 0.0);
        torch::autograd::backward({loss});
      }
      afterBackward();
      return Napi::Number::New(info.Env(), loss.item<double>());
    });
  }

  // The sequence classifier's cross-entropy (torch's, reduction "sum"), with optional class
  // weights (an empty array = none) and label smoothing.
  at::Tensor classLoss(const at::Tensor& logits, const at::Tensor& labels, const Napi::Value& weights, double smoothing) const {
    auto w = weights.As<Napi::Float32Array>();
    Optional<at::Tensor> wt;
    if (w.ElementLength() > 0) {
      if ((int64_t)w.ElementLength() != cfg_.numLabels) throw std::runtime_error("class weights: one per label expected");
      wt = at::from_blob(w.Data(), {(int64_t)w.ElementLength()}, at::kFloat).to(dev_, at::kFloat);
    }
    return at::cross_entropy_loss(logits, labels, wt, at::Reduction::Sum, -100, smoothing);
  }

  // classifyForwardBackward(ids, tt, am, B, S, labels[B], classWeights, smoothing, train, seedHi, seedLo) → lossSum
  Napi::Value ClassifyForwardBackward(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Batch b = batch(info, 0);
      at::Tensor lab = longs(info[5], b.B, "labels");
      const double smoothing = info[7].As<Napi::Number>().DoubleValue();
      at::Tensor loss;
      {
        at::AutoGradMode on(true);
        Fwd f = weights(info[8].ToBoolean(), seedOf(info, 9));
        at::Tensor logits = head_->sequenceLogits(f, encoder_->hidden(b, f), b.B, b.S);
        loss = classLoss(logits, lab, info[6], smoothing);
        torch::autograd::backward({loss});
      }
      afterBackward();
      return Napi::Number::New(info.Env(), loss.item<double>());
    });
  }

  // classify(ids, tt, am, B, S, labels[B] or [], classWeights, smoothing) → { logits [B*C], lossSum }
  Napi::Value Classify(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Batch b = batch(info, 0);
      c10::InferenceMode im;
      Fwd f = weights(false, 0);
      at::Tensor logits = head_->sequenceLogits(f, encoder_->hidden(b, f), b.B, b.S);
      auto out = Napi::Object::New(env);
      double lossSum = 0;
      if (info[5].As<Napi::Int32Array>().ElementLength() > 0) {
        lossSum = classLoss(logits, longs(info[5], b.B, "labels"), info[6], info[7].As<Napi::Number>().DoubleValue()).item<double>();
      }
      out.Set("logits", toJs<float, Napi::Float32Array>(env, logits, at::kFloat));
      out.Set("lossSum", Napi::Number::New(env, lossSum));
      return out;
    });
  }

  // AccumulateGrad adds in place into the views of G_; if autograd ever replaced a .grad
  // (it must not), fold it back into the flat buffer so nothing is lost.
  void afterBackward() {
    at::NoGradGuard ng;
    for (size_t i = 0; i < params_.size(); i++) {
      at::Tensor& g = params_[i].mutable_grad();
      const Spec& s = specs_[i];
      at::Tensor view = G_.narrow(0, s.offset, s.size);
      if (!g.defined() || g.data_ptr() != view.data_ptr()) {
        gradRebinds_++;
        if (g.defined()) view.copy_(g.reshape({s.size}));
        g = view.view(s.shape);
      }
    }
    // An armed backward's buckets that its hooks did not start (unused parameters) start now.
    if (buckets_) buckets_->finish();
    pushGradsToHost();
  }

  // The flat gradient buffer as a Float32Array, the same one every call: on CPU a zero-copy
  // view of G_'s memory (the ArrayBuffer holds a reference to the storage, so it outlives
  // dispose); on CUDA the pinned host mirror (see pushGradsToHost).
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      if (!dev_.is_cpu() && !hostG_.defined()) {
        hostG_ = at::empty({n_}, at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
        hostG_.copy_(G_);
      }
      at::Tensor host = dev_.is_cpu() ? G_ : hostG_;
      if (gradView_.IsEmpty()) {
        auto* keep = new at::Tensor(host);
        auto ab = Napi::ArrayBuffer::New(env, host.data_ptr(), (size_t)n_ * sizeof(float),
                                         [](Napi::Env, void*, at::Tensor* t) { delete t; }, keep);
        gradView_ = Napi::Persistent(Napi::Float32Array::New(env, (size_t)n_, ab, 0));
      }
      return gradView_.Value();
    });
  }

  Napi::Value ZeroGrad(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      at::NoGradGuard ng;
      G_.zero_();
      if (hostG_.defined()) hostG_.zero_();
      return info.Env().Undefined();
    });
  }

  // optimizerStep(lr, beta1, beta2, eps, weightDecay, maxGradNorm, gradScale) → pre-clip norm
  Napi::Value OptimizerStep(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      auto d = [&](int i) { return info[i].As<Napi::Number>().DoubleValue(); };
      const double lr = d(0), b1 = d(1), b2 = d(2), eps = d(3), wd = d(4), maxNorm = d(5), scale = d(6);
      at::NoGradGuard ng;
      pullGradsFromHost();
      double norm;
      if (dev_.is_cpu()) {
        float* g = G_.data_ptr<float>();
        double sq = 0;
        if (scale != 1) {
          const float sc = (float)scale;
          for (int64_t i = 0; i < n_; i++) {
            const float x = g[i] * sc;
            g[i] = x;
            sq += (double)x * x;
          }
        } else {
          for (int64_t i = 0; i < n_; i++) sq += (double)g[i] * g[i];
        }
        norm = std::sqrt(sq);
      } else {
        if (scale != 1) G_.mul_(scale);
        norm = at::linalg_vector_norm(G_, 2, kNone, false, at::kDouble).item<double>();
      }
      if (!std::isfinite(norm)) return Napi::Number::New(info.Env(), norm);
      if (maxNorm > 0) {
        const double coef = maxNorm / (norm + 1e-6);
        if (coef < 1) G_.mul_((double)(float)coef);
      }
      step_ += 1;
      const double bc1 = 1 - std::pow(b1, (double)step_);
      const double bc2Sqrt = std::sqrt(1 - std::pow(b2, (double)step_));
      const double stepSize = lr / bc1;
      if (dev_.is_cpu()) {
        float* __restrict__ p = P_.data_ptr<float>();
        const float* __restrict__ g = G_.data_ptr<float>();
        float* __restrict__ m = M_.data_ptr<float>();
        float* __restrict__ v = V_.data_ptr<float>();
        // torch.optim.AdamW (single-tensor) per element, in float like its tensor ops.
        const float fb1 = (float)b1, fb2 = (float)b2, f1b1 = (float)(1 - b1), f1b2 = (float)(1 - b2);
        const float fbc2 = (float)bc2Sqrt, feps = (float)eps, fstep = (float)stepSize;
        for (const Spec& s : specs_) {
          const float decay = s.decay ? (float)(1 - lr * wd) : 1.0f;
          const int64_t end = s.offset + s.size;
#pragma GCC ivdep
          for (int64_t i = s.offset; i < end; i++) {
            const float gi = g[i];
            const float mi = m[i] * fb1 + gi * f1b1;
            const float vi = v[i] * fb2 + gi * gi * f1b2;
            m[i] = mi;
            v[i] = vi;
            p[i] = p[i] * decay - fstep * (mi / (std::sqrt(vi) / fbc2 + feps));
          }
        }
      } else {
        for (const Spec& s : specs_) {
          if (s.decay && wd != 0) P_.narrow(0, s.offset, s.size).mul_(1 - lr * wd);
        }
        M_.mul_(b1).add_(G_, 1 - b1);
        V_.mul_(b2).addcmul_(G_, G_, 1 - b2);
        at::Tensor denom = (V_.sqrt() / bc2Sqrt).add_(eps);
        P_.addcdiv_(M_, denom, -stepSize);
      }
      return Napi::Number::New(info.Env(), norm);
    });
  }

  // evaluate(ids, tt, am, B, S, positions, labels, k) → { lossSum, top: [K*k], pred: [B*S] }
  Napi::Value Evaluate(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Batch b = batch(info, 0);
      at::Tensor pos = index(info[5]);
      at::Tensor lab = index(info[6]);
      const int64_t k = info[7].As<Napi::Number>().Int64Value();
      c10::InferenceMode im;
      Fwd f = weights(false, 0);
      at::Tensor h = encoder_->hidden(b, f);
      auto out = Napi::Object::New(env);
      double lossSum = 0;
      at::Tensor top = at::empty({0}, at::kInt);
      if (pos.numel() > 0) {
        at::Tensor logits = head_->tokenLogits(f, h.index_select(0, pos));
        lossSum = at::cross_entropy_loss(logits, lab, {}, at::Reduction::Sum, -100, 0.0).item<double>();
        top = std::get<1>(at::topk(logits, k, -1, true, true));
      }
      const int64_t rows = b.B * b.S;
      std::vector<at::Tensor> preds;
      for (int64_t r0 = 0; r0 < rows; r0 += 256) {
        const int64_t r = std::min<int64_t>(256, rows - r0);
        preds.push_back(at::argmax(head_->tokenLogits(f, h.narrow(0, r0, r)), 1));
      }
      out.Set("lossSum", Napi::Number::New(env, lossSum));
      out.Set("top", toJs<int32_t, Napi::Int32Array>(env, top, at::kInt));
      out.Set("pred", toJs<int32_t, Napi::Int32Array>(env, at::cat(preds), at::kInt));
      return out;
    });
  }

  // topK(ids, tt, am, B, S, positions, k) → { ids, probs }
  Napi::Value TopK(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      Batch b = batch(info, 0);
      at::Tensor pos = index(info[5]);
      const int64_t k = info[6].As<Napi::Number>().Int64Value();
      c10::InferenceMode im;
      Fwd f = weights(false, 0);
      at::Tensor logits = head_->tokenLogits(f, encoder_->hidden(b, f).index_select(0, pos));
      auto t = at::topk(at::softmax(logits, -1), k, -1, true, true);
      auto out = Napi::Object::New(env);
      out.Set("ids", toJs<int32_t, Napi::Int32Array>(env, std::get<1>(t), at::kInt));
      out.Set("probs", toJs<float, Napi::Float32Array>(env, std::get<0>(t), at::kFloat));
      return out;
    });
  }

  // logits(ids, tt, am, B, S) → Float32Array [B*S*V]
  Napi::Value Logits(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Batch b = batch(info, 0);
      c10::InferenceMode im;
      Fwd f = weights(false, 0);
      return toJs<float, Napi::Float32Array>(info.Env(), head_->tokenLogits(f, encoder_->hidden(b, f)), at::kFloat);
    });
  }

  Napi::Value GetParameters(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value { return toJs<float, Napi::Float32Array>(info.Env(), P_, at::kFloat); });
  }

  void copyIn(at::Tensor& dst, const Napi::Value& v, const char* what) {
    auto a = v.As<Napi::Float32Array>();
    if ((int64_t)a.ElementLength() != n_) {
      throw std::runtime_error(std::string(what) + ": " + std::to_string(a.ElementLength()) + " values for a model of " +
                               std::to_string(n_) + " parameters");
    }
    at::NoGradGuard ng;
    dst.copy_(at::from_blob(a.Data(), {n_}, at::kFloat));
  }

  Napi::Value SetParameters(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      copyIn(P_, info[0], "setParameters");
      return info.Env().Undefined();
    });
  }

  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      auto out = Napi::Object::New(env);
      out.Set("step", Napi::Number::New(env, (double)step_));
      out.Set("expAvg", toJs<float, Napi::Float32Array>(env, M_, at::kFloat));
      out.Set("expAvgSq", toJs<float, Napi::Float32Array>(env, V_, at::kFloat));
      return out;
    });
  }

  // setOptimizerState(step, expAvg, expAvgSq)
  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      const int64_t step = info[0].As<Napi::Number>().Int64Value();
      copyIn(M_, info[1], "optimizer state expAvg");
      copyIn(V_, info[2], "optimizer state expAvgSq");
      step_ = step;
      return info.Env().Undefined();
    });
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    auto o = Napi::Object::New(info.Env());
    o.Set("gradRebinds", Napi::Number::New(info.Env(), (double)gradRebinds_));
    o.Set("step", Napi::Number::New(info.Env(), (double)step_));
    return o;
  }

  // ---- gradient communication (grad_buckets.cc) -----------------------------------------------

  // attachCollectives(abiExternal, bucketBytes) → { attached, why?, buckets: [[offset, count], ...] }
  // Only where the communicator's memory is the engine's: nccl on this CUDA device, shm/gloo on CPU.
  Napi::Value AttachCollectives(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
      const gp_coll_abi* abi = gp::unwrapCollectiveAbi(env, info[0]);
      const int64_t bucketBytes = info[1].As<Napi::Number>().Int64Value();
      auto out = Napi::Object::New(env);
      std::string why;
      if (abi->memory == GP_COLL_MEMORY_CUDA && !dev_.is_cuda()) {
        why = std::string(abi->backend) + " reduces CUDA memory but this engine computes on " + dev_.str();
      } else if (abi->memory == GP_COLL_MEMORY_CUDA && dev_.index() != abi->cuda_device) {
        why = std::string(abi->backend) + " runs on cuda:" + std::to_string(abi->cuda_device) + " but this engine on " + dev_.str();
      } else if (abi->memory == GP_COLL_MEMORY_HOST && !dev_.is_cpu()) {
        why = std::string(abi->backend) + " reduces host memory but this engine computes on " + dev_.str();
      }
      if (!why.empty()) {
        out.Set("attached", Napi::Boolean::New(env, false));
        out.Set("why", Napi::String::New(env, why));
        return out;
      }
      std::vector<std::pair<int64_t, int64_t>> ranges;
      for (const Spec& s : specs_) ranges.emplace_back(s.offset, s.size);
      buckets_.reset();
      buckets_ = std::make_shared<gp::GradBuckets>(abi, params_, ranges, G_, bucketBytes);
      auto arr = Napi::Array::New(env);
      uint32_t i = 0;
      for (auto [off, count] : buckets_->bucketRanges()) {
        auto pair = Napi::Array::New(env, 2);
        pair.Set(0u, Napi::Number::New(env, (double)off));
        pair.Set(1u, Napi::Number::New(env, (double)count));
        arr.Set(i++, pair);
      }
      out.Set("attached", Napi::Boolean::New(env, true));
      out.Set("buckets", arr);
      return out;
    });
  }

  Napi::Value DetachCollectives(const Napi::CallbackInfo& info) {
    buckets_.reset();
    return info.Env().Undefined();
  }

  // The next backward (forwardBackward / classifyForwardBackward) all-reduces the gradient.
  Napi::Value ArmGradientSync(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      if (!buckets_) throw std::runtime_error("armGradientSync: no communicator attached");
      buckets_->arm();
      return info.Env().Undefined();
    });
  }

  // gradientSync() → Promise<{ buckets, launchedDuringBackward, commMs, hiddenMs }>: the armed
  // backward's sum is in G_ (on CUDA: ordered before the optimizer on the device).
  Napi::Value GradientSync(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      if (!buckets_) throw std::runtime_error("gradientSync: no communicator attached");
      // Buckets not started yet (no backward ran) are submitted now, on this thread, so they
      // precede any collective the caller starts next, on every rank alike.
      buckets_->finish();
      return Napi::Value(info.Env(), gp::waitAsync(info.Env(), buckets_));
    });
  }

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (!disposed_) {
      disposed_ = true;
      buckets_.reset();
      params_.clear();
      // The Float32Array handed out by gradients() keeps its own reference to G_'s storage.
      P_ = at::Tensor();
      G_ = at::Tensor();
      M_ = at::Tensor();
      V_ = at::Tensor();
      hostG_ = at::Tensor();
      gradView_.Reset();
    }
    return info.Env().Undefined();
  }
};

Napi::Value Versions(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = Napi::Object::New(env);
  o.Set("libtorch", Napi::String::New(env, TORCH_VERSION));
  o.Set("sdpa", Napi::Boolean::New(env, GP_HAVE_SDPA));
  o.Set("cuda", Napi::Boolean::New(env, at::hasCUDA()));
  o.Set("cudaDevices", Napi::Number::New(env, (double)torch::cuda::device_count()));
  o.Set("threads", Napi::Number::New(env, at::get_num_threads()));
  o.Set("parallel", Napi::String::New(env, at::get_parallel_info()));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("TorchEngine", TorchEngine::Init(env));
  exports.Set("versions", Napi::Function::New(env, Versions));
  return exports;
}

}  // namespace

NODE_API_MODULE(gradpool_torch, Init)
