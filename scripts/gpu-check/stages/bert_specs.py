"""The layout our engines take: the reference BertForMaskedLM's parameters in
state-dict order (without the decoder, which is tied), with offsets into one
flat buffer and whether AdamW decays them.

    bert_specs.py CONFIG_JSON      # prints {"specs": [...], "size": N}
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../../test/reference"))
from bert_ref import BertForMaskedLM  # noqa: E402


def state_dict(model):
    return {k: v for k, v in model.state_dict().items() if not k.startswith("cls.predictions.decoder.")}


def specs_of(sd):
    specs, off = [], 0
    for name, t in sd.items():
        specs.append({"name": name, "shape": list(t.shape), "offset": off, "size": t.numel(),
                      "decay": not (name.endswith(".bias") or "LayerNorm" in name)})
        off += t.numel()
    return specs


if __name__ == "__main__":
    import torch

    meta = torch.device("meta")  # shapes only, no memory (a context manager from torch 2.0)
    with meta if hasattr(meta, "__enter__") else torch.no_grad():
        model = BertForMaskedLM(json.loads(sys.argv[1]))
    specs = specs_of(state_dict(model))
    print(json.dumps({"specs": specs, "size": specs[-1]["offset"] + specs[-1]["size"]}))
