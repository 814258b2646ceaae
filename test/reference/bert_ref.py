"""Reference BertForMaskedLM in plain PyTorch, with Hugging Face parameter names.

The tests use it as the ground truth for our engines (Debian's python3-torch,
PyTorch 1.13, CPU, float32). It reads and writes safetensors by hand so that
it needs nothing beyond torch: that also makes it an independent check of our
own safetensors reader and writer.

    bert_ref.py forward  DIR   # DIR/config.json, weights.safetensors, batch.json -> DIR/ref.safetensors
    bert_ref.py init     DIR   # DIR/config.json, seed in DIR/init.json -> DIR/torch_weights.safetensors
    bert_ref.py adamw    DIR   # DIR/adamw.safetensors + adamw.json -> DIR/adamw_ref.safetensors
"""
import json
import math
import struct
import sys

import torch
from torch import nn

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I32": torch.int32, "I64": torch.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = bytearray(data[8 + n + b : 8 + n + end])
        t = torch.frombuffer(raw, dtype=DTYPES[e["dtype"]]) if raw else torch.empty(0, dtype=DTYPES[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous().to(torch.float32)
        raw = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


class Namespace(nn.Module):
    pass


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.nh = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, ext_mask):
        b, s, h = x.shape
        d = h // self.nh
        split = lambda t: t.view(b, s, self.nh, d).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(d) + ext_mask
        probs = self.dropout(scores.softmax(-1))
        return (probs @ v).transpose(1, 2).reshape(b, s, h)


class AddNorm(nn.Module):
    def __init__(self, c, n_in):
        super().__init__()
        self.dense = nn.Linear(n_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Namespace()
        self.attention.self = BertSelfAttention(c)
        self.attention.output = AddNorm(c, c["hidden_size"])
        self.intermediate = Namespace()
        self.intermediate.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])
        self.output = AddNorm(c, c["intermediate_size"])

    def forward(self, x, ext_mask):
        a = self.attention.output(self.attention.self(x, ext_mask), x)
        i = nn.functional.gelu(self.intermediate.dense(a))  # erf form, as BERT
        return self.output(i, a)


class BertForMaskedLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        h = c["hidden_size"]
        self.c = c
        self.bert = Namespace()
        e = self.bert.embeddings = Namespace()
        e.word_embeddings = nn.Embedding(c["vocab_size"], h, padding_idx=c["pad_token_id"])
        e.position_embeddings = nn.Embedding(c["max_position_embeddings"], h)
        e.token_type_embeddings = nn.Embedding(c["type_vocab_size"], h)
        e.LayerNorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        self.emb_dropout = nn.Dropout(c["hidden_dropout_prob"])
        self.bert.encoder = Namespace()
        self.bert.encoder.layer = nn.ModuleList([BertLayer(c) for _ in range(c["num_hidden_layers"])])
        self.cls = Namespace()
        p = self.cls.predictions = Namespace()
        p.transform = Namespace()
        p.transform.dense = nn.Linear(h, h)
        p.transform.LayerNorm = nn.LayerNorm(h, eps=c["layer_norm_eps"])
        p.decoder = nn.Linear(h, c["vocab_size"])
        p.bias = nn.Parameter(torch.zeros(c["vocab_size"]))
        p.decoder.weight = e.word_embeddings.weight  # tied, as in Hugging Face
        p.decoder.bias = p.bias

    def init_weights(self, seed):
        torch.manual_seed(seed)
        for m in self.modules():
            if m is self.cls.predictions.decoder:
                continue  # tied to the word embeddings, already initialised
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.data.normal_(0.0, self.c["initializer_range"])
            if isinstance(m, nn.Linear) and m.bias is not None:
                m.bias.data.zero_()
            if isinstance(m, nn.Embedding) and m.padding_idx is not None:
                m.weight.data[m.padding_idx].zero_()
            if isinstance(m, nn.LayerNorm):
                m.weight.data.fill_(1.0)
                m.bias.data.zero_()

    def forward(self, input_ids, token_type_ids, attention_mask):
        b, s = input_ids.shape
        e = self.bert.embeddings
        pos = torch.arange(s).unsqueeze(0)
        x = e.word_embeddings(input_ids) + e.token_type_embeddings(token_type_ids) + e.position_embeddings(pos)
        x = self.emb_dropout(e.LayerNorm(x))
        ext = (1.0 - attention_mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        for layer in self.bert.encoder.layer:
            x = layer(x, ext)
        p = self.cls.predictions
        t = p.transform.LayerNorm(nn.functional.gelu(p.transform.dense(x)))
        return p.decoder(t)


def load_batch(d):
    b = json.load(open(f"{d}/batch.json"))
    shape = (b["batchSize"], b["seqLen"])
    ids = torch.tensor(b["inputIds"]).view(shape)
    tt = torch.tensor(b.get("tokenTypeIds") or [0] * len(b["inputIds"])).view(shape)
    mask = torch.tensor(b["attentionMask"]).view(shape)
    labels = torch.tensor(b["labels"]).view(shape)
    return ids, tt, mask, labels


def cmd_forward(d):
    c = json.load(open(f"{d}/config.json"))
    model = BertForMaskedLM(c)
    sd = read_safetensors(f"{d}/weights.safetensors")
    sd["cls.predictions.decoder.weight"] = sd["bert.embeddings.word_embeddings.weight"]
    sd["cls.predictions.decoder.bias"] = sd["cls.predictions.bias"]
    model.load_state_dict(sd, strict=True)
    model.eval()
    ids, tt, mask, labels = load_batch(d)
    logits = model(ids, tt, mask)
    loss_sum = nn.functional.cross_entropy(logits.view(-1, c["vocab_size"]), labels.view(-1), ignore_index=-100, reduction="sum")
    loss_sum.backward()
    out = {"logits": logits.view(-1, c["vocab_size"]), "loss_sum": loss_sum.detach().view(1)}
    for name, p in model.named_parameters():
        out["grad." + name] = p.grad
    write_safetensors(f"{d}/ref.safetensors", out)


def cmd_init(d):
    c = json.load(open(f"{d}/config.json"))
    seed = json.load(open(f"{d}/init.json"))["seed"]
    model = BertForMaskedLM(c)
    model.init_weights(seed)
    sd = {k: v for k, v in model.state_dict().items() if not k.startswith("cls.predictions.decoder.")}
    write_safetensors(f"{d}/torch_weights.safetensors", sd)


def cmd_adamw(d):
    """One torch.optim.AdamW step (with clipping) from given params and grads."""
    h = json.load(open(f"{d}/adamw.json"))
    t = read_safetensors(f"{d}/adamw.safetensors")
    names = h["names"]
    params = [nn.Parameter(t["param." + n].clone()) for n in names]
    groups = [
        {"params": [p for p, n in zip(params, names) if n in h["decay"]], "weight_decay": h["weight_decay"]},
        {"params": [p for p, n in zip(params, names) if n not in h["decay"]], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"])
    for step in range(h["steps"]):
        for p, n in zip(params, names):
            p.grad = t[f"grad{step}." + n].clone() * h["grad_scale"]
        if h["max_grad_norm"] > 0:
            torch.nn.utils.clip_grad_norm_(params, h["max_grad_norm"])
        opt.step()
    write_safetensors(f"{d}/adamw_ref.safetensors", {"param." + n: p for p, n in zip(params, names)})


def cmd_load_pth(d):
    """torch.load our best.pth-style file; strict load_state_dict; loss on the batch; echo the metadata."""
    c = json.load(open(f"{d}/config.json"))
    obj = torch.load(f"{d}/model.pth")
    sd = obj["model"] if "model" in obj else obj
    model = BertForMaskedLM(c)
    model.load_state_dict(sd, strict=True)
    model.eval()
    ids, tt, mask, labels = load_batch(d)
    with torch.no_grad():
        logits = model(ids, tt, mask)
        loss_sum = nn.functional.cross_entropy(logits.view(-1, c["vocab_size"]), labels.view(-1), reduction="sum")
    extra = {k: v for k, v in obj.items() if k != "model" and not torch.is_tensor(v)} if "model" in obj else {}
    json.dump({"loss_sum": loss_sum.item(), "keys": list(sd.keys()), "extra": extra}, open(f"{d}/load_pth.json", "w"), default=str)


def cmd_save_pth(d):
    """torch.save a freshly initialised model's state_dict (torch's own writer, tied copies included)."""
    c = json.load(open(f"{d}/config.json"))
    model = BertForMaskedLM(c)
    model.init_weights(7)
    torch.save(model.state_dict(), f"{d}/torch.pth")
    write_safetensors(f"{d}/torch_pth_weights.safetensors", {k: v for k, v in model.state_dict().items()})


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"forward": cmd_forward, "init": cmd_init, "adamw": cmd_adamw, "load_pth": cmd_load_pth, "save_pth": cmd_save_pth}[sys.argv[1]](sys.argv[2])
