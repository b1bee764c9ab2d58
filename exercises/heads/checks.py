"""Checks for split_heads / merge_heads: each function alone, and the round trip."""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance

TOLERANCE = Tolerance()


def _merge_averaged(ref):
    def merge_heads(x):
        return x.mean(axis=1)  # (B, T, dh): heads averaged instead of concatenated

    return merge_heads


_REUSED = ("split_without_transpose", "merge_without_transpose", "heads_interleaved")
MUTANTS = mistakes.pick(*_REUSED) + (
    Mutant("heads_averaged", "heads averaged instead of concatenated: output (B, T, dh) instead of (B, T, D)",
           patch={"merge_heads": _merge_averaged}),
)


def _round_trip(namespace, args):
    return namespace.merge_heads(namespace.split_heads(args["x"], args["num_heads"]))


def make_cases(seed):
    def rng(index):
        return np.random.default_rng([seed, index])

    return [
        Case("split", "(B, T, D) = (2, 5, 12), H = 3: T, H and dh all different", "split_heads",
             {"x": rng(0).standard_normal((2, 5, 12)), "num_heads": 3}, shapes="x (2, 5, 12), H=3"),
        Case("split, many heads", "(3, 4, 12), H = 6: dh = 2", "split_heads",
             {"x": rng(1).standard_normal((3, 4, 12)), "num_heads": 6}, shapes="x (3, 4, 12), H=6"),
        Case("split, one head", "H = 1: dh = D, the heads axis has size 1", "split_heads",
             {"x": rng(2).standard_normal((2, 3, 8)), "num_heads": 1}, shapes="x (2, 3, 8), H=1"),
        Case("merge", "(B, H, T, dh) = (2, 3, 5, 4) -> (2, 5, 12)", "merge_heads",
             {"x": rng(3).standard_normal((2, 3, 5, 4))}, shapes="x (2, 3, 5, 4)"),
        Case("merge, many heads", "(3, 4, 2, 6) -> (3, 2, 24)", "merge_heads",
             {"x": rng(4).standard_normal((3, 4, 2, 6))}, shapes="x (3, 4, 2, 6)"),
        Case("round trip", "merge_heads(split_heads(x, 4)) must give x back", "merge_heads",
             {"x": rng(5).standard_normal((2, 7, 12)), "num_heads": 4}, shapes="x (2, 7, 12), H=4",
             driver=_round_trip),
    ]
