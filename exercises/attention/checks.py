"""Checks for attention: batched and unbatched shapes, causal, padding and arbitrary masks, large logits."""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance

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
MUTANTS = mistakes.pick(*_REUSED) + (
    Mutant("mask_zeroes_scores", "masked scores multiplied by the mask (set to 0) instead of set to -inf: "
           "masked keys still get weight", patch={"attention_weights": _mask_zeroes_scores}),
)


def _random_mask(rng, shape):
    """A boolean mask with every row keeping at least one key."""
    mask = rng.random(shape) < 0.6
    mask[..., 0] |= ~mask.any(axis=-1)
    return mask


# name, what it exposes, leading axes, Tq, Tk, d, dv, mask kind, input scale, self-attention
_CASES = (
    ("cross-attention", "Tq != Tk, d != dv, k and v different arrays from q", (2,), 4, 6, 5, 3, None, 1.0, False),
    ("self-attention, causal", "one x feeds q, k and v; (T, T) causal mask", (2,), 5, 5, 4, 4, "causal", 1.0, True),
    ("padding mask", "(B, 1, Tk) mask: batch 1 and 2 ignore their last keys", (3,), 3, 6, 4, 5, "padding", 1.0, False),
    ("batch of heads", "(B, H, T, d) inputs with a (Tq, Tk) mask shared by every batch and head",
     (2, 3), 4, 6, 5, 2, "offset causal", 1.0, False),
    ("per-query mask", "a full (B, Tq, Tk) boolean mask", (2,), 5, 7, 3, 4, "random", 1.0, False),
    ("unbatched", "2-D inputs: no leading axes", (), 3, 7, 6, 2, None, 1.0, False),
    ("one query", "Tq = 1, a decoding step", (2,), 1, 5, 4, 3, None, 1.0, False),
    ("large logits", "inputs x100: scores ~1e4, a softmax without the max-subtraction overflows",
     (2,), 4, 5, 6, 3, "offset causal", 100.0, False),
)


def make_cases(seed):
    cases = []
    for index, (name, about, lead, Tq, Tk, d, dv, mask_kind, scale, self_attention) in enumerate(_CASES):
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
            mask = _random_mask(rng, lead + (Tq, Tk))
        shapes = f"q {q.shape}, k {k.shape}, v {v.shape}" + ("" if mask is None else f", mask {mask.shape}")
        cases.append(Case(name, about, "attention", {"q": q, "k": k, "v": v, "mask": mask},
                          shapes=shapes, output_names=OUTPUTS))
    return cases


def perf_case(seed):
    """Causal self-attention over (B, H, T, d) = (4, 8, 64, 32), for the speed comparison with the reference."""
    x = np.random.default_rng([seed, 1000]).standard_normal((4, 8, 64, 32))
    return Case("speed", "causal self-attention, batch and heads", "attention",
                {"q": x, "k": x, "v": x, "mask": inputs.causal_mask(64)}, shapes="q, k, v (4, 8, 64, 32)",
                output_names=OUTPUTS)
