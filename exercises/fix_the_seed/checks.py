"""Checks for fix_the_seed: mha_forward's cases, tolerance and mistakes, plus the mistakes the seed itself makes."""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.exercises import checks_module
from mhaquiz.grader.spec import Mutant

_MHA = checks_module("mha_forward")  # the same contract, so the same cases and views
TOLERANCE = _MHA.TOLERANCE
make_cases = _MHA.make_cases
perf_case = _MHA.perf_case
error_map = _MHA.error_map


# --- the seed's own mistakes, should a repair keep one of them ----------------------------------------

def _scale_by_seq_len(ref):
    def attention_weights(Q, K, mask=None):
        scores = (Q @ K.swapaxes(-1, -2)) / np.sqrt(K.shape[-2])  # the seed's k.shape[1] on (B, Tk, D): Tk
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


SEED = (
    Mutant("scale_by_seq_len", "scores scaled by 1/sqrt(Tk) (the seed's k.shape[1] on a (B, Tk, D) array), not 1/sqrt(d_head)",
           patch={"attention_weights": _scale_by_seq_len}),
    Mutant("single_head", "one head only: num_heads ignored, attention over all D columns at once",
           args_transform=_single_head),
    Mutant("input_projections_missing", "q, k and v used unprojected (no W_q, W_k, W_v, no biases), as in the seed",
           args_transform=mistakes.with_params(_no_input_projections)),
    Mutant("output_projection_transposed", "output projection applied as x @ W_o.T (the seed's heads.T)",
           args_transform=mistakes.with_params(lambda name, value: value.T if name == "W_o" else value)),
)

MUTANTS = SEED + _MHA.MUTANTS
