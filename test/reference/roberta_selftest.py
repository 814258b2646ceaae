"""Invariants of roberta_ref.py that can fail: run `roberta_ref.py selftest` or selftest.py."""
import torch

import roberta_ref as ref
from ref_common import state_dict_with_tied
from selftest_common import Checks, bert_ref_holding, f32_vs_f64, folder_round_trip, gradcheck_f64, load_batch_json, random_ids, random_labels

PAD, BOS, EOS = 1, 0, 2
TINY = {"vocab_size": 29, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12,
        "max_position_embeddings": 12, "type_vocab_size": 1, "layer_norm_eps": 1e-5,
        "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}

HF_KEYS_2_LAYERS = (
    [f"roberta.embeddings.{n}" for n in ["word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"]]
    + [f"roberta.encoder.layer.{i}.{p}.{w}" for i in range(2)
       for p in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"] for w in ["weight", "bias"]]
    + ["lm_head.bias", "lm_head.dense.weight", "lm_head.dense.bias", "lm_head.layer_norm.weight", "lm_head.layer_norm.bias",
       "lm_head.decoder.weight", "lm_head.decoder.bias"]
)


def tiny():
    c = {**ref.DEFAULTS, **TINY, "_source": "selftest"}
    m = ref.Model(c)
    m.init_weights(2)
    m.eval()
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("bias") or "orm" in n:
                p.add_(0.1 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(n))))
    return c, m


def sentence(n, seed):
    """<s> w1 .. w(n-2) </s>, words drawn away from the special ids."""
    body = random_ids(TINY["vocab_size"] - 3, (1, n - 2), seed)[0] + 3
    return torch.cat([torch.tensor([BOS]), body, torch.tensor([EOS])])


def as_bert(c, m):
    """bert_ref.py's BertForMaskedLM with the RoBERTa weights; BERT position p holds RoBERTa position p + pad + 1."""
    sd = {}
    for name, t in m.state_dict().items():
        sd[name.replace("roberta.", "bert.", 1)] = t
    rename = {"lm_head.bias": "cls.predictions.bias", "lm_head.dense": "cls.predictions.transform.dense", "lm_head.layer_norm": "cls.predictions.transform.LayerNorm"}
    for old, new in rename.items():
        for k in [k for k in sd if k.startswith(old)]:
            sd[new + k[len(old):]] = sd.pop(k)
    pos = sd["bert.embeddings.position_embeddings.weight"]
    sd["bert.embeddings.position_embeddings.weight"] = torch.cat([pos[PAD + 1 :], torch.zeros(PAD + 1, pos.shape[1])])
    return bert_ref_holding({k: v for k, v in c.items() if not k.startswith("_")}, sd)


def selftest():
    ch = Checks("roberta_ref")
    c, m = tiny()
    ids = torch.tensor([[BOS, 9, 8, EOS, PAD, PAD], [PAD, PAD, BOS, 9, EOS, PAD], [BOS, 5, PAD, 6, EOS, 7]])
    got = ref.position_ids(ids, PAD).tolist()
    want = [[2, 3, 4, 5, 1, 1], [1, 1, 2, 3, 4, 1], [2, 3, 1, 4, 5, 6]]
    ch.check("position ids: non-pad tokens count from pad+1, pads (even inside a row) sit at pad", got == want, f"{got}")

    s = sentence(6, 3)
    mask_of = lambda row: (row != PAD).long()
    with torch.no_grad():
        alone = m(s[None], torch.zeros(1, 6, dtype=torch.long), torch.ones(1, 6, dtype=torch.long))[0]
        left = torch.cat([torch.full((3,), PAD), s])[None]
        right = torch.cat([s, torch.full((3,), PAD)])[None]
        zl, zr = torch.zeros_like(left), torch.zeros_like(right)
        dl = float((m(left, zl, mask_of(left))[0, 3:] - alone).abs().max())
        dr = float((m(right, zr, mask_of(right))[0, :6] - alone).abs().max())
    ch.check("left and right padding leave the real tokens' logits unchanged", max(dl, dr) < 1e-6, f"max |diff| left {dl:.1e}, right {dr:.1e}")

    with torch.no_grad():
        z = torch.zeros(1, 6, dtype=torch.long)
        d_bert = float((alone - as_bert(c, m)(s[None], z, torch.ones_like(z))[0]).abs().max())
    ch.check("unpadded row = bert_ref.py's BERT with positions shifted by pad + 1 (lm_head = cls.predictions)", d_bert < 1e-5, f"max |diff| {d_bert:.1e}")

    longest = c["max_position_embeddings"] - PAD - 1
    ok_row = sentence(longest, 4)[None]
    with torch.no_grad():
        fits = m(ok_row, torch.zeros_like(ok_row), torch.ones_like(ok_row))
    ch.check(f"a row of max_position_embeddings - pad - 1 = {longest} tokens fits", fits.shape == (1, longest, c["vocab_size"]) and bool(torch.isfinite(fits).all()))
    too_long = sentence(longest + 1, 4)[None]
    ch.raises("one token more is refused, naming max_position_embeddings", lambda: m(too_long, torch.zeros_like(too_long), torch.ones_like(too_long)), "max_position_embeddings")

    batch_ids = torch.stack([torch.cat([sentence(5, 7), torch.full((2,), PAD)]), sentence(7, 8)])
    mask = mask_of(batch_ids)
    labels = random_labels(batch_ids, 9).masked_fill(mask == 0, -100)
    tt = torch.zeros_like(batch_ids)
    gradcheck_f64(ch, "padded batch", m, lambda f: ref.mlm_loss_sum(f(batch_ids, tt, mask), labels))

    m.zero_grad()
    h = m.lm_head
    t = h.layer_norm(torch.nn.functional.gelu(h.dense(m.hidden(batch_ids, tt, mask))))
    t.retain_grad()
    logits = torch.nn.functional.linear(t, m.decoder_weight(), h.bias)
    logits.retain_grad()
    ref.mlm_loss_sum(logits, labels).backward()
    e = m.roberta.embeddings
    decoder_part = torch.einsum("bs,bsh->h", logits.grad[..., PAD], t.detach())
    dpad = float((e.word_embeddings.weight.grad[PAD] - decoder_part).abs().max())
    ch.check("pad row of the tied word embeddings: gradient from the decoder only (padding_idx stops the lookup's)", dpad < 1e-7, f"max |diff| {dpad:.1e}")
    ch.check("pad row of position_embeddings gets no gradient", bool((e.position_embeddings.weight.grad[PAD] == 0).all()))

    ch.check("state_dict keys are Hugging Face's RobertaForMaskedLM keys", list(state_dict_with_tied(m, m.tied)) == HF_KEYS_2_LAYERS)
    err = f32_vs_f64(m, lambda mm: mm(batch_ids, tt, mask))
    ch.check("float32 vs float64 logits (noise floor for engine tolerances)", err < 1e-5, f"relative error {err:.1e}")

    cfg = {k: v for k, v in c.items() if k != "_source"}
    batch = {"batchSize": 2, "seqLen": 7, "inputIds": batch_ids.flatten().tolist(), "attentionMask": mask.flatten().tolist(), "labels": labels.flatten().tolist()}
    d, _, _, _ = folder_round_trip(ch, ref, cfg, batch)
    ch.raises("token type 1 with type_vocab_size 1 is refused, naming batch.json", lambda: load_batch_json(ref, {**batch, "tokenTypeIds": [1] * 14}, c, d), "batch.json")
    return ch.done()


if __name__ == "__main__":
    raise SystemExit(0 if selftest() else 1)
