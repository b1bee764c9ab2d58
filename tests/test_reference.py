"""The reference solutions are right: against element-wise finite differences, and against PyTorch."""

import copy

import numpy as np
import pytest

from mhaquiz.grader import inputs
from mhaquiz.grader.exercises import get_exercise

GRAD_KEYS = ("q", "k", "v") + inputs.PARAM_NAMES


@pytest.fixture(scope="module")
def forward():
    return get_exercise("mha_forward").reference().mha_forward


@pytest.fixture(scope="module")
def backward():
    return get_exercise("mha_backward").reference().mha_backward


def small_case(mask_kind):
    rng = np.random.default_rng(7)
    B, Tq, Tk, D, H = 2, 3, 4, 6, 2
    q, k, v = (rng.standard_normal((B, T, D)) for T in (Tq, Tk, Tk))
    mask = {None: None, "causal": np.tril(np.ones((Tq, Tk), bool), 1),
            "padding": inputs.padding_mask([4, 2], Tk)}[mask_kind]
    return q, k, v, inputs.mha_params(rng, D), H, mask


@pytest.mark.parametrize("mask_kind", [None, "causal", "padding"])
def test_backward_matches_elementwise_finite_differences(forward, backward, mask_kind):
    q, k, v, params, H, mask = small_case(mask_kind)
    d_out = np.random.default_rng(1).standard_normal((q.shape[0], q.shape[1], q.shape[2]))
    grads = backward(d_out, q, k, v, params, H, mask)
    values = {"q": q, "k": k, "v": v, **params}
    eps = 1e-6
    for key in GRAD_KEYS:
        numeric = np.zeros_like(values[key])
        for index in np.ndindex(values[key].shape):
            shifted = []
            for sign in (1, -1):
                moved = copy.deepcopy(values)
                moved[key][index] += sign * eps
                p = {name: moved[name] for name in inputs.PARAM_NAMES}
                shifted.append(np.sum(forward(moved["q"], moved["k"], moved["v"], p, H, mask) * d_out))
            numeric[index] = (shifted[0] - shifted[1]) / (2 * eps)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-6, atol=1e-8, err_msg=key)


def test_gradient_of_b_k_is_exactly_zero_in_theory_and_tiny_in_practice(backward):
    q, k, v, params, H, mask = small_case("causal")
    grads = backward(np.ones_like(q), q, k, v, params, H, mask)
    assert np.abs(grads["b_k"]).max() < 1e-12
    assert np.abs(grads["b_q"]).max() > 1e-3  # the neighbouring biases are not trivially zero


def test_reference_does_not_modify_inputs(forward, backward):
    q, k, v, params, H, mask = small_case("padding")
    before = copy.deepcopy((q, k, v, params, mask))
    forward(q, k, v, params, H, mask)
    backward(np.ones_like(q), q, k, v, params, H, mask)
    for old, new in zip(before[:3], (q, k, v)):
        np.testing.assert_array_equal(old, new)
    for name in params:
        np.testing.assert_array_equal(before[3][name], params[name])


def test_large_logits_stay_finite(forward):
    name, _, _, _, args = next(case for case in inputs.mha_cases(0) if case[0] == "large logits")
    assert np.isfinite(forward(*args.values())).all()


# --- PyTorch as an independent oracle -------------------------------------------------------------------

def torch_mha(torch, q, k, v, params, H, mask):
    """PyTorch's own MHA with our conventions translated: x @ W.T layout, and True = NOT allowed."""
    D = q.shape[-1]
    tensors = {name: torch.tensor(value, requires_grad=True) for name, value in
               {"q": q, "k": k, "v": v, **params}.items()}
    attn_mask = None
    if mask is not None:
        full = np.broadcast_to(mask, (q.shape[0], q.shape[1], k.shape[1]))
        attn_mask = torch.tensor(~full).repeat_interleave(H, dim=0)  # (B*H, Tq, Tk), True = masked out
    t = tensors
    out, _ = torch.nn.functional.multi_head_attention_forward(
        t["q"].transpose(0, 1), t["k"].transpose(0, 1), t["v"].transpose(0, 1), D, H,
        None, torch.cat([t["b_q"], t["b_k"], t["b_v"]]), None, None, False, 0.0, t["W_o"].T, t["b_o"],
        training=False, need_weights=False, attn_mask=attn_mask, use_separate_proj_weight=True,
        q_proj_weight=t["W_q"].T, k_proj_weight=t["W_k"].T, v_proj_weight=t["W_v"].T)
    return out.transpose(0, 1), tensors


@pytest.mark.parametrize("case_index", range(len(inputs.mha_cases(0))))
def test_reference_matches_pytorch_forward_and_autograd(forward, backward, case_index):
    torch = pytest.importorskip("torch")
    name, _, _, _, args = inputs.mha_cases(3)[case_index]
    q, k, v, params, H, mask = args.values()
    out, tensors = torch_mha(torch, q, k, v, params, H, mask)
    np.testing.assert_allclose(forward(q, k, v, params, H, mask), out.detach().numpy(), rtol=1e-9, atol=1e-9)
    d_out = np.random.default_rng(case_index).standard_normal(q.shape)
    (out * torch.tensor(d_out)).sum().backward()
    grads = backward(d_out, q, k, v, params, H, mask)
    scale = max(np.abs(tensor.grad.numpy()).max() for tensor in tensors.values())  # rounding grows with it
    for key in GRAD_KEYS:
        tensor = tensors[key]
        if key in ("k", "v") and k is q:  # self-attention: torch saw q, k, v as three leaves
            continue
        expected = tensor.grad.numpy()
        if k is q and key == "q":
            expected = sum(tensors[n].grad.numpy() for n in "qkv")
            got = grads["q"] + grads["k"] + grads["v"]
        else:
            got = grads[key]
        np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-11 * scale, err_msg=f"{name}: {key}")
