"""参考实现：旋转位置编码（RoPE），NumPy（float64，无 Python 循环）。

约定：Hugging Face 的 Llama 和 GPT-NeoX 的对半拆分（rotate_half）配对方式：第 j 维与第 j + d/2 维
配对，第 j 对在位置 m 转过角度 m * theta_j，theta_j = base^(-2j/d)，j = 0 .. d/2-1（RoFormer，
arXiv 2104.09864，公式 15，同样的配对从 1 开始编号）。论文和 Meta 的 Llama 代码配对的是相邻维度
(2j, 2j+1)：旋转相同，只是作用在维度的一个置换上。

Reference: rotary position embedding (RoPE) in NumPy (float64, no Python loops).

Convention: the half-split ("rotate_half") pairing of Hugging Face's Llama and GPT-NeoX: dimension j is paired
with dimension j + d/2, and pair j turns by the angle m * theta_j at position m, theta_j = base^(-2j/d),
j = 0 .. d/2-1 (RoFormer, arXiv 2104.09864, eq. 15, counts the same pairs from 1). The paper and Meta's Llama
code pair adjacent dimensions (2j, 2j+1) instead: the same rotation, applied to a permutation of the dimensions.
"""

import numpy as np


def inv_freq(d, base):
    """theta_j = base^(-2j/d)，j = 0 .. d/2-1：形状 (d/2,)，从 1 递减到接近 1/base。

    theta_j = base^(-2j/d) for j = 0 .. d/2-1: shape (d/2,), from 1 down to nearly 1/base."""
    return base ** (-np.arange(0, d, 2) / d)  # (d/2,)


def cos_sin(positions, d, base):
    """角度 m * theta_j 的 cos 和 sin，形状都是 (..., T, d)：第 j 维和第 j + d/2 维共用第 j 个角度。

    cos and sin of the angles m * theta_j, each (..., T, d): dimensions j and j + d/2 share angle j."""
    angles = np.asarray(positions)[..., None] * inv_freq(d, base)  # (..., T, 1) * (d/2,) -> (..., T, d/2)
    # (..., T, d)：前后两半一起转
    angles = np.concatenate([angles, angles], axis=-1)  # (..., T, d): the two halves turn together
    return np.cos(angles), np.sin(angles)


def rotate_half(x):
    """在最后一维的前后两半上做 (x1, x2) -> (-x2, x1)：把每一对转 90 度。

    (x1, x2) -> (-x2, x1) on the two halves of the last axis: the 90-degree turn of every pair."""
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)  # (..., T, d)


def rope(x, positions, base):
    """在整数位置 (T,) 或 (..., T) 上旋转 x (..., T, d)；返回一个新的 (..., T, d) 数组。

    在位置 m，维度对 (x_j, x_{j+d/2}) 变成
    (x_j cos(m theta_j) - x_{j+d/2} sin(m theta_j), x_{j+d/2} cos(m theta_j) + x_j sin(m theta_j))。

    Rotate x (..., T, d) at integer positions (T,) or (..., T); returns a new (..., T, d) array.

    Pair (x_j, x_{j+d/2}) at position m becomes
    (x_j cos(m theta_j) - x_{j+d/2} sin(m theta_j), x_{j+d/2} cos(m theta_j) + x_j sin(m theta_j)).
    """
    d = x.shape[-1]
    assert d % 2 == 0, "RoPE needs an even feature size"
    cos, sin = cos_sin(positions, d, base)  # (..., T, d) each
    return x * cos + rotate_half(x) * sin  # (..., T, d)
