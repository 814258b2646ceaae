// BertForMaskedLM's prediction head on token rows: transform (dense, erf GELU,
// LayerNorm), then the decoder tied to the encoder's word embeddings plus its
// own bias. Parameters after the encoder's: cls.predictions.bias,
// transform.dense.{weight,bias}, transform.LayerNorm.{weight,bias}.
#include "model.h"

namespace gp {
namespace {

class MlmHead : public Head {
 public:
  MlmHead(const Cfg& c, const Encoder& e, int base) : Head(base), c_(c), l_{c_}, word_(e.wordEmbedding()) {}

  int numParams() const override { return 5; }
  bool isLinear(int i) const override { return i == 1 || i == 2; }  // transform.dense

  at::Tensor tokenLogits(const Fwd& f, const at::Tensor& rows) const override {
    at::Tensor t = l_.norm(f, at::gelu(l_.lin(f, rows, base_ + 1)), base_ + 3);
    const at::Tensor& word = f.w[word_];
    const at::Tensor& bias = f.w[base_];
    if (f.amp) return at::linear(t.to(at::kBFloat16), word.to(at::kBFloat16), bias.to(at::kBFloat16)).to(at::kFloat);
    return at::linear(t, word, bias);
  }

 private:
  Cfg c_;
  Layers l_;
  int word_;
};

const bool registered = registerHead("mlm", [](const Cfg& c, const Encoder& e, int base) { return std::make_unique<MlmHead>(c, e, base); });

}  // namespace
}  // namespace gp
