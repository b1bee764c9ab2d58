"""参考实现：chunked prefill，一块新 token 对 KV 缓存和自身做因果注意力（PyTorch）/ Reference: chunked prefill,
causal attention of a chunk of new tokens against a K/V cache and themselves (PyTorch).

key 为 [缓存; 新 token]，第 j 个 key 的绝对位置是 j，第 i 个新 token 的是 P + i：可以看 j <= P + i
（带偏移的因果 mask，即 torch.tril(..., diagonal=P)），有窗口 w 时还要 j > P + i - w。
The keys are [cache ; new]: key j sits at absolute position j, new token i at P + i; it sees j <= P + i (the
offset causal mask, torch.tril(..., diagonal=P)), and with a window w also j > P + i - w.
"""

import math

import torch


def chunk_mask(T_new, P, window=None):
    """(T_new, P + T_new) 布尔矩阵：第 i 个新 token 能否看第 j 个 key / True where new token i may see key j."""
    q_pos = P + torch.arange(T_new)[:, None]  # (T_new, 1): query 的绝对位置 / the queries' absolute positions
    k_pos = torch.arange(P + T_new)[None, :]  # (1, T_total): 第 j 个 key 在位置 j / key j sits at position j
    allowed = k_pos <= q_pos  # 过去和自己 / the past and itself
    if window is not None:
        allowed = allowed & (k_pos > q_pos - window)  # 自己和之前的 window - 1 个 / itself and window - 1 before
    return allowed


def chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None):
    """新 token 的注意力和追加后的缓存。q 为 (B, H, T_new, d)；缓存为 (B, H, P, d|dv)；新的 k、v 为
    (B, H, T_new, d|dv)。返回 (out, k, v)。

    Attention of the new tokens and the grown caches. q (B, H, T_new, d); caches (B, H, P, d|dv); new
    (B, H, T_new, d|dv). Returns (out, k, v)."""
    P, T_new = k_cache.shape[-2], q.shape[-2]
    k = torch.cat([k_cache, k_new], dim=-2)  # (B, H, P + T_new, d): 缓存在前 / the cache first
    v = torch.cat([v_cache, v_new], dim=-2)  # (B, H, P + T_new, dv)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (B, H, T_new, P + T_new)
    scores = scores.masked_fill(~chunk_mask(T_new, P, window), float("-inf"))  # True = 可以看 / may attend
    return torch.softmax(scores, dim=-1) @ v, k, v  # (B, H, T_new, dv), 追加后的缓存 / the grown caches
