// gradpool's libtorch engine: BertForMaskedLM (Hugging Face layout) as
// functional ATen ops over one flat fp32 parameter buffer, one flat gradient
// buffer (each parameter's .grad is a view into it) and a fused AdamW.
//
// One translation unit on purpose: libtorch headers are heavy, and this keeps
// a 2-core build to a single compile. The TypeScript side
// (engine/torch/) owns names, strict state-dict matching and the
// dropout RNG stream; this file only sees flat buffers in bertParamSpecs order.
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

// c10::optional is an alias of std::optional from torch 2.4 on and deprecated
// since (newer headers warn, and will drop it); 1.13's APIs take its own type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#include <optional>
template <typename T>
using Optional = std::optional<T>;
inline constexpr auto kNone = std::nullopt;
#else
template <typename T>
using Optional = c10::optional<T>;
inline constexpr auto kNone = c10::nullopt;
#endif

namespace {

struct Cfg {
  int64_t V = 0, H = 0, L = 0, nh = 0, I = 0, P = 0, T = 0, pad = 0;
  double eps = 1e-12, hdrop = 0.1, adrop = 0.1;
};

struct Spec {
  int64_t offset, size;
  std::vector<int64_t> shape;
  bool decay;
};

// Indices into the parameter list (bertParamSpecs order).
constexpr int kWord = 0, kPos = 1, kType = 2, kEmbLnW = 3, kEmbLnB = 4, kLayer0 = 5, kPerLayer = 16;
enum LayerIdx { Q = 0, K = 2, Vv = 4, AO = 6, AOLN = 8, INTER = 10, OUT = 12, OUTLN = 14 };
// After the layers: cls.predictions.bias, transform.dense.{weight,bias}, transform.LayerNorm.{weight,bias}.

struct Batch {
  int64_t B = 0, S = 0;
  at::Tensor ids, tt, am;  // [B,S] int64 on device
};

// torch.set_num_threads sizes ATen's pool; a BLAS with its own pool (Debian's torch runs
// on libblas.so.3 = OpenBLAS) needs telling too, or its spinning workers fight ours.
void setThreads(int n) {
  at::set_num_threads(n);
  // Node dlopens addons RTLD_LOCAL, so look in the already-loaded BLAS libraries too.
  void* handles[] = {RTLD_DEFAULT, dlopen("libopenblas.so.0", RTLD_LAZY | RTLD_NOLOAD),
                     dlopen("libblas.so.3", RTLD_LAZY | RTLD_NOLOAD)};
  for (void* h : handles) {
    if (!h) continue;
    if (auto f = reinterpret_cast<void (*)(int)>(dlsym(h, "openblas_set_num_threads"))) {
      f(n);
      return;
    }
  }
}

std::string shapeText(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); i++) s += (i ? "," : "") + std::to_string(t.size(i));
  return s + "]";
}

class TorchEngine : public Napi::ObjectWrap<TorchEngine> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "TorchEngine", {
      InstanceMethod<&TorchEngine::ForwardBackward>("forwardBackward"),
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
    });
  }

  // new TorchEngine({ config, specs: [{offset,size,shape,decay}], params: Float32Array, device, threads, amp })
  explicit TorchEngine(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TorchEngine>(info), dev_(at::kCPU) {
    Napi::Env env = info.Env();
    try {
      auto o = info[0].As<Napi::Object>();
      auto c = o.Get("config").As<Napi::Object>();
      auto num = [&](const char* k) { return c.Get(k).As<Napi::Number>().DoubleValue(); };
      cfg_.V = (int64_t)num("vocab_size");
      cfg_.H = (int64_t)num("hidden_size");
      cfg_.L = (int64_t)num("num_hidden_layers");
      cfg_.nh = (int64_t)num("num_attention_heads");
      cfg_.I = (int64_t)num("intermediate_size");
      cfg_.P = (int64_t)num("max_position_embeddings");
      cfg_.T = (int64_t)num("type_vocab_size");
      cfg_.eps = num("layer_norm_eps");
      cfg_.pad = (int64_t)num("pad_token_id");
      cfg_.hdrop = num("hidden_dropout_prob");
      cfg_.adrop = num("attention_probs_dropout_prob");
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
      if ((int64_t)specs_.size() != kLayer0 + kPerLayer * cfg_.L + 5) {
        throw std::runtime_error("parameter list has " + std::to_string(specs_.size()) + " entries, expected " +
                                 std::to_string(kLayer0 + kPerLayer * cfg_.L + 5));
      }
      n_ = specs_.back().offset + specs_.back().size;
      int threads = o.Has("threads") ? o.Get("threads").As<Napi::Number>().Int32Value() : 1;
      if (threads > 0) setThreads(threads);
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
      if (dev_.is_cuda()) hostG_ = at::zeros({n_}, at::TensorOptions().dtype(at::kFloat).pinned_memory(true));
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
  Cfg cfg_;
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

  // ---- model ---------------------------------------------------------------------------------

  struct Fwd {
    std::vector<at::Tensor> w;  // per parameter; bf16 casts of matmul weights under amp
    // Seeded per micro-batch from the TypeScript side's RNG stream: a private CPU generator,
    // or on CUDA the device's default generator (SDPA's dropout draws from it too).
    Optional<at::Generator> gen;
    bool dropout = false;
  };

  const at::Tensor& W(const Fwd& f, int i) const { return f.w[i]; }

  Fwd weights(bool train, uint64_t seed) const {
    Fwd f;
    f.w.reserve(params_.size());
    for (size_t i = 0; i < params_.size(); i++) {
      const auto& p = params_[i];
      // Under amp, Linear weights/biases (2-D weights and their biases) go to bf16; LayerNorm and
      // embeddings stay fp32, as autocast's policy does. The fp32 leaves receive the gradients.
      bool lin = amp_ && isLinearParam((int)i);
      f.w.push_back(lin ? p.to(at::kBFloat16) : p);
    }
    if (train && (cfg_.hdrop > 0 || cfg_.adrop > 0)) {
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
    if (i < kLayer0) return false;
    int64_t hb = kLayer0 + kPerLayer * cfg_.L;
    if (i >= hb) return i == hb + 1 || i == hb + 2;  // transform.dense
    int r = (i - kLayer0) % kPerLayer;
    return r != AOLN && r != AOLN + 1 && r != OUTLN && r != OUTLN + 1;
  }

  at::Tensor drop(const at::Tensor& x, double p, const Fwd& f) const {
    if (!f.dropout || p <= 0) return x;
    at::Tensor mask = at::empty_like(x).bernoulli_(1.0 - p, f.gen);
    return x * mask.mul_(1.0 / (1.0 - p));
  }

  at::Tensor lin(const Fwd& f, const at::Tensor& x, int i) const {
    return at::linear(amp_ ? x.to(at::kBFloat16) : x, W(f, i), W(f, i + 1));
  }

  at::Tensor norm(const Fwd& f, const at::Tensor& x, int i) const {
    return at::layer_norm(x.to(at::kFloat), {cfg_.H}, W(f, i), W(f, i + 1), cfg_.eps);
  }

  // Hidden states [B*S, H] (fp32) of the last encoder layer.
  at::Tensor encoder(const Batch& b, const Fwd& f) const {
    const int64_t B = b.B, S = b.S, H = cfg_.H, nh = cfg_.nh, d = H / nh;
    at::Tensor x = at::embedding(W(f, kWord), b.ids, cfg_.pad) + at::embedding(W(f, kType), b.tt) +
                   W(f, kPos).narrow(0, 0, S);
    x = drop(at::layer_norm(x, {H}, W(f, kEmbLnW), W(f, kEmbLnB), cfg_.eps), cfg_.hdrop, f).view({B * S, H});
    at::Tensor keep = b.am.view({B, 1, 1, S}).to(at::kFloat);
    at::Tensor ext = (1.0 - keep) * std::numeric_limits<float>::lowest();
    const double scale = std::sqrt((double)d);
    for (int64_t l = 0; l < cfg_.L; l++) {
      const int base = (int)(kLayer0 + kPerLayer * l);
      auto heads = [&](const at::Tensor& t) { return t.view({B, S, nh, d}).transpose(1, 2); };
      at::Tensor q = heads(lin(f, x, base + Q)), k = heads(lin(f, x, base + K)), v = heads(lin(f, x, base + Vv));
      at::Tensor ctx;
#if GP_HAVE_SDPA
      if (dev_.is_cuda()) {
        // Fused attention (flash / memory-efficient kernels); its dropout draws from the device
        // generator seeded above, so a resumed run replays the same masks.
        ctx = at::scaled_dot_product_attention(q, k, v, b.am.view({B, 1, 1, S}).to(at::kBool), f.dropout ? cfg_.adrop : 0.0, false);
      } else
#endif
      {
        at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).div(scale) + ext;
        at::Tensor probs = at::softmax(scores, -1, at::kFloat);
        probs = drop(probs, cfg_.adrop, f);
        ctx = at::matmul(amp_ ? probs.to(at::kBFloat16) : probs, v);
      }
      ctx = ctx.transpose(1, 2).reshape({B * S, H});
      at::Tensor a = drop(lin(f, ctx, base + AO), cfg_.hdrop, f);
      x = norm(f, a.to(at::kFloat) + x, base + AOLN);
      at::Tensor inter = at::gelu(lin(f, x, base + INTER));
      at::Tensor o = drop(lin(f, inter, base + OUT), cfg_.hdrop, f);
      x = norm(f, o.to(at::kFloat) + x, base + OUTLN);
    }
    return x;
  }

  // The MLM head on hidden rows [K, H] → fp32 logits [K, V]; decoder tied to the word embeddings.
  at::Tensor head(const Fwd& f, const at::Tensor& h) const {
    const int hb = (int)(kLayer0 + kPerLayer * cfg_.L);
    at::Tensor t = norm(f, at::gelu(lin(f, h, hb + 1)), hb + 3);
    if (amp_) return at::linear(t.to(at::kBFloat16), W(f, kWord).to(at::kBFloat16), W(f, hb).to(at::kBFloat16)).to(at::kFloat);
    return at::linear(t, W(f, kWord), W(f, hb));
  }

  // ---- argument helpers ----------------------------------------------------------------------

  at::Tensor longs(const Napi::Value& v, int64_t n, const char* what) const {
    auto a = v.As<Napi::Int32Array>();
    if ((int64_t)a.ElementLength() != n) throw std::runtime_error(std::string(what) + ": wrong length");
    return at::from_blob(a.Data(), {n}, at::kInt).to(dev_, at::kLong);
  }

  // (ids, tokenTypeIds, attentionMask, B, S) from arguments start..start+4.
  Batch batch(const Napi::CallbackInfo& info, int start) const {
    Batch b;
    b.B = info[start + 3].As<Napi::Number>().Int64Value();
    b.S = info[start + 4].As<Napi::Number>().Int64Value();
    if (b.S > cfg_.P) throw std::runtime_error("sequence length exceeds max_position_embeddings");
    const int64_t n = b.B * b.S;
    b.ids = longs(info[start], n, "inputIds").view({b.B, b.S});
    b.tt = longs(info[start + 1], n, "tokenTypeIds").view({b.B, b.S});
    b.am = longs(info[start + 2], n, "attentionMask").view({b.B, b.S});
    return b;
  }

  at::Tensor index(const Napi::Value& v) const {
    auto a = v.As<Napi::Int32Array>();
    return at::from_blob(a.Data(), {(int64_t)a.ElementLength()}, at::kInt).to(dev_, at::kLong);
  }

  template <typename T, typename A>
  static A toJs(Napi::Env env, const at::Tensor& t, at::ScalarType st) {
    at::Tensor c = t.detach().to(at::kCPU, st).contiguous();
    A out = A::New(env, (size_t)c.numel());
    if (c.numel()) std::memcpy(out.Data(), c.data_ptr<T>(), (size_t)c.numel() * sizeof(T));
    return out;
  }

  void check() const {
    if (disposed_) throw std::runtime_error("the engine was disposed");
  }

  // CUDA: the trainer holds the host Float32Array from gradients() for the whole run and
  // all-reduces it in place after the last micro-batch. So the host mirror is refreshed after
  // every forwardBackward (device → pinned host) and is authoritative at optimizerStep (host →
  // device). Writes to it belong between a forwardBackward (or zeroGrad) and optimizerStep.
  void pushGradsToHost() {
    if (!dev_.is_cpu()) hostG_.copy_(G_);
  }
  void pullGradsFromHost() {
    if (!dev_.is_cpu()) G_.copy_(hostG_);
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

  // forwardBackward(ids, tt, am, B, S, positions, labels, train, seedHi, seedLo) → lossSum
  Napi::Value ForwardBackward(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Batch b = batch(info, 0);
      at::Tensor pos = index(info[5]);
      at::Tensor lab = index(info[6]);
      bool train = info[7].ToBoolean();
      uint64_t seed = ((uint64_t)info[8].As<Napi::Number>().Uint32Value() << 32) | info[9].As<Napi::Number>().Uint32Value();
      if (pos.numel() == 0) return Napi::Number::New(info.Env(), 0);
      at::Tensor loss;
      {
        at::AutoGradMode on(true);
        Fwd f = weights(train, seed);
        at::Tensor h = encoder(b, f).index_select(0, pos);
        loss = at::cross_entropy_loss(head(f, h), lab, {}, at::Reduction::Sum, -100, 0.0);
        torch::autograd::backward({loss});
      }
      // AccumulateGrad adds in place into the views of G_; if autograd ever replaced a .grad
      // (it must not), fold it back into the flat buffer so nothing is lost.
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
      pushGradsToHost();
      return Napi::Number::New(info.Env(), loss.item<double>());
    });
  }

  // The flat gradient buffer as a Float32Array, the same one every call: on CPU a zero-copy
  // view of G_'s memory (the ArrayBuffer holds a reference to the storage, so it outlives
  // dispose); on CUDA the pinned host mirror (see pushGradsToHost).
  Napi::Value Gradients(const Napi::CallbackInfo& info) {
    return guarded(info, [&]() -> Napi::Value {
      Napi::Env env = info.Env();
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
      at::Tensor h = encoder(b, f);
      auto out = Napi::Object::New(env);
      double lossSum = 0;
      at::Tensor top = at::empty({0}, at::kInt);
      if (pos.numel() > 0) {
        at::Tensor logits = head(f, h.index_select(0, pos));
        lossSum = at::cross_entropy_loss(logits, lab, {}, at::Reduction::Sum, -100, 0.0).item<double>();
        top = std::get<1>(at::topk(logits, k, -1, true, true));
      }
      const int64_t rows = b.B * b.S;
      std::vector<at::Tensor> preds;
      for (int64_t r0 = 0; r0 < rows; r0 += 256) {
        const int64_t r = std::min<int64_t>(256, rows - r0);
        preds.push_back(at::argmax(head(f, h.narrow(0, r0, r)), 1));
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
      at::Tensor logits = head(f, encoder(b, f).index_select(0, pos));
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
      return toJs<float, Napi::Float32Array>(info.Env(), head(f, encoder(b, f)), at::kFloat);
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

  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    if (!disposed_) {
      disposed_ = true;
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
