"""gpu:check parity, reference side: a small BERT in the project's PyTorch
reference (test/reference/bert_ref.py), its weights and a batch written as
raw files for our engine, and the reference's logits, loss and gradients in
float32 (TF32 off) and under bf16 autocast.

    parity-reference.py DIR DEVICE        # DEVICE: cuda or cpu (dry run: fp32 only)
"""
import contextlib
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))
from bert_specs import BertForMaskedLM, specs_of, state_dict  # noqa: E402

CONFIG = {
    "vocab_size": 30522, "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
    "intermediate_size": 1024, "max_position_embeddings": 512, "type_vocab_size": 2,
    "layer_norm_eps": 1e-12, "pad_token_id": 0, "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
}
B, S = 4, 128


def save(d, name, t, dtype):
    t.detach().to("cpu", dtype).contiguous().numpy().tofile(os.path.join(d, name))


def batch(gen):
    ids = torch.randint(1, CONFIG["vocab_size"], (B, S), generator=gen)
    lengths = [S, S - 17, S // 2, S - 1]
    mask = torch.zeros(B, S, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
    ids = ids * mask  # padding is token 0
    tt = torch.zeros(B, S, dtype=torch.long)
    tt[:, S // 2:] = 1
    masked = (torch.rand(B, S, generator=gen) < 0.15) & (mask == 1)
    labels = torch.where(masked, ids, torch.full_like(ids, -100))
    return ids, tt, mask, labels


def reference(model, ids, tt, mask, labels, bf16):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cuda", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
        logits = model(ids, tt, mask)
    logits = logits.float().view(-1, CONFIG["vocab_size"])
    loss = torch.nn.functional.cross_entropy(logits, labels.view(-1), ignore_index=-100, reduction="sum")
    loss.backward()
    grads = [p.grad.reshape(-1) for n, p in model.named_parameters() if not n.startswith("cls.predictions.decoder.")]
    return logits, loss.item(), torch.cat(grads)


def main(d, device):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    gen = torch.Generator().manual_seed(1234)
    model = BertForMaskedLM(CONFIG)
    model.init_weights(7)
    model.eval()  # no dropout: both sides deterministic
    sd = state_dict(model)
    specs = specs_of(sd)
    save(d, "params.f32", torch.cat([t.reshape(-1) for t in sd.values()]), torch.float32)
    ids, tt, mask, labels = batch(gen)
    positions = (labels.view(-1) != -100).nonzero().view(-1)
    for name, t in [("ids", ids), ("tt", tt), ("am", mask)]:
        save(d, f"{name}.i32", t.view(-1), torch.int32)
    save(d, "positions.i32", positions, torch.int32)
    save(d, "labels.i32", labels.view(-1)[positions], torch.int32)
    if device == "cuda":
        torch.set_default_device("cuda")  # bert_ref builds its position ids with torch.arange
        model = model.cuda()
    moved = [t.to(device) for t in (ids, tt, mask, labels)]
    manifest = {"config": CONFIG, "specs": specs, "B": B, "S": S, "masked": int(positions.numel()), "ref": {}}
    for precision in (["fp32", "bf16"] if device == "cuda" else ["fp32"]):
        logits, loss, grads = reference(model, *moved, bf16=precision == "bf16")
        save(d, f"ref_{precision}_logits.f32", logits, torch.float32)
        save(d, f"ref_{precision}_grads.f32", grads, torch.float32)
        manifest["ref"][precision] = {"loss": loss}
    json.dump(manifest, open(os.path.join(d, "manifest.json"), "w"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
