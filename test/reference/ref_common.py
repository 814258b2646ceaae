"""What every family reference shares: reading a test folder, the forward/backward dump, the CLI.

The protocol is bert_ref.py's (see README.md here): a folder with config.json,
weights.safetensors and batch.json in, ref.safetensors out. The family modules
only build the model; this file owns file handling, strict weight loading and
clear errors that name the file and the field at fault.
"""
import json
import os
import sys

import torch

from bert_ref import Namespace, read_safetensors, write_safetensors  # noqa: F401 (Namespace re-exported)

IGNORE_INDEX = -100


class RefInputError(Exception):
    """Bad input to a reference: the message names the file and the field."""


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise RefInputError(f"{path}: missing") from None
    except json.JSONDecodeError as e:
        raise RefInputError(f"{path}: not JSON ({e})") from None


def write_json_atomic(path, obj):
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, default=str)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def resolve_config(raw, defaults, source, positive_ints=(), probabilities=()):
    """Hugging Face defaults under the file's values; checks the fields the model reads."""
    if not isinstance(raw, dict):
        raise RefInputError(f"{source}: model config is not a JSON object")
    c = {**defaults, **raw}
    for k in positive_ints:
        v = c.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise RefInputError(f"{source}: {k} must be a positive integer, got {json.dumps(v)}")
    for k in probabilities:
        v = c.get(k)
        if v is not None and (not isinstance(v, (int, float)) or not 0 <= v < 1):
            raise RefInputError(f"{source}: {k} must be in [0, 1), got {json.dumps(v)}")
    return c


BERT_LIKE_SIZES = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings", "type_vocab_size")


def resolve_bert_like(raw, defaults, source, extra_sizes=(), extra_probabilities=()):
    """A BERT-shaped config (BERT, RoBERTa, BertForSequenceClassification) over bert_ref.py's layers."""
    c = resolve_config(raw, defaults, source, BERT_LIKE_SIZES + tuple(extra_sizes), ("hidden_dropout_prob", "attention_probs_dropout_prob") + tuple(extra_probabilities))
    if c["hidden_act"] != "gelu":
        raise RefInputError(f"{source}: hidden_act {c['hidden_act']!r} is not supported (bert_ref.py's layers use the erf GELU)")
    c["_source"] = source
    return c


def int_field(batch, key, source, length=None, required=True):
    v = batch.get(key)
    if v is None:
        if required:
            raise RefInputError(f"{source}: {key} is missing")
        return None
    if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
        raise RefInputError(f"{source}: {key} must be a list of integers")
    if length is not None and len(v) != length:
        raise RefInputError(f"{source}: {key} has {len(v)} entries, expected {length}")
    return torch.tensor(v, dtype=torch.long)


def load_padded_batch(d, c, token_types):
    """batch.json as bert_ref.py reads it: [B, S] ids, mask, labels (and token types where the family has them)."""
    source = f"{d}/batch.json"
    return read_padded_batch(read_json(source), c, source, token_types)


def read_padded_batch(b, c, source, token_types, token_labels=True):
    """The [B, S] fields of a parsed batch.json; `token_labels` False leaves `labels` to the caller."""
    B, S = b.get("batchSize"), b.get("seqLen")
    if not isinstance(B, int) or not isinstance(S, int) or B <= 0 or S <= 0:
        raise RefInputError(f"{source}: batchSize and seqLen must be positive integers")
    n = B * S
    ids = int_field(b, "inputIds", source, n)
    mask = int_field(b, "attentionMask", source, n)
    check_ids(ids, c["vocab_size"], source, "inputIds")
    if ((mask != 0) & (mask != 1)).any():
        raise RefInputError(f"{source}: attentionMask must hold only 0 and 1")
    tt = int_field(b, "tokenTypeIds", source, n, required=False)
    if tt is None:
        tt = torch.zeros(n, dtype=torch.long)
    limit = c.get("type_vocab_size", 1) if token_types else 1
    if tt.numel() and (tt.min() < 0 or tt.max() >= limit):
        what = f"type_vocab_size is {limit}" if token_types else "this family has no token types: send zeros"
        raise RefInputError(f"{source}: tokenTypeIds holds {int(tt.min()) if tt.min() < 0 else int(tt.max())} but {what}")
    shape = (B, S)
    out = {"ids": ids.view(shape), "mask": mask.view(shape), "token_types": tt.view(shape)}
    if token_labels:
        labels = int_field(b, "labels", source, n)
        check_labels(labels, c["vocab_size"], source)
        out["labels"] = labels.view(shape)
    return out


def check_ids(ids, vocab_size, source, field):
    if ids.numel() and (ids.min() < 0 or ids.max() >= vocab_size):
        raise RefInputError(f"{source}: {field} holds {int(ids.max()) if ids.max() >= vocab_size else int(ids.min())}, outside vocab_size {vocab_size}")


def check_labels(labels, vocab_size, source):
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= vocab_size))
    if bad.any():
        raise RefInputError(f"{source}: labels hold {int(labels[bad][0])}: neither -100 nor a token id below {vocab_size}")


def load_weights(model, d, tied):
    """weights.safetensors (save_pretrained's layout: tied copies absent) into the model, strictly."""
    path = f"{d}/weights.safetensors"
    if not os.path.exists(path):
        raise RefInputError(f"{path}: missing")
    load_state_dict_strict(model, drop_tied(read_safetensors(path), tied, path), path)


def drop_tied(sd, tied, source):
    """Removes tied aliases (each must equal the tensor it is tied to): the model holds one tensor."""
    sd = dict(sd)
    for alias, target, _ in tied:
        if alias in sd:
            if target not in sd or not torch.equal(sd[alias], sd[target]):
                raise RefInputError(f"{source}: tied {alias} differs from {target}")
            del sd[alias]
    return sd


def load_state_dict_strict(model, sd, source):
    own = model.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    shapes = [f"{k}: file {list(sd[k].shape)}, model {list(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {', '.join(unexpected)}")
        if shapes:
            parts.append(f"wrong shape {len(shapes)}: {'; '.join(shapes)}")
        raise RefInputError(f"{source}: does not match the model config\n  " + "\n  ".join(parts))
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in sd.items()}, strict=True)


def state_dict_with_tied(model, tied):
    """The model's state_dict as Hugging Face's <Family>For...state_dict() lists it: tied aliases in place.

    `tied` holds (alias, target, before): the alias names the same tensor as
    target and stands just before key `before` (None: at the end), where the
    tied module sits in Hugging Face's module order.
    """
    sd = model.state_dict()
    out = {}
    pending = {before: [] for _, _, before in tied}
    for alias, target, before in tied:
        pending[before].append((alias, sd[target]))
    for k, v in sd.items():
        for alias, t in pending.get(k, []):
            out[alias] = t
        out[k] = v
    for alias, t in pending.get(None, []):
        out[alias] = t
    return out


def dump_forward(d, model, logits, loss_sum, extra_tensors=None, extra_json=None):
    """Backward from loss_sum; writes ref.safetensors (logits, loss_sum, grad.<name>) and ref.json."""
    loss_sum.backward()
    out = {"logits": logits.detach().reshape(-1, logits.shape[-1]), "loss_sum": loss_sum.detach().view(1)}
    out.update(extra_tensors or {})
    frozen = []
    params = []
    for name, p in model.named_parameters():
        params.append({"name": name, "shape": list(p.shape), "frozen": not p.requires_grad})
        if not p.requires_grad:
            frozen.append(name)
        out["grad." + name] = p.grad if p.grad is not None else torch.zeros_like(p)
    write_safetensors(f"{d}/ref.safetensors", out)
    write_json_atomic(f"{d}/ref.json", {"loss_sum": float(loss_sum), "params": params, "frozen": frozen, **(extra_json or {})})


def cmd_keys(model, tied, d):
    """keys.json: state_dict keys with shapes (tied aliases included, as HF's state_dict()) and the trainable order."""
    sd = state_dict_with_tied(model, tied)
    write_json_atomic(
        f"{d}/keys.json",
        {
            "state_dict": [{"name": k, "shape": list(v.shape)} for k, v in sd.items()],
            "tied": {alias: target for alias, target, _ in tied},
            "parameters": [n for n, _ in model.named_parameters()],
        },
    )


def cmd_load_pth(model, tied, d, evaluate):
    """torch.load a best.pth; strict load (tied aliases must equal their source); loss on batch.json."""
    obj = torch.load(f"{d}/model.pth")
    raw = obj["model"] if isinstance(obj, dict) and "model" in obj else obj
    load_state_dict_strict(model, drop_tied(raw, tied, f"{d}/model.pth"), f"{d}/model.pth")
    keys = list(raw.keys())
    model.eval()
    with torch.no_grad():
        loss_sum = evaluate(model)
    extra = {k: v for k, v in obj.items() if k != "model" and not torch.is_tensor(v)} if "model" in obj else {}
    write_json_atomic(f"{d}/load_pth.json", {"loss_sum": float(loss_sum), "keys": keys, "extra": extra})


def cmd_save_pth(model, tied, d, seed=7):
    """torch.save of a freshly initialised model's state_dict (tied aliases included, as HF's)."""
    model.init_weights(seed)
    sd = state_dict_with_tied(model, tied)
    torch.save(sd, f"{d}/torch.pth")
    write_safetensors(f"{d}/torch_pth_weights.safetensors", sd)


def cmd_init(model, tied, d):
    seed = read_json(f"{d}/init.json").get("seed")
    if not isinstance(seed, int):
        raise RefInputError(f"{d}/init.json: seed must be an integer")
    model.init_weights(seed)
    write_safetensors(f"{d}/torch_weights.safetensors", model.state_dict())


def standard_commands(family):
    """forward/init/keys/load_pth/save_pth for a family module.

    The module provides read_config(d), Model(c) (with .tied and .init_weights(seed)),
    load_batch(d, c) and run(model, batch) -> (logits, loss_sum, extra_tensors, extra_json).
    """

    def model_for(d):
        return family.Model(family.read_config(d))

    def forward(d):
        m = model_for(d)
        load_weights(m, d, m.tied)
        m.eval()
        logits, loss_sum, tensors, info = family.run(m, family.load_batch(d, m.c))
        dump_forward(d, m, logits, loss_sum, tensors, info)

    def load_pth(d):
        m = model_for(d)
        cmd_load_pth(m, m.tied, d, lambda model: family.run(model, family.load_batch(d, model.c))[1])

    return {
        "forward": forward,
        "init": lambda d: (lambda m: cmd_init(m, m.tied, d))(model_for(d)),
        "keys": lambda d: (lambda m: cmd_keys(m, m.tied, d))(model_for(d)),
        "load_pth": load_pth,
        "save_pth": lambda d: (lambda m: cmd_save_pth(m, m.tied, d))(model_for(d)),
    }


def run_cli(commands, selftest=None):
    """`<ref>.py COMMAND DIR` or `<ref>.py selftest`; bad input prints one line naming the file and exits 2."""
    torch.set_num_threads(1)
    prog = os.path.basename(sys.argv[0])
    if len(sys.argv) == 2 and sys.argv[1] == "selftest" and selftest:
        sys.exit(0 if selftest() else 1)
    if len(sys.argv) != 3 or sys.argv[1] not in commands:
        print(f"usage: {prog} {{{','.join(commands)}}} DIR" + (f" | {prog} selftest" if selftest else ""), file=sys.stderr)
        sys.exit(2)
    cmd, d = sys.argv[1], sys.argv[2]
    try:
        commands[cmd](d)
    except (RefInputError, ValueError) as e:  # ValueError: a batch the model cannot take (a row too long)
        print(f"{prog} {cmd} {d}: {e}", file=sys.stderr)
        sys.exit(2)
