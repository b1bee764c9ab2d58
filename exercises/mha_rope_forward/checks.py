"""Checks for mha_rope_forward: multi-head attention with RoPE on Q and K at given query and key positions.

The cases are chosen so that RoPE bugs cannot hide: query and key positions differ (a KV-cache continuation,
a decoding step, arbitrary unsorted positions), because with the same positions on both sides a shared shift
of every position changes nothing (scores depend on m - n only).
"""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.exercises import checks_module
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- mistakes particular to RoPE inside attention -------------------------------------------------------

def _forward(rotate):
    """mha_rope_forward with the rotations done by rotate(ref, Qp, Kp, Vp, q_positions, k_positions, base, H) ->
    (Q, K, V) in heads, where Qp, Kp, Vp are the (B, T, D) projections."""

    def factory(ref):
        def mha_rope_forward(q, k, v, params, num_heads, q_positions, k_positions, base, mask=None):
            projected = [x @ params[f"W_{n}"] + params[f"b_{n}"] for x, n in ((q, "q"), (k, "k"), (v, "v"))]
            Q, K, V = rotate(ref, *projected, q_positions, k_positions, base, num_heads)
            P = ref.attention_weights(Q, K, None if mask is None else ref.add_head_axis(mask))
            return ref.merge_heads(P @ V) @ params["W_o"] + params["b_o"]

        return mha_rope_forward

    return factory


def _v_rotated(ref, Qp, Kp, Vp, q_positions, k_positions, base, H):
    split = ref.split_heads
    return (ref.rope(split(Qp, H), q_positions, base), ref.rope(split(Kp, H), k_positions, base),
            ref.rope(split(Vp, H), k_positions, base))  # V turned too


def _before_split(ref, Qp, Kp, Vp, q_positions, k_positions, base, H):
    split = ref.split_heads  # RoPE on the whole D-vector: pairs (j, j + D/2) cross the heads, theta_j uses D
    return split(ref.rope(Qp, q_positions, base), H), split(ref.rope(Kp, k_positions, base), H), split(Vp, H)


def _positions_swapped(ref, Qp, Kp, Vp, q_positions, k_positions, base, H):
    split = ref.split_heads  # Q at k_positions, K at q_positions: R_n^T R_m = R_(m-n) wherever the two differ
    return ref.rope(split(Qp, H), k_positions, base), ref.rope(split(Kp, H), q_positions, base), split(Vp, H)


def _keys_at_query_positions(ref, Qp, Kp, Vp, q_positions, k_positions, base, H):
    split = ref.split_heads  # copy-paste: K rotated at q_positions (fails to broadcast unless Tq == Tk or Tq == 1)
    return ref.rope(split(Qp, H), q_positions, base), ref.rope(split(Kp, H), q_positions, base), split(Vp, H)


ROTARY = (
    Mutant("v_rotated",
           _text("V 也做了 RoPE 旋转：RoPE 只作用于 Q 和 K", "V rotated too: RoPE acts on Q and K only"),
           patch={"mha_rope_forward": _forward(_v_rotated)}, related=("pos-rope-qk-not-v", "pos-where-applied")),
    Mutant("rope_before_split",
           _text("RoPE 在拆头之前作用在整个 D 维向量上（配对成了 (j, j + D/2)，跨越了不同的头，频率也按 D 算）；"
                 "应在拆头之后对每个头的 dh 维分别旋转",
                 "RoPE applied before the head split, on the whole D-vector (pairs (j, j + D/2) across heads, "
                 "frequencies from D); it belongs after the split, on each head's dh features"),
           patch={"mha_rope_forward": _forward(_before_split)}, related=("pos-rope-pairing", "shapes-d-head")),
    Mutant("positions_swapped",
           _text("q_positions 和 k_positions 用反了：Q 按 key 的位置、K 按 query 的位置旋转，分数成了 q·R_(m−n)·k",
                 "q_positions and k_positions swapped: Q rotated at the key positions and K at the query positions, "
                 "so the scores became q·R_(m-n)·k"),
           patch={"mha_rope_forward": _forward(_positions_swapped)}, related=("pos-rope-relative",)),
    Mutant("k_positions_ignored",
           _text("K 也按 q_positions 旋转了（复制粘贴）：k_positions 没有用上，分数失去了相对位置",
                 "K rotated at q_positions too (copy-paste): k_positions unused, the scores lose the relative position"),
           patch={"mha_rope_forward": _forward(_keys_at_query_positions)},
           related=("pos-rope-relative", "eff-kv-cache-why")),
)

_ROPE = checks_module("rope")
_ROPE_BY_ID = {mutant.id: mutant for mutant in _ROPE.ROPE_MUTANTS}

# Inside attention only R_m^T R_n = R_(n-m) counts: a turn by -m*theta and cos and sin swapped (a turn by
# pi/2 - m*theta: the constant pi/2 cancels between q and k) both give R_(m-n) for every pair of positions.
# No case can tell them apart, so they are one mistake here. (Swapped q/k positions give R_(m-n) too, but
# only where the two position arrays differ: positions_swapped, told apart by the self-attention cases.)
SCORES_MIRRORED = Mutant(
    "rotation_direction_flipped",
    _text("旋转方向反了，分数变成 q·R_(m−n)·k，应为 q·R_(n−m)·k：rotate_half 写成了 (x2, −x1)，"
          "或者 cos 和 sin 用反了（转 π/2 − mθ，常数 π/2 在 q·k 中抵消），在注意力里两者结果完全相同",
          "rotation direction flipped, scores q·R_(m-n)·k instead of q·R_(n-m)·k: rotate_half written (x2, -x1), "
          "or cos and sin swapped (a turn by pi/2 - m*theta whose constant pi/2 cancels in q·k); inside attention "
          "the two give exactly the same numbers"),
    patch=_ROPE_BY_ID["rotation_direction_flipped"].patch, related=("pos-rope-relative", "pos-rope-qk-not-v"))
_ROPE_USED = tuple(SCORES_MIRRORED if mutant.id == "rotation_direction_flipped" else mutant
                   for mutant in _ROPE.ROPE_MUTANTS if mutant.id != "sin_cos_swapped")
_SHARED = ("no_scale", "scale_by_d_model", "scale_by_d_head", "softmax_over_queries", "no_max_subtraction",
           "mask_inverted", "mask_ignored", "mask_causal_hardwired", "mask_after_softmax", "mask_without_head_axis",
           "split_without_transpose", "merge_without_transpose", "heads_interleaved", "biases_ignored",
           "weights_transposed", "no_output_projection", "mask_fill_too_small")
MUTANTS = ROTARY + _ROPE_USED + mistakes.pick(*_SHARED)


# --- cases ----------------------------------------------------------------------------------------------

# name, label, what it exposes, (B, Tq, Tk, D, H), q_positions, k_positions, base, mask kind, input scale,
# layout: "self" (q = k = v), "cache" (q = the last Tq rows of k = v: new tokens after a cached prefix),
# "cross" (three different arrays).
_CASES = (
    ("causal self-attention", _text("因果自注意力", "causal self-attention"),
     _text("q = k = v，位置 0 .. T-1，(T, T) 因果 mask", "q = k = v at positions 0 .. T-1, (T, T) causal mask"),
     (2, 6, 6, 16, 2), np.arange(6), np.arange(6), 10000.0, "causal", 1.0, "self"),
    ("KV-cache continuation", _text("接着 KV cache 往下算", "KV-cache continuation"),
     _text("3 个新 token 在位置 5 .. 7，对 8 个 key（位置 0 .. 7）做注意力，带错位的因果 mask",
           "3 new tokens at positions 5 .. 7 attend to 8 keys at 0 .. 7, with the offset causal mask"),
     (2, 3, 8, 12, 3), np.arange(5, 8), np.arange(8), 10000.0, "offset causal", 1.0, "cache"),
    ("decoding step", _text("解码一步", "decoding step"),
     _text("Tq = 1：位置 8 的 query 看位置 0 .. 8 的全部 key", "Tq = 1: the query at position 8 sees keys 0 .. 8"),
     (3, 1, 9, 20, 2), np.array([8]), np.arange(9), 10000.0, None, 1.0, "cache"),
    ("arbitrary positions", _text("任意位置", "arbitrary positions"),
     _text("query、key 位置无序且互不相同（Tq = Tk），(B, Tq, Tk) 随机 mask；B = H",
           "unsorted, different query and key positions (Tq = Tk), a random (B, Tq, Tk) mask; B = H"),
     (3, 5, 5, 18, 3), np.array([13, 4, 21, 9, 30]), np.array([2, 17, 8, 25, 11]), 10000.0, "random", 1.0, "cross"),
    ("large base", _text("更大的 base", "large base"),
     _text("base = 500000（Llama 3），query 在 100 .. 103、key 在 97 .. 103，(B, 1, Tk) padding mask",
           "base 500000 (Llama 3), queries at 100 .. 103 and keys at 97 .. 103, a (B, 1, Tk) padding mask"),
     (2, 4, 7, 32, 2), np.arange(100, 104), np.arange(97, 104), 500000.0, "padding", 1.0, "cross"),
    ("large logits", _text("大 logits", "large logits"),
     _text("输入乘 100：softmax 不减最大值就会溢出", "inputs x100: a softmax without max-subtraction overflows"),
     (2, 5, 5, 24, 4), np.arange(5), np.arange(5), 10000.0, "causal", 100.0, "self"),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, (B, Tq, Tk, D, H), q_positions, k_positions, base, mask_kind, scale,
                layout) in enumerate(_CASES):
        rng = np.random.default_rng([seed, 135, index])
        k = scale * rng.standard_normal((B, Tk, D))
        v = k if layout in ("self", "cache") else scale * rng.standard_normal((B, Tk, D))
        q = k if layout == "self" else k[:, Tk - Tq:] if layout == "cache" else scale * rng.standard_normal((B, Tq, D))
        mask = None
        if mask_kind == "causal":
            mask = inputs.causal_mask(Tq)
        elif mask_kind == "offset causal":  # query i (at position Tk - Tq + i) sees keys 0 .. Tk - Tq + i
            mask = np.tril(np.ones((Tq, Tk), dtype=bool), Tk - Tq)
        elif mask_kind == "padding":
            mask = inputs.padding_mask([Tk] + [Tk - 3] * (B - 1), Tk)
        elif mask_kind == "random":
            mask = inputs.random_mask(rng, (B, Tq, Tk))
        args = {"q": q, "k": k, "v": v, "params": inputs.mha_params(rng, D), "num_heads": H,
                "q_positions": q_positions, "k_positions": k_positions, "base": base, "mask": mask}
        shapes = f"{inputs.mha_shapes(args)} base={base:g}"
        cases.append(Case(name, about, "mha_rope_forward", args, shapes=shapes, label=label))
    return cases + [_outscored_keys(seed)]


def _outscored_keys(seed):
    """Self-attention with W_q = I and W_k = -I (no biases on q and k), every head holding the same fixed
    pattern (mistakes.outscored_keys), every token at the same position (RoPE turns q and k alike, the scores
    stay): each query's one masked key outscores every allowed key by millions, so a -1e4 fill fails at every
    seed. V, W_o and their biases are seeded."""
    B, T, H, dh = 2, 4, 2, 6
    D = H * dh
    p, mask = mistakes.outscored_keys(T, dh)  # (T, dh), (T, T)
    x = np.tile(p, (B, 1, H))  # (B, T, D): every head's columns hold p
    x[1] = x[1, ::-1]  # the second example takes the tokens in reverse order
    params = inputs.mha_params(np.random.default_rng([seed, 135, 50]), D)
    params.update(W_q=np.eye(D), b_q=np.zeros(D), W_k=-np.eye(D), b_k=np.zeros(D))
    positions = np.full(T, 7)
    args = {"q": x, "k": x, "v": x, "params": params, "num_heads": H, "q_positions": positions,
            "k_positions": positions, "base": 10000.0, "mask": np.stack([mask, mask[::-1, ::-1]])}
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, "mha_rope_forward", args,
                shapes=f"{inputs.mha_shapes(args)} positions all 7", label=mistakes.OUTSCORED_LABEL)


def perf_case(seed):
    """A larger causal self-attention with RoPE, for the speed comparison with the reference."""
    args = inputs.mha_perf_args(seed)
    T = args["q"].shape[1]
    args = {**{key: args[key] for key in ("q", "k", "v", "params", "num_heads")},
            "q_positions": np.arange(T), "k_positions": np.arange(T), "base": 10000.0, "mask": args["mask"]}
    return Case("speed", _text("更大的因果自注意力", "larger causal self-attention"), "mha_rope_forward", args,
                shapes=inputs.mha_shapes(args))


def error_map(case, name, got, expected):
    """|error| per batch, query position and head, seen before W_o (solve heads @ W_o = out - b_o)."""
    return inputs.heads_error_map(case, got, expected)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: RoPEMultiHeadAttention(D, H, base=base) with the case's weights loaded by
    name, called with int64 position tensors."""
    import torch

    from mhaquiz.grader.torch_form import build, load_linears, tensor

    module = build(namespace, "RoPEMultiHeadAttention", args["q"].shape[-1], args["num_heads"], base=args["base"])
    load_linears(module, args["params"])
    with torch.no_grad():
        return module(tensor(args["q"]), tensor(args["k"]), tensor(args["v"]), tensor(args["q_positions"]),
                      tensor(args["k_positions"]), mask=tensor(args["mask"]))
