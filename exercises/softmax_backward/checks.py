"""Checks for softmax_backward: against the reference and against finite differences of the softmax."""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

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
    Mutant("softmax_jacobian_diagonal",
           Text(zh="只用了雅可比矩阵的对角线：p(1-p) d_p（每条切片的和不再为 0）",
                en="only the Jacobian's diagonal: p(1-p) d_p (slices no longer sum to 0)"),
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (1 - p) * d_p)},
           related=("bw-diagonal-jacobian", "bw-backward-formulas")),
    Mutant("row_dot_last_axis",
           Text(zh="点积 <p, d_p> 总是沿最后一维求和，不管 `axis` 是多少",
                en="the dot product <p, d_p> summed over the last axis, whatever `axis` says"),
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (d_p - _dot(p, d_p, -1)))},
           related=("bw-backward-formulas",)),
    Mutant("row_dot_whole_array",
           Text(zh="点积 <p, d_p> 对整个数组求和，而不是每条切片各自求和",
                en="the dot product <p, d_p> summed over the whole array, not per slice"),
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (d_p - (p * d_p).sum()))},
           related=("bw-backward-formulas", "bw-rowsum-identity")),
    Mutant("row_dot_without_p",
           Text(zh="减去的是 sum(d_p)，应为 sum(p * d_p)", en="sum(d_p) subtracted instead of sum(p * d_p)"),
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (d_p - d_p.sum(axis=axis, keepdims=True)))},
           related=("bw-backward-formulas", "bw-rowsum-identity")),
    Mutant("missing_p_factor",
           Text(zh="漏了外面的因子 p：算成了 d_p - <p, d_p>，应为 p * (d_p - <p, d_p>)",
                en="the outer factor p missing: d_p - <p, d_p> instead of p * (d_p - <p, d_p>)"),
           patch={"softmax_backward": _backward(lambda p, d_p, axis: d_p - _dot(p, d_p, axis))},
           related=("bw-backward-formulas", "bw-diagonal-jacobian")),
    Mutant("sign_error", Text(zh="符号反了：p * (<p, d_p> - d_p)", en="sign flipped: p * (<p, d_p> - d_p)"),
           patch={"softmax_backward": _backward(lambda p, d_p, axis: p * (_dot(p, d_p, axis) - d_p))},
           related=("bw-backward-formulas",)),
)


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def make_cases(seed):
    cases = []
    masked = np.random.default_rng([seed, 100]).standard_normal((3, 6))
    masked[0, 4:] = -np.inf  # padding-style
    masked[2, [0, 2, 3]] = -np.inf
    # name, label, what it exposes, shape, axis, x (None: random)
    specs = [
        ("matrix rows", Text(zh="按行", en="matrix rows"), Text(zh="二维，axis=-1", en="2-D, axis=-1"),
         (4, 6), -1, None),
        ("matrix columns", Text(zh="按列", en="matrix columns"),
         Text(zh="二维，axis=0：点积沿列方向求和", en="2-D, axis=0: the dot product runs down the columns"),
         (5, 3), 0, None),
        ("3-D, negative axis", Text(zh="三维，负的 axis", en="3-D, negative axis"),
         Text(zh="三维，axis=-2：既不是第一维也不是最后一维", en="3-D, axis=-2: neither the first nor the last axis"),
         (2, 4, 3), -2, None),
        ("attention weights", Text(zh="注意力权重", en="attention weights"),
         Text(zh="(B, H, Tq, Tk) 的权重，axis=-1，与注意力反向中的情形相同",
              en="(B, H, Tq, Tk) weights, axis=-1, as in the attention backward"),
         (2, 3, 4, 5), -1, None),
        ("masked entries", Text(zh="带遮挡的位置", en="masked entries"),
         Text(zh="p = 0（被遮住）的位置，d_x 必须为 0", en="entries with p = 0 (masked) must get d_x = 0"),
         masked.shape, -1, masked),
        ("1-element axis", Text(zh="长度为 1 的轴", en="1-element axis"),
         Text(zh="(4, 1)：p 处处为 1，所以 d_x = 0", en="(4, 1): p = 1 everywhere, so d_x = 0"), (4, 1), -1, None),
    ]
    for index, (name, label, about, shape, axis, x) in enumerate(specs):
        rng = np.random.default_rng([seed, index])
        x = 1.5 * rng.standard_normal(shape) if x is None else x
        p = _softmax(x, axis)
        d_p = rng.standard_normal(shape)
        cases.append(Case(name, about, "softmax_backward", {"p": p, "d_p": d_p, "axis": axis},
                          shapes=f"p {shape}, axis={axis}", gradcheck=True, label=label))
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
    return Case("speed", Text(zh="(B, H, T, T) 的权重", en="(B, H, T, T) weights"), "softmax_backward",
                {"p": p, "d_p": rng.standard_normal(p.shape), "axis": -1}, shapes="p (8, 8, 64, 64), axis=-1")


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: Softmax.apply(log p, dim), then the case's d_p back-propagated; x.grad."""
    import torch

    from mhaquiz.grader.torch_form import tensor

    x = torch.log(tensor(args["p"])).requires_grad_(True)  # softmax(log p) = p (p sums to 1 along the axis)
    p = namespace.Softmax.apply(x, args["axis"])
    p.backward(tensor(args["d_p"]))
    return x.grad
