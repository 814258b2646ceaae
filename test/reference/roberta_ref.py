"""Reference RobertaForMaskedLM in plain PyTorch, with Hugging Face parameter names.

Written from the published architecture (Liu et al. 2019; HF modeling_roberta.py read,
not copied). The encoder layers are BERT's (HF's RobertaLayer is BertLayer), taken from
bert_ref.py. What differs from BERT:
  - position ids come from the input ids: non-pad tokens are numbered pad+1, pad+2, ...
    in order, pad tokens get position `pad_token_id` (fairseq's make_positions), so
    left and right padding give the real tokens the same positions;
  - position_embeddings has padding_idx = pad_token_id (its row gets no gradient);
  - the MLM head is lm_head.dense -> gelu (always erf GELU, whatever hidden_act says)
    -> lm_head.layer_norm -> decoder tied to the word embeddings, bias lm_head.bias;
  - no pooler in RobertaForMaskedLM.

    roberta_ref.py forward|init|keys|load_pth|save_pth DIR     (protocol: README.md)
    roberta_ref.py selftest
"""
import torch
from torch import nn

from bert_ref import BertLayer
from ref_common import Namespace, RefInputError, load_padded_batch, read_json, resolve_bert_like, run_cli, standard_commands
from ref_model import init_bert_style, mlm_loss_sum

DEFAULTS = {
    "vocab_size": 50265,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 1,
    "bos_token_id": 0,
    "eos_token_id": 2,
    "position_embedding_type": "absolute",
    "tie_word_embeddings": True,
}


def read_config(d):
    source = f"{d}/config.json"
    c = resolve_bert_like(read_json(source), DEFAULTS, source)
    if c["position_embedding_type"] != "absolute":
        raise RefInputError(f"{source}: position_embedding_type {c['position_embedding_type']!r} is not supported (only 'absolute')")
    return c


def position_ids(ids, pad):
    """fairseq make_positions: non-pad tokens count up from pad+1, pad tokens sit at `pad`."""
    real = (ids != pad).long()
    return torch.cumsum(real, dim=1) * real + pad


class Model(nn.Module):
    """RobertaForMaskedLM; state_dict keys are Hugging Face's (lm_head.decoder.* tied)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        h, pad = c["hidden_size"], c["pad_token_id"]
        self.roberta = Namespace()
        e = self.roberta.embeddings = Namespace()
        e.word_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=pad)
        e.position_embeddings = nn.Embedding(c["max_position_embeddings"], h, padding_idx=pad)
        e.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        e.LayerNorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.roberta.encoder = Namespace()
        self.roberta.encoder.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])
        head = self.lm_head = Namespace()
        head.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        head.dense = nn.Linear(h, h)
        head.layer_norm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.tied = [("lm_head.decoder.bias", "lm_head.bias", None)]
        if c["tie_word_embeddings"]:
            self.tied.insert(0, ("lm_head.decoder.weight", "roberta.embeddings.word_embeddings.weight", None))
        else:
            head.decoder = Namespace()
            head.decoder.weight = nn.Parameter(torch.zeros(c["vocab_size"], h))

    def decoder_weight(self):
        head = self.lm_head
        return head.decoder.weight if hasattr(head, "decoder") else self.roberta.embeddings.word_embeddings.weight

    def init_weights(self, seed):
        init_bert_style(self, seed, self.c["initializer_range"])
        if hasattr(self.lm_head, "decoder"):
            self.lm_head.decoder.weight.data.normal_(0.0, self.c["initializer_range"])

    def hidden(self, ids, token_types, mask):
        pos = position_ids(ids, self.c["pad_token_id"])
        top = int(pos.max()) if pos.numel() else 0
        if top >= self.c["max_position_embeddings"]:
            raise ValueError(
                f"a row of {ids.shape[1]} tokens needs position {top}, but max_position_embeddings is "
                f"{self.c['max_position_embeddings']} (RoBERTa positions start at pad_token_id + 1)"
            )
        e = self.roberta.embeddings
        x = e.LayerNorm(e.word_embeddings(ids) + e.token_type_embeddings(token_types) + e.position_embeddings(pos))
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.roberta.encoder.layer:
            x = layer(x, ext)
        return x

    def forward(self, ids, token_types, mask):
        head = self.lm_head
        t = head.layer_norm(nn.functional.gelu(head.dense(self.hidden(ids, token_types, mask))))
        return nn.functional.linear(t, self.decoder_weight(), head.bias)


def load_batch(d, c):
    return load_padded_batch(d, c, token_types=True)


def run(model, batch):
    logits = model(batch["ids"], batch["token_types"], batch["mask"])
    return logits, mlm_loss_sum(logits, batch["labels"]), {}, {"masked_tokens": int((batch["labels"] != -100).sum())}


if __name__ == "__main__":
    import sys

    from roberta_selftest import selftest

    run_cli(standard_commands(sys.modules[__name__]), selftest)
