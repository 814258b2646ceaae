"""Model pieces the family references share: the MLM loss, BERT-style initialisation, activations."""
import json

import torch
from torch import nn

from ref_common import IGNORE_INDEX, RefInputError


def mlm_loss_sum(logits, labels):
    """Summed cross-entropy over labelled positions (-100 ignored), as bert_ref.py reports it."""
    return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")


def init_bert_style(model, seed, std):
    """BERT's _init_weights, which DistilBERT and RoBERTa share: N(0, std) matrices and embeddings,
    zero biases (every parameter named `bias`, the MLM output bias included), LayerNorm 1/0,
    and zero padding rows."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            m.weight.data.normal_(0.0, std)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            m.weight.data[m.padding_idx].zero_()
        if isinstance(m, nn.LayerNorm):
            m.weight.data.fill_(1.0)
    for name, p in model.named_parameters():
        if name.endswith("bias"):
            p.data.zero_()


ACTIVATIONS = {
    "gelu": nn.functional.gelu,  # erf form: HF's "gelu"
    "gelu_new": lambda x: nn.functional.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda x: nn.functional.gelu(x, approximate="tanh"),
    "relu": nn.functional.relu,
    "silu": nn.functional.silu,
}


def activation(c, key, source):
    name = c.get(key)
    if name not in ACTIVATIONS:
        raise RefInputError(f"{source}: {key} {json.dumps(name)} is not one of {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
