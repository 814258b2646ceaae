"""Invariants of bert_cls_ref.py that can fail: run `bert_cls_ref.py selftest` or selftest.py."""
import torch

import bert_cls_ref as ref
from bert_ref import BertForMaskedLM
from ref_common import state_dict_with_tied
from selftest_common import Checks, f32_vs_f64, folder_round_trip, gradcheck_f64, load_batch_json, pad_right, random_ids

TINY = {"vocab_size": 31, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 12,
        "max_position_embeddings": 16, "hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0,
        "id2label": {"0": "grimm", "1": "japanese", "2": "other"}, "initializer_range": 0.3}

HF_KEYS_2_LAYERS = (
    [f"bert.embeddings.{n}" for n in ["word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias"]]
    + [f"bert.encoder.layer.{i}.{p}.{w}" for i in range(2)
       for p in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
                 "attention.output.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm"] for w in ["weight", "bias"]]
    + ["bert.pooler.dense.weight", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"]
)


def by_hand(logits, labels, weights, eps):
    """The formula F.cross_entropy implements (written out for the TS engines): per row
    (1 - eps) * w_y * -log p_y + eps / C * sum_c w_c * -log p_c; mean divides the sum by sum_rows w_y."""
    logp = logits.double().log_softmax(-1)
    c = logits.shape[-1]
    w = weights.double() if weights is not None else torch.ones(c, dtype=torch.float64)
    per_row = (1 - eps) * -(w[labels] * logp.gather(1, labels[:, None])[:, 0]) + eps / c * -(logp * w).sum(-1)
    return per_row.sum(), per_row.sum() / w[labels].sum()


def tiny():
    c = ref.resolve({**TINY}, "selftest")
    m = ref.Model(c)
    m.init_weights(5)
    m.eval()
    return c, m


def selftest():
    ch = Checks("bert_cls_ref")
    c, m = tiny()
    ids, mask = pad_right(random_ids(c["vocab_size"], (4, 9), 21, avoid=[0]), [9, 6, 9, 3], 0)
    tt = (torch.arange(9)[None] >= 5).long().expand(4, 9) * mask
    labels = torch.tensor([0, 2, 1, 2])
    weights = torch.tensor([0.5, 2.0, 1.25])
    batch = {"ids": ids, "mask": mask, "token_types": tt, "labels": labels, "class_weights": weights, "label_smoothing": 0.1}

    with torch.no_grad():
        logits = m(ids, tt, mask)
    worst = 0.0
    for w in (None, weights):
        for eps in (0.0, 0.1):
            s, mean, wsum = ref.losses(logits.double(), {**batch, "class_weights": w, "label_smoothing": eps})
            hs, hm = by_hand(logits, labels, w, eps)
            worst = max(worst, float(abs(s - hs)), float(abs(mean - hm)), float(abs(mean * wsum - s)))
    ch.check("F.cross_entropy with class weights and label smoothing = the written-out formula; mean = sum / sum_rows w_y", worst < 1e-12, f"max |diff| {worst:.1e}")

    bw = ref.balanced_class_weights(torch.tensor([0, 0, 0, 1, 2, 2]), 3).tolist()
    ch.check("balanced weights: n / (C * count_c)", [round(x, 6) for x in bw] == [round(6 / 9, 6), 2.0, 1.0], f"{bw}")
    ch.raises("balanced weights refuse a class without examples", lambda: ref.balanced_class_weights(torch.tensor([0, 0, 2]), 3), "class 1")

    gradcheck_f64(ch, "weighted, smoothed loss", m, lambda f: ref.losses(f(ids, tt, mask), {**batch, "class_weights": weights.double()})[0])

    hidden = m.hidden(ids, tt, mask).detach().requires_grad_(True)
    m.classify(hidden).sum().backward()
    ch.check("logits depend on the first ([CLS]) position only", bool((hidden.grad[:, 1:] == 0).all()) and bool((hidden.grad[:, 0] != 0).any()))

    bert = BertForMaskedLM({**c, "layer_norm_eps": c["layer_norm_eps"]})
    bert.load_state_dict({**bert.state_dict(), **{k: v for k, v in m.state_dict().items() if k in bert.state_dict()}})
    bert.eval()
    seen = {}
    bert.bert.encoder.layer[-1].register_forward_hook(lambda mod, args, out: seen.setdefault("h", out))
    with torch.no_grad():
        bert(ids, tt, mask)
        diff = float((seen["h"] - m.hidden(ids, tt, mask)).abs().max())
    ch.check("encoder output = bert_ref.py's BertForMaskedLM encoder with the same weights", diff == 0.0, f"max |diff| {diff:.1e}")

    with torch.no_grad():
        short = m(ids[1:2, :6], tt[1:2, :6], mask[1:2, :6])
        d_pad = float((short - m(ids[1:2], tt[1:2], mask[1:2])).abs().max())
    ch.check("appending masked padding leaves the logits unchanged", d_pad < 1e-6, f"max |diff| {d_pad:.1e}")
    ch.check("state_dict keys are Hugging Face's BertForSequenceClassification keys", list(state_dict_with_tied(m, m.tied)) == HF_KEYS_2_LAYERS)
    err = f32_vs_f64(m, lambda mm: mm(ids, tt, mask))
    ch.check("float32 vs float64 logits (noise floor for engine tolerances)", err < 1e-5, f"relative error {err:.1e}")

    cfg = {k: v for k, v in c.items() if not k.startswith("_")}
    js = {"batchSize": 4, "seqLen": 9, "inputIds": ids.flatten().tolist(), "tokenTypeIds": tt.flatten().tolist(),
          "attentionMask": mask.flatten().tolist(), "labels": labels.tolist(), "classWeights": weights.tolist(), "labelSmoothing": 0.1}
    d, out, info, _ = folder_round_trip(ch, ref, cfg, js)
    ch.check("CLI: loss_mean * weight_sum = loss_sum", abs(info["loss_mean"] * info["weight_sum"] - info["loss_sum"]) < 1e-5 * info["loss_sum"],
             f"{info['loss_mean']:.5f} * {info['weight_sum']} vs {info['loss_sum']:.5f}")
    ch.raises("a label outside num_labels is refused, naming batch.json", lambda: load_batch_json(ref, {**js, "labels": [0, 1, 3, 0]}, c, d), "labels hold 3")
    ch.raises("classWeights of the wrong length are refused", lambda: load_batch_json(ref, {**js, "classWeights": [1.0, 2.0]}, c, d), "classWeights")
    return ch.done()


if __name__ == "__main__":
    raise SystemExit(0 if selftest() else 1)
