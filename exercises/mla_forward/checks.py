"""Checks for mla_forward: DeepSeek-V2's multi-head latent attention, with and without query compression,
positions starting at an offset (a chunk after a prompt) and at 0, B = H (where a shared key broadcast without
its head axis lines up silently), one token, another RoPE base.

mla_forward returns (u, cache) with the cache a dict; the driver below flattens it into three graded outputs
(out, c_kv, k_rope), since a case's outputs are arrays (a dict inside the returned tuple is not unpacked).
"""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
CACHE_KEYS = ("c_kv", "k_rope")


def run_mla(namespace, args):
    """Call namespace.mla_forward once; its (u, cache) as the outputs out, c_kv and k_rope."""
    result = namespace.mla_forward(*args.values())
    if not (isinstance(result, tuple) and len(result) == 2):
        raise TypeError(f"mla_forward must return the tuple (u, cache), got {type(result).__name__}")
    out, cache = result
    if not isinstance(cache, dict):
        raise TypeError(f"mla_forward must return the cache as a dict with keys 'c_kv' and 'k_rope', "
                        f"got {type(cache).__name__}")
    return {"out": out, **{key: cache[key] for key in CACHE_KEYS if key in cache}}  # a missing key: "missing"


def mla_params(rng, D, H, d_h, d_rope, d_c, d_cq):
    """The eight MLA matrices, x @ W convention, each ~ N(0, 1/fan_in); W_DQ is None when d_cq is None."""
    width = D if d_cq is None else d_cq  # what W_UQ and W_QR read: c_q, or h itself

    def weight(rows, cols):
        return rng.standard_normal((rows, cols)) / np.sqrt(rows)

    return {"W_DQ": None if d_cq is None else weight(D, d_cq), "W_UQ": weight(width, H * d_h),
            "W_QR": weight(width, H * d_rope), "W_DKV": weight(D, d_c), "W_UK": weight(d_c, H * d_h),
            "W_UV": weight(d_c, H * d_h), "W_KR": weight(D, d_rope), "W_O": weight(H * d_h, D)}


def _text(zh, en):
    return Text(zh=zh, en=en)


# name, label, what it exposes, (B, T, D, H, d_h, d_R, d_c, d_cq or None), first position, RoPE base.
# B != H except in "B = H"; d_h != d_R (a swapped [q_R ; q_C] must not line up); (d_h + d_R) / d_h differs
# from case to case, so the two scale mistakes cannot pass for each other.
_CASES = (
    ("query compression", _text("带 query 压缩", "query compression"),
     _text("完整的 MLA：c_q = h @ W_DQ；位置从 3 开始（前面已有 3 个 token）",
           "full MLA: c_q = h @ W_DQ; positions start at 3 (three tokens came before)"),
     (2, 5, 16, 4, 6, 4, 10, 12), 3, 10000.0),
    ("no query compression", _text("不压缩 query", "no query compression"),
     _text("W_DQ 为 None（DeepSeek-V2-Lite 的做法）：W_UQ、W_QR 直接作用于 h；位置从 5 开始",
           "W_DQ is None (as in DeepSeek-V2-Lite): W_UQ and W_QR read h itself; positions start at 5"),
     (3, 6, 12, 2, 4, 6, 8, None), 5, 10000.0),
    ("positions from 0", _text("位置从 0 开始", "positions from 0"),
     _text("纯 prefill：positions = 0..T-1", "a pure prefill: positions = 0..T-1"),
     (2, 4, 10, 3, 4, 2, 6, 8), 0, 10000.0),
    ("B = H", _text("B = H", "B = H"),
     _text("batch 大小等于头数（2）：共享的 k_R 漏了头的维度时，形状恰好能广播，不会报错",
           "batch size equals the number of heads (2): a shared k_R missing its head axis broadcasts without error"),
     (2, 5, 12, 2, 6, 4, 7, 9), 11, 10000.0),
    ("one token", _text("单个 token", "one token"),
     _text("T = 1，位置 20：只有一个 key，输出与分数无关，但缓存的 k_rope 要用绝对位置 20 旋转",
           "T = 1 at position 20: a single key, so the output ignores the scores, but the cached k_rope must be "
           "rotated by the absolute position 20"),
     (3, 1, 8, 2, 4, 2, 5, 6), 20, 10000.0),
    ("another RoPE base", _text("另一个 RoPE base", "another RoPE base"),
     _text("rope_base = 500，位置从 100 开始，B = 1", "rope_base = 500, positions start at 100, B = 1"),
     (1, 7, 14, 3, 8, 4, 9, 10), 100, 500.0),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, dims, start, base) in enumerate(_CASES):
        B, T, D, H, d_h, d_rope, d_c, d_cq = dims
        rng = np.random.default_rng([seed, 170, index])
        h = rng.standard_normal((B, T, D))
        args = {"h": h, "params": mla_params(rng, D, H, d_h, d_rope, d_c, d_cq), "num_heads": H,
                "positions": start + np.arange(T), "rope_base": base}
        shapes = (f"B={B} T={T} D={D} H={H} d_h={d_h} d_R={d_rope} d_c={d_c} d_cq={d_cq} "
                  f"positions={start}..{start + T - 1} base={base:g}")
        cases.append(Case(name, about, "mla_forward", args, shapes=shapes, driver=run_mla, label=label))
    return cases + [_outscored_keys(seed)]


def _outscored_keys(seed):
    """Two tokens whose content query and key are the fixed pattern of mistakes.outscored_keys (W_DQ None,
    W_UQ = W_DKV = I, W_UK = -I, and a RoPE part a thousand times smaller: W_QR, W_KR / 1000, so the rotated
    parts are unit-sized): token 0 scores its own key about -5e6 and the masked future key about +3e6, so a
    -1e4 causal fill fails at every seed. W_UV, W_O and the RoPE weights are seeded."""
    B, T, H, d_h, d_rope = 2, 2, 2, 6, 2
    D = H * d_h
    p, _ = mistakes.outscored_keys(T, d_h, score_dim=d_h + d_rope)  # (T, d_h)
    h = np.tile(p, (B, 1, H))  # (B, T, D): every head's columns hold p
    h[1] = h[1, ::-1]  # the second example swaps the two tokens
    params = mla_params(np.random.default_rng([seed, 170, 50]), D, H, d_h, d_rope, D, None)
    params.update(W_UQ=np.eye(D), W_DKV=np.eye(D), W_UK=-np.eye(D), W_QR=params["W_QR"] / 1000.0,
                  W_KR=params["W_KR"] / 1000.0)
    args = {"h": h, "params": params, "num_heads": H, "positions": 4 + np.arange(T), "rope_base": 10000.0}
    shapes = f"B={B} T={T} D={D} H={H} d_h={d_h} d_R={d_rope} d_c={D} d_cq=None positions=4..5"
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, "mla_forward", args, shapes=shapes, driver=run_mla,
                label=mistakes.OUTSCORED_LABEL)


def perf_case(seed):
    """A longer sequence with more heads, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 170, 1000])
    B, T, D, H, d_h, d_rope, d_c, d_cq = 4, 32, 64, 8, 16, 8, 32, 48
    args = {"h": rng.standard_normal((B, T, D)), "params": mla_params(rng, D, H, d_h, d_rope, d_c, d_cq),
            "num_heads": H, "positions": 16 + np.arange(T), "rope_base": 10000.0}
    about = _text("更长的序列、更多的头", "a longer sequence with more heads")
    return Case("speed", about, "mla_forward", args, shapes=f"B={B} T={T} D={D} H={H} d_h={d_h} d_R={d_rope}",
                driver=run_mla)


_VIEWS = {"out": (("axis.batch", "axis.query", "axis.feature"), _text("输出 u 的误差", "the error of the output u")),
          "c_kv": (("axis.batch", "axis.position", "axis.feature"),
                   _text("缓存的潜向量 c_kv 的误差", "the error of the cached latent c_kv")),
          "k_rope": (("axis.batch", "axis.position", "axis.feature"),
                     _text("缓存的共享 RoPE key 的误差", "the error of the cached shared RoPE key"))}


def error_map(case, name, got, expected):
    """|error| per batch, token and feature, with the axes named."""
    if name not in _VIEWS or np.shape(got) != np.shape(expected) or np.ndim(got) != 3:
        return None
    axes, view = _VIEWS[name]
    with np.errstate(all="ignore"):
        return np.abs(np.asarray(got, dtype=np.float64) - expected), axes, view


# --- mistakes particular to MLA -------------------------------------------------------------------------

def _d_head(params, num_heads):
    return params["W_UK"].shape[1] // num_heads


def _rope_on_content(ref):
    def mla_forward(h, params, num_heads, positions, rope_base=10000.0):
        d_h = _d_head(params, num_heads)
        q = ref.queries(h, params, num_heads, positions, rope_base)
        cache = ref.latent_cache(h, params, positions, rope_base)
        k, v = ref.keys_values(cache, params, num_heads)
        q = np.concatenate([ref.rope(q[..., :d_h], positions, rope_base), q[..., d_h:]], axis=-1)  # q_C rotated too
        k = np.concatenate([ref.rope(k[..., :d_h], positions, rope_base), k[..., d_h:]], axis=-1)  # k_C rotated too
        P = ref.attention_weights(q, k, ref.causal_mask(h.shape[1]))
        return ref.merge_heads(P @ v) @ params["W_O"], cache

    return mla_forward


def _shared_key_without_head_axis(ref):
    return lambda k_rope: k_rope  # (B, T, d_R) lines up with (H, T, d_R) of (B, H, T, d_R) when B == H


def _scale_by_content_dim(args):
    """Scores scaled by 1/sqrt(d_h) instead of 1/sqrt(d_h + d_R): the same as q larger by sqrt((d_h + d_R)/d_h)."""
    args = dict(args)
    params = dict(args["params"])
    d_h, d_rope = _d_head(params, args["num_heads"]), params["W_KR"].shape[1]
    factor = np.sqrt((d_h + d_rope) / d_h)
    params["W_UQ"], params["W_QR"] = params["W_UQ"] * factor, params["W_QR"] * factor
    args["params"] = params
    return args


def _cache_keys_values(outputs, case):
    """cache['c_kv'] holding the up-projected [k_C ; v_C] (B, T, 2*H*d_h) instead of the latent (B, T, d_c)."""
    params, c_kv = case.args["params"], outputs["c_kv"]
    return {**outputs, "c_kv": np.concatenate([c_kv @ params["W_UK"], c_kv @ params["W_UV"]], axis=-1)}


def _key_positions_from_zero(ref):
    def latent_cache(h, params, positions, rope_base):
        return ref.latent_cache(h, params, np.arange(h.shape[1]), rope_base)  # keys at 0..T-1, queries at positions

    return latent_cache


def _positions_ignored(ref):
    def rope(x, positions, base):
        return ref.rope(x, np.arange(x.shape[-2]), base)  # 0..T-1 for q and k alike

    return rope


def _query_rope_first(ref):
    def queries(h, params, num_heads, positions, rope_base):
        q = ref.queries(h, params, num_heads, positions, rope_base)
        d_h = _d_head(params, num_heads)
        return np.concatenate([q[..., d_h:], q[..., :d_h]], axis=-1)  # [q_R ; q_C] against k = [k_C ; k_R]

    return queries


def _default_base(args):
    return {**args, "rope_base": 10000.0}


MLA = (
    Mutant("rope_on_content",
           Text(zh="RoPE 也作用在了内容部分 q_C、k_C 上：只有解耦出来的 q_R、k_R 才旋转（否则 W_UK 无法被吸收进 W_UQ）",
                en="RoPE applied to the content parts q_C and k_C too: only the decoupled q_R and k_R rotate "
                   "(otherwise W_UK can no longer be absorbed into W_UQ)"),
           patch={"mla_forward": _rope_on_content}, related=("inf-mla", "pos-rope-qk-not-v")),
    Mutant("shared_key_without_head_axis",
           Text(zh="共享的 k_R (B, T, d_R) 没有加头的维度就去广播：B = H 时第 h 个头拿到的是第 h 个样本的 k_R"
                   "（应为 k_R[:, None]，同一序列的所有头共用一个 k_R）",
                en="the shared k_R (B, T, d_R) broadcast without a head axis: with B = H, head h got batch h's "
                   "k_R (it is k_R[:, None], one key for every head of the same sequence)"),
           patch={"shared_key": _shared_key_without_head_axis}, related=("inf-mla", "mask-padding-broadcast")),
    Mutant("scale_without_rope_dim",
           Text(zh="分数乘的是 1/sqrt(d_h)，应为 1/sqrt(d_h + d_h^R)：点积是在整个 [内容; RoPE] 上算的",
                en="scores scaled by 1/sqrt(d_h) instead of 1/sqrt(d_h + d_h^R): the dot product runs over the "
                   "whole [content ; RoPE] vector"),
           args_transform=_scale_by_content_dim, related=("inf-mla", "attn-why-scale-sqrt-dk")),
    Mutant("cached_keys_values",
           Text(zh="缓存里放的是上投影后的 [k_C; v_C]（每个 token 2·n_h·d_h 个数，和 MHA 一样），而不是潜向量 c_kv（d_c 个数）",
                en="the cache holds the up-projected [k_C ; v_C] (2·n_h·d_h numbers a token, as MHA does) instead "
                   "of the latent c_kv (d_c numbers)"),
           transform=_cache_keys_values, related=("inf-mla-cache-elements", "inf-kv-heads-vs-mla")),
    Mutant("key_positions_from_zero",
           Text(zh="k_R 用 0..T-1 旋转，而 query 用的是传入的 positions：key 的位置少了偏移量",
                en="k_R rotated at positions 0..T-1 while the queries use the given positions: the keys lost "
                   "the offset"),
           patch={"latent_cache": _key_positions_from_zero}, related=("pos-rope-relative", "inf-chunked-prefill")),
    Mutant("positions_ignored",
           Text(zh="忽略了 positions，q 和 k 都按 0..T-1 旋转：输出碰巧不变（RoPE 只看相对位置），但缓存的 k_rope 错了，"
                   "之后的 token 会拿它和绝对位置比较",
                en="positions ignored, q and k both rotated at 0..T-1: the output happens to be right (RoPE sees "
                   "only relative positions) but the cached k_rope is wrong, and later tokens compare against it"),
           patch={"rope": _positions_ignored}, related=("pos-rope-relative", "inf-chunked-prefill")),
    Mutant("query_parts_swapped",
           Text(zh="query 拼成了 [q_R; q_C]，而 key 是 [k_C; k_R]：两边的拼接顺序必须一致",
                en="the query concatenated as [q_R ; q_C] while the key is [k_C ; k_R]: both must use the same order"),
           patch={"queries": _query_rope_first}, related=("inf-mla",)),
    Mutant("rope_base_ignored",
           Text(zh="没有用传入的 rope_base，写死了 10000", en="rope_base ignored: 10000 hard-wired"),
           args_transform=_default_base, related=("pos-rope-theta",)),
)

MUTANTS = MLA + mistakes.pick("no_scale", "mask_fill_too_small")


# --- the PyTorch track --------------------------------------------------------------------------------------


# The names of Hugging Face's DeepseekV2Attention first, then DeepSeek-V3's inference code (model.py), then the
# paper's matrices. Fused layers hold, per head, [content ; rope] (queries) and [k_C ; v] (kv_b), and
# kv_a holds [c_kv ; k_R], as both codebases split them.
MLA_FUSED = {
    "q": ("q_proj", "wq"),  # no query compression: h -> H * (d_h + d_R)
    "q_b": ("q_b_proj", "wq_b"),  # c_q -> H * (d_h + d_R)
    "kv_a": ("kv_a_proj_with_mqa", "wkv_a", "kv_a_proj"),  # h -> [c_kv ; k_R]
    "kv_b": ("kv_b_proj", "wkv_b"),  # c_kv -> H * (d_h + d_h)
}
MLA_NAMES = {
    "W_DQ": ("q_a_proj", "wq_a", "w_dq", "q_down", "q_down_proj", "w_down_q"),
    "W_UQ": ("w_uq", "q_up", "q_up_proj", "w_up_q", "q_nope_proj"),
    "W_QR": ("w_qr", "q_rope", "q_rope_proj", "w_q_rope", "q_pe_proj"),
    "W_DKV": ("w_dkv", "kv_down", "kv_down_proj", "w_down_kv"),
    "W_UK": ("w_uk", "k_up", "k_up_proj", "w_up_k", "k_nope_proj"),
    "W_UV": ("w_uv", "v_up", "v_up_proj", "w_up_v"),
    "W_KR": ("w_kr", "k_rope", "k_rope_proj", "w_k_rope", "k_pe_proj"),
    "W_O": ("o_proj", "wo", "w_o", "out_proj", "w_out"),
}


def _per_head(a, b, H):
    """(in, H*da) and (in, H*db) -> (in, H*(da + db)): head by head, a's columns then b's (a fused layer)."""
    return np.concatenate([a.reshape(a.shape[0], H, -1), b.reshape(b.shape[0], H, -1)], axis=-1).reshape(a.shape[0], -1)


def load_mla(module, params, H):
    """The case's MLA matrices into the learner's layers by name: each group fused as Hugging Face and DeepSeek
    write it (q_proj or q_a_proj + q_b_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj; wq, wq_a + wq_b, wkv_a,
    wkv_b, wo) or as the paper's separate matrices (W_DQ, W_UQ, W_QR, W_DKV, W_KR, W_UK, W_UV, W_O)."""
    from mhaquiz.grader.torch_form import ParameterMismatch, _shapes, load_matrix

    compressed = params["W_DQ"] is not None
    fused = {"q_b" if compressed else "q": _per_head(params["W_UQ"], params["W_QR"], H),
             "kv_a": np.concatenate([params["W_DKV"], params["W_KR"]], axis=1),
             "kv_b": _per_head(params["W_UK"], params["W_UV"], H)}
    expected = ([("q_a_proj", params["W_DQ"].shape)] if compressed else []) + \
        [(MLA_FUSED[name][0], W.shape) for name, W in fused.items()] + [("o_proj", params["W_O"].shape)]

    def load(W, names, label):
        if not load_matrix(module, W, None, names, label, expected):
            raise ParameterMismatch(f"no layer for {label} (named {' / '.join(names[:3])} ...)", expected,
                                    _shapes(module))

    groups = [("q_b" if compressed else "q", ("W_UQ", "W_QR")), ("kv_a", ("W_DKV", "W_KR")), ("kv_b", ("W_UK", "W_UV"))]
    for name, parts in groups:
        if not load_matrix(module, fused[name], None, MLA_FUSED[name], MLA_FUSED[name][0], expected):
            for part in parts:
                load(params[part], MLA_NAMES[part], part)
    for part in (("W_DQ", "W_O") if compressed else ("W_O",)):
        load(params[part], MLA_NAMES[part], part)


def torch_call(namespace, args, case):
    """A PyTorch submission on a case: MLA(d_model, num_heads, d_head, d_rope, d_c, d_cq, rope_base) with the
    case's matrices loaded by name, called as mla(h, positions); (u, cache) through the NumPy track's driver."""
    from types import SimpleNamespace

    import torch

    from mhaquiz.grader.torch_form import build, tensor, to_numpy

    def mla_forward(h, params, num_heads, positions, rope_base=10000.0):
        d_head, d_rope = params["W_UK"].shape[1] // num_heads, params["W_KR"].shape[1]
        d_cq = None if params["W_DQ"] is None else params["W_DQ"].shape[1]
        module = build(namespace, "MLA", h.shape[-1], num_heads, d_head, d_rope, params["W_DKV"].shape[1], d_cq=d_cq,
                       rope_base=rope_base)
        load_mla(module, params, num_heads)
        with torch.no_grad():
            return to_numpy(module(tensor(h), tensor(positions)))

    return run_mla(SimpleNamespace(mla_forward=mla_forward), args)
