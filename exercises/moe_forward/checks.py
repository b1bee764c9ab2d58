"""Checks for moe_forward: top-k routing (softmax over experts, top-k, renormalised gates), exact ties, the
capacity that drops assignments in token order, and the Switch load-balancing loss.

Every case is one call moe_forward(...) returning {"y", "aux_loss", "expert_ids", "gates"}, made through the
driver call_moe (the scalar loss is compared as a shape-(1,) array and the expert ids as float64 numbers, so
any integer dtype passes). The router is built per case: two identical columns of W_g give exactly equal
probabilities (ties), a shared direction of the tokens makes one expert popular (drops), a scaled W_g gives
logits near ±900 (overflow).
"""

import numpy as np

from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("y", "aux_loss", "expert_ids", "gates")


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- the driver ----------------------------------------------------------------------------------------------

def call_moe(namespace, args):
    """One call of moe_forward; the loss as a shape-(1,) array and the expert ids as float64, on both sides."""
    result = namespace.moe_forward(*args.values())
    if not isinstance(result, dict):
        raise TypeError(f"moe_forward must return a dict with keys 'y', 'aux_loss', 'expert_ids' and 'gates', got "
                        f"{type(result).__name__}")
    outputs = dict(result)
    if "aux_loss" in outputs and np.ndim(outputs["aux_loss"]) == 0:
        outputs["aux_loss"] = np.reshape(outputs["aux_loss"], (1,))
    ids = outputs.get("expert_ids")
    if ids is not None and np.asarray(ids).dtype.kind in "iu":
        outputs["expert_ids"] = np.asarray(ids).astype(np.float64)  # any integer dtype is fine
    return outputs


# --- the cases -----------------------------------------------------------------------------------------------

def _experts(rng, E, D, F):
    W1 = rng.standard_normal((E, D, F)) / np.sqrt(D)
    W3 = rng.standard_normal((E, D, F)) / np.sqrt(D)
    W2 = rng.standard_normal((E, F, D)) / np.sqrt(F)
    return W1, W2, W3


def _steer(W_g, logits):
    """A token whose router logits are exactly-ish `logits` (least squares through W_g)."""
    return np.linalg.lstsq(W_g.T, np.asarray(logits, dtype=np.float64), rcond=None)[0]  # (D,)


def _plain(rng, T, D, E):
    W_g = rng.standard_normal((D, E)) * 1.5 / np.sqrt(D)
    return rng.standard_normal((T, D)), W_g


def _ties(rng, T, D, E):
    """Experts 1 and 3 share their router column: equal logits, so equal probabilities, for every token."""
    W_g = rng.standard_normal((D, E)) * 1.5 / np.sqrt(D)
    W_g[:, 3] = W_g[:, 1]
    x = rng.standard_normal((T, D))
    x[0] = _steer(W_g, [2.0, 1.0, 0.0, 1.0, -1.0])  # the tie at the top-2 boundary: expert 1 wins over 3
    x[1] = _steer(W_g, [0.0, 2.0, 1.0, 2.0, -1.0])  # the tied pair on top: expert 1 listed first
    x[2] = _steer(W_g, [-1.0, 1.0, 2.0, 1.0, 0.5])  # boundary again, below expert 2
    return x, W_g


def _popular(rng, T, D, E):
    """Every token leans towards expert 0: it gets more assignments than its capacity."""
    W_g = rng.standard_normal((D, E)) * 1.5 / np.sqrt(D)
    lean = _steer(W_g, [2.0, 0.5, 0.0, -0.5][:E])
    return 0.8 * rng.standard_normal((T, D)) + lean, W_g


def _offset_logits(rng, T, D, E):
    """Router logits = moderate ones + 750 for every expert: the softmax is unchanged by the common offset, but
    exp(750) overflows. The offset lives in W_g along a unit direction v on which every token has component 1,
    so x stays of unit scale (and so does y)."""
    v = rng.standard_normal(D)
    v /= np.linalg.norm(v)
    W_g = rng.standard_normal((D, E)) * 1.5 / np.sqrt(D) + 750.0 * np.outer(v, np.ones(E))
    x = rng.standard_normal((T, D))
    x += (1.0 - x @ v)[:, None] * v  # x @ v = 1 for every token
    return x, W_g


# name, label, what it exposes, router builder, (T, D, E, F), top_k, capacity_factor, alpha (Switch uses 0.01;
# larger ones here keep every mistake in the loss far above a float32-sized difference)
SPECS = (
    ("top-2 of 4", _text("4 选 2", "top-2 of 4"),
     _text("T = 6、E = 4、k = 2，不限容量：softmax、top-k、重新归一化、按门加权合并",
           "T = 6, E = 4, k = 2, no capacity limit: softmax, top-k, renormalisation, the gated combination"),
     _plain, (6, 5, 4, 7), 2, None, 1.0),
    ("top-1 (Switch)", _text("top-1（Switch）", "top-1 (Switch)"),
     _text("k = 1：重新归一化后门值都是 1（不归一化时就是那个概率）",
           "k = 1: renormalised, every gate is 1 (without it, the probability itself)"),
     _plain, (5, 4, 3, 6), 1, None, 0.5),
    ("exact ties", _text("完全相等的概率", "exact ties"),
     _text("专家 1 和 3 的路由列相同，概率完全相等：并列卡在第 2、3 名之间时选下标小的 1；两者都入选时 1 排在前面",
           "experts 1 and 3 share a router column, so their probabilities are exactly equal: tied at ranks 2 and 3, "
           "the lower index 1 is chosen; both chosen, 1 comes first"),
     _ties, (8, 6, 5, 4), 2, None, 1.0),
    ("capacity drops", _text("超出容量被丢弃", "capacity drops"),
     _text("每个 token 都偏向专家 0；capacity_factor = 1.1，C = floor(1.1·8·2/4) = 4：专家 0 的第 5 个起被丢弃（按 token 顺序）",
           "every token leans towards expert 0; capacity_factor = 1.1 gives C = floor(1.1*8*2/4) = 4: expert 0's "
           "assignments from the 5th on are dropped (in token order)"),
     _popular, (8, 5, 4, 6), 2, 1.1, 0.3),
    ("tight capacity", _text("容量很小", "tight capacity"),
     _text("capacity_factor = 0.5，C = floor(0.5·6·2/3) = 2：靠后的 token 两个专家都被丢弃，输出整行为 0",
           "capacity_factor = 0.5 gives C = floor(0.5*6*2/3) = 2: later tokens lose both experts, their output rows "
           "are 0"), _popular, (6, 4, 3, 5), 2, 0.5, 0.1),
    ("large logits", _text("很大的路由 logits", "large logits"),
     _text("每个专家的路由 logits 都在 750 左右：减去共同的偏移 softmax 不变，但不减最大值 exp 就会溢出",
           "router logits around 750 for every expert: the common offset leaves the softmax unchanged, but without "
           "subtracting the max exp overflows"),
     _offset_logits, (5, 4, 4, 5), 2, None, 1.0),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, build, (T, D, E, F), k, capacity_factor, alpha) in enumerate(SPECS):
        rng = np.random.default_rng([seed, 200, index])
        x, W_g = build(rng, T, D, E)
        W1, W2, W3 = _experts(rng, E, D, F)
        args = {"x": x, "W_g": W_g, "W1": W1, "W2": W2, "W3": W3, "top_k": k, "capacity_factor": capacity_factor,
                "alpha": alpha}
        cf = "None" if capacity_factor is None else f"{capacity_factor:g}"
        cases.append(Case(name, about, "moe_forward", args, label=label, output_names=OUTPUTS, driver=call_moe,
                          shapes=f"T={T} D={D} E={E} F={F} top_k={k} capacity_factor={cf} alpha={alpha:g}"))
    return cases


def perf_case(seed):
    """T = 256 tokens, 8 experts, top-2, capacity factor 1.25: for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 200, 1000])
    T, D, E, F = 256, 64, 8, 172
    x, W_g = _plain(rng, T, D, E)
    W1, W2, W3 = _experts(rng, E, D, F)
    return Case("speed", _text("256 个 token、8 个专家、top-2", "256 tokens, 8 experts, top-2"), "moe_forward",
                {"x": x, "W_g": W_g, "W1": W1, "W2": W2, "W3": W3, "top_k": 2, "capacity_factor": 1.25,
                 "alpha": 0.01}, output_names=OUTPUTS, driver=call_moe,
                shapes=f"T={T} D={D} E={E} F={F} top_k=2 capacity_factor=1.25")


# --- the classic mistakes ------------------------------------------------------------------------------------

def _patch(name, make):
    """A patch of the reference's helper `name` by make(ref) -> the buggy helper."""
    return {name: make}


def _select(order):
    def make(ref):
        def select_experts(probs, k):
            ids = order(probs)[:, :k]
            return ids, np.take_along_axis(probs, ids, axis=-1)

        return select_experts

    return make


def _naive_softmax(ref):
    def softmax(z, axis=-1):
        e = np.exp(z)  # inf for a logit above 709: inf / inf = NaN
        return e / e.sum(axis=axis, keepdims=True)

    return softmax


def _capacity_without_k(ref):
    return lambda capacity_factor, T, k, E: T if capacity_factor is None else int(np.floor(capacity_factor * T / E))


def _capacity_over_all_experts(ref):
    def kept_assignments(expert_ids, E, C):
        return (np.arange(expert_ids.size) < C).reshape(expert_ids.shape)  # one counter for every expert

    return kept_assignments


def _renormalised_after_drop(ref):
    def combine_weights(expert_ids, gates, kept, E):
        survivors = gates * kept
        total = survivors.sum(axis=-1, keepdims=True)
        return ref.combine_weights(expert_ids, np.divide(survivors, total, out=np.zeros_like(survivors),
                                                         where=total > 0), kept, E)

    return combine_weights


def _ungated(ref):
    return lambda expert_ids, gates, kept, E: ref.combine_weights(expert_ids, np.ones_like(gates), kept, E)


def _loss(rule):
    """load_balancing_loss(probs, expert_ids, alpha) computed by rule(counts, P, E, T, k, expert_ids, alpha)."""

    def make(ref):
        def load_balancing_loss(probs, expert_ids, alpha):
            T, k = expert_ids.shape
            E = probs.shape[-1]
            counts = np.bincount(expert_ids.reshape(-1), minlength=E)
            return rule(counts, probs.mean(axis=0), E, T, k, expert_ids, alpha)

        return load_balancing_loss

    return make


_ROUTING = ("moe-topk-gating",)
_CAPACITY = ("moe-expert-capacity", "moe-dropped-tokens", "moe-capacity-claims")
_BALANCE = ("moe-switch-balance-loss", "moe-balance-loss-value")

MUTANTS = (
    Mutant("gates_not_renormalised",
           _text("门值没有在选中的 k 个专家上重新归一化：直接用了 softmax 概率（Mixtral 要归一化到和为 1）",
                 "gates not renormalised over the k chosen experts: the softmax probabilities used as they are "
                 "(Mixtral rescales them to sum to 1)"),
           patch=_patch("renormalise", lambda ref: lambda top_probs: top_probs), related=_ROUTING),
    Mutant("softmax_over_tokens",
           _text("路由 softmax 沿 token 维（axis=0）做了，应沿专家维：每个 token 在 E 个专家上的概率和为 1",
                 "router softmax over the tokens (axis=0) instead of over the experts: each token's E probabilities "
                 "sum to 1"),
           patch=_patch("router_probs", lambda ref: lambda x, W_g: ref.softmax(x @ W_g, axis=0)), related=_ROUTING),
    Mutant("topk_smallest",
           _text("argsort 是升序的：选中了概率最小的 k 个专家（要 argsort(-probs) 或倒过来取）",
                 "argsort sorts ascending: the k least probable experts chosen (use argsort(-probs), or take from "
                 "the end)"),
           patch=_patch("select_experts", _select(lambda p: np.argsort(p, axis=-1, kind="stable"))), related=_ROUTING),
    Mutant("ties_to_higher_index",
           _text("概率相等时选了下标大的专家（把升序 argsort 倒过来得到的顺序）：约定是下标小的优先",
                 "equal probabilities broken towards the higher expert index (an ascending argsort reversed): the "
                 "lower index goes first"),
           patch=_patch("select_experts", _select(lambda p: np.argsort(p, axis=-1, kind="stable")[:, ::-1])),
           related=_ROUTING),
    Mutant("router_softmax_overflow",
           _text("路由 softmax 没有先减最大值：logits 超过 709 时 exp 溢出，得到 inf/NaN",
                 "router softmax without subtracting the max: logits above 709 overflow exp to inf/NaN"),
           patch=_patch("softmax", _naive_softmax), related=("bw-softmax-max-subtraction",)),
    Mutant("capacity_not_enforced",
           _text("没有执行容量限制：超出 C = floor(capacity_factor·T·k/E) 的分配也被处理了",
                 "capacity not enforced: assignments beyond C = floor(capacity_factor * T * k / E) still processed"),
           patch=_patch("capacity", lambda ref: lambda capacity_factor, T, k, E: T), related=_CAPACITY),
    Mutant("capacity_without_k",
           _text("容量公式漏了 k：C = floor(capacity_factor·T/E) 是 top-1 的公式，top-k 时每个 token 有 k 个分配",
                 "k missing from the capacity: C = floor(capacity_factor * T / E) is the top-1 formula; with top-k "
                 "each token makes k assignments"), patch=_patch("capacity", _capacity_without_k), related=_CAPACITY),
    Mutant("capacity_counted_over_all_experts",
           _text("容量按整个 batch 计数而不是按专家：只保留了最前面的 C 个分配，每个专家应各有 C 个位置",
                 "capacity counted over the whole batch instead of per expert: only the first C assignments kept; "
                 "each expert has C slots of its own"),
           patch=_patch("kept_assignments", _capacity_over_all_experts), related=_CAPACITY),
    Mutant("gates_renormalised_after_drop",
           _text("丢弃之后又把剩下的门值重新归一化了：被丢弃的专家贡献为 0，其余门值保持不变",
                 "the remaining gates renormalised after a drop: a dropped expert contributes 0 and the other gates "
                 "stay as they are"), patch=_patch("combine_weights", _renormalised_after_drop), related=("moe-dropped-tokens", "moe-topk-gating")),
    Mutant("outputs_not_gated",
           _text("专家输出直接相加，没有乘门值", "expert outputs added up without multiplying by their gates"),
           patch=_patch("combine_weights", _ungated), related=_ROUTING),
    Mutant("aux_f_from_probabilities",
           _text("f_i 用了路由概率的均值（与 P_i 相同）：f_i 是分到专家 i 的分配所占的比例（计数，不可导）",
                 "f_i taken from the router probabilities (the same as P_i): f_i is the share of assignments "
                 "routed to expert i (a count, not differentiable)"),
           patch=_patch("load_balancing_loss", _loss(lambda counts, P, E, T, k, ids, alpha: alpha * E * np.sum(P * P))),
           related=_BALANCE),
    Mutant("aux_missing_num_experts",
           _text("负载均衡损失漏了因子 E：α·E·Σ f_i·P_i（均匀时等于 α）",
                 "the load-balancing loss without its factor E: alpha * E * sum f_i * P_i (alpha when balanced)"),
           patch=_patch("load_balancing_loss", _loss(lambda counts, P, E, T, k, ids, alpha:
                                                     alpha * np.sum(counts / (T * k) * P))), related=_BALANCE),
    Mutant("aux_f_top1_only",
           _text("f_i 只按每个 token 的第一个专家计数（Switch 的 k = 1 定义）；这里按全部 T·k 个分配计数",
                 "f_i counted over each token's first expert only (Switch's k = 1 definition); here it counts all "
                 "T * k assignments"),
           patch=_patch("load_balancing_loss", _loss(lambda counts, P, E, T, k, ids, alpha:
                                                     alpha * E * np.sum(np.bincount(ids[:, 0], minlength=E) / T * P))),
           related=_BALANCE),
    Mutant("aux_f_divided_by_tokens",
           _text("f_i 除以了 T 而不是 T·k（Hugging Face Mixtral 的写法）：损失大了 k 倍",
                 "f_i divided by T instead of T * k (Hugging Face Mixtral's way): the loss comes out k times larger"),
           patch=_patch("load_balancing_loss", _loss(lambda counts, P, E, T, k, ids, alpha:
                                                     alpha * E * np.sum(counts / T * P))), related=_BALANCE),
)


# --- the heat map --------------------------------------------------------------------------------------------

def error_map(case, name, got, expected):
    """y: |error| per token and feature; aux_loss is one number (a 0-d view: no map); the routing outputs as
    they are (token by rank)."""
    if np.shape(got) != np.shape(expected):
        return None
    errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
    if name == "aux_loss":
        return errors.reshape(()), (), _text("aux_loss 的 |误差|", "|error| of aux_loss")
    if name == "y":
        return errors, ("axis.position", "axis.feature"), _text("y 的 |误差|，按 token 和特征", "|error| of y per token and feature")
    return None


# --- the PyTorch track --------------------------------------------------------------------------------------


ROUTER_NAMES = ("gate", "router", "w_g", "wg", "gating", "router_proj", "gate_linear", "switch", "w_gate")
EXPERT_LIST_NAMES = ("experts", "expert", "ffns", "experts_list", "expert_list", "mlps")
EXPERT_NAMES = {  # the contract's matrix -> the names an expert's layers go by (Mixtral; Qwen-MoE and DeepSeek)
    "W1": ("w1", "gate_proj", "w_gate", "fc_gate", "linear_gate", "gate"),
    "W3": ("w3", "up_proj", "w_up", "fc_up", "linear_up", "up"),
    "W2": ("w2", "down_proj", "w_down", "fc_down", "linear_down", "down"),
}


def _load_moe(module, W_g, W1, W2, W3):
    """The router and every expert's SwiGLU loaded by name: the router an nn.Linear (weight = W_g.T) or a bare
    (D, E) parameter; the experts an nn.ModuleList whose e-th module holds w1 / w3 / w2 (or gate_proj / up_proj
    / down_proj), or bare (E, D, F), (E, F, D) parameters W1 / W3 / W2 on the layer."""
    from mhaquiz.grader.torch_form import ParameterMismatch, _shapes, find_module, load_matrix

    E = W_g.shape[1]
    expected = [("gate (router)", W_g.shape), ("experts[e].w1 / w3", W1.shape[1:]), ("experts[e].w2", W2.shape[1:])]
    if not load_matrix(module, W_g, None, ROUTER_NAMES, "gate (router)", expected):
        raise ParameterMismatch("no router (gate / router / w_g)", expected, _shapes(module))
    experts = find_module(module, EXPERT_LIST_NAMES)
    if experts is not None:
        children = list(experts.children())
        if len(children) != E:
            raise ParameterMismatch(f"{len(children)} experts, the case has {E}", expected, _shapes(module))
        for e, expert in enumerate(children):
            for name, W in (("W1", W1), ("W3", W3), ("W2", W2)):
                if not load_matrix(expert, W[e], None, EXPERT_NAMES[name], f"experts[{e}].{EXPERT_NAMES[name][0]}",
                                   expected):
                    raise ParameterMismatch(f"expert {e} has no layer {' / '.join(EXPERT_NAMES[name][:2])}",
                                            expected, _shapes(module))
        return
    for name, W in (("W1", W1), ("W3", W3), ("W2", W2)):  # one stacked parameter per matrix
        if not load_matrix(module, W, None, (name, name.lower()), name, expected):
            raise ParameterMismatch("no experts (an nn.ModuleList named experts, or stacked W1 / W2 / W3)",
                                    expected, _shapes(module))


def torch_call(namespace, args, case):
    """A PyTorch submission on a case: MoE(d_model, d_ff, num_experts, top_k, capacity_factor, alpha) with the
    router and experts loaded by name, called on x; its dict back through the NumPy track's driver."""
    from types import SimpleNamespace

    import torch

    from mhaquiz.grader.torch_form import build, tensor, to_numpy

    def moe_forward(x, W_g, W1, W2, W3, top_k, capacity_factor, alpha):
        E, D, F = W1.shape
        module = build(namespace, "MoE", D, F, E, top_k, capacity_factor=capacity_factor, alpha=alpha)
        _load_moe(module, W_g, W1, W2, W3)
        with torch.no_grad():
            return to_numpy(module(tensor(x)))

    return call_moe(SimpleNamespace(moe_forward=moe_forward), args)
