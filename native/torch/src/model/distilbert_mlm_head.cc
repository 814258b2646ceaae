// DistilBertForMaskedLM's head (head "mlm-distilbert"): vocab_transform
// (dense), GELU, vocab_layer_norm, then vocab_projector: the tied word
// embeddings plus vocab_projector.bias. Parameters after the encoder's, in
// state_dict order: vocab_transform.{weight,bias}, vocab_layer_norm.{weight,bias},
// vocab_projector.bias. No dropout in this head (as Hugging Face).
#include "model.h"

namespace gp {
namespace {

class DistilBertMlmHead : public Head {
 public:
  DistilBertMlmHead(const Cfg& c, const Encoder& e, int base) : Head(base), c_(c), l_{c_}, word_(e.wordEmbedding()) {}

  int numParams() const override { return 5; }
  bool isLinear(int i) const override { return i == 0 || i == 1; }

  at::Tensor tokenLogits(const Fwd& f, const at::Tensor& rows) const override {
    at::Tensor t = l_.norm(f, at::gelu(l_.lin(f, rows, base_)), base_ + 2);
    const at::Tensor& word = f.w[word_];
    const at::Tensor& bias = f.w[base_ + 4];
    if (f.amp) return at::linear(t.to(at::kBFloat16), word.to(at::kBFloat16), bias.to(at::kBFloat16)).to(at::kFloat);
    return at::linear(t, word, bias);
  }

 private:
  Cfg c_;
  Layers l_;
  int word_;
};

const bool registered = registerHead("mlm-distilbert", [](const Cfg& c, const Encoder& e, int base) {
  return std::make_unique<DistilBertMlmHead>(c, e, base);
});

}  // namespace
}  // namespace gp
