"""gpu:check peer: the same training step with Hugging Face transformers'
BertForMaskedLM and torch.optim.AdamW(fused=True) under bf16 autocast (the
usual HF recipe), same shapes, same GPU. Prints tokens/s as JSON.

    step-hf.py '{"layers":12,"hidden":768,"heads":12,"inter":3072,"seq":256,"micro":32,"warmup":3,"steps":10}'
"""
import json
import sys
import time

import torch
from transformers import BertConfig, BertForMaskedLM

o = json.loads(sys.argv[1])
cfg = BertConfig(vocab_size=30522, hidden_size=o["hidden"], num_hidden_layers=o["layers"], num_attention_heads=o["heads"],
                 intermediate_size=o["inter"], max_position_embeddings=512)
model = BertForMaskedLM(cfg).cuda().train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=True)
n = o["micro"] * o["seq"]
ids = (1000 + (torch.arange(n) * 7919) % (30522 - 1000)).view(o["micro"], o["seq"]).cuda()
labels = torch.full_like(ids, -100)
flat = labels.view(-1)
flat[::7] = ids.view(-1)[::7]  # the same masked positions as step-engine.mjs
mask = torch.ones_like(ids)


def step():
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)


for _ in range(o["warmup"]):
    step()
torch.cuda.synchronize()
torch.cuda.reset_peak_memory_stats()
t0 = time.perf_counter()
for _ in range(o["steps"]):
    step()
torch.cuda.synchronize()
ms = (time.perf_counter() - t0) * 1000 / o["steps"]
print(json.dumps({"tokensPerSecond": n * 1000 / ms, "stepMs": ms, "peakAllocatedMiB": torch.cuda.max_memory_allocated() / 2**20,
                  "transformers": __import__("transformers").__version__, "attention": getattr(cfg, "_attn_implementation", None)}))
