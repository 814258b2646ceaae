"""Reference BertForSequenceClassification in plain PyTorch, with Hugging Face parameter names.

BERT's encoder (embeddings here, layers from bert_ref.py), then the pooler
(bert.pooler.dense + tanh on the first token, [CLS]), dropout (classifier_dropout,
or hidden_dropout_prob when that is null), and classifier (hidden -> num_labels).
The loss is torch.nn.functional.cross_entropy with optional class weights and label
smoothing; Hugging Face's own loss has neither (they are training options of ours),
so a checkpoint loads into HF unchanged.

batch.json: batchSize, seqLen, inputIds, tokenTypeIds, attentionMask as bert_ref.py;
labels: one class id per row (batchSize entries); optional classWeights (num_labels
floats) and labelSmoothing (in [0, 1)). ref.safetensors: logits [B, num_labels],
loss_sum (reduction "sum"), weight_sum (sum of the rows' class weights, B when
unweighted), loss_mean (reduction "mean" = loss_sum / weight_sum), grad.<name> of loss_sum.

    bert_cls_ref.py forward|init|keys|load_pth|save_pth DIR     (protocol: README.md)
    bert_cls_ref.py selftest
"""
import torch
from torch import nn

from bert_ref import BertForMaskedLM
from ref_common import Namespace, RefInputError, int_field, read_json, read_padded_batch, resolve_bert_like, run_cli, standard_commands
from ref_model import init_bert_style

DEFAULTS = {  # bert-base-uncased, as gpu-worker/model/bert-config.ts; HF's num_labels default is 2
    "vocab_size": 30522,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "hidden_act": "gelu",
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
    "layer_norm_eps": 1e-12,
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "classifier_dropout": None,
    "pad_token_id": 0,
    "initializer_range": 0.02,
    "num_labels": 2,
}


def read_config(d):
    source = f"{d}/config.json"
    return resolve(read_json(source), source)


def resolve(raw, source):
    raw = dict(raw)
    if "id2label" in raw:  # HF derives num_labels from id2label when the file has it
        if not isinstance(raw["id2label"], dict) or not raw["id2label"]:
            raise RefInputError(f"{source}: id2label must be a non-empty object")
        raw["num_labels"] = len(raw["id2label"])
    c = resolve_bert_like(raw, DEFAULTS, source, ("num_labels",), ("classifier_dropout",))
    if c["num_labels"] < 2 or c.get("problem_type") not in (None, "single_label_classification"):
        raise RefInputError(f"{source}: only single-label classification with num_labels >= 2 is modelled here")
    return c


def balanced_class_weights(labels, num_labels):
    """scikit-learn's "balanced": n_samples / (n_classes * count_c); a class without examples is an error."""
    counts = torch.bincount(labels, minlength=num_labels).double()
    if (counts == 0).any():
        raise ValueError(f"class {int((counts == 0).nonzero()[0])} has no training example: balanced weights are undefined")
    return labels.numel() / (num_labels * counts)


class Model(nn.Module):
    """BertForSequenceClassification; state_dict keys are Hugging Face's."""

    def __init__(self, c):
        super().__init__()
        self.c = c
        h = c["hidden_size"]
        self.bert = BertForMaskedLM(c).bert  # bert_ref.py's embeddings and encoder, HF names
        self.bert.pooler = Namespace()
        self.bert.pooler.dense = nn.Linear(h, h)
        p = c["classifier_dropout"] if c["classifier_dropout"] is not None else c["hidden_dropout_prob"]
        self.dropout = nn.Dropout(p)
        self.classifier = nn.Linear(h, c["num_labels"])
        self.tied = []

    def init_weights(self, seed):
        init_bert_style(self, seed, self.c["initializer_range"])

    def hidden(self, ids, token_types, mask):
        s = ids.shape[1]
        e = self.bert.embeddings
        x = e.LayerNorm(e.word_embeddings(ids) + e.token_type_embeddings(token_types) + e.position_embeddings(torch.arange(s))[None])
        ext = (1.0 - mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for layer in self.bert.encoder.layer:
            x = layer(x, ext)
        return x

    def classify(self, hidden):
        pooled = torch.tanh(self.bert.pooler.dense(hidden[:, 0]))  # [CLS] only
        return self.classifier(self.dropout(pooled))

    def forward(self, ids, token_types, mask):
        return self.classify(self.hidden(ids, token_types, mask))


def load_batch(d, c):
    source = f"{d}/batch.json"
    raw = read_json(source)
    b = read_padded_batch(raw, c, source, token_types=True, token_labels=False)
    n = c["num_labels"]
    labels = int_field(raw, "labels", source, b["ids"].shape[0])
    if labels.min() < 0 or labels.max() >= n:
        raise RefInputError(f"{source}: labels hold {int(labels.max() if labels.max() >= n else labels.min())}, outside 0..{n - 1}")
    weights = raw.get("classWeights")
    if weights is not None:
        if not isinstance(weights, list) or len(weights) != n or not all(isinstance(w, (int, float)) and w >= 0 for w in weights):
            raise RefInputError(f"{source}: classWeights must be {n} non-negative numbers")
        weights = torch.tensor(weights, dtype=torch.float32)
    smoothing = raw.get("labelSmoothing", 0.0)
    if not isinstance(smoothing, (int, float)) or not 0 <= smoothing < 1:
        raise RefInputError(f"{source}: labelSmoothing must be in [0, 1), got {smoothing!r}")
    return {**b, "labels": labels, "class_weights": weights, "label_smoothing": float(smoothing)}


def losses(logits, batch):
    w = batch["class_weights"]
    w = w.to(logits.dtype) if w is not None else None
    kw = {"weight": w, "label_smoothing": batch["label_smoothing"]}
    loss_sum = nn.functional.cross_entropy(logits, batch["labels"], reduction="sum", **kw)
    loss_mean = nn.functional.cross_entropy(logits, batch["labels"], reduction="mean", **kw)
    weight_sum = w[batch["labels"]].sum() if w is not None else torch.tensor(float(logits.shape[0]), dtype=logits.dtype)
    return loss_sum, loss_mean, weight_sum


def run(model, batch):
    logits = model(batch["ids"], batch["token_types"], batch["mask"])
    loss_sum, loss_mean, weight_sum = losses(logits, batch)
    tensors = {"loss_mean": loss_mean.detach().view(1), "weight_sum": weight_sum.detach().view(1)}
    return logits, loss_sum, tensors, {"loss_mean": float(loss_mean), "weight_sum": float(weight_sum)}


if __name__ == "__main__":
    import sys

    from bert_cls_selftest import selftest

    run_cli(standard_commands(sys.modules[__name__]), selftest)
