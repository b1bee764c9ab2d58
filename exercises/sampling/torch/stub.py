"""解码采样：温度、top-k、top-p，给定均匀随机数，用 PyTorch 实现 / Sampling with temperature, top-k and top-p,
the uniform draws given, in PyTorch.

【中文】写一个函数 sample(logits, u, temperature, top_k=None, top_p=None)，约定与 NumPy 版相同：
- logits：(N, V) float64 张量；u：(N,)，每行一个 [0, 1) 的均匀随机数；temperature > 0；
  top_k：正整数或 None；top_p：(0, 1] 的数或 None。
- 顺序：softmax(logits / temperature) → 按概率从大到小排名（概率相等时 token id 小的在前）→ top-k 并重新归一化
  → top-p（保留累计概率 >= top_p 的最小前缀）→ 重新归一化 → 逆 CDF：按排名累计，取第一个累计概率严格大于 u 的 token。
- 返回 dict：{"tokens": (N,) 整数张量, "probs": (N, V) 最终分布，按 token id 排列}。
- 不许用 torch.multinomial：随机数已经给了（u），这道题要你自己按 u 取 token。
  注意：torch.topk 遇到相等的值不保证下标小的在前；torch.sort(..., stable=True) 保证。

[English] Write sample(logits, u, temperature, top_k=None, top_p=None), the NumPy track's contract:
- logits: (N, V) float64 tensor; u: (N,), one uniform draw in [0, 1) per row; temperature > 0; top_k: a
  positive int or None; top_p: a number in (0, 1] or None.
- In order: softmax(logits / temperature) -> rank by probability, most probable first (equal probabilities:
  lower token id first) -> top-k, renormalised -> top-p (the smallest prefix whose cumulative probability is
  >= top_p) -> renormalise -> inverse CDF: accumulate in rank order, take the first token whose cumulative
  probability is strictly greater than u.
- Return a dict {"tokens": (N,) int tensor, "probs": (N, V) the final distribution in token-id order}.
- torch.multinomial is not allowed: the draws are given (u), the exercise is drawing with them. Note that
  torch.topk does not promise the lower index first among equal values; torch.sort(..., stable=True) does.
"""

import torch


def sample(logits: torch.Tensor, u: torch.Tensor, temperature: float, top_k=None, top_p=None) -> dict:
    """Return {"tokens": (N,) token ids, "probs": (N, V) the final distribution}."""
    raise NotImplementedError("sample: 请实现 / write me")
