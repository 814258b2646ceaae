// BERT's encoder (Hugging Face BertModel without the pooler): word + token
// type + position embeddings, LayerNorm, dropout, then post-LN layers of
// self-attention (padding mask) and an erf-GELU MLP. Parameters in
// bertParamSpecs order: 5 embedding tensors, then 16 per layer. RoBERTa
// (roberta_encoder.cc) is this encoder with positions counted from the ids.
#pragma once

#include <torch/version.h>

#include <cmath>
#include <limits>

#include "model.h"

#if TORCH_VERSION_MAJOR >= 2
#define GP_HAVE_SDPA 1
#else
#define GP_HAVE_SDPA 0
#endif

namespace gp {

// BERT's parameter indices (the encoder's first 5, then 16 per layer from kLayer0).
namespace bertidx {
constexpr int kWord = 0, kPos = 1, kType = 2, kEmbLnW = 3, kEmbLnB = 4, kLayer0 = 5, kPerLayer = 16;
enum LayerIdx { Q = 0, K = 2, Vv = 4, AO = 6, AOLN = 8, INTER = 10, OUT = 12, OUTLN = 14 };
}  // namespace bertidx
using namespace bertidx;

class BertEncoder : public Encoder {
 public:
  // positionsFromIds: RoBERTa's rule (real tokens numbered pad+1, pad+2, ... from the ids; padding at pad).
  explicit BertEncoder(const Cfg& c, bool positionsFromIds = false) : c_(c), l_{c_}, fromIds_(positionsFromIds) {}

  int numParams() const override { return (int)(kLayer0 + kPerLayer * c_.L); }
  int wordEmbedding() const override { return kWord; }

  bool isLinear(int i) const override {
    if (i < kLayer0) return false;
    int r = (i - kLayer0) % kPerLayer;
    return r != AOLN && r != AOLN + 1 && r != OUTLN && r != OUTLN + 1;
  }

  at::Tensor hidden(const Batch& b, const Fwd& f) const override {
    const int64_t B = b.B, S = b.S, H = c_.H, nh = c_.nh, d = H / nh;
    const auto& W = f.w;
    at::Tensor x = at::embedding(W[kWord], b.ids, c_.pad) + at::embedding(W[kType], b.tt) + positions(b, W[kPos]);
    x = l_.drop(at::layer_norm(x, {H}, W[kEmbLnW], W[kEmbLnB], c_.eps), c_.hdrop, f).view({B * S, H});
    at::Tensor keep = b.am.view({B, 1, 1, S}).to(at::kFloat);
    at::Tensor ext = (1.0 - keep) * std::numeric_limits<float>::lowest();
    const double scale = std::sqrt((double)d);
    for (int64_t layer = 0; layer < c_.L; layer++) {
      const int base = (int)(kLayer0 + kPerLayer * layer);
      auto heads = [&](const at::Tensor& t) { return t.view({B, S, nh, d}).transpose(1, 2); };
      at::Tensor q = heads(l_.lin(f, x, base + Q)), k = heads(l_.lin(f, x, base + K)), v = heads(l_.lin(f, x, base + Vv));
      at::Tensor ctx;
#if GP_HAVE_SDPA
      if (b.ids.is_cuda()) {
        // Fused attention (flash / memory-efficient kernels); its dropout draws from the device
        // generator the engine seeded for this micro-batch, so a resumed run replays the same masks.
        ctx = at::scaled_dot_product_attention(q, k, v, b.am.view({B, 1, 1, S}).to(at::kBool), f.dropout ? c_.adrop : 0.0, false);
      } else
#endif
      {
        at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).div(scale) + ext;
        at::Tensor probs = at::softmax(scores, -1, at::kFloat);
        probs = l_.drop(probs, c_.adrop, f);
        ctx = at::matmul(f.amp ? probs.to(at::kBFloat16) : probs, v);
      }
      ctx = ctx.transpose(1, 2).reshape({B * S, H});
      at::Tensor a = l_.drop(l_.lin(f, ctx, base + AO), c_.hdrop, f);
      x = l_.norm(f, a.to(at::kFloat) + x, base + AOLN);
      at::Tensor inter = at::gelu(l_.lin(f, x, base + INTER));
      at::Tensor o = l_.drop(l_.lin(f, inter, base + OUT), c_.hdrop, f);
      x = l_.norm(f, o.to(at::kFloat) + x, base + OUTLN);
    }
    return x;
  }

 private:
  at::Tensor positions(const Batch& b, const at::Tensor& table) const {
    if (!fromIds_) return table.narrow(0, 0, b.S);
    at::Tensor real = b.ids.ne(c_.pad).to(at::kLong);
    at::Tensor pos = at::cumsum(real, 1).mul(real).add(c_.pad);
    if (pos.max().item<int64_t>() >= c_.P) {
      throw std::runtime_error("a sequence of " + std::to_string(b.S) + " tokens needs positions up to " +
                               std::to_string(pos.max().item<int64_t>()) + " but max_position_embeddings is " + std::to_string(c_.P));
    }
    return at::embedding(table, pos, c_.pad);  // the padding row gets no gradient, as nn.Embedding(padding_idx)
  }

  Cfg c_;
  Layers l_;
  bool fromIds_;
};

}  // namespace gp
