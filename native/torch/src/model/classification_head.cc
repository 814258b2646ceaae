// BertForSequenceClassification's head: the pooler (dense + tanh on the
// first token, [CLS]), dropout (classifier_dropout, else hidden_dropout_prob),
// and the classifier. Parameters after the encoder's: bert.pooler.dense.{weight,bias},
// classifier.{weight,bias} — all Linear.
#include "model.h"

namespace gp {
namespace {

class ClassificationHead : public Head {
 public:
  ClassificationHead(const Cfg& c, int base) : Head(base), c_(c), l_{c_} {
    if (c.numLabels < 2) throw std::runtime_error("a sequence classifier needs numLabels ≥ 2");
  }

  int numParams() const override { return 4; }
  bool isLinear(int) const override { return true; }

  at::Tensor sequenceLogits(const Fwd& f, const at::Tensor& hidden, int64_t B, int64_t S) const override {
    at::Tensor first = hidden.view({B, S, c_.H}).select(1, 0);
    at::Tensor pooled = l_.drop(at::tanh(l_.lin(f, first, base_)), c_.clsDrop, f);
    return l_.lin(f, pooled, base_ + 2).to(at::kFloat);
  }

 private:
  Cfg c_;
  Layers l_;
};

const bool registered = registerHead("classification", [](const Cfg& c, const Encoder&, int base) { return std::make_unique<ClassificationHead>(c, base); });

}  // namespace
}  // namespace gp
