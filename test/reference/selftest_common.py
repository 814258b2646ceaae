"""Helpers the family self-tests share: a check log, tiny batches, float64 gradcheck, folder round trips."""
import copy
import json
import os
import shutil
import tempfile
import time

import torch
from torch.nn.utils import stateless

from bert_ref import BertForMaskedLM, read_safetensors
from ref_common import RefInputError, standard_commands


class Checks:
    """Prints one line a check (ok/FAIL, name, measured figure); `passed` is False after any failure."""

    def __init__(self, title):
        self.title = title
        self.passed = True
        self.t0 = time.time()
        self.dirs = []
        print(f"# {title}", flush=True)

    def check(self, name, ok, figure=""):
        self.passed = self.passed and bool(ok)
        print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + figure if figure else ''}", flush=True)
        return ok

    def raises(self, name, fn, pattern):
        try:
            fn()
        except (RefInputError, ValueError) as e:
            return self.check(name, pattern in str(e), f"error: {str(e).splitlines()[0]}")
        return self.check(name, False, "no error raised")

    def scratch(self):
        """A temporary folder, removed by done()."""
        d = tempfile.mkdtemp(prefix="gradpool-ref-selftest-")
        self.dirs.append(d)
        return d

    def done(self):
        for d in self.dirs:
            shutil.rmtree(d, ignore_errors=True)
        print(f"# {self.title}: {'passed' if self.passed else 'FAILED'} in {time.time() - self.t0:.1f} s", flush=True)
        return self.passed


def random_ids(vocab, shape, seed, avoid=()):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, shape, generator=g)
    for a in avoid:  # keep special ids (pad) out of the random text
        ids[ids == a] = (a + 1 + len(avoid)) % vocab
    return ids


def random_labels(ids, seed, rate=0.3):
    g = torch.Generator().manual_seed(seed)
    pick = torch.rand(ids.shape, generator=g) < rate
    pick.view(-1)[0] = True
    return torch.where(pick, ids, torch.full_like(ids, -100))


def pad_right(ids, lengths, pad_id):
    """Row r keeps its first lengths[r] tokens; the rest becomes pad with mask 0 and label -100."""
    pos = torch.arange(ids.shape[1])[None]
    mask = (pos < torch.tensor(lengths)[:, None]).long()
    return torch.where(mask.bool(), ids, torch.full_like(ids, pad_id)), mask


def gradcheck_f64(checks, name, model, loss_of_model):
    m = copy.deepcopy(model).double()
    m.eval()
    t0 = time.time()
    ok, n = gradcheck_parameters(m, loss_of_model)
    return checks.check(f"{name}: float64 torch.autograd.gradcheck over every trainable parameter", ok, f"{n} scalars, {time.time() - t0:.1f} s")


def f32_vs_f64(model, logits_of_model):
    """Relative error of float32 logits against the same model in float64: the noise floor engines sit on."""
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        return relative_error(logits_of_model(model), logits_of_model(m64))


def folder_round_trip(checks, family, config, batch_json, label="", model_seed=3):
    """Runs the CLI's init then forward in a scratch folder; the dump must hold every gradient, finite."""
    d = checks.scratch()
    with open(f"{d}/config.json", "w") as f:
        json.dump(config, f)
    with open(f"{d}/init.json", "w") as f:
        json.dump({"seed": model_seed}, f)
    with open(f"{d}/batch.json", "w") as f:
        json.dump(batch_json, f)
    commands = standard_commands(family)
    commands["init"](d)
    os.replace(f"{d}/torch_weights.safetensors", f"{d}/weights.safetensors")
    commands["forward"](d)
    commands["keys"](d)
    ref = read_safetensors(f"{d}/ref.safetensors")
    info = json.load(open(f"{d}/ref.json"))
    keys = json.load(open(f"{d}/keys.json"))
    grads = [k for k in ref if k.startswith("grad.")]
    finite = all(torch.isfinite(t).all() for t in ref.values())
    checks.check(
        f"CLI init + forward + keys{label}: a gradient for every parameter, all finite",
        len(grads) == len(info["params"]) == len(keys["parameters"]) and finite,
        f"{len(grads)} gradients, loss_sum {info['loss_sum']:.4f}",
    )
    return d, ref, info, keys


def bert_ref_holding(config, sd):
    """bert_ref.py's BertForMaskedLM (eval mode) with the given BERT-named weights; the tied decoder aliases are added."""
    b = BertForMaskedLM(config)
    b.load_state_dict({**sd, "cls.predictions.decoder.weight": sd["bert.embeddings.word_embeddings.weight"], "cls.predictions.decoder.bias": sd["cls.predictions.bias"]}, strict=True)
    return b.eval()


def load_batch_json(family, batch, c, d):
    """Writes `batch` as d/batch.json and reads it the way the CLI does."""
    with open(f"{d}/batch.json", "w") as f:
        json.dump(batch, f)
    return family.load_batch(d, c)


def gradcheck_parameters(model, loss_of_model):
    """torch.autograd.gradcheck of a scalar loss against every trainable parameter (float64 model)."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    base = {n: p.detach().clone().requires_grad_(True) for n, p in model.named_parameters() if p.requires_grad}

    def f(*tensors):
        return loss_of_model(lambda *a, **k: stateless.functional_call(model, dict(zip(names, tensors)), a, k))

    inputs = tuple(base[n] for n in names)
    ok = torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, raise_exception=False)
    return ok, sum(t.numel() for t in inputs)


def relative_error(a, b):
    a, b = a.double().flatten(), b.double().flatten()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))
