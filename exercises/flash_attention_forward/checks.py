"""Checks for flash_attention_forward: exact attention computed over key blocks, and its peak memory.

Cases: a ragged last key block, causal self-attention with batch and heads, masks that leave whole key
blocks empty for some queries (a sliding window, left padding: the running state must stay finite), block
sizes 1 and > Tk, large logits and an unbatched general mask. Outputs: out (..., Tq, dv) and lse (..., Tq).

Memory: once every case passes, the worker measures the peak bytes allocated during one call on
`memory_case` (tracemalloc); above `memory_limit` the exercise fails: the full score matrix was built.
"""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("out", "lse")
FUNCTION = "flash_attention_forward"


# --- the classic mistakes, as edits of the reference's helpers ------------------------------------------

def _no_rescaling(ref):
    def rescale(m_old, m_new):
        return np.ones_like(m_new)  # l and acc stay relative to the old max

    return rescale


def _output_not_rescaled(ref):
    def update(m, l, acc, s, v_block):
        m_new = np.maximum(m, s.max(axis=-1))
        alpha = ref.rescale(m, m_new)
        p = np.exp(s - ref.safe_max(m_new)[..., None])
        return m_new, alpha * l + p.sum(axis=-1), acc + p @ v_block  # wrong: acc not multiplied by alpha

    return update


def _per_block_normalisation(ref):
    def update(m, l, acc, s, v_block):
        m_new = np.maximum(m, s.max(axis=-1))
        alpha = ref.rescale(m, m_new)
        p = np.exp(s - ref.safe_max(m_new)[..., None])
        tile = np.exp(s - s.max(axis=-1, keepdims=True))
        tile = tile / tile.sum(axis=-1, keepdims=True)  # wrong: the tile's own softmax, normalised in the block
        return m_new, alpha * l + p.sum(axis=-1), alpha[..., None] * acc + tile @ v_block

    return update


def _already_normalised(ref):
    def finish(m, l, acc):
        return acc, m + np.log(l)  # (per block normalisation: "every block was normalised already")

    return finish


def _masked_block_nan(ref):
    def safe_max(m):
        return m  # a query whose keys so far are all masked computes exp(-inf - (-inf)) = NaN

    return safe_max


def _lse_without_max(ref):
    def finish(m, l, acc):
        return acc / l[..., None], np.log(l)  # wrong: log(l) is log-sum-exp of the scores MINUS m

    return finish


def _no_scale(ref):
    return lambda d: 1.0


def _tail_block_dropped(ref):
    def key_blocks(Tk, block_size):
        return [(start, start + block_size) for start in range(0, Tk - block_size + 1, block_size)]  # full blocks only

    return key_blocks


def _fill_1e4(ref):
    def score_block(q, k_block, mask_block):
        s = (q @ k_block.swapaxes(-1, -2)) * ref.softmax_scale(q.shape[-1])
        return s if mask_block is None else np.where(mask_block, s, -1e4)  # masked keys that outscore get weight

    return score_block


def _mask_after_exp(ref):
    def flash_attention_forward(q, k, v, mask, block_size):
        Tq, Tk, dv = q.shape[-2], k.shape[-2], v.shape[-1]
        lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        if mask is not None:
            mask = np.broadcast_to(mask, np.broadcast_shapes(mask.shape, (Tq, Tk)))
        m, l, acc = np.full(lead + (Tq,), -np.inf), np.zeros(lead + (Tq,)), np.zeros(lead + (Tq, dv))
        for start, stop in ref.key_blocks(Tk, block_size):
            s = ref.score_block(q, k[..., start:stop, :], None)  # wrong: the scores of masked keys too ...
            m_new = np.maximum(m, s.max(axis=-1))  # ... so the running max may be a masked key's
            alpha = ref.rescale(m, m_new)
            p = np.exp(s - ref.safe_max(m_new)[..., None])
            if mask is not None:
                p = p * mask[..., start:stop]  # masked after exp: the allowed terms may have underflowed to 0
            m, l, acc = m_new, alpha * l + p.sum(axis=-1), alpha[..., None] * acc + p @ v[..., start:stop, :]
        return ref.finish(m, l, acc)

    return flash_attention_forward


_FLASH = ("eff-flashattention", "eff-flash-claims")
MUTANTS = (
    Mutant("no_rescaling",
           Text(zh="最大值变大时，l 和输出累加器都没有乘 exp(m_old - m_new)：旧的部分还是相对旧最大值算的",
                en="neither l nor the output accumulator multiplied by exp(m_old - m_new) when the max grows: the old "
                   "parts stay relative to the old max"),
           patch={"rescale": _no_rescaling}, related=_FLASH),
    Mutant("output_not_rescaled",
           Text(zh="l 乘了 exp(m_old - m_new)，输出累加器 O 却没有乘：两者必须用同一个因子缩放",
                en="l multiplied by exp(m_old - m_new) but the output accumulator O not: both need the same factor"),
           patch={"update": _output_not_rescaled}, related=_FLASH + ("eff-flashattention-2",)),
    Mutant("per_block_normalisation",
           Text(zh="每个 key 块先单独做 softmax（块内归一化）再累加进 O：各块的权重没有按整行的总和归一化",
                en="each key block's tile normalised by its own softmax before being added to O: the blocks are not "
                   "weighted by the row's overall sum"),
           patch={"update": _per_block_normalisation, "finish": _already_normalised},
           related=_FLASH + ("eff-flashattention-2",)),
    Mutant("masked_block_nan",
           Text(zh="一整块 key 都被遮住时算了 exp(-inf - (-inf)) = NaN：query 还没见到可看的 key 时应减 0",
                en="a fully masked key block computes exp(-inf - (-inf)) = NaN: subtract 0 until the query has seen "
                   "a key it may attend to"),
           patch={"safe_max": _masked_block_nan}, related=("mask-fully-masked-row", "eff-flashattention")),
    Mutant("lse_without_max",
           Text(zh="lse 只返回了 log(l)，漏了运行最大值 m：log-sum-exp = m + log(l)",
                en="lse returned as log(l), without the running max m: log-sum-exp = m + log(l)"),
           patch={"finish": _lse_without_max}, related=("eff-flashattention-2", "bw-rowsum-identity")),
    Mutant("no_scale",
           Text(zh="分数没有乘 1/sqrt(d)", en="scores not multiplied by 1/sqrt(d)"),
           patch={"softmax_scale": _no_scale}, related=("attn-why-scale-sqrt-dk",)),
    Mutant("tail_block_dropped",
           Text(zh="Tk 不能被块大小整除时，最后那个不满的块被丢掉了（循环只走了 Tk // block_size 次）",
                en="the last, shorter key block dropped when block_size does not divide Tk (the loop ran "
                   "Tk // block_size times)"),
           patch={"key_blocks": _tail_block_dropped}, related=("eff-flashattention",)),
    Mutant("mask_fill_too_small", mistakes.MASK_FILL_TITLE, patch={"score_block": _fill_1e4},
           related=mistakes.MASK_FILL.related),
    Mutant("mask_after_exp",
           Text(zh="先 exp 再乘 mask：运行最大值 m 把被遮住的分数也算了进去，被遮住的 key 分数高出 ~709 以上时，"
                   "可看的 key 的 exp(s - m) 全部下溢为 0，得到 0/0；应在取最大值之前就把被遮住的分数设为 -inf",
                en="masked after exp: the running max m also takes the masked scores, so when a masked key outscores "
                   "the allowed ones by more than ~709, every allowed exp(s - m) underflows to 0 and the row is 0/0; "
                   "set masked scores to -inf before taking the max"),
           patch={"flash_attention_forward": _mask_after_exp},
           related=("mask-which-value", "eff-flashattention")),
)


# --- the cases ------------------------------------------------------------------------------------------

def _text(zh, en):
    return Text(zh=zh, en=en)


def _sliding_window(Tq, Tk, window):
    """(Tq, Tk): query i sees keys i - window + 1 .. i (queries aligned to the first keys)."""
    i, j = np.arange(Tq)[:, None], np.arange(Tk)[None, :]
    return (j <= i) & (j > i - window)


def _left_padding(pads, Tk):
    """(B, 1, Tk): example b ignores its first pads[b] keys (left padding, as in batched generation)."""
    return np.arange(Tk)[None, None, :] >= np.asarray(pads)[:, None, None]


# name, label, what it exposes, leading axes, Tq, Tk, d, dv, block_size, mask kind, input scale, self-attention
_CASES = (
    ("ragged last block", _text("最后一块不满", "ragged last block"),
     _text("交叉注意力，Tk = 11，块大小 4（4 + 4 + 3）；Tq != Tk，d != dv",
           "cross-attention, Tk = 11, block 4 (4 + 4 + 3); Tq != Tk, d != dv"),
     (2,), 5, 11, 4, 3, 4, None, 1.0, False),
    ("causal, batch and heads", _text("因果，batch 加多头", "causal, batch and heads"),
     _text("(B, H, T, d) 自注意力（同一个 x 作 q、k、v），(T, T) 因果 mask，块大小 4",
           "(B, H, T, d) self-attention (one x as q, k and v), a (T, T) causal mask, block 4"),
     (2, 3), 9, 9, 6, 6, 4, "causal", 1.0, True),
    ("sliding window", _text("滑动窗口", "sliding window"),
     _text("每个 query 只看最近的 4 个 key，块大小 3：靠后的 query 前两块 key 全被遮住，运行状态必须保持有限",
           "each query sees its 4 latest keys, block 3: later queries find their first two key blocks fully masked, "
           "and the running state must stay finite"),
     (2,), 12, 12, 5, 4, 3, "window", 1.0, False),
    ("left padding", _text("左侧 padding", "left padding"),
     _text("(B, 1, Tk) mask：第 2、3 个样本忽略前 3、5 个 key，块大小 3：第一块全被遮住",
           "(B, 1, Tk) mask: examples 2 and 3 ignore their first 3 and 5 keys, block 3: the first block is fully "
           "masked"),
     (3,), 4, 10, 4, 5, 3, "left padding", 1.0, False),
    ("block size 1", _text("块大小 1", "block size 1"),
     _text("一次一个 key，加一个随机 mask（不是前缀）", "one key at a time, with a random mask (no prefix)"),
     (2,), 3, 5, 4, 2, 1, "random", 1.0, False),
    ("block larger than Tk", _text("块比 Tk 大", "block larger than Tk"),
     _text("块大小 16 > Tk = 7：只有一块，就是普通的注意力", "block 16 > Tk = 7: a single block, plain attention"),
     (2,), 4, 7, 3, 5, 16, None, 1.0, False),
    ("large logits", _text("大 logits", "large logits"),
     _text("q、k 乘 100：分数约为 1e4，不减运行最大值 exp 就会溢出；偏移的因果 mask",
           "q and k x100: scores ~1e4, exp overflows without subtracting the running max; an offset causal mask"),
     (2,), 4, 10, 6, 3, 4, "offset causal", 100.0, False),
    ("unbatched, general mask", _text("不带 batch，任意 mask", "unbatched, general mask"),
     _text("二维输入（前面没有其他维度），(Tq, Tk) 随机布尔 mask，块大小 3",
           "2-D inputs (no leading axes), a random (Tq, Tk) boolean mask, block 3"),
     (), 6, 8, 5, 3, 3, "random", 1.0, False),
)


def _mask(kind, rng, lead, Tq, Tk):
    if kind == "causal":
        return inputs.causal_mask(Tq)
    if kind == "offset causal":  # query i (of Tq, aligned to the end) sees keys 0 .. i + Tk - Tq
        return np.tril(np.ones((Tq, Tk), dtype=bool), Tk - Tq)
    if kind == "window":
        return _sliding_window(Tq, Tk, 4)
    if kind == "left padding":
        return _left_padding([0, 3, 5], Tk)
    if kind == "random":
        return inputs.random_mask(rng, lead + (Tq, Tk))
    return None


def _shapes(q, k, v, mask, block_size):
    return (f"q {q.shape}, k {k.shape}, v {v.shape}" + ("" if mask is None else f", mask {mask.shape}")
            + f", block_size={block_size}")


def make_cases(seed):
    cases = []
    for index, (name, label, about, lead, Tq, Tk, d, dv, block_size, mask_kind, scale, self_attention) in \
            enumerate(_CASES):
        rng = np.random.default_rng([seed, 155, index])
        q = scale * rng.standard_normal(lead + (Tq, d))
        if self_attention:
            k = v = q
        else:
            k = scale * rng.standard_normal(lead + (Tk, d))
            v = rng.standard_normal(lead + (Tk, dv))
        mask = _mask(mask_kind, rng, lead, Tq, Tk)
        cases.append(Case(name, about, FUNCTION, {"q": q, "k": k, "v": v, "mask": mask, "block_size": block_size},
                          shapes=_shapes(q, k, v, mask, block_size), output_names=OUTPUTS, label=label))
    return cases + [_outscored_keys(seed)]


def _outscored_keys(seed):
    """Fixed scores (mistakes.outscored_keys), key blocks of 2 each holding a query's allowed key: each query's
    one masked key outscores every allowed key by millions, so a -1e4 fill, and masking after exp (the running
    max taken over masked scores too), fail at every seed. v is seeded, of lse's size (about 1e6)."""
    p, mask = mistakes.outscored_keys(6, 6)  # (T, d), (T, T)
    q = np.stack([p, p[::-1]])  # (2, T, d): the second example takes the tokens in reverse order
    k = -q
    mask = np.stack([mask, mask[::-1, ::-1]])  # (2, T, T)
    v = 1e6 * np.random.default_rng([seed, 155, 50]).standard_normal((2, 6, 3))  # as large as lse (about -1e6):
    # the case's scale is its largest value, and an error in out must stand out against it
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, FUNCTION,
                {"q": q, "k": k, "v": v, "mask": mask, "block_size": 2}, shapes=_shapes(q, k, v, mask, 2),
                output_names=OUTPUTS, label=mistakes.OUTSCORED_LABEL)


_LEADING_AXES = {0: (), 1: ("axis.batch",), 2: ("axis.batch", "axis.head")}
_VIEWS = {"out": (("axis.query", "axis.feature"), _text("输出每个元素的误差", "the error of each output element")),
          "lse": (("axis.query",), _text("每个 query 的 lse 误差", "the lse error of each query"))}


def error_map(case, name, got, expected):
    """|error| of out over (batch, head,) query and feature, or of lse over (batch, head,) query."""
    lead = case.args["q"].ndim - 2
    if name not in _VIEWS or lead not in _LEADING_AXES or np.shape(got) != np.shape(expected):
        return None
    axes, view = _VIEWS[name]
    with np.errstate(all="ignore"):
        errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
    return np.where(np.isnan(errors), np.inf, errors), _LEADING_AXES[lead] + axes, view


def perf_case(seed):
    """Causal self-attention over (B, H, T, d) = (2, 4, 128, 32) in key blocks of 32, for the speed comparison."""
    x = np.random.default_rng([seed, 155, 1000]).standard_normal((2, 4, 128, 32))
    about = Text(zh="因果自注意力，带 batch 和多头，块大小 32", en="causal self-attention, batch and heads, block 32")
    return Case("speed", about, FUNCTION, {"q": x, "k": x, "v": x, "mask": inputs.causal_mask(128), "block_size": 32},
                shapes="q, k, v (2, 4, 128, 32), block_size=32", output_names=OUTPUTS)


# --- the memory bound -------------------------------------------------------------------------------------

MEMORY_T, MEMORY_D, MEMORY_BLOCK = 2048, 16, 32


def memory_case(seed):
    """Causal self-attention with Tq = Tk = 2048, d = dv = 16, key blocks of 32: one (Tq, Tk) float64 matrix
    is 32 MiB, one (Tq, 32) tile 0.5 MiB (the reference peaks near 2 MiB)."""
    rng = np.random.default_rng([seed, 155, 2000])
    q, k, v = (rng.standard_normal((MEMORY_T, MEMORY_D)) for _ in range(3))
    about = Text(zh="因果自注意力，Tq = Tk = 2048，块大小 32：完整的分数矩阵要 32 MiB",
                 en="causal self-attention, Tq = Tk = 2048, block 32: the full score matrix would take 32 MiB")
    return Case("memory", about, FUNCTION,
                {"q": q, "k": k, "v": v, "mask": inputs.causal_mask(MEMORY_T), "block_size": MEMORY_BLOCK},
                shapes=f"Tq = Tk = {MEMORY_T}, d = dv = {MEMORY_D}, block_size = {MEMORY_BLOCK}", output_names=OUTPUTS)


def memory_limit(case):
    """A quarter of one full (Tq, Tk) float64 score matrix (8 MiB here): room for several (Tq, block) tiles and
    (Tq, dv) accumulators, none for a (Tq, Tk) matrix of scores or probabilities (float32 included)."""
    Tq, Tk = case.args["q"].shape[-2], case.args["k"].shape[-2]
    return Tq * Tk * 8 // 4


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case (the memory case too): flash_attention_forward on float64 tensors, the
    mask a bool tensor (True = may attend) over the case's own array (its 4 MiB copy on the memory case would
    count against the bound, as the NumPy track's mask never does), block_size an int; returns (out, lse)."""
    from mhaquiz.grader.torch_form import shared, tensor

    return namespace.flash_attention_forward(tensor(args["q"]), tensor(args["k"]), tensor(args["v"]),
                                             shared(args["mask"]), args["block_size"])
