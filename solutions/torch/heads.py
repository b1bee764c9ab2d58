"""参考实现：拆头与合并头（PyTorch）/ Reference: splitting and merging attention heads (PyTorch).

第 h 个头拥有最后一维的第 h*dh:(h+1)*dh 列（nn.MultiheadAttention 的布局）。
Head h owns columns h*dh:(h+1)*dh of the last axis (the layout of nn.MultiheadAttention).
"""

import torch


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """拆头：(B, T, D) -> (B, H, T, dh) / split the heads: (B, T, D) -> (B, H, T, dh)."""
    B, T, D = x.shape
    return x.view(B, T, num_heads, D // num_heads).transpose(1, 2)  # (B, T, H, dh) -> (B, H, T, dh)，一个视图 / a view


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """合并各头，split_heads 的逆：(B, H, T, dh) -> (B, T, H*dh) / merge the heads, the inverse of split_heads."""
    B, H, T, dh = x.shape
    # transpose 之后不连续：用 reshape（必要时它会复制）/ not contiguous after transpose: reshape copies if needed
    return x.transpose(1, 2).reshape(B, T, H * dh)  # (B, T, H, dh) -> (B, T, D)
