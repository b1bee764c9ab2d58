"""参考实现：带容量限制和负载均衡损失的 top-k 路由混合专家层（NumPy，float64）。

约定（Mixtral 的路由，Switch Transformer 的容量和辅助损失）：
- x 为 (T, D) 个 token；router W_g 为 (D, E)；probs = softmax(x @ W_g)，每个 token 在 E 个专家上做 softmax。
- 每个 token 按概率取 top_k 个专家（降序；概率相等时下标小的专家在前），门值 gates 是这些概率在选中的
  k 个上重新归一化到和为 1。
- 专家 e 是 SwiGLU FFN：(silu(x @ W1[e]) * (x @ W3[e])) @ W2[e]；W1、W3 为 (E, D, F)，W2 为 (E, F, D)。
- 每个专家的容量 C = floor(capacity_factor * T * top_k / E) 个分配（capacity_factor 为 None 时不限）。
  分配按 token 顺序占用其专家的位置；发现专家已满的 token 失去该专家的贡献（为 0，其余门值不重新归一化：
  层外的残差连接会把这个 token 带下去）。
- aux_loss = alpha * E * sum_i f_i * P_i，f_i 是 T * top_k 个分配中选了专家 i 的比例（在丢弃之前计数），
  P_i 是专家 i 的路由概率在所有 token 上的均值。

Reference: a top-k routed mixture-of-experts layer with capacity and the load-balancing loss (NumPy, float64).

Conventions (Mixtral's routing, Switch Transformer's capacity and auxiliary loss):
- x (T, D) tokens; router W_g (D, E); probs = softmax(x @ W_g) over the E experts, per token.
- Each token takes its top_k experts by probability (descending; between equal probabilities the lower expert
  index first) and weighs them by gates = those probabilities renormalised to sum to 1 over the k chosen.
- Expert e is the SwiGLU FFN (silu(x @ W1[e]) * (x @ W3[e])) @ W2[e]; W1, W3 (E, D, F), W2 (E, F, D).
- Capacity C = floor(capacity_factor * T * top_k / E) assignments per expert (no limit when capacity_factor is
  None). Assignments take the slots of their expert in token order; a token that finds its expert full loses
  that expert's contribution (it is 0, the other gates are not renormalised: the residual connection around
  the layer carries the token on).
- aux_loss = alpha * E * sum_i f_i * P_i, f_i = the share of the T * top_k assignments that chose expert i
  (counted before any is dropped), P_i = the mean router probability of expert i over the tokens.
"""

import numpy as np


def softmax(z, axis=-1):
    """沿 `axis` 的数值稳定 softmax。

    Numerically stable softmax along `axis`."""
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def router_probs(x, W_g):
    """每个 token 在各专家上的概率。

    Each token's probability over the experts."""
    # (T, D) @ (D, E) -> (T, E)，每行和为 1
    return softmax(x @ W_g, axis=-1)  # (T, D) @ (D, E) -> (T, E), rows sum to 1


def select_experts(probs, k):
    """每个 token 概率最大的 k 个专家，概率大的在前，相等时下标小的在前。

    The k most probable experts of each token, most probable first, ties to the lower index."""
    # (T, k)：稳定排序让相等的概率保持下标顺序
    ids = np.argsort(-probs, axis=-1, kind="stable")[:, :k]  # (T, k): a stable sort keeps equal ones in index order
    return ids, np.take_along_axis(probs, ids, axis=-1)  # (T, k), (T, k)


def renormalise(top_probs):
    """门值：选中的概率在每个 token 内重新缩放到和为 1（Mixtral）。

    The gates: the chosen probabilities rescaled to sum to 1 per token (Mixtral)."""
    return top_probs / top_probs.sum(axis=-1, keepdims=True)  # (T, k)


def capacity(capacity_factor, T, k, E):
    """每个专家的位置数：floor(capacity_factor * T * k / E)；capacity_factor 为 None 时每个分配都放得下。

    Slots per expert: floor(capacity_factor * T * k / E); every assignment fits when capacity_factor is None."""
    return T if capacity_factor is None else int(np.floor(capacity_factor * T * k / E))


def kept_assignments(expert_ids, E, C):
    """哪些分配找到了空位：按 token 顺序，每个专家的前 C 个分配。

    Which assignments find a free slot: each expert's first C assignments, in token order."""
    # (T*k,)：先是 token 0 的专家，再是 token 1 的……
    flat = expert_ids.reshape(-1)  # (T*k,): token 0's experts, then token 1's ...
    chosen = flat[:, None] == np.arange(E)  # (T*k, E) one-hot
    # (T*k,)：它在所属专家里的位置序号
    position = np.cumsum(chosen, axis=0)[np.arange(flat.size), flat] - 1  # (T*k,): its slot in its expert
    return (position < C).reshape(expert_ids.shape)  # (T, k) bool


def combine_weights(expert_ids, gates, kept, E):
    """(T, E)：专家 e 的输出在 token t 结果中的权重（未选中或被丢弃的为 0）。

    (T, E): the weight of expert e's output in token t's result (0 where not chosen or dropped)."""
    weights = np.zeros((expert_ids.shape[0], E))
    # 一个 token 的 k 个专家互不相同
    np.put_along_axis(weights, expert_ids, gates * kept, axis=-1)  # a token's k experts are distinct
    return weights


def silu(z):
    """z * sigmoid(z)，exp 只作用在 -|z| 上。

    z * sigmoid(z), exp taken of -|z| only."""
    e = np.exp(-np.abs(z))
    return z * np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def expert_outputs(x, W1, W2, W3):
    """每个专家对每个 token 的 SwiGLU 输出：(E, T, D)。（真实的层会先把每个专家的 token 收集起来，只计算
    路由到的部分；合并后的结果相同。）

    Every expert's SwiGLU output for every token: (E, T, D). (Real layers gather each expert's tokens
    instead, computing only what is routed; the combined result is the same.)"""
    gate = silu(np.einsum("td,edf->etf", x, W1))  # (E, T, F)
    up = np.einsum("td,edf->etf", x, W3)  # (E, T, F)
    return np.einsum("etf,efd->etd", gate * up, W2)  # (E, T, D)


def load_balancing_loss(probs, expert_ids, alpha):
    """Switch Transformer 的辅助损失 alpha * E * sum_i f_i * P_i（f 按 top-k 的全部分配计数）。

    Switch Transformer's auxiliary loss alpha * E * sum_i f_i * P_i (f over the top-k assignments)."""
    E = probs.shape[-1]
    # (E,)：和为 1
    f = np.bincount(expert_ids.reshape(-1), minlength=E) / expert_ids.size  # (E,): sums to 1
    # (E,)：和为 1
    P = probs.mean(axis=0)  # (E,): sums to 1
    return alpha * E * np.sum(f * P)


def moe_forward(x, W_g, W1, W2, W3, top_k, capacity_factor, alpha):
    """返回 {"y": (T, D), "aux_loss": (), "expert_ids": (T, k) 整数, "gates": (T, k)}。

    {"y": (T, D), "aux_loss": (), "expert_ids": (T, k) int, "gates": (T, k)}."""
    T, D = x.shape
    E = W_g.shape[1]
    assert W_g.shape == (D, E) and W1.shape[:2] == (E, D) and W2.shape[0] == E and 1 <= top_k <= E
    probs = router_probs(x, W_g)  # (T, E)
    expert_ids, top_probs = select_experts(probs, top_k)  # (T, k), (T, k)
    gates = renormalise(top_probs)  # (T, k)
    kept = kept_assignments(expert_ids, E, capacity(capacity_factor, T, top_k, E))  # (T, k)
    weights = combine_weights(expert_ids, gates, kept, E)  # (T, E)
    y = np.einsum("te,etd->td", weights, expert_outputs(x, W1, W2, W3))  # (T, D)
    return {"y": y, "aux_loss": np.asarray(load_balancing_loss(probs, expert_ids, alpha)),
            "expert_ids": expert_ids, "gates": gates}
