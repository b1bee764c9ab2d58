"""解码采样：温度、top-k、top-p，给定均匀随机数，用 NumPy 实现（float64）/ Sampling with temperature, top-k
and top-p, the uniform draws given, in NumPy (float64).

【中文】约定：
- logits：(N, V)，N 行（比如 batch 里每个序列的下一步），词表大小 V。u：(N,)，每行一个 [0, 1) 的均匀随机数。
  temperature > 0。top_k：正整数或 None（不做 top-k）。top_p：(0, 1] 的数或 None（不做 top-p）。
- 1. probs = softmax(logits / temperature)，沿最后一维：温度在 softmax 之前作用在 logits 上。
- 2. 排名：按概率从大到小，概率相等时 token id 小的在前。
- 3. top-k：只保留前 top_k 名，并重新归一化。
- 4. top-p：在第 3 步的分布上，保留累计概率 >= top_p 的最小前缀（越过或恰好达到 top_p 的那个 token 保留，之后的不保留）。
- 5. 把保留的 token 重新归一化，得到最终分布。
- 6. 采样（逆 CDF）：按排名顺序累计最终分布，取第一个累计概率严格大于 u 的 token；若舍入使 u 不小于总和，
  取最后一个概率为正的 token。
- 返回 dict：{"tokens": (N,) 整数 token id, "probs": (N, V) 最终分布，按 token id 排列（没保留的为 0）}。
  全程 float64。不要修改输入。

[English] Conventions:
- logits: (N, V), N rows (say, the next step of each sequence of a batch) over a vocabulary of V. u: (N,), one
  uniform draw in [0, 1) per row. temperature > 0. top_k: a positive int, or None (no top-k). top_p: a number in
  (0, 1], or None (no top-p).
- 1. probs = softmax(logits / temperature) over the last axis: the temperature acts on the logits, before the
  softmax.
- 2. The ranking: most probable first; equal probabilities rank the lower token id first.
- 3. top-k: keep the top_k first ranks only, and renormalise.
- 4. top-p: on the distribution of step 3, keep the smallest prefix of the ranking whose cumulative probability
  is >= top_p (the token that reaches or crosses top_p is kept, the ones after it are not).
- 5. Renormalise the kept tokens: the final distribution.
- 6. The draw (inverse CDF): accumulate the final distribution in rank order and take the first token whose
  cumulative probability is strictly greater than u; if rounding leaves u at or above the total, the last token
  of positive probability.
- Return a dict {"tokens": (N,) int token ids, "probs": (N, V) the final distribution in token-id order (0 for
  tokens not kept)}. float64 throughout. Do not modify the inputs.
"""

import numpy as np


def sample(logits, u, temperature, top_k=None, top_p=None):
    """Return {"tokens": (N,) token ids, "probs": (N, V) the final distribution}."""
    raise NotImplementedError("sample: 请实现 / write me")
