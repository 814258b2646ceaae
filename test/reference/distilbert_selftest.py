"""Invariants of distilbert_ref.py that can fail: run `distilbert_ref.py selftest` or selftest.py."""
import math

import torch

import distilbert_ref as ref
from ref_common import state_dict_with_tied
from selftest_common import Checks, bert_ref_holding, f32_vs_f64, folder_round_trip, gradcheck_f64, load_batch_json, pad_right, random_ids, random_labels

TINY = {"vocab_size": 23, "dim": 8, "n_layers": 2, "n_heads": 2, "hidden_dim": 12, "max_position_embeddings": 16, "_source": "selftest"}

# DistilBertForMaskedLM.state_dict() keys for 2 layers, as read in HF's modeling_distilbert.py.
HF_KEYS_2_LAYERS = (
    ["distilbert.embeddings.word_embeddings.weight", "distilbert.embeddings.position_embeddings.weight",
     "distilbert.embeddings.LayerNorm.weight", "distilbert.embeddings.LayerNorm.bias"]
    + [f"distilbert.transformer.layer.{i}.{p}.{w}" for i in range(2)
       for p in ["attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin", "sa_layer_norm",
                 "ffn.lin1", "ffn.lin2", "output_layer_norm"] for w in ["weight", "bias"]]
    + ["vocab_transform.weight", "vocab_transform.bias", "vocab_layer_norm.weight", "vocab_layer_norm.bias",
       "vocab_projector.weight", "vocab_projector.bias"]
)


def tiny(**over):
    c = {**ref.DEFAULTS, **TINY, **over}
    m = ref.Model(c)
    m.init_weights(1)
    # Non-trivial LayerNorm and bias values, so their gradients are exercised too.
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.requires_grad and (n.endswith("bias") or "norm" in n.lower()):
                p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(n))))
    return c, m


# DistilBERT name -> BERT name for the same tensor (layer part), used to cross-check against bert_ref.py.
LAYER_NAMES = {"attention.q_lin": "attention.self.query", "attention.k_lin": "attention.self.key", "attention.v_lin": "attention.self.value",
               "attention.out_lin": "attention.output.dense", "sa_layer_norm": "attention.output.LayerNorm", "ffn.lin1": "intermediate.dense",
               "ffn.lin2": "output.dense", "output_layer_norm": "output.LayerNorm"}
HEAD_NAMES = {"vocab_transform": "cls.predictions.transform.dense", "vocab_layer_norm": "cls.predictions.transform.LayerNorm"}


def as_bert(c, m):
    """bert_ref.py's BertForMaskedLM holding the DistilBERT weights, token type embeddings zero."""
    bc = {"vocab_size": c["vocab_size"], "hidden_size": c["dim"], "num_hidden_layers": c["n_layers"], "num_attention_heads": c["n_heads"],
          "intermediate_size": c["hidden_dim"], "max_position_embeddings": c["max_position_embeddings"], "type_vocab_size": 1,
          "layer_norm_eps": ref.LN_EPS, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0, "pad_token_id": c["pad_token_id"]}
    sd = {"bert.embeddings.token_type_embeddings.weight": torch.zeros(1, c["dim"])}
    for name, t in m.state_dict().items():
        if name.startswith("distilbert.embeddings."):
            sd["bert." + name[len("distilbert."):]] = t
        elif name.startswith("distilbert.transformer.layer."):
            n, rest = name[len("distilbert.transformer.layer."):].split(".", 1)
            part, w = rest.rsplit(".", 1)
            sd[f"bert.encoder.layer.{n}.{LAYER_NAMES[part]}.{w}"] = t
        elif name == "vocab_projector.bias":
            sd["cls.predictions.bias"] = t
        else:
            part, w = name.rsplit(".", 1)
            sd[f"{HEAD_NAMES[part]}.{w}"] = t
    return bert_ref_holding(bc, sd)


def selftest():
    ch = Checks("distilbert_ref")
    c, m = tiny()
    ids = random_ids(c["vocab_size"], (2, 7), 5, avoid=[0])
    ids, mask = pad_right(ids, [7, 4], 0)
    labels = random_labels(ids, 6).masked_fill(mask == 0, -100)
    loss = lambda f: ref.mlm_loss_sum(f(ids, mask), labels)
    gradcheck_f64(ch, "learned positions", m, loss)

    cs, ms = tiny(sinusoidal_pos_embds=True)
    ms.zero_grad()
    loss(ms).backward()
    pos = ms.distilbert.embeddings.position_embeddings.weight
    others = [p.grad.abs().sum() > 0 for n, p in ms.named_parameters() if p.requires_grad and n != "distilbert.embeddings.position_embeddings.weight"]
    ch.check("sinusoidal table gets no gradient, every other parameter does", pos.grad is None and all(others))
    p_, i_ = 5, 3
    want = [math.sin(p_ / 10000 ** (2 * i_ / 8)), math.cos(p_ / 10000 ** (2 * i_ / 8))]
    got = pos[p_, 2 * i_ : 2 * i_ + 2].tolist()
    ch.check("sinusoidal table: PE[p,2i] = sin(p/10000^(2i/d)), PE[p,2i+1] = cos(...)", max(abs(a - b) for a, b in zip(got, want)) < 1e-6, f"PE[5,6:8] = {got}")

    with torch.no_grad():
        full = m(ids[1:, :4], mask[1:, :4])
        padded = m(ids[1:], mask[1:])[:, :4]
    diff = float((full - padded).abs().max())
    ch.check("appending masked padding leaves the real tokens' logits unchanged", diff < 1e-6, f"max |diff| {diff:.1e}")

    with torch.no_grad():
        d_bert = float((m(ids, mask) - as_bert(c, m)(ids, torch.zeros_like(ids), mask)).abs().max())
    ch.check("= bert_ref.py's BERT under the name mapping (q_lin=query, sa_layer_norm=attention.output.LayerNorm, ...), no token types",
             d_bert < 1e-5, f"max |diff| {d_bert:.1e}")
    ch.check("state_dict keys are Hugging Face's DistilBertForMaskedLM keys", list(state_dict_with_tied(m, m.tied)) == HF_KEYS_2_LAYERS)
    err = f32_vs_f64(m, lambda mm: mm(ids, mask))
    ch.check("float32 vs float64 logits (noise floor for engine tolerances)", err < 1e-5, f"relative error {err:.1e}")

    batch = {"batchSize": 2, "seqLen": 7, "inputIds": ids.flatten().tolist(), "attentionMask": mask.flatten().tolist(), "labels": labels.flatten().tolist()}
    d, out, _, keys = folder_round_trip(ch, ref, {k: v for k, v in c.items() if k != "_source"}, batch)
    ch.check("keys.json lists the tied vocab_projector.weight", "vocab_projector.weight" in [k["name"] for k in keys["state_dict"]])
    bad = {**batch, "tokenTypeIds": [1] * 14}
    ch.raises("token type ids other than 0 are refused, naming batch.json", lambda: load_batch_json(ref, bad, c, d), "batch.json")
    return ch.done()


if __name__ == "__main__":
    raise SystemExit(0 if selftest() else 1)
