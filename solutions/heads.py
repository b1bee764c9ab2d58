"""Reference: splitting the model dimension into heads and merging them back (NumPy, no copies needed).

Head h owns columns h*dh:(h+1)*dh of the last axis, dh = D // num_heads (the layout of PyTorch's
nn.MultiheadAttention and of every mhaquiz exercise).
"""


def split_heads(x, num_heads):
    """(B, T, D) -> (B, H, T, dh): head h takes columns h*dh:(h+1)*dh."""
    B, T, D = x.shape
    dh = D // num_heads
    return x.reshape(B, T, num_heads, dh).transpose(0, 2, 1, 3)  # (B, T, H, dh) -> (B, H, T, dh)


def merge_heads(x):
    """(B, H, T, dh) -> (B, T, H*dh): the exact inverse of split_heads (heads concatenated in order)."""
    B, H, T, dh = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)  # (B, T, H, dh) -> (B, T, D)
