"""Checks for mha_backward: every gradient against the reference and against finite differences."""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader import inputs, mistakes
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Case, Tolerance

TOLERANCE = Tolerance(why="float64 rounding leaves ~1e-13 relative; real bugs are off by 1e-3 or more; the floor "
                           "covers the b_k gradient (exactly zero) and dQ, dK in a saturated softmax (zero up to rounding)")
MUTANTS = mistakes.FORWARD + mistakes.BACKWARD
INPUTS = ("q", "k", "v") + tuple(f"params.{name}" for name in inputs.PARAM_NAMES)


def make_cases(seed):
    cases = []
    for index, (name, about, shapes, args) in enumerate(inputs.mha_cases(seed)):
        d_out = np.random.default_rng([seed, index, 1]).standard_normal(args["q"].shape)  # (B, Tq, D)
        # Finite differences need inputs that can move independently, and are ill-conditioned at x100.
        check_fd = args["k"] is not args["q"] and name != "large logits"
        cases.append(Case(name, about, "mha_backward", {"d_out": d_out, **args}, shapes=shapes, gradcheck=check_fd))
    return cases


def gradcheck(case, grads):
    """Directional finite differences of the reference forward, against the submitted gradients."""
    forward = get_exercise("mha_forward").reference().mha_forward
    args = {name: value for name, value in case.args.items() if name != "d_out"}
    return fd.directional_checks(lambda a: forward(*a.values()), args, case.args["d_out"], grads, INPUTS)


def perf_case(seed):
    """A larger causal self-attention, for the speed comparison with the reference."""
    args = inputs.mha_perf_args(seed)
    d_out = np.random.default_rng([seed, 99]).standard_normal(args["q"].shape)
    return Case("speed", "larger causal self-attention", "mha_backward", {"d_out": d_out, **args},
                shapes=inputs.mha_shapes(args))
