"""Invariants of modernbert_ref.py that can fail: run `modernbert_ref.py selftest` or selftest.py."""
import cmath
import copy
import json
import math

import torch

import modernbert_ref as ref
from modernbert_attention import attention_padded, attention_unpadded
from modernbert_config import resolve
from ref_common import state_dict_with_tied
from ref_model import mlm_loss_sum
from selftest_common import Checks, relative_error, f32_vs_f64, folder_round_trip, gradcheck_f64, load_batch_json, pad_right, random_ids, random_labels

PAD = 0
# Large initializer_range: with std 0.02 attention barely moves a 3-layer model and wiring checks see nothing.
TINY = {"vocab_size": 23, "hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 6, "num_hidden_layers": 3,
        "local_attention": 4, "global_attn_every_n_layers": 3, "pad_token_id": PAD, "initializer_range": 0.5}
LENGTHS = [10, 7, 3]  # seqLen 10 > window 2 * 2 + 1

HF_KEYS_3_LAYERS = (
    ["model.embeddings.tok_embeddings.weight", "model.embeddings.norm.weight"]
    + ["model.layers.0.attn.Wqkv.weight", "model.layers.0.attn.Wo.weight", "model.layers.0.mlp_norm.weight",
       "model.layers.0.mlp.Wi.weight", "model.layers.0.mlp.Wo.weight"]
    + [f"model.layers.{i}.{n}" for i in (1, 2) for n in ["attn_norm.weight", "attn.Wqkv.weight", "attn.Wo.weight",
                                                          "mlp_norm.weight", "mlp.Wi.weight", "mlp.Wo.weight"]]
    + ["model.final_norm.weight", "head.dense.weight", "head.norm.weight", "decoder.weight", "decoder.bias"]
)


def tiny(**over):
    c = resolve({**TINY, **over}, "selftest")
    m = ref.Model(c)
    m.init_weights(4)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if n.endswith("bias") or "norm" in n:
                p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(len(n))))
    return c, m


def naive_attention(qkv, heads, theta, half):
    """Loops, complex numbers: score(i, j) = Re(sum_m q_m conj(k_m) e^{i (i - j) theta^(-2m/d)}) / sqrt(d)."""
    length, hidden = qkv.shape[0], qkv.shape[1] // 3
    d = hidden // heads
    freqs = [theta ** (-2 * m / d) for m in range(d // 2)]
    out = torch.zeros(length, hidden, dtype=torch.float64)
    for h in range(heads):
        q, k, v = (qkv[:, part * hidden + h * d : part * hidden + (h + 1) * d].double() for part in range(3))
        zq = [[complex(q[i, m], q[i, m + d // 2]) for m in range(d // 2)] for i in range(length)]
        zk = [[complex(k[j, m], k[j, m + d // 2]) for m in range(d // 2)] for j in range(length)]
        for i in range(length):
            keys = [j for j in range(length) if half is None or abs(i - j) <= half]
            s = torch.tensor([sum(zq[i][m] * zk[j][m].conjugate() * cmath.exp(1j * (i - j) * freqs[m]) for m in range(d // 2)).real / math.sqrt(d) for j in keys], dtype=torch.float64)
            out[i, h * d : (h + 1) * d] = s.softmax(0) @ v[keys]
    return out


def attention_checks(ch, m):
    length = LENGTHS[0]
    x = torch.randn(length, TINY["hidden_size"], generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    for index in (0, 1):
        layer = copy.deepcopy(m.model.layers[index]).double()
        qkv = layer.attn.Wqkv(layer.attn_norm(x)).detach()
        want = naive_attention(qkv, layer.num_heads, layer.theta, layer.window_half)
        padded = attention_padded(qkv[None], torch.ones(1, length, dtype=torch.bool), layer.num_heads, layer.theta, layer.window_half)[0]
        banded = attention_unpadded(qkv, [0, length], layer.num_heads, layer.theta, layer.window_half)
        kind = f"local (theta {layer.theta:g}, +-{layer.window_half})" if layer.window_half else f"global (theta {layer.theta:g})"
        d1, d2 = float((padded - want).abs().max()), float((banded - want).abs().max())
        ch.check(f"layer {index} {kind}: padded and unpadded attention = loop over complex-number RoPE", max(d1, d2) < 1e-12, f"max |diff| {d1:.1e}, {d2:.1e}")
        for name, f in (("padded", lambda t: layer.attend(t[None], padded_mask=torch.ones(1, length, dtype=torch.bool))[0]),
                        ("unpadded", lambda t: layer.attend(t, cu_seqlens=[0, length]))):
            jac = torch.autograd.functional.jacobian(f, x)  # [L, H, L, H]
            influence = jac.abs().sum(dim=(1, 3))
            near = (torch.arange(length)[:, None] - torch.arange(length)[None]).abs() <= (layer.window_half or length)
            inside, outside = float(influence[near].min()), float(influence[~near].max()) if (~near).any() else 0.0
            ch.check(f"layer {index} {name}: token j moves token i iff |i-j| <= {layer.window_half or 'any'}", inside > 1e-6 and outside == 0.0,
                     f"smallest influence inside {inside:.1e}, largest outside {outside:.1e}")


def batch_tensors(c):
    ids, mask = pad_right(random_ids(c["vocab_size"], (3, LENGTHS[0]), 12, avoid=[PAD]), LENGTHS, PAD)
    labels = random_labels(ids, 13).masked_fill(mask == 0, -100)
    return ids, mask, labels


def grads_of(m, loss_fn):
    m.zero_grad()
    loss = loss_fn()
    loss.backward()
    return float(loss), {n: p.grad.clone() for n, p in m.named_parameters()}


def padded_vs_unpadded(ch, m, ids, mask, labels):
    from modernbert_batch import unpad_run_repad

    cu = [0] + torch.cumsum(torch.tensor(LENGTHS), 0).tolist()
    batch = {"ids": ids, "mask": mask, "labels": labels, "cu_seqlens": cu}
    with torch.no_grad():
        a = m.forward_padded(ids, mask)
        b = unpad_run_repad(m, batch)
        packed = m.forward_packed(ids[mask.bool()], cu)
    dl = float((a - b).abs().max())
    dp = float((a[mask.bool()] - packed).abs().max())
    la, ga = grads_of(m, lambda: mlm_loss_sum(m.forward_padded(ids, mask), labels))
    lb, gb = grads_of(m, lambda: mlm_loss_sum(m.forward_packed(ids[mask.bool()], cu), labels[mask.bool()]))
    worst = max(relative_error(gb[n], ga[n]) for n in ga)
    ch.check("padded == unpadded == packed (float32): logits", max(dl, dp) < 1e-5, f"max |diff| {dl:.1e} (repadded), {dp:.1e} (packed)")
    ch.check("padded == packed (float32): loss and every gradient", abs(la - lb) / abs(la) < 1e-6 and worst < 1e-5,
             f"loss rel {abs(la - lb) / abs(la):.1e}, worst gradient rel {worst:.1e}")


def config_checks(ch, m, ids, mask):
    with torch.no_grad():
        base = m.forward_padded(ids, mask)

        def logits_with(**over):
            c2, m2 = tiny(**over)
            m2.load_state_dict(m.state_dict())
            return c2, m2.forward_padded(ids, mask)

        v5 = {"layer_types": ["full_attention", "sliding_attention", "sliding_attention"],
              "rope_parameters": {"full_attention": {"rope_theta": 160000.0, "rope_type": "default"},
                                  "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}}
        c5, l5 = logits_with(**v5)
        ch.check("transformers-5 keys (layer_types, rope_parameters) give the same model", c5["_local"] == [False, True, True] and torch.equal(l5, base))
        _, other = logits_with(layer_types=["sliding_attention", "full_attention", "sliding_attention"])
        ch.check("a different layer_types changes the logits (the plan is honoured)", float((other - base).abs().max()) > 1e-4)
        _, local_theta = logits_with(local_rope_theta=50.0)
        _, all_global = logits_with(global_attn_every_n_layers=1)
        _, all_global_theta = logits_with(global_attn_every_n_layers=1, local_rope_theta=50.0)
        ch.check("local_rope_theta moves local layers only", float((local_theta - base).abs().max()) > 1e-4 and torch.equal(all_global, all_global_theta))


def selftest():
    ch = Checks("modernbert_ref")
    c, m = tiny()
    ids, mask, labels = batch_tensors(c)
    attention_checks(ch, m)
    padded_vs_unpadded(ch, m, ids, mask, labels)
    cu = [0] + torch.cumsum(torch.tensor(LENGTHS), 0).tolist()
    gradcheck_f64(ch, "padded path", m, lambda f: mlm_loss_sum(f(ids, mask), labels))
    # The packed path's gradients are the padded path's (checked above to 9.5e-7), so one gradcheck covers both.
    config_checks(ch, m, ids, mask)

    ch.check("state_dict keys are Hugging Face's ModernBertForMaskedLM keys (no layers.0.attn_norm, no biases)", list(state_dict_with_tied(m, m.tied)) == HF_KEYS_3_LAYERS)
    _, mb = tiny(attention_bias=True, mlp_bias=True, norm_bias=True, classifier_bias=True)
    extra = sorted(set(state_dict_with_tied(mb, mb.tied)) - set(HF_KEYS_3_LAYERS))
    ch.check("with every bias switched on, exactly the .bias twins appear", extra == sorted(k.replace(".weight", ".bias") for k in HF_KEYS_3_LAYERS if k.endswith(".weight") and "tok_embeddings" not in k and k != "decoder.weight"),
             f"{len(extra)} more keys")
    err = f32_vs_f64(m, lambda mm: mm.forward_padded(ids, mask))
    ch.check("float32 vs float64 logits (noise floor for engine tolerances)", err < 1e-5, f"relative error {err:.1e}")
    cli_checks(ch, c, ids, mask, labels, cu)
    return ch.done()


def cli_checks(ch, c, ids, mask, labels, cu):
    cfg = {k: v for k, v in c.items() if not k.startswith("_")}
    padded = {"batchSize": 3, "seqLen": LENGTHS[0], "inputIds": ids.flatten().tolist(), "attentionMask": mask.flatten().tolist(), "labels": labels.flatten().tolist()}
    d, out_p, info_p, _ = folder_round_trip(ch, ref, cfg, {**padded, "attention": "unpadded"}, " (padded batch, attention unpadded)")
    packed = {"cuSeqlens": cu, "inputIds": ids[mask.bool()].tolist(), "labels": labels[mask.bool()].tolist()}
    _, out_k, info_k, _ = folder_round_trip(ch, ref, cfg, packed, " (packed, cuSeqlens)")
    same = abs(info_p["loss_sum"] - info_k["loss_sum"]) < 1e-4 * abs(info_k["loss_sum"]) and torch.allclose(out_p["logits"][mask.flatten().bool()], out_k["logits"], atol=1e-5)
    ch.check("CLI: padded batch with attention 'unpadded' = the same tokens sent packed", same, f"loss_sum {info_p['loss_sum']:.5f} vs {info_k['loss_sum']:.5f}")
    left = {**padded, "attention": "unpadded", "attentionMask": mask.flip(1).flatten().tolist()}
    ch.raises("attention 'unpadded' refuses a left-padded mask, naming batch.json", lambda: load_batch_json(ref, left, c, d), "right-padded")
    ch.raises("cuSeqlens must cover inputIds exactly", lambda: load_batch_json(ref, {**packed, "cuSeqlens": cu[:-1] + [cu[-1] + 1]}, c, d), "inputIds has")
    with open(f"{d}/config.json", "w") as f:
        json.dump({**cfg, "layer_types": ["full_attention"]}, f)
    ch.raises("a layer_types list of the wrong length is refused, naming config.json", lambda: ref.read_config(d), "layer_types")


if __name__ == "__main__":
    raise SystemExit(0 if selftest() else 1)
