"""Seeded inputs shared by the attention exercises, chosen so that classic bugs cannot hide.

H = 1 hides head split/merge bugs, T = 1 hides the scale and softmax-axis bugs, square shapes hide
transposes and zero biases hide bias bugs; so the standard cases use B >= 2, H >= 2, Tq != Tk != D,
nonzero biases, a causal and a padding mask, plus the edge cases where learners trip.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np

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


# name, what it exposes, (B, Tq, Tk, D, H), mask kind, input scale, self-attention
_MHA_CASES: Tuple[tuple, ...] = (
    ("cross-attention", "Tq != Tk != D, k and v different arrays from q", (2, 5, 7, 12, 3), None, 1.0, False),
    ("self-attention", "one x feeds q, k and v", (2, 6, 6, 8, 2), None, 1.0, True),
    ("causal mask", "(T, T) causal mask: query i sees keys 0..i", (2, 6, 6, 12, 3), "causal", 1.0, True),
    ("padding mask", "(B, 1, Tk) mask: batch 1 ignores its last 3 keys", (2, 4, 7, 12, 2), "padding", 1.0, False),
    ("single head", "H = 1: dh = D", (2, 4, 6, 8, 1), None, 1.0, False),
    ("one query", "Tq = 1, a decoding step", (3, 1, 5, 8, 4), None, 1.0, False),
    ("large logits", "inputs x100: a softmax without max-subtraction overflows", (2, 5, 6, 8, 2), "causal", 100.0, False),
)


def mha_cases(seed: int) -> List[Tuple[str, str, str, Dict[str, object]]]:
    """The standard multi-head attention cases: (name, about, shapes, args) with args in contract order."""
    cases = []
    for index, (name, about, (B, Tq, Tk, D, H), mask_kind, scale, self_attention) in enumerate(_MHA_CASES):
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
        args = {"q": q, "k": k, "v": v, "params": mha_params(rng, D), "num_heads": H, "mask": mask}
        cases.append((name, about, mha_shapes(args), args))
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
