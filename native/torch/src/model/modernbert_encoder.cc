// Family "modernbert": ModernBertModel. Token embeddings (no positions, no
// token types), LayerNorm (no bias unless norm_bias), then pre-norm layers:
// attention (fused Wqkv, rotary embeddings, GPT-NeoX layout) that is global in
// every global_attn_every_n_layers-th layer and a real sliding window
// (|i - j| <= local_attention / 2, computed as a band of 2*half+1 keys per
// query, never an S x S matrix) in the others; GeGLU MLP (gelu(a) * g);
// final_norm. Biases only where the config asks for them.
//
// Unpadded (the default when the batch is right-padded, as Hugging Face's
// flash-attention path): the real tokens of all rows are packed into [T, H],
// every Linear runs on T rows instead of B*S, attention runs per sequence,
// and the hidden states are scattered back to [B*S, H] with zeros at padding.
// Padded (config _unpadded = 0, or left padding): [B*S, H] throughout,
// positions 0..S-1 in every row, padding masked (Hugging Face's SDPA path).
//
// The TypeScript side (model/families/modernbert.ts) resolves the layer plan
// (_local_layers), window (_window_half) and rotary bases (_theta_global,
// _theta_local) into the config it hands over.
#include <algorithm>
#include <cmath>
#include <limits>

#include "model.h"

namespace gp {
namespace {

struct LayerIdx {
  int attnNormW = -1, attnNormB = -1, qkvW, qkvB = -1, oW, oB = -1, mlpNormW, mlpNormB = -1, wiW, wiB = -1, woW, woB = -1;
};

class ModernBertEncoder : public Encoder {
 public:
  explicit ModernBertEncoder(const Cfg& c) : c_(c), l_{c_} {
    const bool nb = c.get("norm_bias", 0) != 0, ab = c.get("attention_bias", 0) != 0, mb = c.get("mlp_bias", 0) != 0;
    int i = 0;
    auto take = [&](bool present) { return present ? i++ : -1; };
    tok_ = take(true);
    embNormW_ = take(true);
    embNormB_ = take(nb);
    for (int64_t layer = 0; layer < c.L; layer++) {
      LayerIdx x;
      if (layer > 0) {  // layer 0's attn_norm is the identity: the embedding norm already normalised its input
        x.attnNormW = take(true);
        x.attnNormB = take(nb);
      }
      x.qkvW = take(true);
      x.qkvB = take(ab);
      x.oW = take(true);
      x.oB = take(ab);
      x.mlpNormW = take(true);
      x.mlpNormB = take(nb);
      x.wiW = take(true);
      x.wiB = take(mb);
      x.woW = take(true);
      x.woB = take(mb);
      layers_.push_back(x);
      for (int k : {x.qkvW, x.qkvB, x.oW, x.oB, x.wiW, x.wiB, x.woW, x.woB})
        if (k >= 0) linear_.push_back(k);
    }
    finalW_ = take(true);
    finalB_ = take(nb);
    n_ = i;
    auto plan = c.lists.find("_local_layers");
    if (plan == c.lists.end() || (int64_t)plan->second.size() != c.L) throw std::runtime_error("modernbert: config lacks _local_layers (one 0/1 per layer)");
    for (double v : plan->second) local_.push_back(v != 0);
    half_ = (int64_t)c.get("_window_half", 64);
    thetaGlobal_ = c.get("_theta_global", 160000.0);
    thetaLocal_ = c.get("_theta_local", 10000.0);
    unpadded_ = c.get("_unpadded", 1) != 0;
    embDrop_ = c.get("embedding_dropout", 0);
    attnDrop_ = c.get("attention_dropout", 0);
    mlpDrop_ = c.get("mlp_dropout", 0);
    if ((c.H / c.nh) % 2 != 0) throw std::runtime_error("modernbert: head_dim must be even (rotary pairs)");
  }

  int numParams() const override { return n_; }
  int wordEmbedding() const override { return tok_; }
  bool isLinear(int i) const override { return std::find(linear_.begin(), linear_.end(), i) != linear_.end(); }

  at::Tensor hidden(const Batch& b, const Fwd& f) const override {
    const int64_t B = b.B, S = b.S, H = c_.H;
    at::Tensor x = at::embedding(f.w[tok_], b.ids, c_.pad).view({B * S, H});
    x = l_.drop(l_.normOpt(f, x, embNormW_, embNormB_), embDrop_, f);
    at::Tensor lens = b.am.sum(1);
    const bool rightPadded = at::equal(b.am.ne(0), at::arange(S, b.am.options()).unsqueeze(0).lt(lens.unsqueeze(1)));
    const bool packed = unpadded_ && rightPadded;
    at::Tensor idx;
    std::vector<int64_t> seqLens;
    if (packed) {
      idx = b.am.reshape({B * S}).nonzero().squeeze(1);
      x = x.index_select(0, idx);
      at::Tensor l = lens.to(at::kCPU);
      for (int64_t r = 0; r < B; r++) seqLens.push_back(l[r].item<int64_t>());
    }
    at::Tensor keep = packed ? at::Tensor() : b.am.ne(0);
    for (int64_t layer = 0; layer < c_.L; layer++) {
      const LayerIdx& p = layers_[layer];
      at::Tensor h = p.attnNormW >= 0 ? l_.normOpt(f, x, p.attnNormW, p.attnNormB) : x;
      at::Tensor qkv = l_.linOpt(f, h, p.qkvW, p.qkvB).to(at::kFloat);
      const bool local = local_[layer];
      const double theta = local ? thetaLocal_ : thetaGlobal_;
      const int64_t half = local ? half_ : -1;
      at::Tensor ctx;
      if (packed) {
        std::vector<at::Tensor> parts;
        int64_t off = 0;
        for (int64_t n : seqLens) {
          if (n > 0) parts.push_back(attention(qkv.narrow(0, off, n).view({1, n, 3 * H}), at::Tensor(), theta, half, f));
          off += n;
        }
        ctx = at::cat(parts, 0);
      } else {
        ctx = attention(qkv.view({B, S, 3 * H}), keep, theta, half, f);
      }
      x = x + l_.drop(l_.linOpt(f, ctx, p.oW, p.oB), attnDrop_, f).to(at::kFloat);
      at::Tensor ag = l_.linOpt(f, l_.normOpt(f, x, p.mlpNormW, p.mlpNormB), p.wiW, p.wiB);
      auto halves = ag.chunk(2, -1);
      at::Tensor m = l_.drop(at::gelu(halves[0]) * halves[1], mlpDrop_, f);
      x = x + l_.linOpt(f, m, p.woW, p.woB).to(at::kFloat);
    }
    x = l_.normOpt(f, x, finalW_, finalB_);
    if (!packed) return x;
    return at::zeros({B * S, H}, x.options()).index_copy(0, idx, x);
  }

 private:
  // qkv [Bx, L, 3H] fp32 ([q | k | v], head-major) → context [Bx*L, H]. keep: [Bx, L] key mask or undefined.
  at::Tensor attention(const at::Tensor& qkv, const at::Tensor& keep, double theta, int64_t half, const Fwd& f) const {
    const int64_t Bx = qkv.size(0), L = qkv.size(1), nh = c_.nh, d = c_.H / nh;
    at::Tensor parts = qkv.view({Bx, L, 3, nh, d});
    auto head = [&](int i) { return parts.select(2, i).transpose(1, 2); };  // [Bx, nh, L, d]
    auto [cos, sin] = rope(L, d, theta, qkv.device());
    at::Tensor q = rotate(head(0), cos, sin), k = rotate(head(1), cos, sin), v = head(2);
    const double scale = std::pow((double)d, -0.5);
    const float lowest = std::numeric_limits<float>::lowest();
    at::Tensor ctx;
    if (half < 0 || L - 1 <= half) {  // global, or every key within the window anyway
      at::Tensor scores = at::matmul(q, k.transpose(-1, -2)).mul(scale);
      if (keep.defined()) scores = scores.masked_fill(keep.logical_not().view({Bx, 1, 1, L}), lowest);
      ctx = at::matmul(l_.drop(at::softmax(scores, -1), attnDrop_, f), v);
    } else {
      ctx = slidingWindow(q, k, v, keep, half, scale, f);
    }
    return ctx.transpose(1, 2).reshape({Bx * L, c_.H});
  }

  // The sliding window without an L x L matrix: queries in blocks of `half`; block i attends to
  // the keys of blocks i-1, i, i+1 (3*half keys, which hold every key within distance half of
  // any of its queries), masked to |i - j| <= half, to keys that exist and are kept. Dense
  // [half x 3*half] products per block: O(L * 3 * half), the real window's cost up to 1.5x.
  at::Tensor slidingWindow(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& keep, int64_t half,
                           double scale, const Fwd& f) const {
    const int64_t Bx = q.size(0), nh = q.size(1), L = q.size(2), d = q.size(3), bs = std::max<int64_t>(half, 1);
    const int64_t nb = (L + bs - 1) / bs, Lp = nb * bs;
    auto blocks = [&](const at::Tensor& t) {  // [Bx, nh, L, d] → padded by one block each side, [Bx, nh, nb+2, bs, d]
      return at::constant_pad_nd(t, {0, 0, bs, Lp - L + bs}).view({Bx, nh, nb + 2, bs, d});
    };
    auto around = [&](const at::Tensor& t) {  // keys of blocks i-1, i, i+1: [Bx, nh, nb, 3*bs, d]
      return at::cat({t.narrow(2, 0, nb), t.narrow(2, 1, nb), t.narrow(2, 2, nb)}, 3);
    };
    at::Tensor qb = at::constant_pad_nd(q, {0, 0, 0, Lp - L}).view({Bx, nh, nb, bs, d});
    at::Tensor kb = around(blocks(k)), vb = around(blocks(v));
    at::Tensor scores = at::matmul(qb, kb.transpose(-1, -2)).mul(scale);  // [Bx, nh, nb, bs, 3*bs]
    auto lopt = at::TensorOptions().dtype(at::kLong).device(q.device());
    // Query i*bs + a, key (i-1)*bs + c: within the window iff |a - c + bs| <= half; exists iff 0 <= key < L.
    at::Tensor a = at::arange(bs, lopt).view({bs, 1}), c = at::arange(3 * bs, lopt).view({1, 3 * bs});
    at::Tensor inWindow = (a - c + bs).abs().le(half).view({1, 1, 1, bs, 3 * bs});
    at::Tensor keyPos = at::arange(nb, lopt).view({nb, 1}) * bs - bs + at::arange(3 * bs, lopt).view({1, 3 * bs});  // [nb, 3*bs]
    at::Tensor ok = inWindow.logical_and(keyPos.ge(0).logical_and(keyPos.lt(L)).view({1, 1, nb, 1, 3 * bs}));
    if (keep.defined()) {
      at::Tensor kk = around(at::constant_pad_nd(keep.to(at::kFloat), {bs, Lp - L + bs}).view({Bx, 1, nb + 2, bs, 1})).gt(0.5);  // [Bx,1,nb,3bs,1]
      ok = ok.logical_and(kk.transpose(-1, -2));
    }
    scores = scores.masked_fill(ok.logical_not(), std::numeric_limits<float>::lowest());
    at::Tensor probs = l_.drop(at::softmax(scores, -1), attnDrop_, f);
    return at::matmul(probs, vb).view({Bx, nh, Lp, d}).narrow(2, 0, L);
  }

  // cos/sin [L, d] for positions 0..L-1 (angle p * theta^(-2i/d), halves duplicated), in fp32 as Hugging Face.
  static std::pair<at::Tensor, at::Tensor> rope(int64_t L, int64_t d, double theta, const at::Device& dev) {
    auto fopt = at::TensorOptions().dtype(at::kFloat).device(dev);
    at::Tensor expo = at::arange(0, d, 2, at::TensorOptions().dtype(at::kLong).device(dev)).to(at::kFloat).div(d);
    at::Tensor invFreq = at::reciprocal(at::pow(theta, expo));
    at::Tensor angles = at::arange(L, fopt).unsqueeze(1) * invFreq.unsqueeze(0);
    at::Tensor emb = at::cat({angles, angles}, -1);
    return {emb.cos(), emb.sin()};
  }

  // x * cos + rotate_half(x) * sin (dimension i pairs with i + d/2).
  static at::Tensor rotate(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
    const int64_t h = x.size(-1) / 2;
    at::Tensor rotated = at::cat({x.narrow(-1, h, h).neg(), x.narrow(-1, 0, h)}, -1);
    return x * cos + rotated * sin;
  }

  Cfg c_;
  Layers l_;
  int tok_, embNormW_, embNormB_, finalW_, finalB_, n_;
  std::vector<LayerIdx> layers_;
  std::vector<int> linear_;
  std::vector<bool> local_;
  int64_t half_;
  double thetaGlobal_, thetaLocal_, embDrop_, attnDrop_, mlpDrop_;
  bool unpadded_;
};

const bool registered = registerEncoder("modernbert", [](const Cfg& c) { return std::make_unique<ModernBertEncoder>(c); });

}  // namespace
}  // namespace gp
