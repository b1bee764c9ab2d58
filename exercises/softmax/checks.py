"""Checks for softmax: shapes and axes, huge and far-apart logits, masked (-inf) entries, a 1-element axis."""

import numpy as np

from mhaquiz.grader import mistakes
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

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
    Mutant("softmax_last_axis", Text(zh="不管 `axis` 是多少，总是沿最后一维归一化",
                                     en="always normalised along the last axis, whatever `axis` says"),
           patch={"softmax": _softmax_over(lambda axis: -1)}, related=("attn-softmax-axis",)),
    Mutant("softmax_axis_0", Text(zh="不管 `axis` 是多少，总是沿第 0 维归一化",
                                  en="always normalised along axis 0, whatever `axis` says"),
           patch={"softmax": _softmax_over(lambda axis: 0)}, related=("attn-softmax-axis",)),
    Mutant("global_max_subtraction",
           Text(zh="减去的是整个数组的最大值，而不是每条切片各自的最大值：远低于全局最大值的切片下溢成 0/0 = NaN",
                en="max taken over the whole array, not per slice: slices far below the global max underflow to "
                   "0/0 = NaN"),
           patch={"softmax": _global_max}, related=("bw-softmax-max-subtraction",)),
    Mutant("global_sum", Text(zh="除以整个数组的和，而不是每条切片各自的和",
                              en="normalised by the sum of the whole array, not of each slice"),
           patch={"softmax": _global_sum}, related=("attn-softmax-axis",)),
    Mutant("no_keepdims", Text(zh="求 max 和 sum 时没有加 keepdims=True：结果沿错误的轴广播",
                               en="max and sum taken without keepdims=True: they broadcast against the wrong axis"),
           patch={"softmax": _no_keepdims}, related=("attn-softmax-axis", "mask-padding-broadcast")),
)


def make_cases(seed):
    def rng(index):
        return np.random.default_rng([seed, index])

    masked = 2.0 * rng(6).standard_normal((4, 7))
    masked[0, [1, 4]] = -np.inf  # a causal-style row and a padding-style row, never fully masked
    masked[1, 3:] = -np.inf
    masked[3, :6] = -np.inf  # only the last entry left: probability exactly 1
    offsets = np.array([[0.0], [-1000.0], [800.0], [-3.0]])  # per-row shift: harmless, softmax is shift-invariant
    # name, label, what it exposes, x, axis
    cases = [
        ("matrix rows", Text(zh="按行", en="matrix rows"),
         Text(zh="二维，axis=-1：每行求和为 1", en="2-D, axis=-1: each row sums to 1"),
         3.0 * rng(0).standard_normal((3, 5)), -1),
        ("matrix columns", Text(zh="按列", en="matrix columns"),
         Text(zh="二维，axis=0：每列求和为 1", en="2-D, axis=0: each column sums to 1"),
         3.0 * rng(1).standard_normal((4, 6)), 0),
        ("3-D, negative axis", Text(zh="三维，负的 axis", en="3-D, negative axis"),
         Text(zh="三维，axis=-2：中间那一维", en="3-D, axis=-2: the middle axis"),
         3.0 * rng(2).standard_normal((2, 5, 3)), -2),
        ("3-D, axis 0", Text(zh="三维，axis 0", en="3-D, axis 0"),
         Text(zh="三维，axis=0：第一维", en="3-D, axis=0: the first axis"),
         3.0 * rng(3).standard_normal((3, 2, 4)), 0),
        ("square matrix", Text(zh="方阵", en="square matrix"),
         Text(zh="(5, 5)，axis=-1：不加 keepdims 的广播在这里会悄无声息地算错",
              en="(5, 5), axis=-1: broadcasting without keepdims goes wrong silently here"),
         3.0 * rng(4).standard_normal((5, 5)), -1),
        ("huge logits", Text(zh="超大 logits", en="huge logits"),
         Text(zh="输入乘 1000：不先减最大值，exp 就会溢出成 inf/NaN",
              en="inputs x1000: exp without the max-subtraction overflows to inf/NaN"),
         1000.0 * rng(5).standard_normal((3, 8)), -1),
        ("masked entries", Text(zh="带 -inf 的遮挡", en="masked entries"),
         Text(zh="-inf 的位置概率为 0（有一行只剩一个元素）",
              en="-inf entries get probability 0 (one row keeps a single entry)"),
         masked, -1),
        ("rows far apart", Text(zh="各行偏移相差很大", en="rows far apart"),
         Text(zh="各行整体平移 -1000 到 800：用全局最大值时，低的那几行会下溢成 0/0",
              en="rows offset by -1000..800: a global max underflows the low rows to 0/0"),
         rng(7).standard_normal((4, 6)) + offsets, -1),
        ("1-element axis", Text(zh="长度为 1 的轴", en="1-element axis"),
         Text(zh="(4, 1)，axis=-1：只有一个元素的 softmax 就是 1", en="(4, 1), axis=-1: a softmax over one entry is 1"),
         rng(8).standard_normal((4, 1)), -1),
        ("vector", Text(zh="一维向量", en="vector"), Text(zh="一维，axis=0", en="1-D, axis=0"),
         3.0 * rng(9).standard_normal(7), 0),
    ]
    return [Case(name, about, "softmax", {"x": x, "axis": axis}, shapes=f"x {x.shape}, axis={axis}", label=label)
            for name, label, about, x, axis in cases]


def perf_case(seed):
    """Attention-sized scores, for the speed comparison with the reference."""
    x = 3.0 * np.random.default_rng([seed, 1000]).standard_normal((8, 8, 64, 64))
    return Case("speed", Text(zh="(B, H, T, T) 的分数", en="(B, H, T, T) scores"), "softmax", {"x": x, "axis": -1},
                shapes="x (8, 8, 64, 64), axis=-1")


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: softmax(x, dim) on a float64 tensor."""
    from mhaquiz.grader.torch_form import tensor

    return namespace.softmax(tensor(args["x"]), args["axis"])
