"""Checks for rms_norm_backward: both gradients against the reference and against finite differences.

The statistics mistakes (eps outside the root, the variance or the sum instead of mean(x^2), the wrong axis)
come from rms_norm's checks and patch the same helpers (mean_square, inv_rms) here; the backward mistakes
patch grad_x_hat, input_grad and sum_leading.
"""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import checks_module, get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
_FORWARD = checks_module("rms_norm")


def _text(zh, en):
    return Text(zh=zh, en=en)


def _input_grad(rule):
    """input_grad(g, x_hat, r) computed by rule(g, x_hat, r, mean)."""

    def factory(ref):
        def input_grad(g, x_hat, r):
            return rule(g, x_hat, r, lambda a: a.mean(axis=-1, keepdims=True))

        return input_grad

    return factory


def _gamma_forgotten(ref):
    def grad_x_hat(d_out, gamma):
        return d_out  # dL/dx_hat taken as d_out: gamma never multiplied in

    return grad_x_hat


def _sum_over_axis_0(ref):
    def sum_leading(a):
        return a.sum(axis=0)  # (T, D) for (B, T, D) inputs, a scalar for a 1-D x

    return sum_leading


MUTANTS = _FORWARD.STATISTICS_MUTANTS + (
    Mutant("dx_without_gamma",
           _text("dx 漏乘了 gamma：dL/dx_hat = d_out * gamma，不是 d_out",
                 "gamma missing from dx: dL/dx_hat = d_out * gamma, not d_out"),
           patch={"grad_x_hat": _gamma_forgotten}, related=("norm-rmsnorm-vs-layernorm", "bw-backward-formulas")),
    Mutant("dx_rms_as_constant",
           _text("把 r = 1/sqrt(mean(x²) + eps) 当成常数：dx = r * g，漏了 −x_hat * mean(g * x_hat) 这一项",
                 "r = 1/sqrt(mean(x^2) + eps) treated as a constant: dx = r * g, without the -x_hat * mean(g * x_hat) "
                 "term"),
           patch={"input_grad": _input_grad(lambda g, x_hat, r, mean: r * g)}, related=("bw-backward-formulas",)),
    Mutant("dx_layer_norm_style",
           _text("套用了 LayerNorm 的反向公式，多减了 mean(g)：RMSNorm 不减均值，没有这一项",
                 "LayerNorm's backward formula used, with an extra -mean(g): RMSNorm subtracts no mean, so there is "
                 "no such term"),
           patch={"input_grad": _input_grad(lambda g, x_hat, r, mean: r * (g - mean(g) - x_hat * mean(g * x_hat)))},
           related=("norm-rmsnorm-vs-layernorm", "bw-backward-formulas")),
    Mutant("dx_sum_instead_of_mean",
           _text("1/D 丢了：修正项用了 sum(g * x_hat)，应为 mean(g * x_hat)",
                 "the 1/D lost: the correction uses sum(g * x_hat) instead of mean(g * x_hat)"),
           patch={"input_grad": _input_grad(
               lambda g, x_hat, r, mean: r * (g - x_hat * (g * x_hat).sum(axis=-1, keepdims=True)))},
           related=("bw-backward-formulas",)),
    Mutant("dgamma_summed_over_axis_0",
           _text("dgamma 只沿第 0 维求和：输入有多个前导维时形状成了 (T, D)，应对除最后一维外的所有维求和得到 (D,)",
                 "dgamma summed over axis 0 only: with several leading axes the shape is (T, D); sum over every axis "
                 "but the last, to (D,)"),
           patch={"sum_leading": _sum_over_axis_0}, related=("bw-backward-formulas", "norm-llama-norm-params")),
)


# name, label, what it exposes, kind, shape, input spread, eps, gradcheck
SPECS = (
    ("tokens (B, T, D)", _text("token 序列 (B, T, D)", "tokens (B, T, D)"),
     _text("(2, 3, 5)：dgamma 要对 B 和 T 两个维度都求和；每行均值明显不为 0",
           "(2, 3, 5): dgamma sums over both B and T; every row has a clearly nonzero mean"),
     "normal", (2, 3, 5), 1.0, 1e-3, True),
    ("padding row", _text("全零的 padding 行", "all-zero padding row"),
     _text("(4, 6)，其中一行全为 0：x_hat = 0，但 dx = r * g 很大（r = 1/sqrt(eps)）",
           "(4, 6) with one all-zero row: x_hat = 0 there, but dx = r * g is large (r = 1/sqrt(eps))"),
     "padding", (4, 6), 1.0, 1e-3, True),
    ("1-D vector", _text("一维向量", "1-D vector"),
     _text("(7,)：没有前导维，dgamma = d_out * x_hat 本身", "(7,): no leading axes, dgamma is d_out * x_hat itself"),
     "normal", (7,), 1.0, 1e-2, True),
    ("large eps", _text("大 eps", "large eps"),
     _text("eps = 0.1、mean(x²) 约 0.1~0.3：eps 的位置同样影响梯度",
           "eps = 0.1 with mean(x^2) ~0.1-0.3: where eps goes changes the gradients too"),
     "normal", (3, 2, 6), 0.3, 0.1, True),
    ("tiny inputs", _text("极小的输入", "tiny inputs"),
     _text("x 约为 2e-3（mean(x²) 约 1e-5，eps = 1e-6）：r 约为 300，梯度很大",
           "x ~2e-3 (mean(x^2) ~1e-5, eps = 1e-6): r is about 300, so the gradients are large"),
     "normal", (4, 9), 2e-3, 1e-6, True),
    ("heads (B, H, T, d)", _text("多头 (B, H, T, d)", "heads (B, H, T, d)"),
     _text("(2, 3, 4, 8)：三个前导维，dgamma 对它们全部求和", "(2, 3, 4, 8): three leading axes, dgamma sums over all "
           "of them"),
     "normal", (2, 3, 4, 8), 1.0, 1e-3, True),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, kind, shape, spread, eps, check_fd) in enumerate(SPECS):
        rng = np.random.default_rng([seed, index])
        x, gamma = _FORWARD._inputs(rng, kind, shape, spread)
        d_out = rng.standard_normal(shape)
        cases.append(Case(name, about, "rms_norm_backward", {"d_out": d_out, "x": x, "gamma": gamma, "eps": eps},
                          shapes=f"d_out, x {shape}, gamma ({shape[-1]},), eps={eps:g}", gradcheck=check_fd,
                          label=label))
    return cases


def gradcheck(case, grads):
    """Directional finite differences of the reference forward (rms_norm), against the submitted gradients."""
    forward = get_exercise("rms_norm").reference().rms_norm
    eps = case.args["eps"]
    args = {name: case.args[name] for name in ("x", "gamma")}
    return fd.directional_checks(lambda a: forward(a["x"], a["gamma"], eps), args, case.args["d_out"], grads,
                                 ("x", "gamma"))


def perf_case(seed):
    """(B, T, D) = (8, 128, 256), for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 1000])
    x, gamma = _FORWARD._inputs(rng, "normal", (8, 128, 256))
    return Case("speed", _text("(8, 128, 256) 的 token", "(8, 128, 256) tokens"), "rms_norm_backward",
                {"d_out": rng.standard_normal(x.shape), "x": x, "gamma": gamma, "eps": 1e-6},
                shapes="d_out, x (8, 128, 256), eps=1e-6")


error_map = _FORWARD.error_map


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: RMSNormFunction.apply(x, gamma, eps), then the case's d_out
    back-propagated; the .grad of x and gamma."""
    from mhaquiz.grader.torch_form import tensor

    x, gamma = (tensor(args[name]).requires_grad_(True) for name in ("x", "gamma"))
    y = namespace.RMSNormFunction.apply(x, gamma, args["eps"])
    y.backward(tensor(args["d_out"]))
    return {"x": x.grad, "gamma": gamma.grad}
