// Family "bert": BertForMaskedLM's encoder (bert_encoder.h).
#include "bert_encoder.h"

namespace gp {
namespace {

const bool registered = registerEncoder("bert", [](const Cfg& c) { return std::make_unique<BertEncoder>(c); });

}  // namespace
}  // namespace gp
