"""Reference DistilBertForMaskedLM in plain PyTorch, with Hugging Face parameter names.

Written from the published architecture (Sanh et al. 2019; HF modeling_distilbert.py
read, not copied): BERT's post-norm encoder without token types or pooler, LayerNorm
eps fixed at 1e-12 (not a config key), optional frozen sinusoidal positions, and the
MLM head vocab_transform -> activation -> vocab_layer_norm -> vocab_projector, whose
weight is the word embedding matrix.

    distilbert_ref.py forward|init|keys|load_pth|save_pth DIR     (protocol: README.md)
    distilbert_ref.py selftest
"""
import math

import numpy as np
import torch
from torch import nn

from ref_common import Namespace, load_padded_batch, read_json, resolve_config, run_cli, standard_commands
from ref_model import activation, init_bert_style, mlm_loss_sum

LN_EPS = 1e-12  # hard-coded in every DistilBERT LayerNorm
DEFAULTS = {
    "vocab_size": 30522,
    "max_position_embeddings": 512,
    "sinusoidal_pos_embds": False,
    "n_layers": 6,
    "n_heads": 12,
    "dim": 768,
    "hidden_dim": 3072,
    "dropout": 0.1,
    "attention_dropout": 0.1,
    "activation": "gelu",
    "initializer_range": 0.02,
    "pad_token_id": 0,
    "tie_word_embeddings": True,
}
# DistilBertConfig.attribute_map: a config.json may use the common names.
ALIASES = {"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"}


def read_config(d):
    source = f"{d}/config.json"
    raw = dict(read_json(source))
    for alias, key in ALIASES.items():
        if alias in raw and key not in raw:
            raw[key] = raw[alias]
    c = resolve_config(raw, DEFAULTS, source, ("vocab_size", "max_position_embeddings", "n_layers", "n_heads", "dim", "hidden_dim"), ("dropout", "attention_dropout"))
    c["_source"] = source
    return c


def sinusoidal_table(n_pos, dim):
    """PE[p, 2i] = sin(p / 10000^(2i/dim)), PE[p, 2i+1] = cos(p / 10000^(2i/dim)), in float64 then float32 as HF."""
    angle = np.array([[p / np.power(10000, 2 * (j // 2) / dim) for j in range(dim)] for p in range(n_pos)])
    out = np.empty_like(angle)
    out[:, 0::2] = np.sin(angle[:, 0::2])
    out[:, 1::2] = np.cos(angle[:, 1::2])
    return torch.tensor(out, dtype=torch.float32)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["dim"]
        self.nh = c["n_heads"]
        self.act = activation(c, "activation", c["_source"])
        self.attention = Namespace()
        self.attention.q_lin, self.attention.k_lin = nn.Linear(h, h), nn.Linear(h, h)
        self.attention.v_lin, self.attention.out_lin = nn.Linear(h, h), nn.Linear(h, h)
        self.sa_layer_norm = nn.LayerNorm(h, eps=LN_EPS)
        self.ffn = Namespace()
        self.ffn.lin1, self.ffn.lin2 = nn.Linear(h, c["hidden_dim"]), nn.Linear(c["hidden_dim"], h)
        self.output_layer_norm = nn.LayerNorm(h, eps=LN_EPS)

    def forward(self, x, key_mask):
        b, s, h = x.shape
        d = h // self.nh
        a = self.attention
        split = lambda t: t.view(b, s, self.nh, d).transpose(1, 2)
        q = split(a.q_lin(x)) / math.sqrt(d)  # DistilBERT scales q before the product
        scores = q @ split(a.k_lin(x)).transpose(-1, -2)
        scores = scores.masked_fill(~key_mask[:, None, None, :], torch.finfo(scores.dtype).min)
        ctx = (scores.softmax(-1) @ split(a.v_lin(x))).transpose(1, 2).reshape(b, s, h)
        y = self.sa_layer_norm(a.out_lin(ctx) + x)
        return self.output_layer_norm(self.ffn.lin2(self.act(self.ffn.lin1(y))) + y)


class Model(nn.Module):
    """DistilBertForMaskedLM; state_dict keys are Hugging Face's (vocab_projector.weight tied)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        h = c["dim"]
        self.distilbert = Namespace()
        e = self.distilbert.embeddings = Namespace()
        e.word_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=c["pad_token_id"])
        e.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        if c["sinusoidal_pos_embds"]:
            e.position_embeddings.weight.data.copy_(sinusoidal_table(c["max_position_embeddings"], h))
            e.position_embeddings.weight.requires_grad_(False)  # HF freezes the table
        e.LayerNorm = nn.LayerNorm(h, eps=LN_EPS)
        self.distilbert.transformer = Namespace()
        self.distilbert.transformer.layer = nn.ModuleList([Block(c) for _ in range(c["n_layers"])])
        self.act = activation(c, "activation", c["_source"])
        self.vocab_transform = nn.Linear(h, h)
        self.vocab_layer_norm = nn.LayerNorm(h, eps=LN_EPS)
        self.vocab_projector = Namespace()
        if not c["tie_word_embeddings"]:
            self.vocab_projector.weight = nn.Parameter(torch.zeros(c["vocab_size"], h))
        self.vocab_projector.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        tie = c["tie_word_embeddings"]
        self.tied = [("vocab_projector.weight", "distilbert.embeddings.word_embeddings.weight", "vocab_projector.bias")] if tie else []

    def projector_weight(self):
        p = self.vocab_projector
        return p.weight if hasattr(p, "weight") else self.distilbert.embeddings.word_embeddings.weight

    def init_weights(self, seed):
        init_bert_style(self, seed, self.c["initializer_range"])
        if self.c["sinusoidal_pos_embds"]:
            self.distilbert.embeddings.position_embeddings.weight.data.copy_(sinusoidal_table(self.c["max_position_embeddings"], self.c["dim"]))
        if hasattr(self.vocab_projector, "weight"):
            self.vocab_projector.weight.data.normal_(0.0, self.c["initializer_range"])

    def hidden(self, ids, mask):
        s = ids.shape[1]
        if s > self.c["max_position_embeddings"]:
            raise ValueError(f"sequence length {s} exceeds max_position_embeddings {self.c['max_position_embeddings']}")
        e = self.distilbert.embeddings
        x = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(torch.arange(s))[None])
        for layer in self.distilbert.transformer.layer:
            x = layer(x, mask.bool())
        return x

    def forward(self, ids, mask):
        t = self.vocab_layer_norm(self.act(self.vocab_transform(self.hidden(ids, mask))))
        return nn.functional.linear(t, self.projector_weight(), self.vocab_projector.bias)


def load_batch(d, c):
    return load_padded_batch(d, c, token_types=False)


def run(model, batch):
    logits = model(batch["ids"], batch["mask"])
    return logits, mlm_loss_sum(logits, batch["labels"]), {}, {"masked_tokens": int((batch["labels"] != -100).sum())}


if __name__ == "__main__":
    import sys

    from distilbert_selftest import selftest

    run_cli(standard_commands(sys.modules[__name__]), selftest)
