"""top-k 路由的 MoE 层（带容量和负载均衡损失），用 NumPy 实现（float64）/ A top-k routed mixture-of-experts
layer with capacity and the load-balancing loss, in NumPy (float64).

【中文】约定：
- x：(T, D)，T 个 token（batch 已经摊平）。路由 W_g：(D, E)。专家 e 是 SwiGLU FFN：
  (silu(x @ W1[e]) * (x @ W3[e])) @ W2[e]，W1、W3：(E, D, F)，W2：(E, F, D)，没有偏置。
- probs = softmax(x @ W_g)，沿专家维（最后一维）：每个 token 在 E 个专家上的概率和为 1。
- 每个 token 选概率最大的 top_k 个专家，按概率从大到小排列；概率相等时下标小的在前（也优先入选）。
- gates = 选中的 k 个概率重新归一化到和为 1（Mixtral 的做法）。
- 容量：每个专家最多 C = floor(capacity_factor * T * top_k / E) 个分配（capacity_factor 为 None 时不限）。
  分配按 token 顺序（token 0、1、2……）占用各自专家的位置；专家已满时，这个分配被丢弃：它的贡献为 0，
  其余门值不重新归一化（层外的残差连接会把 token 带过去）。
- y[t] = Σ_j gates[t, j] · expert_{expert_ids[t, j]}(x[t])，只对没被丢弃的分配求和。
- aux_loss = alpha * E * Σ_i f_i * P_i：f_i = 选中专家 i 的分配数 / (T * top_k)（在丢弃之前计数，Σ f_i = 1），
  P_i = 专家 i 的路由概率对所有 token 的平均。
- 返回 dict：{"y": (T, D), "aux_loss": 0 维数组（或 float）, "expert_ids": (T, top_k) 整数, "gates": (T, top_k)}。
  全程 float64。不要修改输入。

[English] Conventions:
- x: (T, D), T tokens (the batch already flattened). Router W_g: (D, E). Expert e is a SwiGLU FFN:
  (silu(x @ W1[e]) * (x @ W3[e])) @ W2[e], W1 and W3 (E, D, F), W2 (E, F, D), no biases.
- probs = softmax(x @ W_g) over the experts (the last axis): each token's E probabilities sum to 1.
- Each token takes its top_k most probable experts, most probable first; between equal probabilities the
  lower expert index comes first (and is chosen first).
- gates = the k chosen probabilities renormalised to sum to 1 (Mixtral's way).
- Capacity: each expert takes at most C = floor(capacity_factor * T * top_k / E) assignments (no limit when
  capacity_factor is None). Assignments take their expert's slots in token order (token 0, 1, 2, ...); when the
  expert is full the assignment is dropped: it contributes 0 and the other gates are NOT renormalised (the
  residual connection around the layer carries the token on).
- y[t] = sum_j gates[t, j] * expert_{expert_ids[t, j]}(x[t]), over the assignments not dropped.
- aux_loss = alpha * E * sum_i f_i * P_i: f_i = (assignments to expert i) / (T * top_k), counted before any
  drop (sum f_i = 1); P_i = the router probability of expert i averaged over the tokens.
- Return a dict {"y": (T, D), "aux_loss": 0-d array (or float), "expert_ids": (T, top_k) ints,
  "gates": (T, top_k)}. float64 throughout. Do not modify the inputs.
"""

import numpy as np


def moe_forward(x, W_g, W1, W2, W3, top_k, capacity_factor, alpha):
    """Return {"y": (T, D), "aux_loss": (), "expert_ids": (T, top_k), "gates": (T, top_k)}."""
    raise NotImplementedError("moe_forward: 请实现 / write me")
