"""参考实现：把模型维度拆成多个头，再合并回去（NumPy，不需要复制）。

第 h 个头拥有最后一维的第 h*dh:(h+1)*dh 列，dh = D // num_heads
（PyTorch nn.MultiheadAttention 和所有 mhaquiz 练习的布局）。

Reference: splitting the model dimension into heads and merging them back (NumPy, no copies needed).

Head h owns columns h*dh:(h+1)*dh of the last axis, dh = D // num_heads (the layout of PyTorch's
nn.MultiheadAttention and of every mhaquiz exercise).
"""


def split_heads(x, num_heads):
    """(B, T, D) -> (B, H, T, dh)：第 h 个头取第 h*dh:(h+1)*dh 列。

    (B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    dh = D // num_heads
    return x.reshape(B, T, num_heads, dh).transpose(0, 2, 1, 3)  # (B, T, H, dh) -> (B, H, T, dh)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh)：split_heads 的精确逆操作（各头按顺序拼接）。

    (B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads (heads concatenated in order)."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)  # (B, T, H, dh) -> (B, T, D)
