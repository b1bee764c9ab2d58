"""The catalogue of classic attention mistakes, each a way to inject the bug into the reference.

A Mutant patches a helper of the solution module (softmax, split_heads, merge_heads, attention_weights,
add_head_axis, softmax_backward, weight_grad, bias_grad), edits the arguments, or edits the outputs. Its
title is bilingual content, like the exercise's prompt; `related` names the questions that teach it. The diagnosis
(diagnose.py) names a mistake when the submission matches the mutant where it misses the reference.
"""

from __future__ import annotations

from typing import Callable, Dict, Tuple

import numpy as np

from mhaquiz.grader.spec import Case, Mutant
from mhaquiz.i18n import Text


# --- attention weights with a bug in the scale or the mask --------------------------------------------

def _attention_weights(scale: Callable[[np.ndarray], float] = lambda Q: 1 / np.sqrt(Q.shape[-1]),
                       mask_mode: str = "keep") -> Callable:
    """A factory for attention_weights(Q, K, mask) with the given scale rule and mask handling."""

    def factory(ref):
        def attention_weights(Q, K, mask=None):
            scores = (Q @ K.swapaxes(-1, -2)) * scale(Q)  # (..., Tq, Tk)
            if mask is None or mask_mode == "ignore":
                return ref.softmax(scores, axis=-1)
            if mask_mode == "after_softmax":
                return ref.softmax(scores, axis=-1) * mask  # rows no longer sum to 1
            if mask_mode == "add_1e4":  # an additive mask: 0 where allowed, -1e4 where masked
                return ref.softmax(scores + np.where(mask, 0.0, -1e4), axis=-1)
            allowed = ~mask if mask_mode == "invert" else mask
            fill = -1e4 if mask_mode == "fill_1e4" else -np.inf  # -1e4: the masked_fill constant of many codebases
            return ref.softmax(np.where(allowed, scores, fill), axis=-1)

        return attention_weights

    return factory


def _naive_softmax(ref):
    def softmax(x, axis=-1, out=None, where=True):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(np.where(where, x, -np.inf))  # masked as -inf, then exp without the max shift
            return e / e.sum(axis=axis, keepdims=True)

    return softmax


def _softmax_over_queries(ref):
    def softmax(x, axis=-1, out=None, where=True):
        masked = {} if where is True else {"where": where}  # (references without a `where` never pass one)
        return ref.softmax(np.asarray(x).copy(), axis=-2, **masked)  # columns sum to 1 instead of rows

    return softmax


def _split_without_transpose(ref):
    def split_heads(x, num_heads):
        B, T, D = x.shape
        return x.reshape(B, num_heads, T, D // num_heads)  # wrong: mixes positions into heads

    return split_heads


def _merge_without_transpose(ref):
    def merge_heads(x):
        B, H, T, dh = x.shape
        return x.reshape(B, T, H * dh)  # wrong: (B, H, T, dh) must be transposed back first

    return merge_heads


def _split_interleaved(ref):
    def split_heads(x, num_heads):
        B, T, D = x.shape
        return x.reshape(B, T, D // num_heads, num_heads).transpose(0, 3, 1, 2)  # head h owns columns h::H

    return split_heads


def _merge_interleaved(ref):
    def merge_heads(x):
        B, H, T, dh = x.shape
        return x.transpose(0, 2, 3, 1).reshape(B, T, dh * H)

    return merge_heads


# --- argument and output edits ---------------------------------------------------------------------------

def with_params(edit: Callable[[str, np.ndarray], np.ndarray]) -> Callable[[Dict], Dict]:
    """An args_transform that calls the reference with each parameter replaced by edit(name, value)."""

    def args_transform(args):
        args = dict(args)
        args["params"] = {name: edit(name, value) for name, value in args["params"].items()}
        return args

    return args_transform


def _without_output_projection(outputs, case: Case):
    """The merged heads before W_o: solve heads @ W_o = out - b_o."""
    params = case.args["params"]
    out = outputs["out"]
    heads = np.linalg.solve(params["W_o"].T, (out - params["b_o"]).reshape(-1, out.shape[-1]).T).T
    return {**outputs, "out": heads.reshape(out.shape)}  # other outputs (a KV cache) are untouched


def _scale_q_k_grads(factor_of_dh: Callable[[float], float]):
    def transform(outputs, case: Case):
        dh = case.args["q"].shape[-1] // case.args["num_heads"]
        factor = factor_of_dh(dh)
        return {key: value * factor if key in ("q", "k", "W_q", "W_k", "b_q", "b_k") else value
                for key, value in outputs.items()}

    return transform


def _swap_q_k_grads(outputs, case: Case):
    swap = {"q": "k", "k": "q", "W_q": "W_k", "W_k": "W_q", "b_q": "b_k", "b_k": "b_q"}
    return {swap.get(key, key): value for key, value in outputs.items()}


# --- backward helpers with a bug ------------------------------------------------------------------------

def _diagonal_softmax_backward(ref):
    def softmax_backward(P, dP, row_dot):
        return P * (1 - P) * dP  # only the Jacobian's diagonal: rows of dS no longer sum to 0

    return softmax_backward


def _transposed_weight_grad(ref):
    return lambda x, dy: ref.weight_grad(x, dy).T


def _bias_grad_over_batch_only(ref):
    return lambda dy: dy.sum(axis=0)  # (T, D): the time axis was not summed


def _bias_grad_mean(ref):
    return lambda dy: dy.mean(axis=(0, 1))


# --- the catalogue ------------------------------------------------------------------------------------

def _causal_hardwired(ref):
    def attention_weights(Q, K, mask=None):
        Tq, Tk = Q.shape[-2], K.shape[-2]
        causal = np.tril(np.ones((Tq, Tk), dtype=bool))  # the mask argument never used
        return ref.attention_weights(Q, K, causal)

    return attention_weights


def _no_head_axis(ref):
    return lambda mask: mask  # (B, Tq, Tk) lines up with (H, Tq, Tk) of the (B, H, Tq, Tk) scores


def _softmax_backward_over_batch(ref):
    def softmax_backward(P, dP, row_dot):
        return ref.softmax_backward(P, dP, row_dot) / P.shape[0]  # an average over the batch that is not there

    return softmax_backward


def T(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


FORWARD: Tuple[Mutant, ...] = (
    Mutant("no_scale", T("分数没有乘以 1/sqrt(d_head)", "scores not scaled by 1/sqrt(d_head)"),
           patch={"attention_weights": _attention_weights(scale=lambda Q: 1.0)},
           related=("attn-why-scale-sqrt-dk", "attn-dot-product-std")),
    Mutant("scale_by_d_model", T("分数除以了 sqrt(d_model)，应为 sqrt(d_head)",
                                 "scores scaled by 1/sqrt(d_model) instead of 1/sqrt(d_head)"),
           patch={"attention_weights": _attention_weights(scale=lambda Q: 1 / np.sqrt(Q.shape[-1] * Q.shape[-3]))},
           related=("attn-scale-dmodel-bug", "shapes-d-head")),
    Mutant("scale_by_d_head", T("分数除以了 d_head，应为 sqrt(d_head)", "scores divided by d_head instead of sqrt(d_head)"),
           patch={"attention_weights": _attention_weights(scale=lambda Q: 1 / Q.shape[-1])},
           related=("attn-why-scale-sqrt-dk",)),
    Mutant("softmax_over_queries", T("softmax 沿 query 维做了（每列和为 1，而不是每行）",
                                     "softmax taken over the query axis (columns sum to 1, not rows)"),
           patch={"softmax": _softmax_over_queries}, related=("attn-softmax-axis",)),
    Mutant("no_max_subtraction", T("softmax 没有先减去每行最大值：logits 很大时溢出成 inf/NaN",
                                   "softmax without subtracting the row max: overflows to inf/NaN on large logits"),
           patch={"softmax": _naive_softmax}, related=("bw-softmax-max-subtraction",)),
    Mutant("mask_inverted", T("mask 取反了：True 应表示“可以看”", "mask inverted: True should mean 'may attend'"),
           patch={"attention_weights": _attention_weights(mask_mode="invert")},
           related=("mask-pytorch-bool-semantics",)),
    Mutant("mask_ignored", T("没有使用 mask", "mask ignored"),
           patch={"attention_weights": _attention_weights(mask_mode="ignore")},
           related=("mask-causal-purpose", "mask-padding-broadcast")),
    Mutant("mask_causal_hardwired", T("忽略了传入的 mask，写死了一个因果 mask（np.tril）",
                                      "the mask argument ignored and a causal mask (np.tril) hard-wired"),
           patch={"attention_weights": _causal_hardwired}, related=("mask-causal-construction", "mask-padding-broadcast")),
    Mutant("mask_after_softmax", T("mask 在 softmax 之后才乘上去，且没有重新归一化（行和小于 1）",
                                   "mask applied after softmax without renormalising (rows sum to less than 1)"),
           patch={"attention_weights": _attention_weights(mask_mode="after_softmax")},
           related=("mask-after-softmax", "mask-which-value")),
    Mutant("mask_without_head_axis", T("mask 的 batch 维对上了分数的头维：第 b 个样本的 mask 用在了第 b 个头上（(B, Tq, Tk) 的 "
                                       "mask 没加头的维度就和 (B, H, Tq, Tk) 的分数广播，或者 mask 与分数按不同的 batch/头 顺序展平）",
                                       "the mask's batch axis lined up with the scores' head axis: example b's mask applied to "
                                       "head b (a (B, Tq, Tk) mask broadcast against (B, H, Tq, Tk) scores without a head "
                                       "axis, or mask and scores flattened in different batch/head orders)"),
           patch={"add_head_axis": _no_head_axis}, related=("mask-padding-broadcast",)),
    Mutant("split_without_transpose", T("拆头时直接 reshape 成 (B, H, T, dh)，没有 transpose",
                                        "heads split by reshape to (B, H, T, dh) without a transpose"),
           patch={"split_heads": _split_without_transpose}, related=("shapes-reshape-bug", "shapes-after-split")),
    Mutant("merge_without_transpose", T("合并头时直接 reshape 成 (B, T, D)，没有先 transpose 回来",
                                        "heads merged by reshape to (B, T, D) without transposing back"),
           patch={"merge_heads": _merge_without_transpose}, related=("shapes-reshape-bug",)),
    Mutant("heads_interleaved", T("头是交错取列的：第 h 个头用了 h::H 列，应为 h*dh:(h+1)*dh",
                                  "heads interleaved: head h took columns h::H instead of h*dh:(h+1)*dh"),
           patch={"split_heads": _split_interleaved, "merge_heads": _merge_interleaved},
           related=("shapes-after-split",)),
    Mutant("biases_ignored", T("忽略了偏置（只算了 x @ W，没有 + b）", "biases ignored (x @ W without + b)"),
           args_transform=with_params(lambda name, value: np.zeros_like(value) if name.startswith("b_") else value),
           related=("shapes-test-inputs",)),
    Mutant("weights_transposed", T("权重按 x @ W.T（PyTorch 的存法）用了，约定是 x @ W",
                                   "weights applied as x @ W.T (PyTorch's layout) instead of x @ W"),
           args_transform=with_params(lambda name, value: value.T if name.startswith("W_") else value),
           related=("shapes-test-inputs",)),
)

MASK_FILL_TITLE = T("被遮住的分数填成了 -1e4（不少代码里 masked_fill 的常数，或者加上 -1e4 的加性 mask），而不是 -inf："
                    "被遮住的 key 的分数比可看的 key 高出 1e4 以上时（或可看的分数都低于 -1e4 时），它仍然拿到权重",
                    "masked scores filled with -1e4 (the masked_fill constant of many codebases, or an additive -1e4 "
                    "mask) instead of -inf: when a masked key outscores the allowed ones by more than 1e4 (or every "
                    "allowed score is below -1e4), it still gets weight")
MASK_FILL = Mutant("mask_fill_too_small", MASK_FILL_TITLE,
                   patch={"attention_weights": _attention_weights(mask_mode="fill_1e4")},
                   related=("mask-which-value", "mask-fully-masked-row"))

# Where a case tells the two apart (mha_forward's very negative scores: there the masked keys keep their own
# scores minus 1e4, and the best of them takes the weight), the additive form is a mutant of its own.
MASK_ADD = Mutant("mask_added_1e4", T("mask 是加上去的 -1e4（加性 mask：可看处加 0，被遮住处加 -1e4），而不是 -inf："
                                      "被遮住的 key 的分数比可看的 key 高出 1e4 以上时（或可看的分数都很负时），它仍然拿到权重",
                                      "an additive mask of -1e4 (0 where allowed, -1e4 added where masked) instead of "
                                      "-inf: a masked key that outscores the allowed ones by more than 1e4 (or when "
                                      "every allowed score is very negative) still gets weight"),
                  patch={"attention_weights": _attention_weights(mask_mode="add_1e4")},
                  related=("mask-which-value", "mask-fully-masked-row"))


# --- a case no too-small mask fill survives ------------------------------------------------------------------

OUTSCORE = 1e6  # the size of the scores in the outscored-keys case


def outscored_keys(T: int, d: int, score_dim: int = None) -> Tuple[np.ndarray, np.ndarray]:
    """Query vectors p (T, d), and a (T, T) mask, such that with the keys the negated queries (K = -Q) each
    token's only masked key, its partner (tokens 2m and 2m+1), scores about +2.7e6 to +3e6 while every allowed
    key scores -1e6 or less, with one allowed key above the others by 1e4 or more. Whatever the seed:

    - a -1e4 fill (replacing the score, or added to it) hands the partner all the weight, since -1e4 is far
      above -1e6 and 3e6 - 1e4 far above it too; a -1e9, -inf or finfo.min fill leaves it exactly 0;
    - exp(allowed - the row's max over masked keys too) underflows to 0 (the gap is far beyond exp's ~709):
      masking after exp divides 0 by 0;
    - the softmax over the allowed keys is exactly one-hot, so any correct order of operations agrees to the
      last bit.

    `score_dim`: the dimension whose square root divides the scores (d by default); the vectors are scaled so
    that the scores come out at OUTSCORE times those of the unit pattern. Every p has zero mean, so a
    LayerNorm in front of the projections keeps the pattern (up to one positive factor per token)."""
    n = np.arange(d)
    basis = [np.cos(np.pi * k * (n + 0.5) / d) for k in range(1, d)]  # orthogonal, and to the constant vector
    basis = [b / np.linalg.norm(b) for b in basis]
    assert T % 2 == 0 and 2 + T // 2 <= len(basis), "need d >= T/2 + 3"
    e, g, partners = basis[0], basis[1], basis[2:]
    sign = np.where(np.arange(T) % 2 == 0, 1.0, -1.0)  # (T,): partners point opposite ways along their own axis
    spread = 0.1 * (1 + np.arange(T))  # (T,): distinct, so each row's best allowed key is unique
    p = e + 2.0 * sign[:, None] * np.stack([partners[i // 2] for i in range(T)]) + spread[:, None] * g  # (T, d)
    # p_i . p_j: partners 1 - 4 + ..., others 1 + ..., itself 5 + ...; scores are minus these
    mask = np.arange(T)[None, :] != (np.arange(T) ^ 1)[:, None]  # (T, T): all but the partner
    return p * np.sqrt(OUTSCORE * np.sqrt(score_dim or d)), mask


OUTSCORED_ABOUT = T("每个 query 唯一被遮住的 key 的分数约为 +3e6，可看的 key 都在 -1e6 以下：用 -1e4 填（或加上 -1e4）"
                    "会把全部权重给被遮住的 key，先 exp 再乘 mask 会得到 0/0",
                    "each query's one masked key scores about +3e6 and every allowed key -1e6 or less: a -1e4 fill (or "
                    "an added -1e4) gives the masked key all the weight, masking after exp divides 0 by 0")
OUTSCORED_LABEL = T("被遮住的 key 分数高得多", "masked keys outscore")


FORWARD_OUTPUT: Tuple[Mutant, ...] = (
    Mutant("no_output_projection", T("忘了输出投影 W_o（和 b_o）", "output projection W_o (and b_o) forgotten"),
           transform=_without_output_projection, related=("shapes-why-wo",)),
)

BACKWARD: Tuple[Mutant, ...] = (
    Mutant("softmax_jacobian_diagonal", T("softmax 反向只用了雅可比矩阵的对角线 P(1-P)dP",
                                          "softmax backward uses only the Jacobian's diagonal P(1-P)dP"),
           patch={"softmax_backward": _diagonal_softmax_backward},
           related=("bw-diagonal-jacobian", "bw-backward-formulas")),
    Mutant("backward_scale_missing", T("dQ、dK 里漏了 1/sqrt(d_head)（恰好差 sqrt(d_head) 倍）",
                                       "1/sqrt(d_head) missing from dQ and dK (off by exactly sqrt(d_head))"),
           transform=_scale_q_k_grads(lambda dh: np.sqrt(dh)), related=("bw-scale-missing",)),
    Mutant("backward_scale_twice", T("dQ、dK 里乘了两次 1/sqrt(d_head)", "1/sqrt(d_head) applied twice in dQ and dK"),
           transform=_scale_q_k_grads(lambda dh: 1 / np.sqrt(dh)), related=("bw-scale-missing",)),
    Mutant("softmax_grad_over_batch", T("softmax 的梯度被除以了 batch 大小",
                                        "the softmax gradient divided by the batch size"),
           patch={"softmax_backward": _softmax_backward_over_batch},
           related=("bw-backward-formulas", "bw-gradcheck-thresholds")),
    Mutant("weight_grad_transposed", T("权重梯度转置了（算成 dy^T x，应为 x^T dy）",
                                       "weight gradients transposed (dy^T x instead of x^T dy)"),
           patch={"weight_grad": _transposed_weight_grad}, related=("bw-backward-formulas",)),
    Mutant("bias_grad_batch_only", T("偏置梯度只在 batch 维求和，形状成了 (T, D)，应为 (D,)",
                                     "bias gradient summed over the batch only, shape (T, D) instead of (D,)"),
           patch={"bias_grad": _bias_grad_over_batch_only}, related=("bw-backward-formulas",)),
    Mutant("bias_grad_mean", T("偏置梯度在 batch 和时间维上取了平均，应为求和",
                               "bias gradient averaged instead of summed over batch and time"),
           patch={"bias_grad": _bias_grad_mean}, related=("bw-backward-formulas",)),
    Mutant("dq_dk_swapped", T("q 和 k 的梯度对调了", "gradients of q and k swapped"), transform=_swap_q_k_grads,
           related=("bw-backward-formulas",)),
)


def pick(*ids: str) -> Tuple[Mutant, ...]:
    """The catalogue's mutants with these ids, in this order (an unknown id is an error, not a silent gap)."""
    catalogue = {mutant.id: mutant for mutant in FORWARD + FORWARD_OUTPUT + BACKWARD + (MASK_FILL,)}
    return tuple(catalogue[mutant_id] for mutant_id in ids)
