"""Reference ModernBertForMaskedLM in plain PyTorch, with Hugging Face parameter names.

Written from the published architecture (Warner et al. 2024, "Smarter, Better, Faster,
Longer"; HF modeling_modernbert.py read, not copied): token embeddings -> norm (no
position embeddings), pre-norm layers (layer 0's attn_norm is Identity) with rotary
attention (attn.Wqkv, attn.Wo) and a GeGLU MLP (mlp.Wi gives 2*intermediate: the first
half goes through the activation, the second half is the gate, then mlp.Wo), global
attention every global_attn_every_n_layers layers (layer 0 included) and sliding-window
local attention (+-local_attention/2) in the others, final_norm, then the head
head.dense -> activation -> head.norm -> decoder (weight tied to the token embeddings).
LayerNorms have no bias and Linears none by default (norm_bias, attention_bias,
mlp_bias, classifier_bias false; decoder_bias true).

Attention runs padded (HF's eager/SDPA path) or unpadded over packed sequences
(HF's flash-attention path, cu_seqlens): modernbert_attention.py.

    modernbert_ref.py forward|init|keys|load_pth|save_pth DIR     (protocol: README.md)
    modernbert_ref.py selftest
"""
import math

import torch
from torch import nn

from modernbert_attention import attention_padded, attention_unpadded
from modernbert_batch import load_batch, run  # noqa: F401 (the CLI's family interface)
from modernbert_config import read_config  # noqa: F401 (the CLI's family interface)
from ref_common import Namespace, run_cli, standard_commands
from ref_model import activation


class Norm(nn.Module):
    """LayerNorm whose bias is optional (torch 1.13's nn.LayerNorm cannot drop it)."""

    def __init__(self, size, eps, bias):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size)) if bias else None

    def forward(self, x):
        return nn.functional.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


class Layer(nn.Module):
    def __init__(self, c, index):
        super().__init__()
        h, inter = c["hidden_size"], c["intermediate_size"]
        self.num_heads = c["num_attention_heads"]
        self.window_half = c["local_attention"] // 2 if c["_local"][index] else None
        self.theta = c["_theta_local"] if c["_local"][index] else c["_theta_global"]
        self.act = activation(c, "hidden_activation", c["_source"])
        self.attn_norm = nn.Identity() if index == 0 else Norm(h, c["norm_eps"], c["norm_bias"])
        self.attn = Namespace()
        self.attn.Wqkv = nn.Linear(h, 3 * h, bias=c["attention_bias"])
        self.attn.Wo = nn.Linear(h, h, bias=c["attention_bias"])
        self.mlp_norm = Norm(h, c["norm_eps"], c["norm_bias"])
        self.mlp = Namespace()
        self.mlp.Wi = nn.Linear(h, 2 * inter, bias=c["mlp_bias"])
        self.mlp.Wo = nn.Linear(inter, h, bias=c["mlp_bias"])

    def attend(self, x, padded_mask=None, cu_seqlens=None):
        qkv = self.attn.Wqkv(self.attn_norm(x))
        if cu_seqlens is None:
            return attention_padded(qkv, padded_mask, self.num_heads, self.theta, self.window_half)
        return attention_unpadded(qkv, cu_seqlens, self.num_heads, self.theta, self.window_half)

    def forward(self, x, padded_mask=None, cu_seqlens=None):
        x = x + self.attn.Wo(self.attend(x, padded_mask, cu_seqlens))
        gelu_input, gate = self.mlp.Wi(self.mlp_norm(x)).chunk(2, dim=-1)
        return x + self.mlp.Wo(self.act(gelu_input) * gate)


class Model(nn.Module):
    """ModernBertForMaskedLM; state_dict keys are Hugging Face's (decoder.weight tied)."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        h, eps = c["hidden_size"], c["norm_eps"]
        self.model = Namespace()
        e = self.model.embeddings = Namespace()
        e.tok_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=c["pad_token_id"])
        e.norm = Norm(h, eps, c["norm_bias"])
        self.model.layers = nn.ModuleList([Layer(c, i) for i in range(c["num_hidden_layers"])])
        self.model.final_norm = Norm(h, eps, c["norm_bias"])
        self.head = Namespace()
        self.head.dense = nn.Linear(h, h, bias=c["classifier_bias"])
        self.head.norm = Norm(h, eps, c["norm_bias"])
        self.head_act = activation(c, "classifier_activation", c["_source"])
        self.decoder = Namespace()
        if not c["tie_word_embeddings"]:
            self.decoder.weight = nn.Parameter(torch.zeros(c["vocab_size"], h))
        self.decoder.bias = nn.Parameter(torch.zeros(c["vocab_size"])) if c["decoder_bias"] else None
        before = "decoder.bias" if c["decoder_bias"] else None
        self.tied = [("decoder.weight", "model.embeddings.tok_embeddings.weight", before)] if c["tie_word_embeddings"] else []

    def init_weights(self, seed):
        """HF's _init_weights: truncated normals (+-cutoff std), 'out' projections scaled by 1/sqrt(2 * layers)."""
        torch.manual_seed(seed)
        c = self.c
        cutoff = c["initializer_cutoff_factor"] or 3.0
        std_in = c["initializer_range"]
        std_out = c["initializer_range"] / math.sqrt(2.0 * c["num_hidden_layers"])

        def init(weight, std):
            nn.init.trunc_normal_(weight, 0.0, std, -cutoff * std, cutoff * std)

        init(self.model.embeddings.tok_embeddings.weight, std_in)
        for layer in self.model.layers:
            init(layer.attn.Wqkv.weight, std_in)
            init(layer.attn.Wo.weight, std_out)
            init(layer.mlp.Wi.weight, std_in)
            init(layer.mlp.Wo.weight, std_out)
        init(self.head.dense.weight, std_out)
        if hasattr(self.decoder, "weight"):
            init(self.decoder.weight, std_out)
        for name, p in self.named_parameters():
            if name.endswith("bias"):
                p.data.zero_()
            elif name.endswith("norm.weight"):
                p.data.fill_(1.0)

    def decoder_weight(self):
        return self.decoder.weight if hasattr(self.decoder, "weight") else self.model.embeddings.tok_embeddings.weight

    def hidden(self, ids, padded_mask=None, cu_seqlens=None):
        e = self.model.embeddings
        x = e.norm(e.tok_embeddings(ids))
        for layer in self.model.layers:
            x = layer(x, padded_mask, cu_seqlens)
        return self.model.final_norm(x)

    def head_logits(self, x):
        t = self.head.norm(self.head_act(self.head.dense(x)))
        return nn.functional.linear(t, self.decoder_weight(), self.decoder.bias)

    def forward(self, ids, mask=None, cu_seqlens=None):
        """Padded [B, S] ids with their mask, or packed [T] ids with cu_seqlens."""
        return self.forward_packed(ids, cu_seqlens) if cu_seqlens is not None else self.forward_padded(ids, mask)

    def forward_padded(self, ids, mask):
        """[B, S] -> [B, S, V]; logits at padding are 0, as HF's unpadded path returns them."""
        logits = self.head_logits(self.hidden(ids, padded_mask=mask.bool()))
        return logits * mask[..., None].to(logits.dtype)

    def forward_packed(self, ids, cu_seqlens):
        """[T] tokens of packed sequences -> [T, V]."""
        return self.head_logits(self.hidden(ids, cu_seqlens=cu_seqlens))


if __name__ == "__main__":
    import sys

    from modernbert_selftest import selftest

    run_cli(standard_commands(sys.modules[__name__]), selftest)
