"""参考实现：给定均匀随机数的 temperature、top-k 和 top-p（nucleus）采样（NumPy，float64）。

约定（Hugging Face logits warper 的顺序：先 temperature，再 top-k，最后 top-p）：
- probs = softmax(logits / temperature)，每行在整个词表上做 softmax。
- token 按概率排名，概率大的在前；概率相等时 token id 小的在前。
- top-k 保留排名前 k 的 token，保留的部分重新归一化。
- top-p 保留排名中累计概率（基于 top-k 重新归一化后的分布）>= top_p 的最短前缀：达到或越过 top_p 的
  那个 token 保留，它之后的不保留。
- 保留的 token 重新归一化；采到的是排名中第一个累计概率 > u 的 token（在排序后的顺序上做逆 CDF）；
  如果舍入误差让 u 不小于总和，取最后一个概率为正的 token。
返回 token id (N,) 和按 token id 顺序排列的最终分布 (N, V)。

Reference: temperature, top-k and top-p (nucleus) sampling with the uniform draws given (NumPy, float64).

Conventions (the order of Hugging Face's logits warpers: temperature, then top-k, then top-p):
- probs = softmax(logits / temperature) over the vocabulary, per row.
- Tokens are ranked by probability, most probable first; equal probabilities rank the lower token id first.
- top-k keeps the k first tokens of that ranking, and the kept ones are renormalised.
- top-p keeps the smallest prefix of the ranking whose cumulative probability (of the top-k renormalised
  distribution) is >= top_p: the token that reaches or crosses top_p is kept; tokens after it are not.
- The kept tokens are renormalised; the token drawn is the first in the ranking whose cumulative probability is
  > u (inverse CDF in the sorted order); if rounding leaves u at or above the total, the last token of
  positive probability.
Returns the token ids (N,) and the final distribution (N, V) in token-id order.
"""

import numpy as np


def softmax(z):
    """沿最后一维的数值稳定 softmax。

    Numerically stable softmax over the last axis."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def apply_temperature(logits, temperature):
    """这个 temperature 下的分布：logits 在 softmax 之前相除。

    The distribution at this temperature: the logits are divided BEFORE the softmax."""
    return softmax(logits / temperature)  # (N, V)


def sort_descending(probs):
    """按排名排列的 token id：概率大的在前，概率相等时 id 从小到大（稳定排序）。

    Token ids by rank: most probable first, equal probabilities in increasing id (a stable sort)."""
    return np.argsort(-probs, axis=-1, kind="stable")  # (N, V)


def top_k_mask(sorted_probs, k):
    """保留排名前 k 的位置。

    Keep the k first ranks."""
    # (V,)，在各行上广播
    return np.arange(sorted_probs.shape[-1]) < k  # (V,), broadcast over the rows


def top_p_mask(sorted_probs, p):
    """保留累计概率达到 p 的最短前缀：排在一个 token 之前的概率和仍然 < p 时保留它（所以达到或越过 p 的
    那个 token 也保留）。

    Keep the smallest prefix whose cumulative probability reaches p: a token is kept when the probability
    ranked before it is still < p (so the token reaching or crossing p is kept)."""
    # (N, V-1)：排在 token 1..V-1 之前的概率和
    before = np.cumsum(sorted_probs, axis=-1)[:, :-1]  # (N, V-1): the mass ranked before tokens 1..V-1
    return np.concatenate([np.ones((sorted_probs.shape[0], 1), dtype=bool), before < p], axis=-1)  # (N, V)


def renormalise(sorted_probs, keep):
    """把不保留的置 0，再把每行重新缩放到和为 1。

    Zero what is not kept and rescale each row to sum to 1."""
    q = np.where(keep, sorted_probs, 0.0)  # (N, V)
    return q / q.sum(axis=-1, keepdims=True)


def filter_sorted(sorted_probs, top_k, top_p):
    """先 top-k，再在 top-k 重新归一化后的分布上做 top-p：返回（保留的 mask，top-p 看到的分布）。

    Top-k, then top-p on the top-k renormalised distribution: (keep mask, the distribution top-p saw)."""
    keep = np.ones(sorted_probs.shape, dtype=bool)
    if top_k is not None:
        keep = keep & top_k_mask(sorted_probs, top_k)
        sorted_probs = renormalise(sorted_probs, keep)
    if top_p is not None:
        keep = keep & top_p_mask(sorted_probs, top_p)
    return keep, sorted_probs


def inverse_cdf(sorted_q, u):
    """第一个累计概率 > u 的 token 的排名（最多到最后一个概率为正的 token）。

    The rank of the first token whose cumulative probability is > u (the last positive one at most)."""
    cdf = np.cumsum(sorted_q, axis=-1)  # (N, V)
    # (N,)：有多少个累计值不超过 u
    rank = (cdf <= u[:, None]).sum(axis=-1)  # (N,): how many cumulative values do not exceed u
    return np.minimum(rank, (sorted_q > 0).sum(axis=-1) - 1)  # (N,)


def to_token_ids(order, rank):
    """把排名换回 token id。

    Ranks back to token ids."""
    return np.take_along_axis(order, rank[:, None], axis=-1)[:, 0]  # (N,)


def unsort(sorted_q, order):
    """把分布换回 token id 的顺序。

    The distribution back in token-id order."""
    probs = np.zeros_like(sorted_q)
    # 每个值放回它原来的 token id 位置
    np.put_along_axis(probs, order, sorted_q, axis=-1)  # probs[n, order[n, r]] = sorted_q[n, r]
    return probs  # (N, V)


def sample(logits, u, temperature, top_k=None, top_p=None):
    """返回 {"tokens": (N,) 整数 token id, "probs": (N, V) 最终分布}。

    {"tokens": (N,) int token ids, "probs": (N, V) the final distribution}."""
    N, V = logits.shape
    assert u.shape == (N,) and temperature > 0
    probs = apply_temperature(logits, temperature)  # (N, V)
    # (N, V) token id，最好的在前
    order = sort_descending(probs)  # (N, V) token ids, best first
    keep, sorted_probs = filter_sorted(np.take_along_axis(probs, order, axis=-1), top_k, top_p)
    # (N, V)，每行和为 1
    sorted_q = renormalise(sorted_probs, keep)  # (N, V), rows sum to 1
    return {"tokens": to_token_ids(order, inverse_cdf(sorted_q, u)), "probs": unsort(sorted_q, order)}
