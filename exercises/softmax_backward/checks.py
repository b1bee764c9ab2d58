"""Checks for softmax_backward: against the reference and against finite differences of the softmax."""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance

TOLERANCE = Tolerance()


def _backward(rule):
    """softmax_backward(p, d_p, axis) computed by rule(p, d_p, axis)."""

    def factory(ref):
        def softmax_backward(p, d_p, axis=-1):
            return rule(p, d_p, axis)

        return softmax_backward

    return factory


def _dot(p, d_p, axis):
    return (p * d_p).sum(axis=axis, keepdims=True)


MUTANTS = (
    Mutant("softmax_jacobian_diagonal", "only the Jacobian's diagonal: p(1-p) d_p (slices no longer sum to 0)",
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (1 - p) * d_p)}),
    Mutant("row_dot_last_axis", "the dot product <p, d_p> summed over the last axis, whatever `axis` says",
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (d_p - _dot(p, d_p, -1)))}),
    Mutant("row_dot_whole_array", "the dot product <p, d_p> summed over the whole array, not per slice",
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (d_p - (p * d_p).sum()))}),
    Mutant("row_dot_without_p", "sum(d_p) subtracted instead of sum(p * d_p)",
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (d_p - d_p.sum(axis=axis, keepdims=True)))}),
    Mutant("missing_p_factor", "the outer factor p missing: d_p - <p, d_p> instead of p * (d_p - <p, d_p>)",
           patch={"softmax_backward": _backward(lambda p, d_p, axis: d_p - _dot(p, d_p, axis))}),
    Mutant("sign_error", "sign flipped: p * (<p, d_p> - d_p)",
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (_dot(p, d_p, axis) - d_p))}),
)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def make_cases(seed):
    cases = []
    masked = np.random.default_rng([seed, 100]).standard_normal((3, 6))
    masked[0, 4:] = -np.inf  # padding-style
    masked[2, [0, 2, 3]] = -np.inf
    specs = [
        ("matrix rows", "2-D, axis=-1", (4, 6), -1, None),
        ("matrix columns", "2-D, axis=0: the dot product runs down the columns", (5, 3), 0, None),
        ("3-D, negative axis", "3-D, axis=-2: neither the first nor the last axis", (2, 4, 3), -2, None),
        ("attention weights", "(B, H, Tq, Tk) weights, axis=-1, as in the attention backward", (2, 3, 4, 5), -1, None),
        ("masked entries", "entries with p = 0 (masked) must get d_x = 0", masked.shape, -1, masked),
        ("1-element axis", "(4, 1): p = 1 everywhere, so d_x = 0", (4, 1), -1, None),
    ]
    for index, (name, about, shape, axis, x) in enumerate(specs):
        rng = np.random.default_rng([seed, index])
        x = 1.5 * rng.standard_normal(shape) if x is None else x
        p = _softmax(x, axis)
        d_p = rng.standard_normal(shape)
        cases.append(Case(name, about, "softmax_backward", {"p": p, "d_p": d_p, "axis": axis},
                          shapes=f"p {shape}, axis={axis}", gradcheck=True))
    return cases


def gradcheck(case, outputs):
    """d_x against central differences of sum(softmax(x) * d_p) at x = log(p) (softmax(log p) = p)."""
    softmax = get_exercise("softmax").reference().softmax
    p, d_p, axis = case.args["p"], case.args["d_p"], case.args["axis"]
    with np.errstate(divide="ignore"):
        x = np.log(p)  # -inf where p = 0: it stays -inf under a finite shift, as in the masked forward
    return fd.directional_checks(lambda a: softmax(a["x"], axis), {"x": x}, d_p, {"x": outputs.get("out")}, ("x",))


def perf_case(seed):
    """Attention-sized weights, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 1000])
    p = _softmax(1.5 * rng.standard_normal((8, 8, 64, 64)), -1)
    return Case("speed", "(B, H, T, T) weights", "softmax_backward",
                {"p": p, "d_p": rng.standard_normal(p.shape), "axis": -1}, shapes="p (8, 8, 64, 64), axis=-1")
