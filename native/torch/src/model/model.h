// What every model of the libtorch engine is made of: a family's encoder
// (parameters [0, n) of the flat list, in the TypeScript side's ParamSpec
// order) and a task head after it (MLM, sequence classification). Families
// and heads register themselves by name from their own translation unit, so
// adding one is a new .cc file (and its line in binding.gyp): the engine
// (torch_engine.cc) only sees these interfaces.
#pragma once

#include <ATen/ATen.h>
#include <torch/version.h>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

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

namespace gp {

// The config.json fields the models read, plus the head's settings.
struct Cfg {
  int64_t V = 0, H = 0, L = 0, nh = 0, I = 0, P = 0, T = 0, pad = 0;
  double eps = 1e-12, hdrop = 0.1, adrop = 0.1;
  int64_t numLabels = 0;  // sequence classification
  double clsDrop = 0.1;   // dropout before the classifier (classifier_dropout, else hidden_dropout_prob)
  // Every other numeric config field (and numeric lists, e.g. ModernBERT's per-layer plan) a family
  // may read; the TypeScript side (model/families/) resolves them before the engine is built.
  std::map<std::string, double> num;
  std::map<std::string, std::vector<double>> lists;

  double get(const std::string& k, double def) const {
    auto it = num.find(k);
    return it == num.end() ? def : it->second;
  }
};

struct Batch {
  int64_t B = 0, S = 0;
  at::Tensor ids, tt, am;  // [B,S] int64 on the device
};

// One forward pass's view of the parameters: the fp32 leaves, or under amp bf16 casts
// of the Linear ones (whose gradients still land in the fp32 leaves), and the dropout
// generator when training (seeded per micro-batch from the TypeScript side's stream).
struct Fwd {
  std::vector<at::Tensor> w;
  Optional<at::Generator> gen;
  bool dropout = false;
  bool amp = false;
};

// The layers models are built from, over parameter indices into Fwd::w.
struct Layers {
  const Cfg& c;

  at::Tensor drop(const at::Tensor& x, double p, const Fwd& f) const {
    if (!f.dropout || p <= 0) return x;
    at::Tensor mask = at::empty_like(x).bernoulli_(1.0 - p, f.gen);
    return x * mask.mul_(1.0 / (1.0 - p));
  }
  // x · W[i]ᵀ + W[i+1]
  at::Tensor lin(const Fwd& f, const at::Tensor& x, int i) const {
    return at::linear(f.amp ? x.to(at::kBFloat16) : x, f.w[i], f.w[i + 1]);
  }
  // LayerNorm with weight W[i], bias W[i+1], in fp32.
  at::Tensor norm(const Fwd& f, const at::Tensor& x, int i) const {
    return at::layer_norm(x.to(at::kFloat), {c.H}, f.w[i], f.w[i + 1], c.eps);
  }
  // Optional-bias forms (ModernBERT: biases absent by default); a negative index = no bias.
  at::Tensor linOpt(const Fwd& f, const at::Tensor& x, int w, int b) const {
    return b < 0 ? at::linear(f.amp ? x.to(at::kBFloat16) : x, f.w[w]) : at::linear(f.amp ? x.to(at::kBFloat16) : x, f.w[w], f.w[b]);
  }
  at::Tensor normOpt(const Fwd& f, const at::Tensor& x, int w, int b) const {
    return b < 0 ? at::layer_norm(x.to(at::kFloat), {c.H}, f.w[w], {}, c.eps)
                 : at::layer_norm(x.to(at::kFloat), {c.H}, f.w[w], f.w[b], c.eps);
  }
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual int numParams() const = 0;
  // Parameters used as Linear weights or biases (amp casts them to bf16).
  virtual bool isLinear(int i) const = 0;
  // The word embedding's index (a tied MLM decoder reads it).
  virtual int wordEmbedding() const = 0;
  // Hidden states [B*S, H] (fp32) of the last layer.
  virtual at::Tensor hidden(const Batch& b, const Fwd& f) const = 0;
};

class Head {
 public:
  explicit Head(int base) : base_(base) {}
  virtual ~Head() = default;
  virtual int numParams() const = 0;
  // i relative to the head's first parameter.
  virtual bool isLinear(int i) const = 0;
  // Token rows [K, H] → fp32 logits [K, vocab] (MLM heads).
  virtual at::Tensor tokenLogits(const Fwd&, const at::Tensor&) const {
    throw std::runtime_error("this model has no masked-LM head (it is a sequence classifier)");
  }
  // Hidden states [B*S, H] → fp32 logits [B, num labels] (sequence heads).
  virtual at::Tensor sequenceLogits(const Fwd&, const at::Tensor&, int64_t, int64_t) const {
    throw std::runtime_error("this model has no sequence-classification head (it is a masked-LM model)");
  }

 protected:
  int base_;
};

using EncoderFactory = std::function<std::unique_ptr<Encoder>(const Cfg&)>;
using HeadFactory = std::function<std::unique_ptr<Head>(const Cfg&, const Encoder&, int base)>;

template <typename F>
std::map<std::string, F>& registry() {
  static std::map<std::string, F> r;
  return r;
}

inline bool registerEncoder(const std::string& family, EncoderFactory f) {
  registry<EncoderFactory>()[family] = std::move(f);
  return true;
}
inline bool registerHead(const std::string& kind, HeadFactory f) {
  registry<HeadFactory>()[kind] = std::move(f);
  return true;
}

template <typename F>
const F& lookup(const std::string& name, const char* what) {
  auto& r = registry<F>();
  auto it = r.find(name);
  if (it == r.end()) {
    std::string known;
    for (auto& [k, _] : r) known += (known.empty() ? "" : ", ") + k;
    throw std::runtime_error(std::string("unknown ") + what + " \"" + name + "\" (built in: " + known + ")");
  }
  return it->second;
}

inline std::unique_ptr<Encoder> makeEncoder(const std::string& family, const Cfg& c) {
  return lookup<EncoderFactory>(family, "model family")(c);
}
inline std::unique_ptr<Head> makeHead(const std::string& kind, const Cfg& c, const Encoder& e, int base) {
  return lookup<HeadFactory>(kind, "head")(c, e, base);
}

}  // namespace gp
