"""Checks for gqa_forward: grouped cases (1 < num_kv_heads < num_heads), MQA and MHA as the extremes."""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance

TOLERANCE = Tolerance()


def gqa_params(rng, D, num_heads, num_kv_heads):
    """W_q, W_o (D, D); W_k, W_v (D, Hkv*dh), all ~ N(0, 1/D); clearly nonzero biases of matching widths."""
    kv_width = num_kv_heads * (D // num_heads)
    widths = {"q": D, "k": kv_width, "v": kv_width, "o": D}
    params = {f"W_{n}": rng.standard_normal((D, widths[n])) / np.sqrt(D) for n in "qkvo"}
    params.update({f"b_{n}": 0.5 * rng.standard_normal(widths[n]) for n in "qkvo"})
    return params


# name, what it exposes, (B, Tq, Tk, D, H, Hkv), mask kind, input scale, self-attention
_CASES = (
    ("grouped cross-attention", "H=4 query heads share Hkv=2 KV heads; Tq != Tk", (2, 5, 7, 16, 4, 2), None, 1.0, False),
    ("grouped causal", "groups of 3 (H=6, Hkv=2), self-attention with a causal mask", (2, 6, 6, 24, 6, 2), "causal", 1.0, True),
    ("grouped padding", "groups of 2 (H=6, Hkv=3), (B, 1, Tk) padding mask", (2, 4, 7, 12, 6, 3), "padding", 1.0, False),
    ("MQA", "num_kv_heads = 1: every query head shares one K/V head", (2, 5, 6, 12, 3, 1), None, 1.0, False),
    ("MHA", "num_kv_heads = num_heads: plain multi-head attention", (2, 4, 6, 12, 3, 3), None, 1.0, False),
    ("one query", "Tq = 1, a decoding step with H=8, Hkv=2", (3, 1, 5, 16, 8, 2), None, 1.0, False),
    ("large logits", "inputs x100: a softmax without max-subtraction overflows", (2, 5, 6, 8, 4, 2), "causal", 100.0, False),
)


def make_cases(seed):
    cases = []
    for index, (name, about, (B, Tq, Tk, D, H, Hkv), mask_kind, scale, self_attention) in enumerate(_CASES):
        rng = np.random.default_rng([seed, 90, index])
        q = scale * rng.standard_normal((B, Tq, D))
        k = v = q
        if not self_attention:
            k, v = (scale * rng.standard_normal((B, Tk, D)) for _ in "kv")
        mask = None
        if mask_kind == "causal":
            mask = np.tril(np.ones((Tq, Tk), dtype=bool), Tk - Tq)
        elif mask_kind == "padding":
            mask = inputs.padding_mask([Tk] + [Tk - 3] * (B - 1), Tk)
        args = {"q": q, "k": k, "v": v, "params": gqa_params(rng, D, H, Hkv), "num_heads": H,
                "num_kv_heads": Hkv, "mask": mask}
        cases.append(Case(name, about, "gqa_forward", args, shapes=f"B={B} Tq={Tq} Tk={Tk} D={D} H={H} Hkv={Hkv}"))
    return cases


# --- mistakes particular to grouped-query attention ----------------------------------------------------

def _tile_kv(ref):
    def repeat_kv(x, group_size):
        return np.tile(x, (1, group_size, 1, 1))  # wrong: query head h gets KV head h % Hkv, not h // G

    return repeat_kv


def _scale_by_kv_width(args):
    """Scores scaled by 1/sqrt(Hkv*dh) (the unsplit K's width): the same as scaling Q's projection by 1/sqrt(Hkv)."""
    args = dict(args)
    factor = 1 / np.sqrt(args["num_kv_heads"])
    args["params"] = {name: value * factor if name in ("W_q", "b_q") else value for name, value in args["params"].items()}
    return args


GQA = (
    Mutant("kv_heads_tiled", "KV heads tiled (query head h used KV head h % Hkv) instead of repeat_interleave (h // G)",
           patch={"repeat_kv": _tile_kv}),
    Mutant("scale_by_kv_width", "scores scaled by 1/sqrt(num_kv_heads*d_head), the unsplit K's width, not 1/sqrt(d_head)",
           args_transform=_scale_by_kv_width),
)

MUTANTS = GQA + mistakes.FORWARD + mistakes.FORWARD_OUTPUT


def perf_case(seed):
    """A larger causal grouped self-attention, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 90, 1000])
    B, T, D, H, Hkv = 4, 16, 64, 8, 2
    x = rng.standard_normal((B, T, D))
    args = {"q": x, "k": x, "v": x, "params": gqa_params(rng, D, H, Hkv), "num_heads": H, "num_kv_heads": Hkv,
            "mask": inputs.causal_mask(T)}
    return Case("speed", "larger causal grouped self-attention", "gqa_forward", args,
                shapes=f"B={B} T={T} D={D} H={H} Hkv={Hkv}")
