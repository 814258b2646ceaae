"""PyTorch peer for the benchmarks: times the reference BertForMaskedLM.

    torch_step.py model CONFIG_JSON BATCH SEQ ITERS   # forward+backward micro-steps
    torch_step.py train CONFIG_JSON BATCH SEQ ACCUM STEPS   # AdamW training loop with accumulation

Prints one JSON line per measurement. Threads: torch.set_num_threads(1),
like the wasm engine (Node gives wasm no threads).
"""
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "test", "reference"))
from bert_ref import BertForMaskedLM  # noqa: E402

torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))


def batch(c, b, s, g):
    ids = torch.randint(5, c["vocab_size"], (b, s), generator=g)
    labels = torch.full((b, s), -100)
    chosen = torch.rand((b, s), generator=g) < 0.15
    labels[chosen] = ids[chosen]
    ids[chosen] = 103 % c["vocab_size"]
    return ids, torch.zeros_like(ids), torch.ones_like(ids), labels


def masked_only_loss(model, ids, tt, mask, labels):
    """The head only where labels are set: the work our engines do."""
    c = model.c
    b, s = ids.shape
    e = model.bert.embeddings
    x = e.word_embeddings(ids) + e.token_type_embeddings(tt) + e.position_embeddings(torch.arange(s).unsqueeze(0))
    x = model.emb_dropout(e.LayerNorm(x))
    ext = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
    for layer in model.bert.encoder.layer:
        x = layer(x, ext)
    sel = labels.view(-1) != -100
    h = x.view(-1, c["hidden_size"])[sel]
    p = model.cls.predictions
    logits = p.decoder(p.transform.LayerNorm(torch.nn.functional.gelu(p.transform.dense(h))))
    return torch.nn.functional.cross_entropy(logits, labels.view(-1)[sel], reduction="sum")


def full_logits_loss(model, ids, tt, mask, labels):
    """Hugging Face's BertForMaskedLM: logits for every position."""
    logits = model(ids, tt, mask)
    return torch.nn.functional.cross_entropy(logits.view(-1, model.c["vocab_size"]), labels.view(-1), reduction="sum")


def cmd_model(cfg, b, s, iters):
    c = json.load(open(cfg))
    model = BertForMaskedLM(c)
    model.init_weights(0)
    model.train()
    g = torch.Generator().manual_seed(0)
    for name, fn in (("masked-head", masked_only_loss), ("full-logits", full_logits_loss)):
        data = batch(c, b, s, g)
        fn(model, *data).backward()  # warm-up
        t0 = time.perf_counter()
        for _ in range(iters):
            model.zero_grad(set_to_none=True)
            fn(model, *data).backward()
        dt = (time.perf_counter() - t0) / iters
        print(json.dumps({"variant": name, "seconds": dt, "tokens_per_s": b * s / dt}), flush=True)


def cmd_train(cfg, b, s, accum, steps):
    c = json.load(open(cfg))
    model = BertForMaskedLM(c)
    model.init_weights(0)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(0)
    data = [batch(c, b, s, g) for _ in range(accum)]
    t0 = None
    for step in range(steps + 1):
        if step == 1:
            t0 = time.perf_counter()  # step 0 is warm-up
        opt.zero_grad(set_to_none=True)
        n = sum(int((d[3] != -100).sum()) for d in data)
        for d in data:
            (masked_only_loss(model, *d) / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    dt = (time.perf_counter() - t0) / steps
    print(json.dumps({"variant": "train", "seconds_per_step": dt, "tokens_per_s": b * s * accum / dt}), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "model":
        cmd_model(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))
    else:
        cmd_train(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
