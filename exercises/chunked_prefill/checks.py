"""Checks for chunked_prefill: a chunk of new tokens attending to a K/V cache and to itself, with the offset
causal mask and an optional sliding window: a pure prefill (empty cache), a cache longer than the chunk, a
one-token decode step, windows smaller than the cache, inside the chunk, and larger than everything."""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("out", "k", "v")


def _text(zh, en):
    return Text(zh=zh, en=en)


# name, label, what it exposes, (B, H, P cached, T_new, d, dv), window.
# d != dv (keys and values are told apart), B != H, and every windowed case has rows the window cuts.
_CASES = (
    ("pure prefill", _text("纯 prefill", "pure prefill"),
     _text("P = 0：缓存为空，mask 就是普通的因果下三角", "P = 0: an empty cache, the mask is the plain causal triangle"),
     (2, 3, 0, 5, 4, 3), None),
    ("cache longer than chunk", _text("缓存比 chunk 长", "cache longer than the chunk"),
     _text("P = 7 > T_new = 4：第 i 个新 token 能看 key 0 .. 7+i", "P = 7 > T_new = 4: new token i sees keys 0 .. 7+i"),
     (2, 3, 7, 4, 6, 5), None),
    ("decode step", _text("解码一步", "decode step"),
     _text("T_new = 1：唯一的 query 看全部 P + 1 个 key", "T_new = 1: the only query sees all P + 1 keys"),
     (3, 2, 6, 1, 4, 6), None),
    ("window smaller than cache", _text("窗口比缓存小", "window smaller than the cache"),
     _text("P = 8，T_new = 4，window = 3：每个 query 只看自己和前 2 个 key",
           "P = 8, T_new = 4, window = 3: each query sees itself and the 2 keys before it"),
     (2, 3, 8, 4, 5, 3), 3),
    ("window inside chunk", _text("窗口落在 chunk 内", "window inside the chunk"),
     _text("P = 2，T_new = 6，window = 4：靠后的 query 已经看不到缓存",
           "P = 2, T_new = 6, window = 4: the later queries no longer reach the cache"),
     (2, 3, 2, 6, 4, 5), 4),
    ("window 2 prefill", _text("window = 2 的 prefill", "prefill with window 2"),
     _text("P = 0，window = 2：每个 query 只看自己和前一个 key", "P = 0, window = 2: each query sees itself and one key before"),
     (2, 3, 0, 6, 3, 4), 2),
    ("decode step with window", _text("带窗口的解码一步", "decode step with a window"),
     _text("T_new = 1，P = 9，window = 5：只看最近的 5 个 key（含自己）",
           "T_new = 1, P = 9, window = 5: only the 5 most recent keys (itself included)"),
     (3, 2, 9, 1, 6, 4), 5),
    ("window larger than everything", _text("窗口比全部 key 都大", "window larger than everything"),
     _text("window = 10 > P + T_new = 6：窗口不起作用，结果与不带窗口相同",
           "window = 10 > P + T_new = 6: the window changes nothing, the same as no window"),
     (2, 3, 3, 3, 4, 3), 10),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, (B, H, P, T, d, dv), window) in enumerate(_CASES):
        rng = np.random.default_rng([seed, 180, index])
        args = {"q": rng.standard_normal((B, H, T, d)),
                "k_cache": rng.standard_normal((B, H, P, d)), "v_cache": rng.standard_normal((B, H, P, dv)),
                "k_new": rng.standard_normal((B, H, T, d)), "v_new": rng.standard_normal((B, H, T, dv)),
                "window": window}
        shapes = f"B={B} H={H} P={P} T_new={T} d={d} dv={dv} window={window}"
        cases.append(Case(name, about, "chunked_prefill", args, shapes=shapes, output_names=OUTPUTS, label=label))
    return cases + [_outscored_keys(seed)]


def _outscored_keys(seed):
    """P = 1, T_new = 2, window = 2: new token 0 (position 1) may see keys 0 and 1 and not key 2 (the future),
    new token 1 (position 2) keys 1 and 2 and not key 0 (outside the window). The keys are 1e3-sized axes and
    the queries fixed, so that each query's one masked key scores +3e6 and its allowed keys -1e6 and -2e6: a
    -1e4 fill fails at every seed. The values are seeded."""
    B, H, P, T, d, dv = 2, 2, 1, 2, 3, 4
    size = np.sqrt(mistakes.OUTSCORE * np.sqrt(d))
    keys = size * np.eye(d)  # (P + T, d): key j along axis j
    queries = size * np.array([[-1.0, -2.0, 3.0], [3.0, -2.0, -1.0]])  # (T, d): row i's masked key scores 3
    rng = np.random.default_rng([seed, 180, 50])
    v = size * rng.standard_normal((B, H, P + T, dv))  # as large as the keys, which are outputs too
    args = {"q": np.broadcast_to(queries, (B, H, T, d)).copy(),
            "k_cache": np.broadcast_to(keys[:P], (B, H, P, d)).copy(), "v_cache": v[:, :, :P],
            "k_new": np.broadcast_to(keys[P:], (B, H, T, d)).copy(), "v_new": v[:, :, P:], "window": 2}
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, "chunked_prefill", args,
                shapes=f"B={B} H={H} P={P} T_new={T} d={d} dv={dv} window=2", output_names=OUTPUTS,
                label=mistakes.OUTSCORED_LABEL)


def perf_case(seed):
    """A 64-token chunk after a 192-token cache with a 128-token window, for the speed comparison."""
    rng = np.random.default_rng([seed, 180, 1000])
    B, H, P, T, d = 2, 8, 192, 64, 32
    args = {"q": rng.standard_normal((B, H, T, d)), "k_cache": rng.standard_normal((B, H, P, d)),
            "v_cache": rng.standard_normal((B, H, P, d)), "k_new": rng.standard_normal((B, H, T, d)),
            "v_new": rng.standard_normal((B, H, T, d)), "window": 128}
    about = _text("192 个缓存 token 之后的 64 个新 token，window = 128",
                  "64 new tokens after 192 cached ones, window = 128")
    return Case("speed", about, "chunked_prefill", args, shapes=f"B={B} H={H} P={P} T_new={T} d={d} window=128",
                output_names=OUTPUTS)


_VIEWS = {"out": (("axis.batch", "axis.head", "axis.query"),
                  _text("每个新 token（query）输出的最大误差", "the largest error of each new token's (query's) output")),
          "k": (("axis.batch", "axis.head", "axis.position"),
                _text("返回的 key 缓存每个位置的最大误差", "the largest error at each position of the returned key cache")),
          "v": (("axis.batch", "axis.head", "axis.position"),
                _text("返回的 value 缓存每个位置的最大误差", "the largest error at each position of the returned value cache"))}


def error_map(case, name, got, expected):
    """|error| per batch, head and query (or cache position), the largest over the features."""
    if name not in _VIEWS or np.shape(got) != np.shape(expected) or np.ndim(got) != 4:
        return None
    axes, view = _VIEWS[name]
    with np.errstate(all="ignore"):
        errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
        errors = np.where(np.isnan(errors), np.inf, errors).max(axis=-1)
    return errors, axes, view


# --- mistakes particular to a chunk on top of a cache -----------------------------------------------------

def _mask(rule):
    """A chunk_mask(T_new, P, window) built from rule(q_pos, k_pos, P, window) -> allowed."""

    def factory(ref):
        def chunk_mask(T_new, P, window=None):
            q_pos = P + np.arange(T_new)[:, None]  # (T_new, 1)
            k_pos = np.arange(P + T_new)[None, :]  # (1, T_total)
            return np.broadcast_to(rule(q_pos, k_pos, P, window), (T_new, P + T_new))

        return chunk_mask

    return factory


def _window(k_pos, q_pos, window, extra=0):
    return True if window is None else k_pos > q_pos - window - extra


def _prepend(ref):
    return lambda cache, new: np.concatenate([new, cache], axis=-2)  # the chunk first: positions scrambled


def _fill_1e4(ref):
    def attention(q, k, v, mask):
        scores = q @ k.swapaxes(-1, -2) / np.sqrt(q.shape[-1])
        return ref.softmax(np.where(mask, scores, -1e4), axis=-1) @ v  # -1e4: masked keys that outscore get weight

    return attention


def _no_scale(ref):
    def attention(q, k, v, mask):
        scores = q @ k.swapaxes(-1, -2)  # no 1/sqrt(d)
        return ref.softmax(np.where(mask, scores, -np.inf), axis=-1) @ v

    return attention


CHUNK = (
    Mutant("tril_without_offset",
           Text(zh="在 (T_new, P+T_new) 的分数上用了普通的下三角（np.tril，没有偏移 P）：第 i 个新 token 只看得到 key 0..i，"
                   "缓存中的大部分前文被挡住了；应为 j <= P + i",
                en="a plain lower triangle (np.tril without the offset P) on the (T_new, P+T_new) scores: new token i "
                   "sees keys 0..i only, most of the cache is hidden; it is j <= P + i"),
           patch={"chunk_mask": _mask(lambda q, k, P, w: (k <= q - P) & _window(k, q - P, w))},
           related=("inf-chunk-mask", "inf-chunked-prefill")),
    Mutant("window_one_too_many",
           Text(zh="滑动窗口多了一个 key：每个 query 看了 w + 1 个 key（j >= P + i - w），本题约定是 w 个（j > P + i - w）",
                en="the sliding window one key too wide: each query saw w + 1 keys (j >= P + i - w); ours keeps w "
                   "(j > P + i - w)"),
           patch={"chunk_mask": _mask(lambda q, k, P, w: (k <= q) & _window(k, q, w, extra=1))},
           related=("mask-off-by-one", "inf-chunk-mask")),
    Mutant("window_one_too_few",
           Text(zh="滑动窗口少了一个 key：每个 query 只看了 w - 1 个 key（j > P + i - w + 1），应为 w 个（含自己）",
                en="the sliding window one key too narrow: each query saw w - 1 keys (j > P + i - w + 1); it is w, "
                   "itself included"),
           patch={"chunk_mask": _mask(lambda q, k, P, w: (k <= q) & _window(k, q, w, extra=-1))},
           related=("mask-off-by-one", "inf-chunk-mask")),
    Mutant("new_before_cache",
           Text(zh="新的 key/value 放在了缓存前面：key 的顺序应为 [缓存; 新 token]，第 j 个 key 的绝对位置就是 j",
                en="the new keys/values placed before the cache: the keys are [cache ; new], key j sits at absolute "
                   "position j"),
           patch={"append": _prepend}, related=("eff-kv-cache-why", "inf-chunked-prefill")),
    Mutant("window_ignored",
           Text(zh="没有用滑动窗口：只加了因果 mask", en="sliding window ignored: only the causal mask applied"),
           patch={"chunk_mask": _mask(lambda q, k, P, w: k <= q)}, related=("inf-chunk-mask",)),
    Mutant("window_without_causal",
           Text(zh="窗口 mask 代替了因果 mask，而不是与它相与：query 看得到同一个 chunk 里排在它后面的 token",
                en="the window mask used instead of the causal mask, not together with it: a query sees the later "
                   "tokens of its own chunk"),
           patch={"chunk_mask": _mask(lambda q, k, P, w: k <= q if w is None else k > q - w)},
           related=("inf-chunk-mask", "mask-causal-purpose")),
    Mutant("chunk_unmasked",
           Text(zh="完全没有 mask（当成了单个 token 的解码步）：chunk 里的 token 看得到本块中后面的 token，窗口也没用上",
                en="no mask at all (as in a one-token decode step): the chunk's tokens see the later tokens of the "
                   "chunk, and the window is not applied"),
           patch={"chunk_mask": _mask(lambda q, k, P, w: True)}, related=("inf-chunk-mask", "mask-causal-purpose")),
    Mutant("no_scale",
           Text(zh="分数没有乘以 1/sqrt(d)", en="scores not scaled by 1/sqrt(d)"),
           patch={"attention": _no_scale}, related=("attn-why-scale-sqrt-dk", "attn-dot-product-std")),
)

MUTANTS = CHUNK + (Mutant("mask_fill_too_small", mistakes.MASK_FILL_TITLE, patch={"attention": _fill_1e4},
                          related=mistakes.MASK_FILL.related),)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: chunked_prefill on float64 tensors (the cache may hold 0 tokens),
    window an int or None; returns (out, k, v)."""
    from mhaquiz.grader.torch_form import tensor

    return namespace.chunked_prefill(tensor(args["q"]), tensor(args["k_cache"]), tensor(args["v_cache"]),
                                     tensor(args["k_new"]), tensor(args["v_new"]), args["window"])
