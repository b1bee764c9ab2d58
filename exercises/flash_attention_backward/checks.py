"""Checks for flash_attention_backward: FlashAttention-2's backward over key blocks, from the saved O and L.

Inputs q (..., Tq, d), k (..., Tk, d), v (..., Tk, dv), out (..., Tq, dv) and lse (..., Tq) as the forward
returns them (computed here by plain attention, independently of any reference), d_out (..., Tq, dv), mask,
block_size. Outputs dq, dk, dv. Cases: a ragged last block, causal with batch and heads, masks that leave whole
key blocks empty for some queries (a sliding window, left padding), block sizes 1 and > Tk, large logits,
square tiles (block = Tq: shape-blind transposes and broadcasts run there), masked keys that outscore the
allowed ones by millions. Gradients are also checked against finite differences of plain attention.

Memory: once every case passes, the peak memory of one call on `memory_case` is measured; above
`memory_limit` (half of one (Tq, Tk) float64 matrix) the exercise fails: P, dP or dS was built whole.
"""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("dq", "dk", "dv")
FUNCTION = "flash_attention_backward"


# --- plain attention, for the inputs the forward would have saved and for finite differences -----------------

def attention(q, k, v, mask, rows=256):
    """(out (..., Tq, dv), lse (..., Tq)) by the definition, over `rows` queries at a time (the memory case's
    (2048, 2048) scores never whole)."""
    Tq, Tk = q.shape[-2], k.shape[-2]
    if mask is not None:
        mask = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, (Tq, Tk)))
    outs, lses = [], []
    for start in range(0, Tq, rows):
        s = q[..., start:start + rows, :] @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])  # (..., rows, Tk)
        if mask is not None:
            s = np.where(mask[..., start:start + rows, :], s, -np.inf)
        m = s.max(axis=-1, keepdims=True)  # (..., rows, 1)
        e = np.exp(s - m)
        total = e.sum(axis=-1, keepdims=True)
        outs.append((e / total) @ v)  # (..., rows, dv)
        lses.append((m + np.log(total))[..., 0])  # (..., rows)
    return np.concatenate(outs, axis=-2), np.concatenate(lses, axis=-1)


# --- the classic mistakes, as edits of the reference's helpers ------------------------------------------

def _d_from_block(ref):
    def softmax_grad(p, dp, D):
        return p * (dp - (p * dp).sum(axis=-1, keepdims=True))  # wrong: rowsum(P ∘ dP) of this block only

    return softmax_grad


def _d_broadcast_over_keys(ref):
    def softmax_grad(p, dp, D):
        return p * (dp - D)  # wrong: D (..., Tq) lined up with the key axis; runs only when Bc == Tq

    return softmax_grad


def _no_scale_in_grads(ref):
    def block_grads(q, k_block, v_block, p, d_out, D):
        dv_block = p.swapaxes(-1, -2) @ d_out
        ds = ref.softmax_grad(p, d_out @ v_block.swapaxes(-1, -2), D)
        return ds @ k_block, ds.swapaxes(-1, -2) @ q, dv_block  # wrong: the 1/sqrt(d) of S forgotten

    return block_grads


def _mask_not_applied(ref):
    def score_block(q, k_block, mask_block):
        return ref.score_block(q, k_block, None)  # wrong: P recomputed over the masked keys too

    return score_block


def _fill_1e4(ref):
    def score_block(q, k_block, mask_block):
        s = (q @ k_block.swapaxes(-1, -2)) * ref.softmax_scale(q.shape[-1])
        return s if mask_block is None else np.where(mask_block, s, -1e4)

    return score_block


def _block_max(ref):
    def probabilities(s, lse):
        m = s.max(axis=-1, keepdims=True)
        return np.exp(s - np.where(np.isneginf(m), 0.0, m))  # wrong: the forward's habit, not exp(S - L)

    return probabilities


def _exp_over_exp(ref):
    def probabilities(s, lse):
        return np.exp(s) / np.exp(lse)[..., None]  # overflows (or 0/0) once scores pass ~709

    return probabilities


def _dk_dv_swapped(ref):
    def block_grads(q, k_block, v_block, p, d_out, D):
        dq_part, dk_block, dv_block = ref.block_grads(q, k_block, v_block, p, d_out, D)
        return dq_part, dv_block, dk_block

    return block_grads


def _transposes_missing(ref):
    def block_grads(q, k_block, v_block, p, d_out, D):
        scale = ref.softmax_scale(q.shape[-1])
        ds = ref.softmax_grad(p, d_out @ v_block.swapaxes(-1, -2), D)
        # wrong: P dO and dS Q instead of P^T dO and dS^T Q; the shapes agree only when Bc == Tq
        return (ds @ k_block) * scale, (ds @ q) * scale, p @ d_out

    return block_grads


def _last_block_only(ref):
    def accumulate(dq, dq_part):
        return dq_part  # wrong: dQ = (not +=) the last key block's share

    return accumulate


_FLASH = ("eff-flashattention-2", "eff-flashattention")
_BACKWARD = ("bw-backward-formulas", "bw-rowsum-identity")
MUTANTS = (
    Mutant("d_from_block",
           Text(zh="D 用的是这一块的 rowsum(P ∘ dP)，而不是整行的 rowsum(dO ∘ O)：两者只有对整行求和时才相等，"
                   "逐块算时每块只看到自己那一部分",
                en="D taken as this block's rowsum(P ∘ dP) instead of the whole row's rowsum(dO ∘ O): the two are "
                   "equal only summed over the whole row, and a block sees its own part only"),
           patch={"softmax_grad": _d_from_block}, related=_BACKWARD + ("eff-flashattention-2",)),
    Mutant("d_broadcast_over_keys",
           Text(zh="D (..., Tq) 直接从 dP (..., Tq, Bc) 里减掉，没有加 [..., None]：按广播规则它对齐的是 key 维；"
                   "方块分块（Bc = Tq）时不报错，结果却是错的",
                en="D (..., Tq) subtracted from dP (..., Tq, Bc) without [..., None]: broadcasting lines it up with "
                   "the keys; with square tiles (Bc = Tq) it runs, and is wrong"),
           patch={"softmax_grad": _d_broadcast_over_keys}, related=("bw-rowsum-identity", "bw-backward-formulas")),
    Mutant("no_scale_in_grads",
           Text(zh="dQ 和 dK 漏乘了 1/sqrt(d)：S = Q Kᵀ / sqrt(d)，所以 dQ = dS K / sqrt(d)，dK = dSᵀ Q / sqrt(d)",
                en="dQ and dK without 1/sqrt(d): S = Q K^T / sqrt(d), so dQ = dS K / sqrt(d) and "
                   "dK = dS^T Q / sqrt(d)"),
           patch={"block_grads": _no_scale_in_grads}, related=("bw-scale-missing", "attn-why-scale-sqrt-dk")),
    Mutant("mask_not_applied",
           Text(zh="重算 P 时没有用 mask：被遮住的 key 也拿到了 exp(S - L)，梯度流到了它们身上",
                en="the mask not applied when P is recomputed: masked keys get exp(S - L) too, and gradient flows to "
                   "them"),
           patch={"score_block": _mask_not_applied}, related=("mask-which-value",) + _FLASH),
    Mutant("mask_fill_too_small", mistakes.MASK_FILL_TITLE, patch={"score_block": _fill_1e4},
           related=mistakes.MASK_FILL.related),
    Mutant("block_max_not_lse",
           Text(zh="P 用这一块的行最大值重算成 exp(S - 块内最大值)（前向循环里的写法），而不是 exp(S - L)："
                   "L = m + log(l) 已经包含了整行的最大值和求和，exp(S - L) 就是 softmax 本身",
                en="P recomputed as exp(S - the block's row max), as in the forward's loop, instead of exp(S - L): "
                   "L = m + log(l) holds the whole row's max and sum, so exp(S - L) is the softmax itself"),
           patch={"probabilities": _block_max}, related=("eff-flashattention-2",) + _FLASH[1:]),
    Mutant("exp_over_exp",
           Text(zh="P 算成了 exp(S) / exp(L)，而不是 exp(S - L)：分数超过 ~709 时 exp 溢出为 inf（或者都下溢为 0），"
                   "得到 inf/inf 或 0/0",
                en="P computed as exp(S) / exp(L) instead of exp(S - L): once scores pass ~709, exp overflows to inf "
                   "(or both underflow to 0), giving inf/inf or 0/0"),
           patch={"probabilities": _exp_over_exp}, related=("bw-softmax-max-subtraction", "mp-qk-overflow") + _FLASH),
    Mutant("dk_dv_swapped",
           Text(zh="dK 和 dV 弄反了：dV = Pᵀ dO，dK = dSᵀ Q / sqrt(d)",
                en="dK and dV swapped: dV = P^T dO, dK = dS^T Q / sqrt(d)"),
           patch={"block_grads": _dk_dv_swapped}, related=_BACKWARD),
    Mutant("transposes_missing",
           Text(zh="dV 和 dK 少了转置：写成了 P dO 和 dS Q，应为 Pᵀ dO 和 dSᵀ Q；方块分块（Bc = Tq）时形状碰巧对得上",
                en="dV and dK without their transposes: P dO and dS Q instead of P^T dO and dS^T Q; with square "
                   "tiles (Bc = Tq) the shapes happen to agree"),
           patch={"block_grads": _transposes_missing}, related=_BACKWARD),
    Mutant("last_block_only",
           Text(zh="dQ 没有对所有 key 块求和（写成了 = 而不是 +=）：只剩最后一块的贡献",
                en="dQ not summed over the key blocks (= instead of +=): only the last block's share is left"),
           patch={"accumulate": _last_block_only}, related=("eff-flashattention-2",) + _BACKWARD),
)


# --- the cases ------------------------------------------------------------------------------------------

def _text(zh, en):
    return Text(zh=zh, en=en)


def _sliding_window(Tq, Tk, window):
    """(Tq, Tk): query i sees keys i - window + 1 .. i."""
    i, j = np.arange(Tq)[:, None], np.arange(Tk)[None, :]
    return (j <= i) & (j > i - window)


# name, label, what it exposes, leading axes, Tq, Tk, d, dv, block_size, mask kind, shared component of q and k
_CASES = (
    ("ragged last block", _text("最后一块不满", "ragged last block"),
     _text("交叉注意力，Tk = 11，块大小 4（4 + 4 + 3）；Tq != Tk，d != dv",
           "cross-attention, Tk = 11, block 4 (4 + 4 + 3); Tq != Tk, d != dv"),
     (2,), 5, 11, 4, 3, 4, None, 0.0),
    ("causal, batch and heads", _text("因果，batch 加多头", "causal, batch and heads"),
     _text("(B, H, T, d)，(T, T) 因果 mask，块大小 4", "(B, H, T, d), a (T, T) causal mask, block 4"),
     (2, 3), 9, 9, 6, 6, 4, "causal", 0.0),
    ("sliding window", _text("滑动窗口", "sliding window"),
     _text("每个 query 只看最近的 4 个 key，块大小 3：靠后的 query 前几块 key 全被遮住，那几块的 P、dS 都必须是 0",
           "each query sees its 4 latest keys, block 3: later queries find their first key blocks fully masked, "
           "where P and dS must be 0"),
     (2,), 12, 12, 5, 4, 3, "window", 0.0),
    ("left padding", _text("左侧 padding", "left padding"),
     _text("(B, 1, Tk) mask：第 2、3 个样本忽略前 3、5 个 key，块大小 3：第一块全被遮住",
           "(B, 1, Tk) mask: examples 2 and 3 ignore their first 3 and 5 keys, block 3: the first block is fully "
           "masked"),
     (3,), 4, 10, 4, 5, 3, "left padding", 0.0),
    ("block size 1", _text("块大小 1", "block size 1"),
     _text("一次一个 key，加一个随机 mask（不是前缀）", "one key at a time, with a random mask (no prefix)"),
     (2,), 3, 5, 4, 2, 1, "random", 0.0),
    ("block larger than Tk", _text("块比 Tk 大", "block larger than Tk"),
     _text("块大小 16 > Tk = 7：只有一块，就是普通注意力的反向", "block 16 > Tk = 7: a single block, plain attention's backward"),
     (2,), 4, 7, 3, 5, 16, None, 0.0),
    ("large logits", _text("大 logits", "large logits"),
     _text("q、k 有一个长度 60 的公共分量：分数都在 1470 左右，exp(S) 溢出为 inf，只有 exp(S - L) 不会；"
           "分数之间的差仍是 O(1)，softmax 不饱和；偏移的因果 mask",
           "q and k share a component of length 60: every score is near 1470, where exp(S) overflows to inf and "
           "only exp(S - L) does not; the scores still differ by O(1), so the softmax is not saturated; an offset "
           "causal mask"),
     (2,), 4, 10, 6, 3, 4, "offset causal", 60.0),
    ("square tiles, unbatched", _text("方块分块，不带 batch", "square tiles, unbatched"),
     _text("二维输入，块大小 = Tq = 4，Tk = 12，(Tq, Tk) 随机 mask：形状分不出 query 和 key，少了转置或 D 少了 [..., None] "
           "都不报错",
           "2-D inputs, block = Tq = 4, Tk = 12, a random (Tq, Tk) mask: shapes do not tell queries from keys, so a "
           "missing transpose, or D without [..., None], raises nothing"),
     (), 4, 12, 5, 3, 4, "random", 0.0),
)


def _mask(kind, rng, lead, Tq, Tk):
    if kind == "causal":
        return inputs.causal_mask(Tq)
    if kind == "offset causal":  # query i (of Tq, aligned to the end) sees keys 0 .. i + Tk - Tq
        return np.tril(np.ones((Tq, Tk), dtype=bool), Tk - Tq)
    if kind == "window":
        return _sliding_window(Tq, Tk, 4)
    if kind == "left padding":
        return np.arange(Tk)[None, None, :] >= np.asarray([0, 3, 5])[:, None, None]  # (B, 1, Tk)
    if kind == "random":
        return inputs.random_mask(rng, lead + (Tq, Tk))
    return None


def _shapes(q, k, v, mask, block_size):
    return (f"q {q.shape}, k {k.shape}, v {v.shape}" + ("" if mask is None else f", mask {mask.shape}")
            + f", block_size={block_size}")


def _case(name, about, q, k, v, mask, block_size, d_out, label, gradcheck):
    out, lse = attention(q, k, v, mask)
    args = {"q": q, "k": k, "v": v, "out": out, "lse": lse, "d_out": d_out, "mask": mask, "block_size": block_size}
    return Case(name, about, FUNCTION, args, shapes=_shapes(q, k, v, mask, block_size), output_names=OUTPUTS,
                label=label, gradcheck=gradcheck)


def make_cases(seed):
    cases = []
    for index, (name, label, about, lead, Tq, Tk, d, dv, block_size, mask_kind, shared) in enumerate(_CASES):
        rng = np.random.default_rng([seed, 156, index])
        q = rng.standard_normal(lead + (Tq, d))
        k = rng.standard_normal(lead + (Tk, d))
        if shared:  # q_i = a e + x_i, k_j = a e + y_j with x, y orthogonal to e: scores a^2 / sqrt(d) + x_i . y_j / sqrt(d)
            e = np.ones(d) / np.sqrt(d)
            q, k = (x - (x @ e)[..., None] * e + shared * e for x in (q, k))
        v = rng.standard_normal(lead + (Tk, dv))
        mask = _mask(mask_kind, rng, lead, Tq, Tk)
        d_out = rng.standard_normal(lead + (Tq, dv))
        # finite differences are ill-conditioned on large scores
        cases.append(_case(name, about, q, k, v, mask, block_size, d_out, label, gradcheck=not shared))
    return cases + [_outscored_keys(seed)]


OUTSCORE_SHRINK = 50  # the scores of mistakes.outscored_keys divided by this: allowed ones near -2e4, masked +6e4

_OUTSCORED_ABOUT = Text(
    zh="每个 query 唯一被遮住的 key 分数约为 +6e4，可看的 key 都在 -2e4 以下：用 -1e4 填，被遮住的 key 得到 "
       "exp(-1e4 - L) = inf；exp(S) / exp(L) 是 0/0；softmax 恰好是 one-hot，dq、dk 为 0",
    en="each query's one masked key scores about +6e4 and every allowed key -2e4 or less: a -1e4 fill gives the "
       "masked key exp(-1e4 - L) = inf, exp(S) / exp(L) is 0/0; the softmax is exactly one-hot, so dq and dk are 0")


def _outscored_keys(seed):
    """Fixed scores (mistakes.outscored_keys, shrunk by OUTSCORE_SHRINK), key blocks of 2 each holding a query's
    allowed key: each query's one masked key outscores every allowed key by 8e4, and the best allowed key the
    others by 200 or more, so a -1e4 fill gives exp(-1e4 - L) = inf and exp(S) / exp(L) is 0/0, at every seed.
    dq = dS K / sqrt(d) is 0 here, but the rounding of P = exp(S - L), about 1e-16 |S|, reaches it multiplied by
    |dO| |V| |K| (dS = P ∘ (dP - D), dP = dO V^T): shrunk scores and a small v (1e-3) keep that far below the
    tolerance, so every correct order of operations (D as rowsum(P ∘ dP) too) agrees. d_out is of size 1."""
    p, mask = mistakes.outscored_keys(6, 6)  # (T, d), (T, T)
    p = p / np.sqrt(OUTSCORE_SHRINK)  # scores are quadratic in p (k = -q)
    q = np.stack([p, p[::-1]])  # (2, T, d): the second example takes the tokens in reverse order
    k = -q
    mask = np.stack([mask, mask[::-1, ::-1]])  # (2, T, T)
    rng = np.random.default_rng([seed, 156, 50])
    v, d_out = 1e-3 * rng.standard_normal((2, 6, 3)), rng.standard_normal((2, 6, 3))
    return _case("masked keys outscore", _OUTSCORED_ABOUT, q, k, v, mask, 2, d_out, mistakes.OUTSCORED_LABEL,
                 gradcheck=False)


def gradcheck(case, grads):
    """Directional finite differences of plain attention's output, against the submitted gradients."""
    args = {name: case.args[name] for name in ("q", "k", "v", "mask")}
    return fd.directional_checks(lambda a: attention(a["q"], a["k"], a["v"], a["mask"])[0], args,
                                 case.args["d_out"], {name: grads.get(f"d{name}") for name in "qkv"}, ("q", "k", "v"))


_LEADING_AXES = {0: (), 1: ("axis.batch",), 2: ("axis.batch", "axis.head")}
_ROWS = {"dq": "axis.query", "dk": "axis.key", "dv": "axis.key"}


def error_map(case, name, got, expected):
    """|error| of a gradient over (batch, head,) its rows (queries for dq, keys for dk and dv) and features."""
    lead = case.args["q"].ndim - 2
    if name not in _ROWS or lead not in _LEADING_AXES or np.shape(got) != np.shape(expected):
        return None
    with np.errstate(all="ignore"):
        errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
    view = Text(zh=f"{name} 每个元素的误差", en=f"the error of each element of {name}")
    return np.where(np.isnan(errors), np.inf, errors), _LEADING_AXES[lead] + (_ROWS[name], "axis.feature"), view


def perf_case(seed):
    """Causal attention over (B, H, T, d) = (2, 4, 128, 32) in key blocks of 32, for the speed comparison."""
    rng = np.random.default_rng([seed, 156, 1000])
    q, k, v, d_out = (rng.standard_normal((2, 4, 128, 32)) for _ in range(4))
    about = Text(zh="因果注意力，带 batch 和多头，块大小 32", en="causal attention, batch and heads, block 32")
    return _case("speed", about, q, k, v, inputs.causal_mask(128), 32, d_out, None, False)


# --- the memory bound -------------------------------------------------------------------------------------

MEMORY_T, MEMORY_D, MEMORY_BLOCK = 2048, 16, 32


def memory_case(seed):
    """Causal attention with Tq = Tk = 2048, d = dv = 16, key blocks of 32: one (Tq, Tk) float64 matrix (P, dP
    or dS) is 32 MiB, one (Tq, 32) tile 0.5 MiB."""
    rng = np.random.default_rng([seed, 156, 2000])
    q, k, v, d_out = (rng.standard_normal((MEMORY_T, MEMORY_D)) for _ in range(4))
    about = Text(zh="因果注意力，Tq = Tk = 2048，块大小 32：完整的 P 或 dS 要 32 MiB",
                 en="causal attention, Tq = Tk = 2048, block 32: a full P or dS would take 32 MiB")
    case = _case("memory", about, q, k, v, inputs.causal_mask(MEMORY_T), MEMORY_BLOCK, d_out, None, False)
    case.shapes = f"Tq = Tk = {MEMORY_T}, d = dv = {MEMORY_D}, block_size = {MEMORY_BLOCK}"
    return case


def memory_limit(case):
    """Half of one full (Tq, Tk) float64 matrix (16 MiB here): every full P, dP or dS (32 MiB) is over it, and
    so is a float32 P (16 MiB) with the gradients beside it. Half, not the forward's quarter: the PyTorch track
    runs forward and backward in the one measured call, and torch's own first-call costs (~3 MiB) plus a
    straightforward key-tiled Function (no in-place ops) came to 7.2 MiB of the quarter's 8 (the reference
    6.3; the NumPy reference 2.8)."""
    Tq, Tk = case.args["q"].shape[-2], case.args["k"].shape[-2]
    return Tq * Tk * 8 // 2


# --- the PyTorch track --------------------------------------------------------------------------------------

def _saved_problem(ctx, inputs_given, lead, Tq, Tk, shapes_allowed):
    """What is wrong with what forward kept for backward (None when nothing is): a kept tensor of Tq * Tk
    elements or more (other than the inputs themselves and tensors shaped like q, k, v or O), or not exactly one
    saved tensor of L's shape (..., Tq)."""
    import torch

    storages = {tensor.untyped_storage().data_ptr() for tensor in inputs_given if isinstance(tensor, torch.Tensor)}
    kept = [("saved tensor", tensor) for tensor in ctx.saved_tensors if tensor is not None]
    for name, value in vars(ctx).items() if hasattr(ctx, "__dict__") else ():
        items = value.values() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else (value,)
        kept += [(f"ctx.{name}", item) for item in items if isinstance(item, torch.Tensor)]
    big = int(np.prod(lead, dtype=np.int64)) * Tq * Tk
    for where, tensor in kept:
        if tensor.untyped_storage().data_ptr() in storages or tuple(tensor.shape) in shapes_allowed:
            continue
        if tensor.numel() >= big:
            return (f"forward kept a tensor of shape {tuple(tensor.shape)} ({where}): {tensor.numel()} elements, "
                    f"as many as the (Tq, Tk) = ({Tq}, {Tk}) attention matrix. Save only O and L (plus q, k, v, "
                    f"mask) and recompute P block by block in backward")
    saved = [tensor for where, tensor in kept if where == "saved tensor"]
    if sum(tuple(tensor.shape) == tuple(lead) + (Tq,) for tensor in saved) != 1:  # as CS336's test requires
        found = ", ".join(str(tuple(tensor.shape)) for tensor in saved) or "none"
        return (f"forward must save L, the log-sum-exp of each query's scores, shape {tuple(lead) + (Tq,)}: exactly "
                f"one tensor of that shape with ctx.save_for_backward (saved: {found})")
    return None


def torch_call(namespace, args, case):
    """A PyTorch submission on a case (the memory case too): FlashAttention.apply(q, k, v, mask, block_size) on
    leaf float64 tensors that require grad (the mask a bool tensor over the case's own array), what forward
    saved checked (no (Tq, Tk)-sized tensor; L saved), the case's d_out back-propagated; returns q, k, v's .grad."""
    from mhaquiz.grader.torch_form import shared, tensor

    q, k, v = (tensor(args[name]).requires_grad_(True) for name in ("q", "k", "v"))
    mask = shared(args["mask"])
    out = namespace.FlashAttention.apply(q, k, v, mask, args["block_size"])
    if isinstance(out, (tuple, list)):  # forward returned (O, L): O is what the loss sees
        out = out[0]
    if getattr(out, "grad_fn", None) is None:
        raise TypeError("FlashAttention.apply must return O, a tensor with a grad_fn (forward's output)")
    Tq, Tk, d, dv = q.shape[-2], k.shape[-2], q.shape[-1], v.shape[-1]
    lead = tuple(q.shape[:-2])
    allowed = {lead + (Tq, d), lead + (Tk, d), lead + (Tk, dv), lead + (Tq, dv), lead + (Tq,)}
    problem = _saved_problem(out.grad_fn, (q, k, v, mask), lead, Tq, Tk, allowed)
    if problem:
        raise ValueError(problem)
    # d_out back-propagated as the gradient of sum(out * d_out) (exactly d_out: 1.0 * d_out): out.backward(d_out)
    # would import sympy on its first call (torch's shape checks of an explicit gradient, ~34 MiB resident),
    # counted against the learner's memory bound
    (out * tensor(args["d_out"])).sum().backward()
    missing = [name for name, leaf in zip("qkv", (q, k, v)) if leaf.grad is None]
    if missing:
        raise ValueError("backward returned None for " + ", ".join(missing) + ": q, k and v each need a gradient")
    return q.grad, k.grad, v.grad
