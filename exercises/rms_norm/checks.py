"""Checks for rms_norm: rows with a clear mean (so centring shows), eps that matters, a padding row, every rank.

The mutants patch the reference's helpers (mean_square, inv_rms, scale) or rms_norm itself; rms_norm_backward's
reference keeps mean_square and inv_rms, so its checks reuse STATISTICS_MUTANTS.
"""

import numpy as np

from mhaquiz.grader.exercises import checks_module
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- the classic mistakes, as patches of the reference's helpers -----------------------------------------

def _mean_square(rule):
    def factory(ref):
        def mean_square(x):
            return rule(x)

        return mean_square

    return factory


def _inv_rms(rule):
    def factory(ref):
        def inv_rms(ms, eps):
            return rule(ms, eps)

        return inv_rms

    return factory


def _scale(rule):
    def factory(ref):
        def scale(x_hat, gamma):
            return rule(x_hat, gamma)

        return scale

    return factory


def _centred(ref):
    def rms_norm(x, gamma, eps):
        centred = x - x.mean(axis=-1, keepdims=True)  # LayerNorm's centring, kept by mistake
        return ref.scale(centred * ref.inv_rms(ref.mean_square(centred), eps), gamma)

    return rms_norm


STATISTICS_MUTANTS = (
    Mutant("eps_outside_sqrt",
           _text("eps 加在了根号外面：x / (sqrt(mean(x²)) + eps)，应为 x / sqrt(mean(x²) + eps)（Llama、F.rms_norm 的写法）",
                 "eps outside the square root: x / (sqrt(mean(x^2)) + eps) instead of x / sqrt(mean(x^2) + eps) "
                 "(Llama's and F.rms_norm's)"),
           patch={"inv_rms": _inv_rms(lambda ms, eps: 1.0 / (np.sqrt(ms) + eps))},
           related=("norm-rmsnorm-vs-layernorm",)),
    Mutant("variance_instead_of_mean_square",
           _text("分母用了方差 var(x)（先减了均值），RMSNorm 用的是 mean(x²)，不减均值",
                 "the denominator uses the variance var(x) (the mean subtracted first); RMSNorm uses mean(x^2), no "
                 "mean subtracted"),
           patch={"mean_square": _mean_square(lambda x: x.var(axis=-1, keepdims=True))},
           related=("norm-rmsnorm-vs-layernorm", "norm-layernorm-formula")),
    Mutant("rms_over_axis_0",
           _text("mean(x²) 沿第 0 维（batch）计算，应对每个 token 沿最后一维（特征）计算",
                 "mean(x^2) over axis 0 (the batch) instead of per token over the last axis (the features)"),
           patch={"mean_square": _mean_square(lambda x: (x * x).mean(axis=0, keepdims=True))},
           related=("norm-rmsnorm-vs-layernorm", "norm-ln-vs-bn-transformer")),
    Mutant("rms_over_all_axes",
           _text("mean(x²) 对整个数组计算（没写 axis），应对每一行沿最后一维各算一份",
                 "mean(x^2) of the whole array (no axis given) instead of one per row of the last axis"),
           patch={"mean_square": _mean_square(lambda x: (x * x).mean(keepdims=True))},
           related=("norm-rmsnorm-vs-layernorm",)),
    Mutant("sum_instead_of_mean",
           _text("用了平方和 sum(x²)（L2 范数）而不是均值 mean(x²)：输出小了 sqrt(D) 倍",
                 "the sum of squares sum(x^2) (the L2 norm) instead of the mean mean(x^2): outputs sqrt(D) times too "
                 "small"),
           patch={"mean_square": _mean_square(lambda x: (x * x).sum(axis=-1, keepdims=True))},
           related=("norm-rmsnorm-vs-layernorm",)),
)

MUTANTS = STATISTICS_MUTANTS + (
    Mutant("rms_subtracts_mean",
           _text("按 LayerNorm 的习惯先减了均值：(x − mean) / sqrt(var + eps)；RMSNorm 不做中心化",
                 "the mean subtracted, LayerNorm-style: (x - mean) / sqrt(var + eps); RMSNorm does not centre"),
           patch={"rms_norm": _centred}, related=("norm-rmsnorm-vs-layernorm", "norm-layernorm-formula")),
    Mutant("eps_missing",
           _text("没有加 eps：全零的行得到 0/0 = NaN，mean(x²) 小时输出也被放大",
                 "no eps at all: an all-zero row gives 0/0 = NaN, and rows of small mean square are blown up"),
           patch={"inv_rms": _inv_rms(lambda ms, eps: 1.0 / np.sqrt(ms))}, related=("norm-rmsnorm-vs-layernorm",)),
    Mutant("no_sqrt",
           _text("忘了开根号：除以 mean(x²) + eps，应除以 sqrt(mean(x²) + eps)",
                 "the square root forgotten: divided by mean(x^2) + eps instead of sqrt(mean(x^2) + eps)"),
           patch={"inv_rms": _inv_rms(lambda ms, eps: 1.0 / (ms + eps))}, related=("norm-rmsnorm-vs-layernorm",)),
    Mutant("eps_hardwired",
           _text("eps 写死成了 1e-6（Llama 的 norm_eps、Hugging Face LlamaRMSNorm 的默认值），没有用传入的 eps",
                 "eps hard-wired to 1e-6 (Llama's norm_eps, Hugging Face LlamaRMSNorm's default) instead of the eps "
                 "given"),
           args_transform=lambda args: {**args, "eps": 1e-6}, related=("norm-rmsnorm-vs-layernorm",)),
    Mutant("gamma_ignored", _text("没有乘 gamma（增益参数被忽略）", "gamma (the gain) ignored"),
           patch={"scale": _scale(lambda x_hat, gamma: x_hat)},
           related=("norm-rmsnorm-vs-layernorm", "norm-llama-norm-params")),
    Mutant("gamma_plus_one",
           _text("乘的是 (1 + gamma)（Gemma 的约定，它的 weight 初始化为 0）；这里 gamma 直接相乘（Llama 的约定）",
                 "multiplied by (1 + gamma) (Gemma's convention, whose weight starts at 0); here gamma multiplies as "
                 "given (Llama's convention)"),
           patch={"scale": _scale(lambda x_hat, gamma: x_hat * (1.0 + gamma))},
           related=("norm-rmsnorm-vs-layernorm", "norm-llama-norm-params")),
)


# --- the cases --------------------------------------------------------------------------------------------

def _inputs(rng, kind, shape, spread=1.0):
    D = shape[-1]
    # each row has a clear mean of its own (|mean| ~ spread): centring, or using the variance, changes the answer
    signs = rng.choice([-1.0, 1.0], shape[:-1] + (1,))
    x = spread * (rng.standard_normal(shape) + signs * rng.uniform(0.8, 1.5, shape[:-1] + (1,)))
    if kind == "padding":
        x[-2] = 0.0  # an all-zero padding token: mean(x^2) exactly 0
    gamma = 1.0 + 0.5 * rng.standard_normal(D)
    return x, gamma


# name, label, what it exposes, kind, shape, input spread, eps
SPECS = (
    ("tokens (B, T, D)", _text("token 序列 (B, T, D)", "tokens (B, T, D)"),
     _text("(2, 3, 6)：两个前导维，每行的均值明显不为 0（减不减均值差别很大）",
           "(2, 3, 6): two leading axes, every row with a clearly nonzero mean (centring or not matters)"),
     "normal", (2, 3, 6), 1.0, 1e-3),
    ("padding row", _text("全零的 padding 行", "all-zero padding row"),
     _text("(5, 8)，其中一行全为 0：mean(x²) 恰好为 0，输出必须是 0（不能是 NaN）",
           "(5, 8) with one all-zero row: mean(x^2) is exactly 0, so its output must be 0 (not NaN)"),
     "padding", (5, 8), 1.0, 1e-3),
    ("1-D vector", _text("一维向量", "1-D vector"),
     _text("(7,)：没有前导维，只有一个 token", "(7,): no leading axes, a single token"),
     "normal", (7,), 1.0, 1e-2),
    ("large eps", _text("大 eps", "large eps"),
     _text("eps = 0.1、mean(x²) 约 0.1~0.3：eps 在不在根号里差别很大",
           "eps = 0.1 with mean(x^2) ~0.1-0.3: where eps goes matters a lot"),
     "normal", (3, 4, 5), 0.3, 0.1),
    ("tiny inputs", _text("极小的输入", "tiny inputs"),
     _text("x 约为 2e-3（mean(x²) 约 1e-5，与 eps = 1e-6 相差不到 10 倍）：eps 明显影响分母",
           "x ~2e-3 (mean(x^2) ~1e-5, within 10x of eps = 1e-6): eps visibly changes the denominator"),
     "normal", (4, 10), 2e-3, 1e-6),
    ("heads (B, H, T, d)", _text("多头 (B, H, T, d)", "heads (B, H, T, d)"),
     _text("(2, 3, 4, 8)：三个前导维，如 QK-norm 对每个头的 q、k 做 RMSNorm",
           "(2, 3, 4, 8): three leading axes, as QK-norm applies RMSNorm to each head's q and k"),
     "normal", (2, 3, 4, 8), 1.0, 1e-3),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, kind, shape, spread, eps) in enumerate(SPECS):
        x, gamma = _inputs(np.random.default_rng([seed, index]), kind, shape, spread)
        cases.append(Case(name, about, "rms_norm", {"x": x, "gamma": gamma, "eps": eps},
                          shapes=f"x {shape}, gamma ({shape[-1]},), eps={eps:g}", label=label))
    return cases


def perf_case(seed):
    """(B, T, D) = (8, 128, 256), for the speed comparison with the reference."""
    x, gamma = _inputs(np.random.default_rng([seed, 1000]), "normal", (8, 128, 256))
    return Case("speed", _text("(8, 128, 256) 的 token", "(8, 128, 256) tokens"), "rms_norm",
                {"x": x, "gamma": gamma, "eps": 1e-6}, shapes="x (8, 128, 256), eps=1e-6")


error_map = checks_module("layer_norm").error_map  # per token and feature, as for LayerNorm


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: RMSNorm(D, eps) with the case's gamma loaded by name."""
    import torch

    from mhaquiz.grader.torch_form import NORM_WEIGHT_NAMES, build, load_vector, tensor

    module = build(namespace, "RMSNorm", args["x"].shape[-1], args["eps"])
    load_vector(module, args["gamma"], NORM_WEIGHT_NAMES, "weight (gamma)")
    with torch.no_grad():
        return module(tensor(args["x"]))
