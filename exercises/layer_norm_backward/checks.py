"""Checks for layer_norm_backward: every gradient against the reference and against finite differences.

The statistics mistakes (unbiased variance, eps outside the root) come from layer_norm's checks and patch the
same helpers (moments, inv_std) here; the backward mistakes patch grad_x_hat, input_grad and sum_leading.
"""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import checks_module, get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
_FORWARD = checks_module("layer_norm")


def _text(zh, en):
    return Text(zh=zh, en=en)


def _input_grad(rule):
    """input_grad(g, x_hat, r) computed by rule(g, x_hat, r, mean, D)."""

    def factory(ref):
        def input_grad(g, x_hat, r):
            return rule(g, x_hat, r, lambda a: a.mean(axis=-1, keepdims=True), g.shape[-1])

        return input_grad

    return factory


def _sum(a):
    return a.sum(axis=-1, keepdims=True)


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
           patch={"grad_x_hat": _gamma_forgotten}, related=("norm-layernorm-formula", "bw-backward-formulas")),
    Mutant("dx_stats_as_constants",
           _text("把 mean 和 var 当成常数：dx = r * g，漏了经过均值和方差的两项（每一行的 dx 之和不再为 0）",
                 "mean and var treated as constants: dx = r * g, without the two terms through the mean and the "
                 "variance (the row sums of dx are no longer 0)"),
           patch={"input_grad": _input_grad(lambda g, x_hat, r, mean, D: r * g)},
           related=("bw-backward-formulas", "norm-layernorm-formula")),
    Mutant("dx_mean_as_constant",
           _text("把 mean 当成常数：漏了 −mean(g) 这一项（只保留了经过方差的项）",
                 "mean treated as a constant: the -mean(g) term missing (only the term through the variance kept)"),
           patch={"input_grad": _input_grad(lambda g, x_hat, r, mean, D: r * (g - x_hat * mean(g * x_hat)))},
           related=("bw-backward-formulas",)),
    Mutant("dx_var_as_constant",
           _text("把 var 当成常数：漏了 −x_hat * mean(g * x_hat) 这一项（只保留了经过均值的项）",
                 "var treated as a constant: the -x_hat * mean(g * x_hat) term missing (only the term through the "
                 "mean kept)"),
           patch={"input_grad": _input_grad(lambda g, x_hat, r, mean, D: r * (g - mean(g)))},
           related=("bw-backward-formulas",)),
    Mutant("dx_sums_instead_of_means",
           _text("1/D 丢了：两个修正项用了求和 sum(g)、sum(g * x_hat)，应为均值 mean(g)、mean(g * x_hat)",
                 "the 1/D lost: the two corrections use sums, sum(g) and sum(g * x_hat), instead of the means"),
           patch={"input_grad": _input_grad(lambda g, x_hat, r, mean, D: r * (g - _sum(g) - x_hat * _sum(g * x_hat)))},
           related=("bw-backward-formulas",)),
    Mutant("dx_missing_1_over_D",
           _text("漏了最外面的 1/D：dx = r * (D*g − sum(g) − x_hat * sum(g * x_hat))，整体大了 D 倍",
                 "the outer 1/D missing: dx = r * (D*g - sum(g) - x_hat * sum(g * x_hat)), D times too large"),
           patch={"input_grad": _input_grad(
               lambda g, x_hat, r, mean, D: r * (D * g - _sum(g) - x_hat * _sum(g * x_hat)))},
           related=("bw-backward-formulas",)),
    Mutant("param_grads_summed_over_axis_0",
           _text("dgamma、dbeta 只沿第 0 维求和：输入有多个前导维时形状成了 (T, D)，应对除最后一维外的所有维求和得到 (D,)",
                 "dgamma and dbeta summed over axis 0 only: with several leading axes the shape is (T, D); sum over "
                 "every axis but the last, to (D,)"),
           patch={"sum_leading": _sum_over_axis_0}, related=("bw-backward-formulas", "norm-layernorm-params")),
)


# name, label, what it exposes, kind, shape, input spread, eps, gradcheck
SPECS = (
    ("tokens (B, T, D)", _text("token 序列 (B, T, D)", "tokens (B, T, D)"),
     _text("(2, 3, 5)：dgamma、dbeta 要对 B 和 T 两个维度都求和", "(2, 3, 5): dgamma and dbeta sum over both B and T"),
     "normal", (2, 3, 5), 1.5, 1e-3, True),
    ("padding row", _text("全零的 padding 行", "all-zero padding row"),
     _text("(4, 6)，其中一行全为 0：x_hat = 0，但 dx = r * (g − mean(g)) 很大（r = 1/sqrt(eps)）",
           "(4, 6) with one all-zero row: x_hat = 0 there, but dx = r * (g - mean(g)) is large (r = 1/sqrt(eps))"),
     "padding", (4, 6), 1.0, 1e-3, True),
    ("1-D vector", _text("一维向量", "1-D vector"),
     _text("(7,)：没有前导维，dgamma = d_out * x_hat 本身", "(7,): no leading axes, dgamma is d_out * x_hat itself"),
     "normal", (7,), 1.0, 1e-2, True),
    ("large eps", _text("大 eps", "large eps"),
     _text("eps = 0.1、方差约 0.1：eps 的位置同样影响梯度", "eps = 0.1 with variances ~0.1: where eps goes changes the "
           "gradients too"),
     "normal", (3, 2, 6), 0.3, 0.1, True),
    ("tiny variance", _text("极小方差", "tiny variance"),
     _text("x 的标准差约 2e-3（方差 < eps = 1e-5）：r 约为 300，梯度很大", "x with std ~2e-3 (variance < eps = 1e-5): "
           "r is about 300, so the gradients are large"),
     "normal", (4, 9), 2e-3, 1e-5, True),
    ("heads (B, H, T, d)", _text("多头 (B, H, T, d)", "heads (B, H, T, d)"),
     _text("(2, 3, 4, 8)：三个前导维，dgamma、dbeta 对它们全部求和", "(2, 3, 4, 8): three leading axes, dgamma and dbeta "
           "sum over all of them"),
     "normal", (2, 3, 4, 8), 1.0, 1e-3, True),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, kind, shape, spread, eps, check_fd) in enumerate(SPECS):
        rng = np.random.default_rng([seed, index])
        x, gamma, beta = _FORWARD._inputs(rng, kind, shape, spread)
        d_out = rng.standard_normal(shape)
        cases.append(Case(name, about, "layer_norm_backward",
                          {"d_out": d_out, "x": x, "gamma": gamma, "beta": beta, "eps": eps},
                          shapes=f"d_out, x {shape}, gamma/beta ({shape[-1]},), eps={eps:g}", gradcheck=check_fd,
                          label=label))
    return cases


def gradcheck(case, grads):
    """Directional finite differences of the reference forward (layer_norm), against the submitted gradients."""
    forward = get_exercise("layer_norm").reference().layer_norm
    eps = case.args["eps"]
    args = {name: case.args[name] for name in ("x", "gamma", "beta")}
    return fd.directional_checks(lambda a: forward(a["x"], a["gamma"], a["beta"], eps), args, case.args["d_out"],
                                 grads, ("x", "gamma", "beta"))


def perf_case(seed):
    """(B, T, D) = (8, 128, 256), for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 1000])
    x, gamma, beta = _FORWARD._inputs(rng, "normal", (8, 128, 256))
    return Case("speed", _text("(8, 128, 256) 的 token", "(8, 128, 256) tokens"), "layer_norm_backward",
                {"d_out": rng.standard_normal(x.shape), "x": x, "gamma": gamma, "beta": beta, "eps": 1e-5},
                shapes="d_out, x (8, 128, 256), eps=1e-5")


error_map = _FORWARD.error_map


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: LayerNormFunction.apply(x, gamma, beta, eps), then the case's d_out
    back-propagated; the .grad of x, gamma and beta."""
    from mhaquiz.grader.torch_form import tensor

    x, gamma, beta = (tensor(args[name]).requires_grad_(True) for name in ("x", "gamma", "beta"))
    y = namespace.LayerNormFunction.apply(x, gamma, beta, args["eps"])
    y.backward(tensor(args["d_out"]))
    return {"x": x.grad, "gamma": gamma.grad, "beta": beta.grad}
