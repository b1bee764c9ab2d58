"""Checks for mha_forward: the standard attention cases and the forward mistakes to recognise."""

import numpy as np

from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.spec import Case, Tolerance

TOLERANCE = Tolerance()
MUTANTS = mistakes.FORWARD + mistakes.FORWARD_OUTPUT


def make_cases(seed):
    return [Case(name, about, "mha_forward", args, shapes=shapes) for name, about, shapes, args in inputs.mha_cases(seed)]


def perf_case(seed):
    """A larger causal self-attention, for the speed comparison with the reference."""
    args = inputs.mha_perf_args(seed)
    return Case("speed", "larger causal self-attention", "mha_forward", args, shapes=inputs.mha_shapes(args))


def error_map(case, name, got, expected):
    """|error| per query position and head (batch 0), seen before W_o: solve heads @ W_o = out - b_o."""
    params, num_heads = case.args["params"], case.args["num_heads"]

    def per_head(out):
        heads = np.linalg.solve(params["W_o"].T, (out[0] - params["b_o"]).T).T  # (Tq, D)
        return heads.reshape(heads.shape[0], num_heads, -1)  # (Tq, H, dh)

    with np.errstate(invalid="ignore"):
        error = np.abs(per_head(got) - per_head(expected)).max(axis=-1)  # (Tq, H)
    return error, "batch 0, each head's output before W_o", "query position", "head"
