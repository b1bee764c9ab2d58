"""Checks for swiglu_ffn: the Llama FFN y = (silu(x W1) * (x W3)) W2, on every rank of x, F != D and F == D,
and pre-activations past exp's range (|x W1| > 709).

The mutants patch the reference's helpers (sigmoid, silu) or swiglu_ffn itself, or swap the weights it is
given; swiglu_ffn_backward's checks reuse ACTIVATION_MUTANTS.
"""

import numpy as np

from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- the classic mistakes ----------------------------------------------------------------------------------

def _gelu(z):
    """GELU, the tanh approximation GPT-2 uses."""
    return 0.5 * z * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (z + 0.044715 * z ** 3)))


def _silu_as(rule):
    def factory(ref):
        def silu(z):
            return rule(ref, z)

        return silu

    return factory


def _naive_sigmoid(ref):
    def sigmoid(z):
        e = np.exp(z)  # inf for z > 709: inf / inf = NaN
        return e / (1.0 + e)

    return sigmoid


def _swap_gate_and_up(args):
    return {**args, "W1": args["W3"], "W3": args["W1"]}


def _ungated(ref):
    def swiglu_ffn(x, W1, W2, W3):
        return ref.silu(x @ W1) @ W2  # the up projection x @ W3 never used

    return swiglu_ffn


def _silu_after_product(ref):
    def swiglu_ffn(x, W1, W2, W3):
        return ref.silu((x @ W1) * (x @ W3)) @ W2  # the activation on the product, not on the gate

    return swiglu_ffn


def _linear_layout(ref):
    def swiglu_ffn(x, W1, W2, W3):
        return (ref.silu(x @ W1.T) * (x @ W3.T)) @ W2.T  # nn.Linear's x @ weight.T, on weights stored as (in, out)

    return swiglu_ffn


_FORMULA = ("arch-swiglu-ffn-formula", "arch-activations-which-llm")

ACTIVATION_MUTANTS = (
    Mutant("gelu_instead_of_silu",
           _text("门上用了 GELU（GEGLU），应为 SiLU：silu(z) = z·sigmoid(z)",
                 "GELU on the gate (GEGLU) instead of SiLU: silu(z) = z * sigmoid(z)"),
           patch={"silu": _silu_as(lambda ref, z: _gelu(z))}, related=_FORMULA + ("arch-gelu-approx",)),
    Mutant("relu_instead_of_silu",
           _text("门上用了 ReLU（ReGLU），应为 SiLU：负的预激活经过 SiLU 是小的负数，不是 0",
                 "ReLU on the gate (ReGLU) instead of SiLU: SiLU turns a negative pre-activation into a small "
                 "negative number, not 0"),
           patch={"silu": _silu_as(lambda ref, z: np.maximum(z, 0.0))}, related=_FORMULA),
    Mutant("sigmoid_instead_of_silu",
           _text("门上只用了 sigmoid(z)（原始 GLU），漏了前面的 z：silu(z) = z·sigmoid(z)",
                 "sigmoid(z) alone on the gate (the original GLU), the z of silu(z) = z * sigmoid(z) missing"),
           patch={"silu": _silu_as(lambda ref, z: ref.sigmoid(z))}, related=_FORMULA),
    Mutant("sigmoid_overflow",
           _text("sigmoid 写成 exp(z) / (1 + exp(z))：z > 709 时 exp 溢出，inf / inf = NaN",
                 "sigmoid written exp(z) / (1 + exp(z)): for z > 709 exp overflows and inf / inf = NaN"),
           patch={"sigmoid": _naive_sigmoid}, related=("bw-softmax-max-subtraction",)),
    Mutant("gate_and_up_swapped",
           _text("门和 up 投影用反了：SiLU 加在了 x @ W3 上，应加在 x @ W1 上（Llama：w2(silu(w1(x)) * w3(x))）",
                 "gate and up projection swapped: SiLU on x @ W3 instead of x @ W1 (Llama: w2(silu(w1(x)) * w3(x)))"),
           args_transform=_swap_gate_and_up, related=("arch-swiglu-ffn-formula",)),
)

MUTANTS = ACTIVATION_MUTANTS + (
    Mutant("up_projection_missing",
           _text("漏了 up 投影（没有门控）：silu(x W1) W2 是两矩阵的 FFN_Swish，SwiGLU 还要逐元素乘 x W3",
                 "the up projection missing (no gating): silu(x W1) W2 is the two-matrix FFN_Swish; SwiGLU "
                 "multiplies by x W3 element-wise"),
           patch={"swiglu_ffn": _ungated}, related=_FORMULA),
    Mutant("silu_after_product",
           _text("SiLU 加在了乘积上：silu(x W1 * x W3)，应只加在门 x W1 上再乘 x W3",
                 "SiLU applied to the product silu(x W1 * x W3) instead of to the gate x W1 alone"),
           patch={"swiglu_ffn": _silu_after_product}, related=_FORMULA),
    Mutant("weights_transposed",
           _text("按 nn.Linear 的习惯用了 x @ W.T：这里的 W 存成 (输入, 输出)，直接 x @ W",
                 "x @ W.T, nn.Linear's habit: these weights are stored (in, out), so it is x @ W"),
           patch={"swiglu_ffn": _linear_layout}, related=("arch-swiglu-ffn-formula", "arch-swiglu-params")),
)


# --- the cases ---------------------------------------------------------------------------------------------

def weights(rng, D, F):
    """W1, W2, W3 ~ N(0, 1/fan_in): unit-scale pre-activations for unit-scale x."""
    W1 = rng.standard_normal((D, F)) / np.sqrt(D)
    W3 = rng.standard_normal((D, F)) / np.sqrt(D)
    W2 = rng.standard_normal((F, D)) / np.sqrt(F)
    return W1, W2, W3


def huge_gate(x, W1):
    """W1's first column scaled by 600, so that the gate's first unit reaches hundreds for every token, and
    x[0] @ W1[:, 0] = 900, x[1] @ W1[:, 0] = -900 (both past exp's range of 709) whatever the draw. The other
    units stay of unit scale, so the outputs stay within a few hundred and every mistake on the gate shows."""
    x, W1 = x.copy(), W1.copy()
    W1[:, 0] *= 600.0
    w = W1[:, 0]
    for row, target in ((0, 900.0), (1, -900.0)):
        x[row] += (target - x[row] @ w) * w / (w @ w)  # the smallest change of the row that puts it there
    return x, W1


# name, label, what it exposes, shape of x, F, spread of x
SPECS = (
    ("tokens (B, T, D)", _text("token 序列 (B, T, D)", "tokens (B, T, D)"),
     _text("(2, 3, 6)，F = 16（约 8/3·D，Llama 的比例）：预激活约为 ±2，SiLU、GELU、ReLU、sigmoid 各不相同",
           "(2, 3, 6), F = 16 (about 8/3 D, Llama's ratio): pre-activations around ±2, where SiLU, GELU, ReLU and "
           "sigmoid all differ"), (2, 3, 6), 16, 1.5),
    ("one token (D,)", _text("单个 token (D,)", "one token (D,)"),
     _text("一维的 x (8,)，F = 12：没有前导维", "a 1-D x (8,), F = 12: no leading axes"), (8,), 12, 1.5),
    ("(T, D)", _text("二维 (T, D)", "(T, D)"),
     _text("(5, 4)，F = 10：二维输入，F 与 D、T 都不同", "(5, 4), F = 10: a 2-D input, F different from D and T"),
     (5, 4), 10, 1.0),
    ("square, F = D", _text("方阵，F = D", "square, F = D"),
     _text("(3, 7)，F = D = 7：W 都是方阵，写成 x @ W.T 不会报形状错误，只会算错",
           "(3, 7), F = D = 7: every W is square, so x @ W.T raises no shape error, it is just wrong"), (3, 7), 7, 1.5),
    ("four axes", _text("四维输入", "four axes"),
     _text("(2, 2, 3, 5)，F = 9：三个前导维", "(2, 2, 3, 5), F = 9: three leading axes"), (2, 2, 3, 5), 9, 1.0),
    ("large activations", _text("很大的预激活", "large activations"),
     _text("W1 的第一列放大 600 倍：门的第一个单元达到几百，有的是 ±900，exp(z) 溢出；稳定的 sigmoid 只对 -|z| 取 exp",
           "W1's first column scaled by 600: the gate's first unit reaches hundreds, ±900 for some tokens, where "
           "exp(z) overflows; a stable sigmoid only takes exp of -|z|"),
     (4, 6), 11, 1.5),
)


def make_cases(seed):
    cases = []
    for index, (name, label, about, shape, F, spread) in enumerate(SPECS):
        rng = np.random.default_rng([seed, 190, index])
        D = shape[-1]
        x = spread * rng.standard_normal(shape)
        W1, W2, W3 = weights(rng, D, F)
        if name == "large activations":
            x, W1 = huge_gate(x, W1)
        cases.append(Case(name, about, "swiglu_ffn", {"x": x, "W1": W1, "W2": W2, "W3": W3},
                          shapes=f"x {shape}, W1 W3 ({D}, {F}), W2 ({F}, {D})", label=label))
    return cases


def perf_case(seed):
    """(B, T, D) = (4, 64, 128) with F = 344, for the speed comparison with the reference."""
    rng = np.random.default_rng([seed, 190, 1000])
    W1, W2, W3 = weights(rng, 128, 344)
    return Case("speed", _text("(4, 64, 128) 的 token，F = 344", "(4, 64, 128) tokens, F = 344"), "swiglu_ffn",
                {"x": rng.standard_normal((4, 64, 128)), "W1": W1, "W2": W2, "W3": W3},
                shapes="x (4, 64, 128), W1 W3 (128, 344), W2 (344, 128)")


# --- the PyTorch track --------------------------------------------------------------------------------------


# the case's weight -> the names people give its layer (Meta's Llama, Hugging Face, tutorials)
SWIGLU_NAMES = {
    "W1": ("w1", "gate_proj", "gate", "w_gate", "gate_linear", "linear_gate", "fc_gate", "wg", "w_1"),
    "W3": ("w3", "up_proj", "up", "w_up", "up_linear", "linear_up", "fc_up", "wu", "w_3"),
    "W2": ("w2", "down_proj", "down", "w_down", "down_linear", "linear_down", "fc_down", "wd", "w_2"),
}
GATE_UP_NAMES = ("gate_up_proj", "w13", "w1_w3", "w_gate_up", "gate_up")  # fused: the gate's outputs first


def torch_call(namespace, args, case):
    """A PyTorch submission on a case: SwiGLUFFN(D, F) with the case's W1, W2, W3 loaded by name."""
    import torch

    from mhaquiz.grader.torch_form import build, load_projections, tensor

    D, F = args["W1"].shape
    module = build(namespace, "SwiGLUFFN", D, F)
    load_projections(module, {name: args[name] for name in ("W1", "W3", "W2")}, SWIGLU_NAMES,
                     fused=((("W1", "W3"), GATE_UP_NAMES),))
    with torch.no_grad():
        return module(tensor(args["x"]))
