"""Checks for gqa_forward: grouped cases (1 < num_kv_heads < num_heads), MQA and MHA as the extremes, and a
general mask."""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def gqa_params(rng, D, num_heads, num_kv_heads):
    """W_q, W_o (D, D); W_k, W_v (D, Hkv*dh), all ~ N(0, 1/D); clearly nonzero biases of matching widths."""
    kv_width = num_kv_heads * (D // num_heads)
    widths = {"q": D, "k": kv_width, "v": kv_width, "o": D}
    params = {f"W_{n}": rng.standard_normal((D, widths[n])) / np.sqrt(D) for n in "qkvo"}
    params.update({f"b_{n}": 0.5 * rng.standard_normal(widths[n]) for n in "qkvo"})
    return params


def _text(zh, en):
    return Text(zh=zh, en=en)


# name, label, what it exposes, (B, Tq, Tk, D, H, Hkv), mask kind, input scale, self-attention.
# No two catalogued mistakes may coincide by arithmetic: B differs from H (but in the general-mask case, where a
# mask without a head axis must line up silently), from sqrt(dh) and from dh (1/B against the scale mistakes);
# H differs from dh (1/sqrt(D) = 1/dh) and Hkv from dh (1/sqrt(Hkv*dh) = 1/dh).
_CASES = (
    ("grouped cross-attention", _text("分组交叉注意力", "grouped cross-attention"),
     _text("H=4 个 query 头共享 Hkv=2 个 KV 头；Tq != Tk", "H=4 query heads share Hkv=2 KV heads; Tq != Tk"),
     (3, 5, 7, 20, 4, 2), None, 1.0, False),
    ("grouped causal", _text("分组因果自注意力", "grouped causal"),
     _text("每组 3 个头（H=6，Hkv=2），带因果 mask 的自注意力",
           "groups of 3 (H=6, Hkv=2), self-attention with a causal mask"),
     (3, 6, 6, 24, 6, 2), "causal", 1.0, True),
    ("grouped padding", _text("分组 padding mask", "grouped padding"),
     _text("每组 2 个头（H=6，Hkv=3），(B, 1, Tk) 的 padding mask",
           "groups of 2 (H=6, Hkv=3), (B, 1, Tk) padding mask"),
     (3, 4, 7, 12, 6, 3), "padding", 1.0, False),
    ("MQA", _text("MQA", "MQA"),
     _text("num_kv_heads = 1：所有 query 头共享同一个 K/V 头",
           "num_kv_heads = 1: every query head shares one K/V head"),
     (5, 5, 6, 12, 3, 1), None, 1.0, False),
    ("MHA", _text("MHA", "MHA"),
     _text("num_kv_heads = num_heads：普通的多头注意力", "num_kv_heads = num_heads: plain multi-head attention"),
     (5, 4, 6, 12, 3, 3), None, 1.0, False),
    ("one query", _text("单个 query", "one query"),
     _text("Tq = 1，相当于解码的一步，H=8，Hkv=2", "Tq = 1, a decoding step with H=8, Hkv=2"),
     (3, 1, 5, 40, 8, 2), None, 1.0, False),
    ("large logits", _text("大 logits", "large logits"),
     _text("输入乘 100：softmax 不减最大值就会溢出", "inputs x100: a softmax without max-subtraction overflows"),
     (2, 5, 6, 12, 4, 2), "causal", 100.0, False),
    ("general mask", _text("任意 mask", "general mask"),
     _text("(B, Tq, Tk) 随机布尔 mask，不是 key 的前缀；B = H = 2，两个 query 头共享 Hkv=1 个 KV 头",
           "a random (B, Tq, Tk) boolean mask, no prefix of the keys; B = H = 2, two query heads share Hkv=1"),
     (2, 5, 6, 10, 2, 1), "random", 1.0, False),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, (B, Tq, Tk, D, H, Hkv), mask_kind, scale, self_attention) in enumerate(_CASES):
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
        elif mask_kind == "random":
            mask = inputs.random_mask(rng, (B, Tq, Tk))
        args = {"q": q, "k": k, "v": v, "params": gqa_params(rng, D, H, Hkv), "num_heads": H,
                "num_kv_heads": Hkv, "mask": mask}
        cases.append(Case(name, about, "gqa_forward", args, shapes=f"B={B} Tq={Tq} Tk={Tk} D={D} H={H} Hkv={Hkv}",
                          label=label))
    return cases + [_outscored_keys(seed)]


def _outscored_keys(seed):
    """Self-attention with W_q = I and W_k = -I (no biases on q and k), every head holding the same fixed
    pattern (mistakes.outscored_keys): each query's one masked key outscores every allowed key by millions,
    so a -1e4 fill fails at every seed. V, W_o and their biases are seeded."""
    B, T, H, Hkv, dh = 2, 4, 4, 2, 6
    D = H * dh
    p, mask = mistakes.outscored_keys(T, dh)  # (T, dh), (T, T)
    x = np.tile(p, (B, 1, H))  # (B, T, D): head h's columns hold p
    x[1] = x[1, ::-1]  # the second example takes the tokens in reverse order
    mask = np.stack([mask, mask[::-1, ::-1]])  # (B, T, T)
    params = gqa_params(np.random.default_rng([seed, 90, 50]), D, H, Hkv)
    params.update(W_q=np.eye(D), b_q=np.zeros(D), W_k=-np.eye(D)[:, :Hkv * dh], b_k=np.zeros(Hkv * dh))
    args = {"q": x, "k": x, "v": x, "params": params, "num_heads": H, "num_kv_heads": Hkv, "mask": mask}
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, "gqa_forward", args,
                shapes=f"B={B} Tq={T} Tk={T} D={D} H={H} Hkv={Hkv}", label=mistakes.OUTSCORED_LABEL)


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
    Mutant("kv_heads_tiled",
           Text(zh="KV 头用 tile 复制了（第 h 个 query 头用的是第 h % Hkv 个 KV 头），应为 repeat_interleave（h // G）",
                en="KV heads tiled (query head h used KV head h % Hkv) instead of repeat_interleave (h // G)"),
           patch={"repeat_kv": _tile_kv}, related=("eff-mqa-vs-gqa",)),
    Mutant("scale_by_kv_width",
           Text(zh="分数乘的是 1/sqrt(num_kv_heads*d_head)（未拆头的 K 的宽度），应为 1/sqrt(d_head)",
                en="scores scaled by 1/sqrt(num_kv_heads*d_head), the unsplit K's width, not 1/sqrt(d_head)"),
           args_transform=_scale_by_kv_width, related=("attn-scale-dmodel-bug", "shapes-d-head")),
)

MUTANTS = GQA + mistakes.FORWARD + mistakes.FORWARD_OUTPUT + (mistakes.MASK_FILL,)


def perf_case(seed):
    """A larger causal grouped self-attention, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 90, 1000])
    B, T, D, H, Hkv = 4, 16, 64, 8, 2
    x = rng.standard_normal((B, T, D))
    args = {"q": x, "k": x, "v": x, "params": gqa_params(rng, D, H, Hkv), "num_heads": H, "num_kv_heads": Hkv,
            "mask": inputs.causal_mask(T)}
    about = Text(zh="更大的因果分组自注意力", en="larger causal grouped self-attention")
    return Case("speed", about, "gqa_forward", args, shapes=f"B={B} T={T} D={D} H={H} Hkv={Hkv}")


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: GroupedQueryAttention(D, H, Hkv) with the case's weights loaded by name."""
    import torch

    from mhaquiz.grader.torch_form import build, load_linears, tensor

    module = build(namespace, "GroupedQueryAttention", args["q"].shape[-1], args["num_heads"], args["num_kv_heads"])
    load_linears(module, args["params"])
    with torch.no_grad():
        return module(tensor(args["q"]), tensor(args["k"]), tensor(args["v"]), mask=tensor(args["mask"]))
