"""top-k 路由的 MoE 层（带容量和负载均衡损失），用 PyTorch 写成 nn.Module / A top-k routed mixture-of-experts
layer with capacity and the load-balancing loss, as a PyTorch nn.Module.

【中文】约定（与 NumPy 版相同）：
- MoE(d_model, d_ff, num_experts, top_k, capacity_factor=None, alpha=0.01)；forward(x) 中 x 为 (T, D)，返回 dict
  {"y": (T, D), "aux_loss": 标量张量, "expert_ids": (T, top_k) 整数, "gates": (T, top_k)}。
- 路由 self.gate = nn.Linear(d_model, num_experts, bias=False)（也认 router、w_g）。专家 self.experts =
  nn.ModuleList，第 e 个专家有 w1、w3（nn.Linear(d_model, d_ff)）和 w2（nn.Linear(d_ff, d_model)），都没有偏置，
  算 w2(silu(w1(x)) * w3(x))（Mixtral 的命名；也认 gate_proj / up_proj / down_proj）。评测按名字装载权重。
- probs = softmax(gate(x)) 沿专家维；每个 token 取概率最大的 top_k 个专家，从大到小，概率相等时下标小的在前：
  torch.topk 不保证这一点，torch.sort(..., stable=True) 保证。gates = 选中的概率重新归一化。
- 容量 C = floor(capacity_factor * T * top_k / E)（None 为不限），按 token 顺序占位，满了就丢弃（贡献为 0，不重新归一化）。
- aux_loss = alpha * E * Σ f_i * P_i，f_i = 分到专家 i 的分配数 / (T * top_k)（丢弃前计数），P_i = 专家 i 的平均路由概率。

[English] Conventions (the NumPy track's):
- MoE(d_model, d_ff, num_experts, top_k, capacity_factor=None, alpha=0.01); forward(x) with x (T, D) returns the
  dict {"y": (T, D), "aux_loss": a scalar tensor, "expert_ids": (T, top_k) ints, "gates": (T, top_k)}.
- The router self.gate = nn.Linear(d_model, num_experts, bias=False) (router, w_g recognised too). The experts
  self.experts = nn.ModuleList, expert e holding w1 and w3 (nn.Linear(d_model, d_ff)) and w2
  (nn.Linear(d_ff, d_model)), no biases, computing w2(silu(w1(x)) * w3(x)) (Mixtral's names; gate_proj /
  up_proj / down_proj recognised too). The grader loads the weights by name.
- probs = softmax(gate(x)) over the experts; each token takes its top_k most probable experts, most probable
  first, equal probabilities lower index first (torch.topk does not promise that; torch.sort(..., stable=True)
  does); gates = the chosen probabilities renormalised.
- Capacity C = floor(capacity_factor * T * top_k / E) (None: no limit), slots taken in token order, an
  assignment dropped when its expert is full (it contributes 0; no renormalisation).
- aux_loss = alpha * E * sum f_i * P_i, f_i = assignments to expert i / (T * top_k) (counted before drops),
  P_i = expert i's mean router probability.
"""

import torch
import torch.nn.functional as F
from torch import nn


class MoE(nn.Module):
    def __init__(self, d_model: int, d_ff: int, num_experts: int, top_k: int, capacity_factor=None, alpha=0.01):
        super().__init__()
        raise NotImplementedError("MoE: 请实现 / write me")

    def forward(self, x):
        """Return {"y": (T, D), "aux_loss": (), "expert_ids": (T, top_k), "gates": (T, top_k)}."""
        raise NotImplementedError("MoE.forward: 请实现 / write me")
