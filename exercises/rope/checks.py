"""Checks for rope: the half-split (rotate_half) pairing at given positions, against the classic RoPE mistakes.

The mutants patch the reference's helpers (inv_freq, cos_sin, rotate_half, rope); mha_rope_forward's reference
keeps the same helpers, so its checks reuse ROPE_MUTANTS.
"""

import numpy as np

from mhaquiz.grader.spec import Case, Mutant, Tolerance
from mhaquiz.i18n import Text

TOLERANCE = Tolerance()


def _text(zh, en):
    return Text(zh=zh, en=en)


# --- the classic mistakes, as patches of the reference's helpers -----------------------------------------

def _interleaved_cos_sin(ref):
    def cos_sin(positions, d, base):
        angles = np.asarray(positions)[..., None] * ref.inv_freq(d, base)  # (..., T, d/2)
        angles = np.repeat(angles, 2, axis=-1)  # (θ0, θ0, θ1, θ1, ...): pair j is dimensions 2j, 2j+1
        return np.cos(angles), np.sin(angles)

    return cos_sin


def _rotate_every_two(ref):
    def rotate_half(x):
        turned = np.empty(np.shape(x))
        turned[..., 0::2] = -x[..., 1::2]  # (x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...)
        turned[..., 1::2] = x[..., 0::2]
        return turned

    return rotate_half


def _inv_freq(rule):
    def factory(ref):
        def inv_freq(d, base):
            return rule(d, base)

        return inv_freq

    return factory


def _positions_from_zero(ref):
    def cos_sin(positions, d, base):
        return ref.cos_sin(np.arange(np.shape(positions)[-1]), d, base)  # 0 .. T-1, whatever was passed

    return cos_sin


def _sin_cos_swapped(ref):
    def cos_sin(positions, d, base):
        cos, sin = ref.cos_sin(positions, d, base)
        return sin, cos

    return cos_sin


def _rotate_half_flipped(ref):
    def rotate_half(x):
        half = x.shape[-1] // 2
        return np.concatenate([x[..., half:], -x[..., :half]], axis=-1)  # (x2, -x1): a turn by -m*theta

    return rotate_half


def _second_half_kept(ref):
    def rope(x, positions, base):
        half = x.shape[-1] // 2
        cos, sin = ref.cos_sin(positions, x.shape[-1], base)
        first = x[..., :half] * cos[..., :half] - x[..., half:] * sin[..., :half]  # x1 cos - x2 sin
        return np.concatenate([first, np.broadcast_to(x[..., half:], first.shape)], axis=-1)  # x2 left as it was

    return rope


ROPE_RELATED = ("pos-rope-qk-not-v", "pos-rope-relative")

ROPE_MUTANTS = (
    Mutant("pairs_interleaved",
           _text("维度配对用了交错式 (x_2i, x_2i+1)（RoFormer 论文和 Meta Llama 原版代码的约定），本题约定是前后两半 "
                 "(x_i, x_i+d/2)（Hugging Face rotate_half / GPT-NeoX）",
                 "pairs interleaved (x_2i, x_2i+1), the convention of the RoFormer paper and Meta's Llama code; ours "
                 "pairs the two halves (x_i, x_i+d/2) as Hugging Face's rotate_half and GPT-NeoX do"),
           patch={"cos_sin": _interleaved_cos_sin, "rotate_half": _rotate_every_two},
           related=("pos-rope-pairing",)),
    Mutant("exponent_i_over_d",
           _text("频率的指数写成了 i/d：θ_i = base^(-i/d)，应为 base^(-2i/d)（i = 0 .. d/2-1）",
                 "frequency exponent i/d: theta_i = base^(-i/d) instead of base^(-2i/d) (i = 0 .. d/2-1)"),
           patch={"inv_freq": _inv_freq(lambda d, base: base ** (-np.arange(d // 2) / d))},
           related=("pos-rope-theta", "pos-rope-wavelength")),
    Mutant("exponent_from_one",
           _text("频率下标从 1 开始：θ_i = base^(-2i/d)，i = 1 .. d/2（论文写的是 2(i-1)/d）：第一对不再以 1 弧度/位置旋转",
                 "frequency index started at 1: theta_i = base^(-2i/d), i = 1 .. d/2 (the paper has 2(i-1)/d): the "
                 "first pair no longer turns at 1 radian per position"),
           patch={"inv_freq": _inv_freq(lambda d, base: base ** (-np.arange(2, d + 2, 2) / d))},
           related=("pos-rope-theta",)),
    Mutant("base_ignored",
           _text("忽略了 base 参数，写死了 10000（Llama 3 用的是 500000）",
                 "the base argument ignored and 10000 hard-wired (Llama 3 uses 500000)"),
           patch={"inv_freq": _inv_freq(lambda d, base: 10000.0 ** (-np.arange(0, d, 2) / d))},
           related=("pos-rope-wavelength", "pos-ntk-base")),
    Mutant("positions_ignored",
           _text("没有用传入的 positions，而是用了 0 .. T-1：KV cache 的位置偏移被忘掉了",
                 "the positions argument ignored and 0 .. T-1 used: the position offset of a KV cache forgotten"),
           patch={"cos_sin": _positions_from_zero}, related=("pos-rope-relative", "eff-kv-cache-why")),
    Mutant("sin_cos_swapped",
           _text("cos 和 sin 用反了：x·sin + rotate_half(x)·cos（位置 0 时不再是恒等变换）",
                 "cos and sin swapped: x*sin + rotate_half(x)*cos (no longer the identity at position 0)"),
           patch={"cos_sin": _sin_cos_swapped}, related=ROPE_RELATED),
    Mutant("rotation_direction_flipped",
           _text("旋转方向反了（转了 -mθ）：rotate_half 写成了 (x2, -x1)，应为 (-x2, x1)",
                 "rotation direction flipped (a turn by -m*theta): rotate_half gave (x2, -x1) instead of (-x2, x1)"),
           patch={"rotate_half": _rotate_half_flipped}, related=ROPE_RELATED),
    Mutant("second_half_not_rotated",
           _text("只旋转了一半维度：前一半算成 x1·cos − x2·sin，后一半 x2 原样保留（漏了 x2·cos + x1·sin）",
                 "only half the dimensions rotated: the first half became x1*cos - x2*sin, the second half x2 was "
                 "left as it was (x2*cos + x1*sin forgotten)"),
           patch={"rope": _second_half_kept}, related=("pos-rope-pairing", "pos-rope-qk-not-v")),
)

MUTANTS = ROPE_MUTANTS


# --- cases ---------------------------------------------------------------------------------------------

# name, label, what it exposes, x shape, positions (an array), base
def _specs():
    return (
        ("one sequence", _text("单条序列", "one sequence"),
         _text("二维 x (T, d)，位置 0 .. T-1，base = 10000", "2-D x (T, d), positions 0 .. T-1, base 10000"),
         (6, 8), np.arange(6), 10000.0),
        ("batch and heads", _text("batch 加多头", "batch and heads"),
         _text("(B, H, T, d) 输入，d = 6（奇数个维度对），所有 batch 和头共享 positions (T,)",
               "(B, H, T, d) input with d = 6 (an odd number of pairs), positions (T,) shared by every batch and head"),
         (2, 3, 5, 6), np.arange(5), 10000.0),
        ("KV-cache offset", _text("KV cache 的位置偏移", "KV-cache offset"),
         _text("位置是 5 .. 12，不是从 0 开始：前 5 个 token 已经在 KV cache 里",
               "positions 5 .. 12, not from 0: the first 5 tokens are already in the KV cache"),
         (2, 2, 8, 4), np.arange(5, 13), 10000.0),
        ("per-sequence positions", _text("每条序列各自的位置", "per-sequence positions"),
         _text("positions 形状 (B, 1, T)：三条序列分别从 0、2、7 开始（左侧 padding 的 batch）",
               "positions of shape (B, 1, T): the three sequences start at 0, 2 and 7 (a left-padded batch)"),
         (3, 2, 4, 10), np.array([0, 2, 7])[:, None, None] + np.arange(4), 10000.0),
        ("large base", _text("更大的 base", "large base"),
         _text("base = 500000（Llama 3 的 rope_theta），位置 100 .. 104，d = 16",
               "base 500000 (Llama 3's rope_theta), positions 100 .. 104, d = 16"),
         (2, 5, 16), np.arange(100, 105), 500000.0),
        ("one far token", _text("远处的单个 token", "one far token"),
         _text("T = 1，位置 1000：相当于解码很长上下文中的一步", "T = 1 at position 1000: one decoding step deep into a context"),
         (2, 3, 1, 12), np.array([1000]), 10000.0),
    )


def make_cases(seed):
    cases = []
    for index, (name, label, about, shape, positions, base) in enumerate(_specs()):
        x = np.random.default_rng([seed, 130, index]).standard_normal(shape)
        cases.append(Case(name, about, "rope", {"x": x, "positions": positions, "base": base},
                          shapes=f"x {shape}, positions {positions.shape}, base={base:g}", label=label))
    return cases


def perf_case(seed):
    """(B, H, T, d) = (4, 8, 128, 64) at positions 0 .. 127, for the speed comparison with the reference."""
    x = np.random.default_rng([seed, 130, 1000]).standard_normal((4, 8, 128, 64))
    about = _text("(B, H, T, d) = (4, 8, 128, 64)", "(B, H, T, d) = (4, 8, 128, 64)")
    return Case("speed", about, "rope", {"x": x, "positions": np.arange(128), "base": 10000.0},
                shapes="x (4, 8, 128, 64), positions (128,)")


_AXES = {2: ("axis.position", "axis.feature"), 3: ("axis.batch", "axis.position", "axis.feature"),
         4: ("axis.batch", "axis.head", "axis.position", "axis.feature")}
_VIEW = _text("每个位置、每个特征维度的误差", "error per position and feature")


def error_map(case, name, got, expected):
    """|error| with its axes named: the last two are the position and the feature (the pair index shows there)."""
    if np.ndim(expected) not in _AXES:
        return None
    with np.errstate(all="ignore"):
        errors = np.abs(np.asarray(got, dtype=np.float64) - expected)
    return errors, _AXES[np.ndim(expected)], _VIEW


# --- the PyTorch track --------------------------------------------------------------------------------------



def torch_call(namespace, args, case):
    """A PyTorch submission on a case: RoPE(d, base), called on x with the case's positions (int64)."""
    import torch

    from mhaquiz.grader.torch_form import build, tensor

    module = build(namespace, "RoPE", args["x"].shape[-1], args["base"])
    with torch.no_grad():
        return module(tensor(args["x"]), tensor(np.asarray(args["positions"])))
