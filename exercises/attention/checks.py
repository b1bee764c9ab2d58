"""Checks for attention: batched and unbatched shapes, causal, padding and general (random) masks, large logits."""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
OUTPUTS = ("out", "weights")


def _mask_zeroes_scores(ref):
    def attention_weights(Q, K, mask=None):
        scores = Q @ K.swapaxes(-1, -2) / np.sqrt(Q.shape[-1])
        if mask is not None:
            scores = scores * mask  # a masked score of 0 still gets weight exp(0 - max) > 0
        return ref.softmax(scores, axis=-1)

    return attention_weights


_REUSED = ("no_scale", "scale_by_d_head", "softmax_over_queries", "no_max_subtraction",
           "mask_inverted", "mask_ignored", "mask_after_softmax")
MUTANTS = mistakes.pick(*_REUSED) + (mistakes.MASK_FILL,) + (
    Mutant("mask_zeroes_scores",
           Text(zh="被遮住的分数乘以了 mask（变成 0），而不是设为 -inf：被遮住的 key 仍然分到权重",
                en="masked scores multiplied by the mask (set to 0) instead of set to -inf: masked keys still get "
                   "weight"),
           patch={"attention_weights": _mask_zeroes_scores}, related=("mask-which-value",)),
)


def _text(zh, en):
    return Text(zh=zh, en=en)


# name, label, what it exposes, leading axes, Tq, Tk, d, dv, mask kind, input scale, self-attention
_CASES = (
    ("cross-attention", _text("交叉注意力", "cross-attention"),
     _text("Tq != Tk，d != dv，k、v 与 q 是不同的数组", "Tq != Tk, d != dv, k and v different arrays from q"),
     (2,), 4, 6, 5, 3, None, 1.0, False),
    ("self-attention, causal", _text("因果自注意力", "causal self-attention"),
     _text("同一个 x 同时作为 q、k、v；(T, T) 因果 mask", "one x feeds q, k and v; (T, T) causal mask"),
     (2,), 5, 5, 4, 4, "causal", 1.0, True),
    ("padding mask", _text("padding mask", "padding mask"),
     _text("(B, 1, Tk) mask：第 2、3 个样本分别忽略最后 2、3 个 key",
           "(B, 1, Tk) mask: examples 2 and 3 ignore their last 2 and 3 keys"),
     (3,), 3, 6, 4, 5, "padding", 1.0, False),
    ("batch of heads", _text("batch 加多头", "batch of heads"),
     _text("(B, H, T, d) 输入，所有 batch 和头共享同一个 (Tq, Tk) mask",
           "(B, H, T, d) inputs with a (Tq, Tk) mask shared by every batch and head"),
     (2, 3), 4, 6, 5, 2, "offset causal", 1.0, False),
    ("per-query mask", _text("任意 mask", "general mask"),
     _text("(B, Tq, Tk) 随机布尔 mask，不是 key 的前缀（因果 mask 和 padding mask 都表示不了）",
           "a random (B, Tq, Tk) boolean mask, no prefix of the keys (neither causal nor padding can express it)"),
     (2,), 5, 7, 3, 4, "random", 1.0, False),
    ("unbatched", _text("不带 batch", "unbatched"), _text("二维输入：前面没有其他维度", "2-D inputs: no leading axes"),
     (), 3, 7, 6, 2, None, 1.0, False),
    ("one query", _text("单个 query", "one query"), _text("Tq = 1，相当于解码的一步", "Tq = 1, a decoding step"),
     (2,), 1, 5, 4, 3, None, 1.0, False),
    ("large logits", _text("大 logits", "large logits"),
     _text("输入乘 100：分数约为 1e4，softmax 不减最大值就会溢出",
           "inputs x100: scores ~1e4, a softmax without the max-subtraction overflows"),
     (2,), 4, 5, 6, 3, "offset causal", 100.0, False),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, lead, Tq, Tk, d, dv, mask_kind, scale, self_attention) in enumerate(_CASES):
        rng = np.random.default_rng([seed, index])
        q = scale * rng.standard_normal(lead + (Tq, d))
        if self_attention:
            k = v = q
        else:
            k = scale * rng.standard_normal(lead + (Tk, d))
            v = rng.standard_normal(lead + (Tk, dv))
        mask = None
        if mask_kind == "causal":
            mask = inputs.causal_mask(Tq)
        elif mask_kind == "offset causal":  # query i (of Tq, aligned to the end) sees keys 0 .. i + Tk - Tq
            mask = np.tril(np.ones((Tq, Tk), dtype=bool), Tk - Tq)
        elif mask_kind == "padding":
            mask = inputs.padding_mask([Tk] + [Tk - 2 - b for b in range(lead[0] - 1)], Tk)
        elif mask_kind == "random":
            mask = inputs.random_mask(rng, lead + (Tq, Tk))
        shapes = f"q {q.shape}, k {k.shape}, v {v.shape}" + ("" if mask is None else f", mask {mask.shape}")
        cases.append(Case(name, about, "attention", {"q": q, "k": k, "v": v, "mask": mask},
                          shapes=shapes, output_names=OUTPUTS, label=label))
    return cases + [_outscored_keys(seed)]


def _outscored_keys(seed):
    """Fixed scores (mistakes.outscored_keys): each query's one masked key outscores every allowed key by
    millions, so a -1e4 fill fails at every seed; v is seeded."""
    p, mask = mistakes.outscored_keys(6, 6)  # (T, d), (T, T)
    q = np.stack([p, p[::-1]])  # (2, T, d): the second example takes the tokens in reverse order
    k = -q
    mask = np.stack([mask, mask[::-1, ::-1]])  # (2, T, T): the same partners in that order
    v = np.random.default_rng([seed, 20]).standard_normal((2, 6, 4))
    shapes = f"q {q.shape}, k {k.shape}, v {v.shape}, mask {mask.shape}"
    return Case("masked keys outscore", mistakes.OUTSCORED_ABOUT, "attention", {"q": q, "k": k, "v": v, "mask": mask},
                shapes=shapes, output_names=OUTPUTS, label=mistakes.OUTSCORED_LABEL)


def perf_case(seed):
    """Causal self-attention over (B, H, T, d) = (4, 8, 64, 32), for the speed comparison with the reference."""
    x = np.random.default_rng([seed, 1000]).standard_normal((4, 8, 64, 32))
    about = Text(zh="因果自注意力，带 batch 和多头", en="causal self-attention, batch and heads")
    return Case("speed", about, "attention",
                {"q": x, "k": x, "v": x, "mask": inputs.causal_mask(64)}, shapes="q, k, v (4, 8, 64, 32)",
                output_names=OUTPUTS)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: attention(q, k, v, mask) on float64 tensors, (output, weights) back."""
    from mhaquiz.grader.torch_form import tensor

    return namespace.attention(tensor(args["q"]), tensor(args["k"]), tensor(args["v"]), mask=tensor(args["mask"]))
