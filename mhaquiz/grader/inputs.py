"""Seeded inputs shared by the attention exercises, chosen so that classic bugs cannot hide.

H = 1 hides head split/merge bugs, T = 1 hides the scale and softmax-axis bugs, square shapes hide
transposes, zero biases hide bias bugs and prefix masks (causal, padding) hide code that can only express
lengths; so the standard cases use B >= 2, H >= 2, Tq != Tk != D, nonzero biases, a causal, a padding and a
general mask, plus the edge cases where learners trip.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

from mhaquiz.i18n import Text

PARAM_NAMES = ("W_q", "W_k", "W_v", "W_o", "b_q", "b_k", "b_v", "b_o")


def mha_params(rng: np.random.Generator, D: int) -> Dict[str, np.ndarray]:
    """Weights ~ N(0, 1/D) (unit-scale projections) and clearly nonzero biases."""
    params = {f"W_{n}": rng.standard_normal((D, D)) / np.sqrt(D) for n in "qkvo"}
    params.update({f"b_{n}": 0.5 * rng.standard_normal(D) for n in "qkvo"})
    return params


def causal_mask(T: int) -> np.ndarray:
    """(T, T) boolean, True where query i may attend to key j <= i."""
    return np.tril(np.ones((T, T), dtype=bool))


def padding_mask(lengths: List[int], Tk: int) -> np.ndarray:
    """(B, 1, Tk) boolean: batch b attends to its first lengths[b] keys only."""
    return (np.arange(Tk)[None, None, :] < np.asarray(lengths)[:, None, None])


def random_mask(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """A boolean mask that is no prefix of the keys (no lengths or triangle can express it), every row
    keeping at least one key."""
    mask = rng.random(shape) < 0.55
    rows = ~mask.any(axis=-1)
    mask[..., -1] |= rows  # a row with no key left keeps its last one
    return mask


def _text(zh: str, en: str) -> Text:
    return Text(zh=zh, en=en)


# id, label, what it exposes, (B, Tq, Tk, D, H), mask kind, input scale, self-attention.
# Shapes are chosen so that no two catalogued mistakes give the same numbers: B differs from H (but in the
# general-mask case, where a mask without a head axis must line up silently) and from sqrt(d_head), and
# d_head varies (2, 3, 5, 6, 7, ...), so scale mistakes differ from each other and from 1/B.
_MHA_CASES: Tuple[tuple, ...] = (
    ("cross-attention", _text("交叉注意力", "cross-attention"),
     _text("Tq != Tk != D，k、v 与 q 是不同的数组", "Tq != Tk != D, k and v different arrays from q"), (2, 5, 7, 12, 4), None, 1.0, False),
    ("self-attention", _text("自注意力", "self-attention"),
     _text("同一个 x 同时作为 q、k、v", "one x feeds q, k and v"), (3, 6, 6, 10, 2), None, 1.0, True),
    ("causal mask", _text("因果 mask", "causal mask"),
     _text("(T, T) 因果 mask：query i 只看 key 0..i", "(T, T) causal mask: query i sees keys 0..i"), (2, 6, 6, 18, 3), "causal", 1.0, True),
    ("padding mask", _text("padding mask", "padding mask"),
     _text("(B, 1, Tk) mask：第 2 个样本忽略最后 3 个 key", "(B, 1, Tk) mask: example 2 ignores its last 3 keys"), (2, 4, 7, 15, 3), "padding", 1.0, False),
    ("general mask", _text("任意 mask", "general mask"),
     _text("(B, Tq, Tk) 随机布尔 mask，不是前缀；B = H", "a random (B, Tq, Tk) boolean mask, no prefix of the keys; B = H"),
     (3, 5, 6, 12, 3), "random", 1.0, False),
    ("single head", _text("单头", "single head"), _text("H = 1：dh = D", "H = 1: dh = D"), (2, 4, 6, 7, 1), None, 1.0, False),
    ("one query", _text("单个 query", "one query"), _text("Tq = 1，相当于解码的一步", "Tq = 1, a decoding step"),
     (3, 1, 5, 8, 4), None, 1.0, False),
    ("large logits", _text("大 logits", "large logits"),
     _text("输入乘 100：softmax 不减最大值就会溢出", "inputs x100: a softmax without max-subtraction overflows"),
     (2, 5, 6, 12, 4), "causal", 100.0, False),
)


def mha_cases(seed: int) -> List[Tuple[str, Text, Text, str, Dict[str, object]]]:
    """The standard multi-head attention cases: (id, label, about, shapes, args) with args in contract order."""
    cases = []
    for index, (name, label, about, (B, Tq, Tk, D, H), mask_kind, scale, self_attention) in enumerate(_MHA_CASES):
        rng = np.random.default_rng([seed, index])
        q = scale * rng.standard_normal((B, Tq, D))
        if self_attention:
            k = v = q
        else:
            k = scale * rng.standard_normal((B, Tk, D))
            v = scale * rng.standard_normal((B, Tk, D))
        mask: Optional[np.ndarray] = None
        if mask_kind == "causal":
            mask = causal_mask(Tq) if Tq == Tk else np.tril(np.ones((Tq, Tk), dtype=bool), Tk - Tq)
        elif mask_kind == "padding":
            mask = padding_mask([Tk] + [Tk - 3] * (B - 1), Tk)
        elif mask_kind == "random":
            mask = random_mask(rng, (B, Tq, Tk))
        args = {"q": q, "k": k, "v": v, "params": mha_params(rng, D), "num_heads": H, "mask": mask}
        cases.append((name, label, about, mha_shapes(args), args))
    return cases


def mha_shapes(args: Dict[str, object]) -> str:
    """'B=2 Tq=5 Tk=7 D=12 H=3' for a case's arguments."""
    (B, Tq, D), Tk = args["q"].shape, args["k"].shape[1]
    return f"B={B} Tq={Tq} Tk={Tk} D={D} H={args['num_heads']}"


def mha_perf_args(seed: int, B: int = 4, T: int = 16, D: int = 64, H: int = 8) -> Dict[str, object]:
    """Causal self-attention with many small heads: cheap to time, yet Python loops over batch, heads or
    positions show clearly in the timing."""
    rng = np.random.default_rng([seed, 1000])
    x = rng.standard_normal((B, T, D))
    return {"q": x, "k": x, "v": x, "params": mha_params(rng, D), "num_heads": H, "mask": causal_mask(T)}


HEADS_VIEW = Text(zh="各头在 W_o 之前的输出", en="each head's output before W_o")


def heads_error_map(case, got: np.ndarray, expected: np.ndarray):
    """The error of an MHA output per (batch, query position, head), seen before the output projection:
    solve heads @ W_o = out - b_o for both outputs. NaN/inf in `got` stay NaN/inf (drawn at full strength)."""
    params, num_heads = case.args["params"], case.args["num_heads"]

    def per_head(out):  # (B, Tq, D) -> (B, Tq, H, dh)
        B, Tq, D = out.shape
        flat = (out - params["b_o"]).reshape(-1, D)  # (B*Tq, D)
        heads = np.linalg.solve(params["W_o"].T, np.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0).T).T
        heads[~np.isfinite(flat).all(axis=1)] = np.inf  # a row holding NaN/inf stays infinitely wrong
        return heads.reshape(B, Tq, num_heads, D // num_heads)

    with np.errstate(all="ignore"):
        error = np.abs(per_head(got) - per_head(expected)).max(axis=-1)  # (B, Tq, H)
    return error, ("axis.batch", "axis.query", "axis.head"), HEADS_VIEW
