"""Checks for split_heads / merge_heads: each function alone, and the round trip."""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def _merge_averaged(ref):
    def merge_heads(x):
        return x.mean(axis=1)  # (B, T, dh): heads averaged instead of concatenated

    return merge_heads


_REUSED = ("split_without_transpose", "merge_without_transpose", "heads_interleaved")
MUTANTS = mistakes.pick(*_REUSED) + (
    Mutant("heads_averaged", Text(zh="对各头取了平均，而不是拼接：输出成了 (B, T, dh)，应为 (B, T, D)",
                                  en="heads averaged instead of concatenated: output (B, T, dh) instead of (B, T, D)"),
           patch={"merge_heads": _merge_averaged}, related=("shapes-heads-averaged-bug",)),
)


def _round_trip(namespace, args):
    return namespace.merge_heads(namespace.split_heads(args["x"], args["num_heads"]))


def make_cases(seed):
    def rng(index):
        return np.random.default_rng([seed, index])

    return [
        Case("split", Text(zh="(B, T, D) = (2, 5, 12)，H = 3：T、H、dh 互不相同",
                           en="(B, T, D) = (2, 5, 12), H = 3: T, H and dh all different"), "split_heads",
             {"x": rng(0).standard_normal((2, 5, 12)), "num_heads": 3}, shapes="x (2, 5, 12), H=3",
             label=Text(zh="拆头", en="split")),
        Case("split, many heads", Text(zh="(3, 4, 12)，H = 6：dh = 2", en="(3, 4, 12), H = 6: dh = 2"), "split_heads",
             {"x": rng(1).standard_normal((3, 4, 12)), "num_heads": 6}, shapes="x (3, 4, 12), H=6",
             label=Text(zh="拆头，头数多", en="split, many heads")),
        Case("split, one head", Text(zh="H = 1：dh = D，头的那一维大小为 1", en="H = 1: dh = D, the heads axis has size 1"),
             "split_heads", {"x": rng(2).standard_normal((2, 3, 8)), "num_heads": 1}, shapes="x (2, 3, 8), H=1",
             label=Text(zh="拆头，单头", en="split, one head")),
        Case("merge", Text(zh="(B, H, T, dh) = (2, 3, 5, 4) -> (2, 5, 12)",
                           en="(B, H, T, dh) = (2, 3, 5, 4) -> (2, 5, 12)"), "merge_heads",
             {"x": rng(3).standard_normal((2, 3, 5, 4))}, shapes="x (2, 3, 5, 4)", label=Text(zh="合并", en="merge")),
        Case("merge, many heads", Text(zh="(3, 4, 2, 6) -> (3, 2, 24)", en="(3, 4, 2, 6) -> (3, 2, 24)"), "merge_heads",
             {"x": rng(4).standard_normal((3, 4, 2, 6))}, shapes="x (3, 4, 2, 6)",
             label=Text(zh="合并，头数多", en="merge, many heads")),
        Case("round trip", Text(zh="merge_heads(split_heads(x, 4)) 必须还原出 x",
                                en="merge_heads(split_heads(x, 4)) must give x back"), "merge_heads",
             {"x": rng(5).standard_normal((2, 7, 12)), "num_heads": 4}, shapes="x (2, 7, 12), H=4",
             driver=_round_trip, label=Text(zh="拆完再合", en="round trip")),
    ]


def perf_case(seed):
    """A split and merge round trip at attention size, for the speed comparison with the reference."""
    x = np.random.default_rng([seed, 1000]).standard_normal((8, 128, 512))
    return Case("speed", Text(zh="注意力规模下拆头再合并", en="split then merge at attention size"), "merge_heads",
                {"x": x, "num_heads": 8}, shapes="x (8, 128, 512), H=8", driver=_round_trip)


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: split_heads, merge_heads or the round trip, on a float64 tensor."""
    from mhaquiz.grader.torch_form import tensor

    x = tensor(args["x"])
    if case.driver is not None:  # the round trip
        return namespace.merge_heads(namespace.split_heads(x, args["num_heads"]))
    if case.function == "split_heads":
        return namespace.split_heads(x, args["num_heads"])
    return namespace.merge_heads(x)
