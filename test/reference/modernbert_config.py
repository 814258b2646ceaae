"""ModernBERT's config.json as the reference reads it: Hugging Face's defaults, both layouts of the layer plan.

transformers 4.x writes global_attn_every_n_layers + global_rope_theta + local_rope_theta;
transformers 5.x config files also carry layer_types (one "full_attention" or
"sliding_attention" per layer) and rope_parameters ({"full_attention": {"rope_theta": ...},
"sliding_attention": {...}}). Where the 5.x keys are present they decide.
"""
from ref_common import RefInputError, read_json, resolve_config

DEFAULTS = {
    "vocab_size": 50368,
    "hidden_size": 768,
    "intermediate_size": 1152,
    "num_hidden_layers": 22,
    "num_attention_heads": 12,
    "hidden_activation": "gelu",
    "max_position_embeddings": 8192,
    "initializer_range": 0.02,
    "initializer_cutoff_factor": 2.0,
    "norm_eps": 1e-5,
    "norm_bias": False,
    "pad_token_id": 50283,
    "eos_token_id": 50282,
    "bos_token_id": 50281,
    "cls_token_id": 50281,
    "sep_token_id": 50282,
    "global_rope_theta": 160000.0,
    "attention_bias": False,
    "attention_dropout": 0.0,
    "global_attn_every_n_layers": 3,
    "local_attention": 128,
    "local_rope_theta": 10000.0,
    "embedding_dropout": 0.0,
    "mlp_bias": False,
    "mlp_dropout": 0.0,
    "decoder_bias": True,
    "classifier_bias": False,
    "classifier_activation": "gelu",
    "tie_word_embeddings": True,
}
LAYER_TYPES = ("full_attention", "sliding_attention")


def read_config(d):
    source = f"{d}/config.json"
    return resolve(read_json(source), source)


def resolve(raw, source):
    c = resolve_config(
        raw,
        DEFAULTS,
        source,
        ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "global_attn_every_n_layers", "local_attention"),
        ("attention_dropout", "embedding_dropout", "mlp_dropout"),
    )
    h, heads = c["hidden_size"], c["num_attention_heads"]
    if h % heads or (h // heads) % 2:
        raise RefInputError(f"{source}: hidden_size {h} / num_attention_heads {heads} must give an even head size (rotary pairs)")
    if not 0 <= c["pad_token_id"] < c["vocab_size"]:
        raise RefInputError(f"{source}: pad_token_id {c['pad_token_id']} is outside the vocabulary")
    c["_local"] = layer_plan(c, source)
    c["_theta_global"], c["_theta_local"] = rope_thetas(c, source)
    c["_source"] = source
    return c


def layer_plan(c, source):
    """True for each sliding-window (local) layer."""
    n = c["num_hidden_layers"]
    types = c.get("layer_types")
    if types is None:
        return [i % c["global_attn_every_n_layers"] != 0 for i in range(n)]
    if not isinstance(types, list) or len(types) != n or any(t not in LAYER_TYPES for t in types):
        raise RefInputError(f"{source}: layer_types must list {n} entries, each one of {', '.join(LAYER_TYPES)}")
    return [t == "sliding_attention" for t in types]


def rope_thetas(c, source):
    params = c.get("rope_parameters")
    if params is None:
        local = c["local_rope_theta"] if c["local_rope_theta"] is not None else c["global_rope_theta"]
        return float(c["global_rope_theta"]), float(local)
    thetas = []
    for kind in LAYER_TYPES:
        p = params.get(kind) if isinstance(params, dict) else None
        if not isinstance(p, dict) or not isinstance(p.get("rope_theta"), (int, float)):
            raise RefInputError(f"{source}: rope_parameters.{kind}.rope_theta is missing")
        if p.get("rope_type", "default") != "default":
            raise RefInputError(f"{source}: rope_parameters.{kind}.rope_type {p['rope_type']!r} is not supported (only 'default')")
        thetas.append(float(p["rope_theta"]))
    return thetas[0], thetas[1]
