"""参考实现：top-k 路由的 MoE 层，带容量和负载均衡损失（PyTorch nn.Module）/ Reference: a top-k routed
mixture-of-experts layer with capacity and the load-balancing loss (PyTorch nn.Module).

路由同 Mixtral（softmax → top-k → 在选中的 k 个上重新归一化），容量和辅助损失同 Switch Transformer；
专家是 SwiGLU：w2(silu(w1(x)) * w3(x))，命名同 Mixtral。
Routing as Mixtral's (softmax, top-k, renormalised over the k chosen), capacity and auxiliary loss as Switch
Transformer's; each expert a SwiGLU, w2(silu(w1(x)) * w3(x)), named as in Mixtral.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


class Expert(nn.Module):
    """一个 SwiGLU 专家：(T, D) -> (T, F) -> (T, D) / one SwiGLU expert."""

    def __init__(self, d_model, d_ff):
        super().__init__()
        self.w1 = nn.Linear(d_model, d_ff, bias=False)  # 过 silu 的那一路 / the gate, through silu
        self.w3 = nn.Linear(d_model, d_ff, bias=False)  # up
        self.w2 = nn.Linear(d_ff, d_model, bias=False)  # down

    def forward(self, x):
        """一个专家的输出：(T, D) -> (T, D) / one expert's output."""
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class MoE(nn.Module):
    """MoE(d_model, d_ff, num_experts, top_k, capacity_factor=None, alpha=0.01)：路由器 gate 加 E 个专家。

    MoE(d_model, d_ff, num_experts, top_k, capacity_factor=None, alpha=0.01): the router gate and E experts."""

    def __init__(self, d_model, d_ff, num_experts, top_k, capacity_factor=None, alpha=0.01):
        super().__init__()
        self.top_k, self.capacity_factor, self.alpha = top_k, capacity_factor, alpha
        self.gate = nn.Linear(d_model, num_experts, bias=False)  # 路由 / the router
        self.experts = nn.ModuleList(Expert(d_model, d_ff) for _ in range(num_experts))

    def forward(self, x):
        """路由、容量、专家和辅助损失：
        x (T, D) -> {"y": (T, D), "aux_loss": (), "expert_ids": (T, k), "gates": (T, k)}。

        Routing, capacity, experts and the auxiliary loss: x (T, D) -> {"y", "aux_loss", "expert_ids", "gates"}."""
        T, D = x.shape
        E, k = len(self.experts), self.top_k
        probs = torch.softmax(self.gate(x), dim=-1)  # (T, E): 沿专家维 / over the experts
        # stable 降序排序：概率相等时下标小的在前（torch.topk 不保证）/ ties to the lower index (topk promises no order)
        sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)
        expert_ids, top = order[:, :k], sorted_probs[:, :k]  # (T, k) each
        gates = top / top.sum(dim=-1, keepdim=True)  # (T, k): 重新归一化 / renormalised (Mixtral)
        C = T if self.capacity_factor is None else math.floor(self.capacity_factor * T * k / E)
        flat = expert_ids.reshape(-1)  # (T*k,): 按 token 顺序 / in token order
        one_hot = F.one_hot(flat, E)  # (T*k, E)
        slot = (one_hot.cumsum(dim=0) * one_hot).sum(dim=-1) - 1  # (T*k,): 在它的专家里排第几 / its slot
        kept = (slot < C).view(T, k)  # (T, k): 专家已满的分配丢弃 / dropped once the expert is full
        y = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):  # 每个专家只算分给它的 token / each expert on its own tokens
            token, j = torch.where((expert_ids == e) & kept)
            if token.numel():
                y.index_add_(0, token, gates[token, j, None] * expert(x[token]))  # (n, D) 加回各自的行 / rows back
        f = torch.bincount(flat, minlength=E).to(x.dtype) / flat.numel()  # (E,): 计数的占比 / share of assignments
        aux_loss = self.alpha * E * (f * probs.mean(dim=0)).sum()  # Switch 的辅助损失 alpha·E·Σ f_i·P_i
        return {"y": y, "aux_loss": aux_loss, "expert_ids": expert_ids, "gates": gates}
