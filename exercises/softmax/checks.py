"""Checks for softmax: shapes and axes, huge and far-apart logits, masked (-inf) entries, a 1-element axis."""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance

TOLERANCE = Tolerance()


def _softmax_over(axis_of):
    """A stable softmax that normalises along axis_of(axis) instead of `axis`."""

    def factory(ref):
        def softmax(x, axis=-1):
            return ref.softmax(x, axis=axis_of(axis))

        return softmax

    return factory


def _global_max(ref):
    def softmax(x, axis=-1):
        e = np.exp(x - x.max())  # one constant for the whole array: rows far below it underflow to 0/0
        return e / e.sum(axis=axis, keepdims=True)

    return softmax


def _global_sum(ref):
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis, keepdims=True))
        return e / e.sum()  # the whole array sums to 1, not each slice

    return softmax


def _no_keepdims(ref):
    def softmax(x, axis=-1):
        e = np.exp(x - x.max(axis=axis))  # (n, m) - (n,): an error, or on a square array the wrong maxima
        return e / e.sum(axis=axis)

    return softmax


MUTANTS = mistakes.pick("no_max_subtraction") + (
    Mutant("softmax_last_axis", "always normalised along the last axis, whatever `axis` says",
           patch={"softmax": _softmax_over(lambda axis: -1)}),
    Mutant("softmax_axis_0", "always normalised along axis 0, whatever `axis` says",
           patch={"softmax": _softmax_over(lambda axis: 0)}),
    Mutant("global_max_subtraction", "max taken over the whole array, not per slice: slices far below the "
           "global max underflow to 0/0 = NaN", patch={"softmax": _global_max}),
    Mutant("global_sum", "normalised by the sum of the whole array, not of each slice",
           patch={"softmax": _global_sum}),
    Mutant("no_keepdims", "max and sum taken without keepdims=True: they broadcast against the wrong axis",
           patch={"softmax": _no_keepdims}),
)


def make_cases(seed):
    def rng(index):
        return np.random.default_rng([seed, index])

    masked = 2.0 * rng(6).standard_normal((4, 7))
    masked[0, [1, 4]] = -np.inf  # a causal-style row and a padding-style row, never fully masked
    masked[1, 3:] = -np.inf
    masked[3, :6] = -np.inf  # only the last entry left: probability exactly 1
    offsets = np.array([[0.0], [-1000.0], [800.0], [-3.0]])  # per-row shift: harmless, softmax is shift-invariant
    cases = [
        ("matrix rows", "2-D, axis=-1: each row sums to 1", 3.0 * rng(0).standard_normal((3, 5)), -1),
        ("matrix columns", "2-D, axis=0: each column sums to 1", 3.0 * rng(1).standard_normal((4, 6)), 0),
        ("3-D, negative axis", "3-D, axis=-2: the middle axis", 3.0 * rng(2).standard_normal((2, 5, 3)), -2),
        ("3-D, axis 0", "3-D, axis=0: the first axis", 3.0 * rng(3).standard_normal((3, 2, 4)), 0),
        ("square matrix", "(5, 5), axis=-1: broadcasting without keepdims goes wrong silently here",
         3.0 * rng(4).standard_normal((5, 5)), -1),
        ("huge logits", "inputs x1000: exp without the max-subtraction overflows to inf/NaN",
         1000.0 * rng(5).standard_normal((3, 8)), -1),
        ("masked entries", "-inf entries get probability 0 (one row keeps a single entry)", masked, -1),
        ("rows far apart", "rows offset by -1000..800: a global max underflows the low rows to 0/0",
         rng(7).standard_normal((4, 6)) + offsets, -1),
        ("1-element axis", "(4, 1), axis=-1: a softmax over one entry is 1", rng(8).standard_normal((4, 1)), -1),
        ("vector", "1-D, axis=0", 3.0 * rng(9).standard_normal(7), 0),
    ]
    return [Case(name, about, "softmax", {"x": x, "axis": axis}, shapes=f"x {x.shape}, axis={axis}")
            for name, about, x, axis in cases]


def perf_case(seed):
    """Attention-sized scores, for the speed comparison with the reference."""
    x = 3.0 * np.random.default_rng([seed, 1000]).standard_normal((8, 8, 64, 64))
    return Case("speed", "(B, H, T, T) scores", "softmax", {"x": x, "axis": -1}, shapes="x (8, 8, 64, 64), axis=-1")
