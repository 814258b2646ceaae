"""batch.json for ModernBERT: bert_ref.py's padded layout, or packed sequences with cu_seqlens.

Padded: batchSize, seqLen, inputIds, attentionMask, labels (as bert_ref.py), plus an
optional "attention": "padded" (default: a full masked S x S attention, HF's SDPA path)
or "unpadded" (rows unpadded into packed sequences first, HF's flash-attention path;
needs right padding). Logits come back [B*S, V], 0 at padding.

Packed: cuSeqlens [0, n1, n1+n2, ...], inputIds and labels of length cuSeqlens[-1];
sequences never see each other and each restarts at position 0. Logits come back [T, V].
"""
import torch

from ref_common import IGNORE_INDEX, RefInputError, check_ids, check_labels, int_field, read_json, read_padded_batch
from ref_model import mlm_loss_sum

MODES = ("padded", "unpadded")


def load_batch(d, c):
    source = f"{d}/batch.json"
    raw = read_json(source)
    if "cuSeqlens" in raw:
        return load_packed(raw, c, source)
    b = read_padded_batch(raw, c, source, token_types=False)
    mode = raw.get("attention", "padded")
    if mode not in MODES:
        raise RefInputError(f"{source}: attention must be one of {', '.join(MODES)}, got {mode!r}")
    lengths = b["mask"].sum(1)
    right_padded = bool((b["mask"] == (torch.arange(b["mask"].shape[1])[None] < lengths[:, None]).long()).all())
    if mode == "unpadded" and not right_padded:
        raise RefInputError(f"{source}: attentionMask is not right-padded (1s then 0s in every row), which attention 'unpadded' needs")
    cu = [0] + torch.cumsum(lengths, 0).tolist()
    return {**b, "kind": "padded", "attention": mode, "cu_seqlens": cu}


def load_packed(raw, c, source):
    cu = raw["cuSeqlens"]
    if not isinstance(cu, list) or not cu or cu[0] != 0 or any(not isinstance(x, int) for x in cu) or any(b < a for a, b in zip(cu, cu[1:])):
        raise RefInputError(f"{source}: cuSeqlens must be non-decreasing integers starting at 0")
    ids = int_field(raw, "inputIds", source, cu[-1])
    labels = int_field(raw, "labels", source, cu[-1])
    check_ids(ids, c["vocab_size"], source, "inputIds")
    check_labels(labels, c["vocab_size"], source)
    return {"kind": "packed", "attention": "unpadded", "ids": ids, "labels": labels, "cu_seqlens": cu}


def run(model, batch):
    if batch["kind"] == "packed":
        logits = model.forward_packed(batch["ids"], batch["cu_seqlens"])
    elif batch["attention"] == "padded":
        logits = model.forward_padded(batch["ids"], batch["mask"])
    else:
        logits = unpad_run_repad(model, batch)
    labels = batch["labels"]
    info = {"masked_tokens": int((labels != IGNORE_INDEX).sum()), "attention": batch["attention"], "cu_seqlens": batch["cu_seqlens"]}
    return logits, mlm_loss_sum(logits, labels), {}, info


def unpad_run_repad(model, batch):
    """Real tokens of every row, packed in order; logits scattered back to [B, S, V] with 0 at padding."""
    ids, mask = batch["ids"], batch["mask"].bool()
    packed = model.forward_packed(ids[mask], batch["cu_seqlens"])
    where = mask.flatten().nonzero().flatten()
    out = torch.zeros(ids.numel(), packed.shape[-1], dtype=packed.dtype).index_put((where,), packed)
    return out.view(*ids.shape, -1)
