// ModernBertForMaskedLM's head (head "mlm-modernbert"): head.dense (bias only
// with classifier_bias), GELU, head.norm (bias only with norm_bias), then the
// decoder tied to model.embeddings.tok_embeddings plus decoder.bias (when
// decoder_bias, the default). Parameters after the encoder's, in state_dict order.
#include "model.h"

namespace gp {
namespace {

class ModernBertMlmHead : public Head {
 public:
  ModernBertMlmHead(const Cfg& c, const Encoder& e, int base) : Head(base), c_(c), l_{c_}, word_(e.wordEmbedding()) {
    int i = base;
    denseW_ = i++;
    denseB_ = c.get("classifier_bias", 0) != 0 ? i++ : -1;
    normW_ = i++;
    normB_ = c.get("norm_bias", 0) != 0 ? i++ : -1;
    decB_ = c.get("decoder_bias", 1) != 0 ? i++ : -1;
    n_ = i - base;
  }

  int numParams() const override { return n_; }
  bool isLinear(int i) const override { return base_ + i == denseW_ || base_ + i == denseB_; }

  at::Tensor tokenLogits(const Fwd& f, const at::Tensor& rows) const override {
    at::Tensor t = l_.normOpt(f, at::gelu(l_.linOpt(f, rows, denseW_, denseB_)), normW_, normB_);
    const at::Tensor& word = f.w[word_];
    if (f.amp) {
      at::Tensor tb = t.to(at::kBFloat16), wb = word.to(at::kBFloat16);
      return (decB_ < 0 ? at::linear(tb, wb) : at::linear(tb, wb, f.w[decB_].to(at::kBFloat16))).to(at::kFloat);
    }
    return decB_ < 0 ? at::linear(t, word) : at::linear(t, word, f.w[decB_]);
  }

 private:
  Cfg c_;
  Layers l_;
  int word_, denseW_, denseB_, normW_, normB_, decB_, n_;
};

const bool registered = registerHead("mlm-modernbert", [](const Cfg& c, const Encoder& e, int base) {
  return std::make_unique<ModernBertMlmHead>(c, e, base);
});

}  // namespace
}  // namespace gp
