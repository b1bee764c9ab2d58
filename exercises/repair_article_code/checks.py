"""Checks for repair_article_code: mha_forward's cases, tolerance and mistakes, plus the mistakes the original code makes."""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.exercises import checks_module
from mhaquiz.grader.spec import Mutant
from mhaquiz.i18n import Text

_MHA = checks_module("mha_forward")  # the same contract, so the same cases and views
TOLERANCE = _MHA.TOLERANCE
make_cases = _MHA.make_cases
perf_case = _MHA.perf_case
error_map = _MHA.error_map


# --- the original code's own mistakes, should a repair keep one of them -------------------------------

def _scale_by_seq_len(ref):
    def attention_weights(Q, K, mask=None):
        scores = (Q @ K.swapaxes(-1, -2)) / np.sqrt(K.shape[-2])  # the original k.shape[1] on (B, Tk, D): Tk
        if mask is not None:
            scores = np.where(mask, scores, -np.inf)
        return ref.softmax(scores, axis=-1)

    return attention_weights


def _single_head(args):
    return {**args, "num_heads": 1}


def _no_input_projections(name, value):
    if name in ("W_q", "W_k", "W_v"):
        return np.eye(value.shape[0])
    return np.zeros_like(value) if name in ("b_q", "b_k", "b_v") else value


SEED = (  # the original interview article's code (the stub)
    Mutant("scale_by_seq_len",
           Text(zh="分数乘的是 1/sqrt(Tk)（原始代码在 (B, Tk, D) 的数组上取了 k.shape[1]），应为 1/sqrt(d_head)",
                en="scores scaled by 1/sqrt(Tk) (the original code's k.shape[1] on a (B, Tk, D) array), "
                   "not 1/sqrt(d_head)"),
           patch={"attention_weights": _scale_by_seq_len}, related=("attn-why-scale-sqrt-dk", "shapes-d-head")),
    Mutant("single_head",
           Text(zh="只有一个头：忽略了 num_heads，一次在全部 D 列上做注意力",
                en="one head only: num_heads ignored, attention over all D columns at once"),
           args_transform=_single_head, related=("seed-what-is-mha", "seed-mha-vs-single-head")),
    Mutant("input_projections_missing",
           Text(zh="q、k、v 没有经过投影就直接用了（没有 W_q、W_k、W_v，也没有偏置），和原始代码一样",
                en="q, k and v used unprojected (no W_q, W_k, W_v, no biases), as in the original code"),
           args_transform=mistakes.with_params(_no_input_projections),
           related=("seed-mha-computation", "seed-what-is-mha")),
    Mutant("output_projection_transposed",
           Text(zh="输出投影按 x @ W_o.T 用了（原始代码里的 heads.T），约定是 x @ W_o",
                en="output projection applied as x @ W_o.T (the original code's heads.T) instead of x @ W_o"),
           args_transform=mistakes.with_params(lambda name, value: value.T if name == "W_o" else value),
           related=("seed-mha-computation", "shapes-why-wo")),
)

MUTANTS = SEED + _MHA.MUTANTS
