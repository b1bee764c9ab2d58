"""参考实现：温度、top-k、top-p 采样，随机数给定（PyTorch）/ Reference: temperature, top-k and top-p sampling
with the uniform draws given (PyTorch).

顺序同 Hugging Face 的 logits warper：温度 → top-k → top-p；排名里概率相等时 token id 小的在前（stable 排序）。
The order of Hugging Face's logits warpers: temperature, top-k, top-p; ties rank the lower token id first
(a stable sort).
"""

import torch


def renormalise(sorted_probs, keep):
    """没保留的置 0，每行重新归一化 / zero what is not kept, rescale each row to sum to 1."""
    q = torch.where(keep, sorted_probs, torch.zeros_like(sorted_probs))  # (N, V)
    return q / q.sum(dim=-1, keepdim=True)


def sample(logits, u, temperature, top_k=None, top_p=None):
    """返回 {"tokens": (N,) token id, "probs": (N, V) 按 token id 排列的最终分布}。

    {"tokens": (N,) token ids, "probs": (N, V) the final distribution in token-id order}."""
    N, V = logits.shape
    probs = torch.softmax(logits / temperature, dim=-1)  # 温度作用在 logits 上，softmax 之前 / before the softmax
    # 从大到小；stable=True 让相等的概率按 id 从小到大 / descending; stable keeps equal ones in id order
    sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)  # (N, V) each
    keep = torch.ones_like(sorted_probs, dtype=torch.bool)
    if top_k is not None:
        keep &= torch.arange(V) < top_k  # 前 top_k 名 / the first top_k ranks
        sorted_probs = renormalise(sorted_probs, keep)  # top-p 看的是 top-k 之后的分布 / what top-p sees
    if top_p is not None:
        # 排在它前面的概率之和 < top_p 就保留：越过 top_p 的那个也保留 / kept while the mass before it is < top_p
        before = torch.cat([torch.zeros(N, 1, dtype=sorted_probs.dtype), sorted_probs.cumsum(-1)[:, :-1]], dim=-1)
        keep &= before < top_p
    sorted_q = renormalise(sorted_probs, keep)  # (N, V)
    # 逆 CDF：第一个累计概率严格大于 u 的名次 / inverse CDF: the first rank whose cumulative value exceeds u
    rank = (sorted_q.cumsum(-1) <= u[:, None]).sum(-1)  # (N,)
    rank = torch.minimum(rank, (sorted_q > 0).sum(-1) - 1)  # 舍入兜底：最后一个概率为正的 / rounding guard
    tokens = order.gather(-1, rank[:, None])[:, 0]  # (N,): 名次映射回 token id / ranks back to token ids
    final = torch.zeros_like(sorted_q).scatter(-1, order, sorted_q)  # (N, V): 按 token id 排列 / in id order
    return {"tokens": tokens, "probs": final}
