// Family "distilbert": DistilBertModel's encoder. Word + learned position
// embeddings (no token types), LayerNorm (eps 1e-12, fixed by the family),
// dropout; then post-LN layers as BERT's (q scaled by 1/sqrt(head_dim) before
// the product, keys masked with the float minimum) under DistilBERT's names.
// Parameters (model/families/distilbert.ts): 4 embedding tensors, then 16 per
// layer: q_lin, k_lin, v_lin, out_lin, sa_layer_norm, ffn.lin1, ffn.lin2,
// output_layer_norm (weight, bias each).
#include <cmath>
#include <limits>

#include "model.h"

namespace gp {
namespace {

constexpr int kWord = 0, kPos = 1, kLnW = 2, kLnB = 3, kLayer0 = 4, kPerLayer = 16;
enum Idx { Q = 0, K = 2, Vv = 4, OUT = 6, SALN = 8, LIN1 = 10, LIN2 = 12, OUTLN = 14 };

class DistilBertEncoder : public Encoder {
 public:
  explicit DistilBertEncoder(const Cfg& c) : c_(c), l_{c_} {}

  int numParams() const override { return (int)(kLayer0 + kPerLayer * c_.L); }
  int wordEmbedding() const override { return kWord; }

  bool isLinear(int i) const override {
    if (i < kLayer0) return false;
    int r = (i - kLayer0) % kPerLayer;
    return r != SALN && r != SALN + 1 && r != OUTLN && r != OUTLN + 1;
  }

  at::Tensor hidden(const Batch& b, const Fwd& f) const override {
    const int64_t B = b.B, S = b.S, H = c_.H, nh = c_.nh, d = H / nh;
    const auto& W = f.w;
    at::Tensor x = at::embedding(W[kWord], b.ids, c_.pad) + W[kPos].narrow(0, 0, S);
    x = l_.drop(at::layer_norm(x, {H}, W[kLnW], W[kLnB], c_.eps), c_.hdrop, f).view({B * S, H});
    at::Tensor masked = b.am.view({B, 1, 1, S}).eq(0);
    const double scale = 1.0 / std::sqrt((double)d);
    for (int64_t layer = 0; layer < c_.L; layer++) {
      const int base = (int)(kLayer0 + kPerLayer * layer);
      auto heads = [&](const at::Tensor& t) { return t.view({B, S, nh, d}).transpose(1, 2); };
      at::Tensor q = heads(l_.lin(f, x, base + Q)).mul(scale), k = heads(l_.lin(f, x, base + K)), v = heads(l_.lin(f, x, base + Vv));
      at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).to(at::kFloat).masked_fill(masked, std::numeric_limits<float>::lowest());
      at::Tensor probs = l_.drop(at::softmax(scores, -1), c_.adrop, f);
      at::Tensor ctx = at::matmul(f.amp ? probs.to(at::kBFloat16) : probs, v).transpose(1, 2).reshape({B * S, H});
      at::Tensor a = l_.drop(l_.lin(f, ctx, base + OUT), c_.hdrop, f);
      x = l_.norm(f, a.to(at::kFloat) + x, base + SALN);
      at::Tensor inter = at::gelu(l_.lin(f, x, base + LIN1));
      at::Tensor o = l_.drop(l_.lin(f, inter, base + LIN2), c_.hdrop, f);
      x = l_.norm(f, o.to(at::kFloat) + x, base + OUTLN);
    }
    return x;
  }

 private:
  Cfg c_;
  Layers l_;
};

const bool registered = registerEncoder("distilbert", [](const Cfg& c) { return std::make_unique<DistilBertEncoder>(c); });

}  // namespace
}  // namespace gp
