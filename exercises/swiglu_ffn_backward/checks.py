"""Checks for swiglu_ffn_backward: dx, dW1, dW2, dW3 against the reference and against finite differences.

The activation mistakes (GELU, ReLU or the bare sigmoid on the gate, the overflowing sigmoid, gate and up
swapped) come from swiglu_ffn's checks and patch the same helpers here (the gradient then follows the wrong
forward exactly, as when one differentiates one's own wrong forward); the backward mistakes patch silu_grad,
weight_grad and input_grad.
"""

import numpy as np

from mhaquiz.grader import gradcheck as fd
from mhaquiz.grader.exercises import checks_module, get_exercise
from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()
_FORWARD = checks_module("swiglu_ffn")
GRADS = ("x", "W1", "W2", "W3")


def _text(zh, en):
    return Text(zh=zh, en=en)


def _activation(rule, derivative):
    """A forward mistake carried into the backward: silu replaced by rule, silu_grad by its derivative."""
    return {"silu": lambda ref: rule, "silu_grad": lambda ref: derivative}


def _relu(z):
    return np.maximum(z, 0.0)


def _gelu_grad(z):
    c = np.sqrt(2.0 / np.pi)
    t = np.tanh(c * (z + 0.044715 * z ** 3))
    return 0.5 * (1.0 + t) + 0.5 * z * (1.0 - t * t) * c * (1.0 + 3 * 0.044715 * z ** 2)


def _sigmoid_only(ref):
    return lambda a: ref.sigmoid(a)  # d(a * s)/da = s + a s (1 - s): the second term forgotten


def _sigmoid_derivative(ref):
    return lambda a: ref.sigmoid(a) * (1.0 - ref.sigmoid(a))  # the derivative of sigmoid, not of silu


def _swap_gate_and_up_grads(outputs, case):
    return {**outputs, "W1": outputs["W3"], "W3": outputs["W1"]}


def _averaged_weight_grad(ref):
    def weight_grad(x, d):
        rows = x.reshape(-1, x.shape[-1]).shape[0]
        return ref.weight_grad(x, d) / rows  # a mean over the tokens, as if the loss were averaged

    return weight_grad


def _weight_grad_axis_0(ref):
    def weight_grad(x, d):
        return (x.swapaxes(-1, -2) @ d).sum(axis=0)  # right for (B, T, n) only: the leading axes not all summed

    return weight_grad


def _transposed_weight_grad(ref):
    return lambda x, d: ref.weight_grad(x, d).T  # d^T x: nn.Linear's (out, in) layout


def _dx_gate_path_only(ref):
    return lambda da, db, W1, W3: da @ W1.T  # x also feeds x @ W3


_FORMULA = ("arch-swiglu-ffn-formula", "bw-backward-formulas")

MUTANTS = (
    Mutant("silu_grad_sigmoid_only",
           _text("silu 的导数只写了 sigmoid(a)：d(a·σ(a))/da = σ(a) + a·σ(a)(1 − σ(a))，漏了第二项（乘积法则）",
                 "silu's derivative taken as sigmoid(a): d(a s(a))/da = s(a) + a s(a)(1 - s(a)); the second term of "
                 "the product rule is missing"),
           patch={"silu_grad": _sigmoid_only}, related=_FORMULA),
    Mutant("silu_grad_is_sigmoid_grad",
           _text("用了 sigmoid 的导数 σ(a)(1 − σ(a))，应为 silu 的导数 σ(a) + a·σ(a)(1 − σ(a))",
                 "sigmoid's derivative s(a)(1 - s(a)) used instead of silu's, s(a) + a s(a)(1 - s(a))"),
           patch={"silu_grad": _sigmoid_derivative}, related=_FORMULA),
    Mutant("dx_gate_path_only",
           _text("dx 只算了经过门（W1）的一路：x 同时进入 x @ W1 和 x @ W3，dx = da W1ᵀ + db W3ᵀ",
                 "dx through the gate (W1) only: x feeds both x @ W1 and x @ W3, so dx = da W1^T + db W3^T"),
           patch={"input_grad": _dx_gate_path_only}, related=_FORMULA),
    Mutant("weight_grads_transposed",
           _text("权重梯度转置了：写成了 dYᵀ X（nn.Linear 的 (输出, 输入) 布局）；这里 W 是 (输入, 输出)，dW = Xᵀ dY",
                 "weight gradients transposed: dY^T X (nn.Linear's (out, in) layout); these W are (in, out), so "
                 "dW = X^T dY"),
           patch={"weight_grad": _transposed_weight_grad}, related=("bw-backward-formulas",)),
    Mutant("weight_grads_summed_over_axis_0",
           _text("权重梯度只沿第 0 维求和：对 (B, T, D) 输入是对的，但必须对除最后一维外的所有维（所有 token）求和",
                 "weight gradients summed over axis 0 only: right for (B, T, D) inputs, but the sum runs over every "
                 "axis but the last (every token)"),
           patch={"weight_grad": _weight_grad_axis_0}, related=("bw-backward-formulas",)),
    Mutant("weight_grads_averaged",
           _text("权重梯度除以了 token 数（取了平均）：L = sum(y * d_out)，梯度是对所有 token 的求和",
                 "weight gradients divided by the number of tokens (a mean): L = sum(y * d_out), so they are sums "
                 "over every token"),
           patch={"weight_grad": _averaged_weight_grad}, related=("bw-backward-formulas",)),
    Mutant("gelu_instead_of_silu",
           _text("门上用了 GELU（及其导数），应为 SiLU：silu(z) = z·sigmoid(z)",
                 "GELU (and its derivative) on the gate instead of SiLU: silu(z) = z * sigmoid(z)"),
           patch=_activation(_FORWARD._gelu, _gelu_grad), related=("arch-swiglu-ffn-formula", "arch-gelu-approx")),
    Mutant("relu_instead_of_silu",
           _text("门上用了 ReLU（及其导数），应为 SiLU", "ReLU (and its derivative) on the gate instead of SiLU"),
           patch=_activation(_relu, lambda a: (a > 0).astype(float)), related=("arch-swiglu-ffn-formula",)),
    Mutant("sigmoid_overflow",
           _text("sigmoid 写成 exp(z) / (1 + exp(z))：z > 709 时 exp 溢出，inf / inf = NaN",
                 "sigmoid written exp(z) / (1 + exp(z)): for z > 709 exp overflows and inf / inf = NaN"),
           patch={"sigmoid": _FORWARD._naive_sigmoid}, related=("bw-softmax-max-subtraction",)),
    Mutant("gate_and_up_swapped",
           _text("门和 up 投影用反了：SiLU 加在了 x @ W3 上，应加在 x @ W1 上",
                 "gate and up projection swapped: SiLU on x @ W3 instead of x @ W1"),
           args_transform=_FORWARD._swap_gate_and_up, transform=_swap_gate_and_up_grads,
           related=("arch-swiglu-ffn-formula",)),
)


# name, label, what it exposes, shape of x, F, spread of x
SPECS = (
    ("tokens (B, T, D)", _text("token 序列 (B, T, D)", "tokens (B, T, D)"),
     _text("(2, 3, 6)，F = 16：权重梯度要对 B、T 两个维度的所有 token 求和",
           "(2, 3, 6), F = 16: the weight gradients sum over the tokens of both B and T"), (2, 3, 6), 16, 1.5),
    ("one token (D,)", _text("单个 token (D,)", "one token (D,)"),
     _text("一维的 x (8,)，F = 12：每个权重梯度是一个外积", "a 1-D x (8,), F = 12: each weight gradient is an outer "
           "product"), (8,), 12, 1.5),
    ("(T, D)", _text("二维 (T, D)", "(T, D)"),
     _text("(5, 4)，F = 10：只有一个前导维，只沿第 0 维求和在这里形状就错了",
           "(5, 4), F = 10: a single leading axis, where summing over axis 0 alone gives the wrong shape"),
     (5, 4), 10, 1.0),
    ("four axes", _text("四维输入", "four axes"),
     _text("(2, 2, 3, 5)，F = 9：三个前导维，权重梯度对它们全部求和",
           "(2, 2, 3, 5), F = 9: three leading axes, all summed in the weight gradients"), (2, 2, 3, 5), 9, 1.0),
    ("square, F = D", _text("方阵，F = D", "square, F = D"),
     _text("(3, 2, 7)，F = D = 7：转置了的权重梯度形状也对，只是数值错",
           "(3, 2, 7), F = D = 7: transposed weight gradients have the right shape, just wrong values"),
     (3, 2, 7), 7, 1.5),
    ("large activations", _text("很大的预激活", "large activations"),
     _text("W1 的第一列放大 600 倍，有的 x W1 = ±900：exp(z) 溢出；silu 在那里的导数是 1 和 0",
           "W1's first column scaled by 600, some x W1 = ±900: exp(z) overflows; silu's derivative is 1 and 0 "
           "there"), (4, 6), 11, 1.5),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, shape, F, spread) in enumerate(SPECS):
        rng = np.random.default_rng([seed, 191, index])
        D = shape[-1]
        x = spread * rng.standard_normal(shape)
        W1, W2, W3 = _FORWARD.weights(rng, D, F)
        if name == "large activations":
            x, W1 = _FORWARD.huge_gate(x, W1)
        d_out = rng.standard_normal(shape)
        cases.append(Case(name, about, "swiglu_ffn_backward", {"d_out": d_out, "x": x, "W1": W1, "W2": W2, "W3": W3},
                          shapes=f"d_out, x {shape}, W1 W3 ({D}, {F}), W2 ({F}, {D})", gradcheck=name != "large activations",
                          label=label))
    return cases


def gradcheck(case, grads):
    """Directional finite differences of the reference forward (swiglu_ffn) against the submitted gradients."""
    forward = get_exercise("swiglu_ffn").reference().swiglu_ffn
    args = {name: case.args[name] for name in GRADS}
    return fd.directional_checks(lambda a: forward(a["x"], a["W1"], a["W2"], a["W3"]), args, case.args["d_out"],
                                 grads, GRADS)


def perf_case(seed):
    """(B, T, D) = (4, 64, 128) with F = 344, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 191, 1000])
    W1, W2, W3 = _FORWARD.weights(rng, 128, 344)
    return Case("speed", _text("(4, 64, 128) 的 token，F = 344", "(4, 64, 128) tokens, F = 344"),
                "swiglu_ffn_backward",
                {"d_out": rng.standard_normal((4, 64, 128)), "x": rng.standard_normal((4, 64, 128)), "W1": W1,
                 "W2": W2, "W3": W3}, shapes="d_out, x (4, 64, 128), W1 W3 (128, 344), W2 (344, 128)")


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: SwiGLUFunction.apply(x, W1, W2, W3), then the case's d_out
    back-propagated; the .grad of x, W1, W2 and W3."""
    from mhaquiz.grader.torch_form import tensor

    x, W1, W2, W3 = (tensor(args[name]).requires_grad_(True) for name in ("x", "W1", "W2", "W3"))
    y = namespace.SwiGLUFunction.apply(x, W1, W2, W3)
    y.backward(tensor(args["d_out"]))
    return {"x": x.grad, "W1": W1.grad, "W2": W2.grad, "W3": W3.grad}
