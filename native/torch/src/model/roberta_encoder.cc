// Family "roberta": RobertaModel's encoder is BERT's (same 16 tensors per
// layer, post-LN, erf GELU) except for the positions: counted from the ids,
// real tokens at pad+1, pad+2, ..., padding at pad (left and right padding
// give real tokens the same positions). Its MLM head has BERT's layout
// (lm_head.bias, dense, layer_norm), so it uses head "mlm".
#include "bert_encoder.h"

namespace gp {
namespace {

const bool registered = registerEncoder("roberta", [](const Cfg& c) { return std::make_unique<BertEncoder>(c, true); });

}  // namespace
}  // namespace gp
