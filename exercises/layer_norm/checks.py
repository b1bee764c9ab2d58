"""Checks for layer_norm: leading axes of every rank, eps that matters, a padding row, a large offset.

The mutants patch the reference's helpers (moments, inv_std, normalize, affine); layer_norm_backward's
reference keeps moments and inv_std, so its checks reuse STATISTICS_MUTANTS.
"""

import numpy as np

from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- the classic mistakes, as patches of the reference's helpers -----------------------------------------

def _moments(rule):
    def factory(ref):
        def moments(x):
            return rule(x)

        return moments

    return factory


def _unbiased(x):
    mean = x.mean(axis=-1, keepdims=True)
    return mean, ((x - mean) ** 2).sum(axis=-1, keepdims=True) / (x.shape[-1] - 1)  # x.var(ddof=1), torch.var()


def _over_axis_0(x):
    mean = x.mean(axis=0, keepdims=True)  # BatchNorm's axis
    return mean, ((x - mean) ** 2).mean(axis=0, keepdims=True)


def _over_all_axes(x):
    mean = x.mean(keepdims=True)  # one mean and variance for the whole array
    return mean, ((x - mean) ** 2).mean(keepdims=True)


def _one_pass(x):
    mean = x.mean(axis=-1, keepdims=True)
    return mean, (x * x).mean(axis=-1, keepdims=True) - mean ** 2  # E[x^2] - E[x]^2


def _inv_std(rule):
    def factory(ref):
        def inv_std(var, eps):
            return rule(var, eps)

        return inv_std

    return factory


def _affine(rule):
    def factory(ref):
        def affine(x_hat, gamma, beta):
            return rule(x_hat, gamma, beta)

        return affine

    return factory


STATISTICS_MUTANTS = (
    Mutant("unbiased_variance",
           _text("方差用了无偏估计（除以 D − 1，np.var(ddof=1) 或 torch.var() 的默认值），LayerNorm 用有偏估计（除以 D）",
                 "unbiased variance (divided by D - 1: np.var(ddof=1), torch.var()'s default); LayerNorm uses the "
                 "biased one (divided by D)"),
           patch={"moments": _moments(_unbiased)},
           related=("norm-annotated-layernorm-diff", "norm-unbiased-shrink-factor", "norm-layernorm-formula")),
    Mutant("eps_outside_sqrt",
           _text("eps 加在了标准差上：(x − mean) / (sqrt(var) + eps)，应为 / sqrt(var + eps)",
                 "eps added to the standard deviation: (x - mean) / (sqrt(var) + eps) instead of / sqrt(var + eps)"),
           patch={"inv_std": _inv_std(lambda var, eps: 1.0 / (np.sqrt(var) + eps))},
           related=("norm-annotated-layernorm-diff", "norm-layernorm-formula")),
)

MUTANTS = STATISTICS_MUTANTS + (
    Mutant("eps_missing",
           _text("没有加 eps：方差为 0 的行（比如全零的 padding token）得到 0/0 = NaN，方差小时输出也被放大",
                 "no eps at all: a row of zero variance (an all-zero padding token) gives 0/0 = NaN, and rows of "
                 "small variance are blown up"),
           patch={"inv_std": _inv_std(lambda var, eps: 1.0 / np.sqrt(var))},
           related=("norm-layernorm-formula",)),
    Mutant("stats_over_axis_0",
           _text("均值和方差沿第 0 维（batch）计算，成了 BatchNorm；LayerNorm 对每个 token 沿最后一维（特征）计算",
                 "mean and variance over axis 0 (the batch), which is BatchNorm; LayerNorm takes them per token over "
                 "the last axis (the features)"),
           patch={"moments": _moments(_over_axis_0)},
           related=("norm-ln-vs-bn-transformer", "norm-layernorm-formula")),
    Mutant("stats_over_all_axes",
           _text("均值和方差对整个数组计算（np.mean(x)、x.var() 没写 axis），应对每一行沿最后一维各算一份",
                 "mean and variance of the whole array (np.mean(x), x.var() without an axis) instead of one per row "
                 "of the last axis"),
           patch={"moments": _moments(_over_all_axes)},
           related=("norm-layernorm-formula", "norm-ln-vs-bn-transformer")),
    Mutant("one_pass_variance",
           _text("方差写成了 E[x²] − E[x]²：输入离 0 很远时两项几乎相等，相减发生灾难性相消；应先减均值再平方（两遍法）",
                 "variance as E[x^2] - E[x]^2: far from zero the two terms nearly cancel and the digits are lost; "
                 "subtract the mean first, then square (two passes)"),
           patch={"moments": _moments(_one_pass)},
           related=("norm-variance-cancellation",)),
    Mutant("eps_hardwired",
           _text("eps 写死成了 1e-5（nn.LayerNorm 的默认值），没有用传入的 eps",
                 "eps hard-wired to 1e-5 (nn.LayerNorm's default) instead of the eps given"),
           args_transform=lambda args: {**args, "eps": 1e-5}, related=("norm-layernorm-formula",)),
    Mutant("gamma_ignored", _text("没有乘 gamma（缩放参数被忽略）", "gamma (the scale) ignored"),
           patch={"affine": _affine(lambda x_hat, gamma, beta: x_hat + beta)},
           related=("norm-layernorm-params", "norm-layernorm-formula")),
    Mutant("beta_ignored", _text("没有加 beta（平移参数被忽略）", "beta (the shift) ignored"),
           patch={"affine": _affine(lambda x_hat, gamma, beta: x_hat * gamma)},
           related=("norm-layernorm-params", "norm-layernorm-formula")),
    Mutant("affine_missing", _text("gamma 和 beta 都没用：只返回了归一化的 x_hat",
                                   "neither gamma nor beta used: only the normalised x_hat returned"),
           patch={"affine": _affine(lambda x_hat, gamma, beta: x_hat)},
           related=("norm-layernorm-params", "norm-layernorm-formula")),
    Mutant("gamma_beta_swapped", _text("gamma 和 beta 用反了：x_hat * beta + gamma",
                                       "gamma and beta swapped: x_hat * beta + gamma"),
           patch={"affine": _affine(lambda x_hat, gamma, beta: x_hat * beta + gamma)},
           related=("norm-layernorm-params", "norm-layernorm-formula")),
)


# --- the cases --------------------------------------------------------------------------------------------

OFFSET = 12_000_000.0  # < 2**24: the offset rows (integers) are exact in float32 too


def _inputs(rng, kind, shape, spread=1.0):
    D = shape[-1]
    if kind == "offset":
        # features near 1.2e7 with integer deviations (variance ~1): E[x^2] ~ 1.4e14 and E[x]^2 agree to ~14
        # digits, so the one-pass variance keeps ~2 of float64's ~16 (an error ~1e-3 of the output). D = 16 keeps
        # every two-pass sum exact, so every correct way of writing the two passes gives the same answer.
        x = OFFSET + np.round(rng.standard_normal(shape))
    else:
        # a different mean per row: the mean has to come out of each row
        x = spread * (rng.standard_normal(shape) + rng.uniform(-1.0, 1.0, shape[:-1] + (1,)))
        if kind == "padding":
            x[-2] = 0.0  # an all-zero padding token: variance exactly 0
    gamma = 1.0 + 0.5 * rng.standard_normal(D)
    beta = 0.5 * rng.standard_normal(D)
    return x, gamma, beta


# name, label, what it exposes, kind, shape, input spread, eps
SPECS = (
    ("tokens (B, T, D)", _text("token 序列 (B, T, D)", "tokens (B, T, D)"),
     _text("(2, 3, 6)：两个前导维，每个 token 沿特征维各自归一化", "(2, 3, 6): two leading axes, each token normalised "
           "over its own features"),
     "normal", (2, 3, 6), 1.5, 1e-3),
    ("padding row", _text("全零的 padding 行", "all-zero padding row"),
     _text("(5, 8)，其中一行全为 0：方差恰好为 0，输出必须就是 beta（不能是 NaN）",
           "(5, 8) with one all-zero row: its variance is exactly 0, so its output must be beta (not NaN)"),
     "padding", (5, 8), 1.0, 1e-3),
    ("1-D vector", _text("一维向量", "1-D vector"),
     _text("(7,)：没有前导维，只有一个 token", "(7,): no leading axes, a single token"),
     "normal", (7,), 1.0, 1e-2),
    ("large eps", _text("大 eps", "large eps"),
     _text("eps = 0.1、方差约 0.1：eps 在不在根号里差别很大", "eps = 0.1 with variances ~0.1: where eps goes matters a lot"),
     "normal", (3, 4, 5), 0.3, 0.1),
    ("tiny variance", _text("极小方差", "tiny variance"),
     _text("x 的标准差约 2e-3（方差约 4e-6 < eps = 1e-5）：eps 主导分母", "x with std ~2e-3 (variance ~4e-6 < eps = 1e-5): "
           "eps dominates the denominator"),
     "normal", (4, 10), 2e-3, 1e-5),
    ("large offset", _text("大偏移", "large offset"),
     _text("特征都在 1.2e7 附近（整数偏差，方差约 1）：E[x²] − E[x]² 在 float64 下也会丢掉大部分有效数字",
           "features near 1.2e7 (integer deviations, variance ~1): E[x^2] - E[x]^2 loses most digits even in float64"),
     "offset", (6, 16), 1.0, 1e-3),
    ("heads (B, H, T, d)", _text("多头 (B, H, T, d)", "heads (B, H, T, d)"),
     _text("(2, 3, 4, 8)：三个前导维，如 QK-norm 对每个头的 q、k 做归一化",
           "(2, 3, 4, 8): three leading axes, as QK-norm normalises each head's q and k"),
     "normal", (2, 3, 4, 8), 1.0, 1e-3),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, kind, shape, spread, eps) in enumerate(SPECS):
        x, gamma, beta = _inputs(np.random.default_rng([seed, index]), kind, shape, spread)
        cases.append(Case(name, about, "layer_norm", {"x": x, "gamma": gamma, "beta": beta, "eps": eps},
                          shapes=f"x {shape}, gamma/beta ({shape[-1]},), eps={eps:g}", label=label))
    return cases


def perf_case(seed):
    """(B, T, D) = (8, 128, 256), for the speed comparison with the reference."""
    x, gamma, beta = _inputs(np.random.default_rng([seed, 1000]), "normal", (8, 128, 256))
    return Case("speed", _text("(8, 128, 256) 的 token", "(8, 128, 256) tokens"), "layer_norm",
                {"x": x, "gamma": gamma, "beta": beta, "eps": 1e-5}, shapes="x (8, 128, 256), eps=1e-5")


def error_map(case, name, got, expected):
    """|error| per token (every leading axis flattened into rows) and feature; (D,) outputs as one row."""
    errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
    if errors.ndim < 2:
        return errors, ("axis.feature",), _text("(D,) 的输出", "the (D,) output")
    return (errors.reshape(-1, errors.shape[-1]), ("axis.row", "axis.feature"),
            _text("前导维展平成 token 行", "the leading axes flattened into rows of tokens"))


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: LayerNorm(D, eps) with the case's gamma and beta loaded by name."""
    import torch

    from mhaquiz.grader.torch_form import NORM_BIAS_NAMES, NORM_WEIGHT_NAMES, build, load_vector, tensor

    module = build(namespace, "LayerNorm", args["x"].shape[-1], args["eps"])
    load_vector(module, args["gamma"], NORM_WEIGHT_NAMES, "weight (gamma)")
    load_vector(module, args["beta"], NORM_BIAS_NAMES, "bias (beta)")
    with torch.no_grad():
        return module(tensor(args["x"]))
