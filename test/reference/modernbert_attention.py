"""ModernBERT's attention, two ways: padded with a boolean mask, and unpadded over packed sequences.

Both take the output of attn.Wqkv, whose 3*hidden features are laid out
[q | k | v], each head-major (feature h*head_dim + i is head h, dimension i),
and apply rotary embeddings to q and k with the layer's base (global layers
global_rope_theta, local layers local_rope_theta). Local layers attend to keys
at distance <= local_attention // 2 on both sides.

- attention_padded: Hugging Face's eager/SDPA path. Positions are 0..S-1 for
  every row (whatever the mask says: right padding only is equivalent to the
  unpadded path), a full S x S score matrix, padding and the window applied as
  a mask. O(S^2) even in local layers.
- attention_unpadded: Hugging Face's flash-attention path. Tokens of all rows
  packed into one [T, ...] tensor with cu_seqlens; positions restart at 0 in
  each sequence; local layers compute only the band of 2*half+1 keys around
  each query (unfold), O(T * window): the real sliding window.
The self-test checks that the two agree.
"""
import torch
from torch import nn


def rope_tables(length, head_dim, theta, dtype):
    """cos/sin [length, head_dim] for positions 0..length-1: angle p * theta^(-2i/head_dim), halves duplicated."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).to(dtype) / head_dim)
    angles = torch.arange(length, dtype=dtype)[:, None] * inv_freq[None]
    emb = torch.cat([angles, angles], dim=-1)
    return emb.cos(), emb.sin()


def rotate(x, cos, sin):
    """x * cos + rotate_half(x) * sin: dimension i pairs with i + head_dim/2 (GPT-NeoX layout, not interleaved)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


def split_qkv(qkv, num_heads):
    """[..., L, 3H] -> q, k, v as [..., heads, L, head_dim]."""
    *lead, length, three_h = qkv.shape
    head_dim = three_h // 3 // num_heads
    parts = qkv.view(*lead, length, 3, num_heads, head_dim)
    q, k, v = parts.unbind(dim=-3)
    return q.transpose(-2, -3), k.transpose(-2, -3), v.transpose(-2, -3)


def merge_heads(x):
    """[..., heads, L, head_dim] -> [..., L, heads * head_dim]."""
    x = x.transpose(-2, -3)
    return x.reshape(*x.shape[:-2], x.shape[-2] * x.shape[-1])


def attention_padded(qkv, key_mask, num_heads, theta, window_half):
    """qkv [B, S, 3H], key_mask [B, S] bool; window_half None for a global layer."""
    q, k, v = split_qkv(qkv, num_heads)
    s, head_dim = q.shape[-2], q.shape[-1]
    cos, sin = rope_tables(s, head_dim, theta, qkv.dtype)
    q, k = rotate(q, cos, sin), rotate(k, cos, sin)
    scores = (q @ k.transpose(-1, -2)) * head_dim**-0.5
    allowed = key_mask[:, None, None, :]
    if window_half is not None:
        pos = torch.arange(s)
        allowed = allowed & ((pos[:, None] - pos[None, :]).abs() <= window_half)
    scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
    return merge_heads(scores.softmax(-1) @ v)


def attention_unpadded(qkv, cu_seqlens, num_heads, theta, window_half):
    """qkv [T, 3H] of packed sequences (boundaries cu_seqlens); returns [T, H]."""
    out = []
    for start, end in zip(cu_seqlens[:-1], cu_seqlens[1:]):
        if end == start:
            continue
        q, k, v = split_qkv(qkv[start:end], num_heads)
        head_dim = q.shape[-1]
        cos, sin = rope_tables(end - start, head_dim, theta, qkv.dtype)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        ctx = full_attention(q, k, v) if window_half is None else banded_attention(q, k, v, window_half)
        out.append(merge_heads(ctx))
    return torch.cat(out, dim=0)


def full_attention(q, k, v):
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    return scores.softmax(-1) @ v


def banded_attention(q, k, v, half):
    """Each query i sees keys i-half..i+half that exist: [heads, L, 2*half+1] scores, never L x L."""
    heads, length, head_dim = q.shape
    width = 2 * half + 1
    k_win = nn.functional.pad(k, (0, 0, half, half)).unfold(1, width, 1)  # [heads, L, head_dim, width]
    v_win = nn.functional.pad(v, (0, 0, half, half)).unfold(1, width, 1)
    scores = torch.einsum("hld,hldw->hlw", q, k_win) * head_dim**-0.5
    key_pos = torch.arange(length)[:, None] - half + torch.arange(width)[None, :]
    exists = (key_pos >= 0) & (key_pos < length)
    scores = scores.masked_fill(~exists, torch.finfo(scores.dtype).min)
    return torch.einsum("hlw,hldw->hld", scores.softmax(-1), v_win)
