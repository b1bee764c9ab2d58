"""In the style of PyTorch's own torch.nn.MultiheadAttention (https://github.com/pytorch/pytorch,
torch/nn/modules/activation.py), written for these tests; not copied: it simply calls the library module.

What is distinctive: the three input projections packed into one in_proj_weight of shape (3D, D) in
nn.Linear's (out, in) layout, plus out_proj; batch_first=True; a boolean attn_mask whose True means
"NOT allowed" (the opposite of ours), given per (batch, head) as (B * H, Tq, Tk), batch-major
(repeat_interleave over the heads). The backward is PyTorch autograd.

Expected: correct (forward and backward).
"""

import numpy as np
import torch


def _module(params, num_heads, d_model):
    module = torch.nn.MultiheadAttention(d_model, num_heads, bias=True, batch_first=True).double()
    with torch.no_grad():
        module.in_proj_weight.copy_(torch.from_numpy(np.concatenate([params["W_" + n].T for n in "qkv"])))
        module.in_proj_bias.copy_(torch.from_numpy(np.concatenate([params["b_" + n] for n in "qkv"])))
        module.out_proj.weight.copy_(torch.from_numpy(params["W_o"].T.copy()))
        module.out_proj.bias.copy_(torch.from_numpy(params["b_o"].copy()))
    return module


def _blocked(mask, q, k, num_heads):
    if mask is None:
        return None
    full = np.broadcast_to(mask, (q.shape[0], q.shape[1], k.shape[1]))
    return torch.from_numpy(~full).repeat_interleave(num_heads, dim=0)  # True = may NOT attend


def mha_forward(q, k, v, params, num_heads, mask=None):
    module = _module(params, num_heads, q.shape[-1])
    with torch.no_grad():
        out, _ = module(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                        attn_mask=_blocked(mask, q, k, num_heads), need_weights=False)
    return out.numpy()


def mha_backward(d_out, q, k, v, params, num_heads, mask=None):
    D = q.shape[-1]
    module = _module(params, num_heads, D)
    inputs = [torch.tensor(x, requires_grad=True) for x in (q, k, v)]
    out, _ = module(*inputs, attn_mask=_blocked(mask, q, k, num_heads), need_weights=False)
    (out * torch.tensor(d_out)).sum().backward()
    grads = {name: x.grad.numpy() for name, x in zip("qkv", inputs)}
    packed_w, packed_b = module.in_proj_weight.grad.numpy(), module.in_proj_bias.grad.numpy()
    for i, name in enumerate("qkv"):
        grads["W_" + name] = packed_w[i * D:(i + 1) * D].T.copy()
        grads["b_" + name] = packed_b[i * D:(i + 1) * D].copy()
    grads["W_o"] = module.out_proj.weight.grad.numpy().T.copy()
    grads["b_o"] = module.out_proj.bias.grad.numpy().copy()
    return grads
