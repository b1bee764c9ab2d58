"""The PyTorch forms of the norms, RoPE, the LM loss, online softmax and SwiGLU: written differently they pass,
their classic mistakes written in PyTorch are named as the NumPy catalogue names them, the library's own op is
refused with its line, and the references agree with torch's own ops and with autograd.

Numbers are checked in-process (tests/helpers.py runs a submission as a runner would). Every reference passing
and every stub being not_implemented is tests/test_torch_track.py's (it picks these exercises up by itself).
"""

import ast

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install 'mhaquiz[torch]'")

from mhaquiz.grader.exercises import get_exercise  # noqa: E402
from mhaquiz.grader.grade import _banned_call, grade_file  # noqa: E402
from mhaquiz.grader.verdict import Verdict  # noqa: E402
from mhaquiz.paths import content_dir  # noqa: E402
from tests.helpers import judge_source, with_edits, write  # noqa: E402

F = torch.nn.functional
MINE = ("layer_norm", "layer_norm_backward", "rms_norm", "rms_norm_backward", "rope", "cross_entropy",
        "online_softmax", "swiglu_ffn", "swiglu_ffn_backward")


def torch_reference(exercise_id: str) -> str:
    return (content_dir("solutions") / "torch" / f"{exercise_id}.py").read_text(encoding="utf-8")


def reference_namespace(exercise_id: str) -> dict:
    namespace = {}
    exec(compile(torch_reference(exercise_id), f"{exercise_id}.py", "exec"), namespace)
    return namespace


def named_mistakes(report) -> list:
    return [item.mistake for item in report.exercises[0].diagnosis
            if item.mistake not in ("precision", "missing_outputs")]


def failing_problems(report) -> set:
    return {check.problem for case in report.exercises[0].cases for check in case.outputs if not check.passed}


def test_each_exercise_has_its_torch_form():
    for exercise_id in MINE:
        assert "torch" in get_exercise(exercise_id).tracks, exercise_id


@pytest.mark.parametrize("exercise_id", MINE)
def test_no_chinese_torch_prompt_renders_with_a_stray_space(exercise_id):
    import re

    from tests.test_i18n import CJK, CJK_PUNCTUATION, bad_spaces

    prose = re.sub(r"```.*?```", "", get_exercise(exercise_id).prompt_for("zh", "torch"), flags=re.S)
    lines = [line.strip() for line in prose.splitlines() if not line.strip().startswith("|")]
    soft = re.findall(f"[{CJK}]\\n[ \\t]*[{CJK}]|[{CJK_PUNCTUATION}]\\n[ \\t]*[^\\s\\-*+>|#\\d]", prose)
    assert [bad_spaces(line) for line in lines if bad_spaces(line)] == [] and soft == []
    assert "（" in prose and "：" in prose  # written with full-width punctuation


# --- written differently: other names, layers in another order, random init, fused layers, loops ------------

LAYER_NORM_ANNOTATED = '''
import torch
import torch.nn as nn

class LayerNorm(nn.Module):
    """The Annotated Transformer's names (a_2, b_2), with the biased variance and eps inside the root."""

    def __init__(self, features, eps=1e-6):
        super().__init__()
        torch.manual_seed(7)
        self.b_2 = nn.Parameter(torch.randn(features))  # created first, randomly: loaded by name anyway
        self.a_2 = nn.Parameter(torch.randn(features))
        self.eps = eps

    def forward(self, x):
        xc = x - x.mean(-1, keepdim=True)
        return self.a_2 * xc * torch.rsqrt(xc.pow(2).mean(-1, keepdim=True) + self.eps) + self.b_2
'''

LAYER_NORM_GAMMA_BETA = '''
import torch
from torch import nn

class LayerNorm(nn.Module):
    def __init__(self, d, eps=1e-5):
        super().__init__()
        self.beta = nn.Parameter(torch.full((d,), 3.0))
        self.gamma = nn.Parameter(torch.full((d,), -2.0))
        self.eps = eps

    def forward(self, x):
        centred = x - x.mean(-1, keepdim=True)
        std = torch.sqrt(centred.var(-1, keepdim=True, unbiased=False) + self.eps)
        return self.gamma * (centred / std) + self.beta
'''

LAYER_NORM_BACKWARD_SUMS = '''
import torch

class LayerNormFunction(torch.autograd.Function):
    """Saves x and recomputes; the textbook form with sums and one division by D * std."""

    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        ctx.eps = eps
        ctx.save_for_backward(x, weight)
        xc = x - x.mean(-1, keepdim=True)
        return xc / torch.sqrt((xc * xc).mean(-1, keepdim=True) + eps) * weight + bias

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        D = x.shape[-1]
        xc = x - x.mean(-1, keepdim=True)
        std = torch.sqrt((xc * xc).mean(-1, keepdim=True) + ctx.eps)
        xhat = xc / std
        dxhat = grad_out * weight
        dx = (D * dxhat - dxhat.sum(-1, keepdim=True) - xhat * (dxhat * xhat).sum(-1, keepdim=True)) / (D * std)
        lead = tuple(range(x.dim() - 1))
        dw = (grad_out * xhat).sum(dim=lead) if lead else grad_out * xhat
        db = grad_out.sum(dim=lead) if lead else grad_out
        return dx, dw, db, None
'''

RMS_NORM_SCALE = '''
import torch
from torch import nn

class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-6):
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.zeros(dim))  # named scale, starting at 0

    def forward(self, x):
        rms = torch.sqrt(torch.mean(x ** 2, dim=-1, keepdim=True) + self.eps)
        return self.scale * (x / rms)
'''

RMS_NORM_NORM = '''
import math
import torch
import torch.nn as nn

class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.d, self.eps = d_model, eps
        self.g = nn.Parameter(torch.randn(d_model))

    def forward(self, x):
        ms = x.norm(dim=-1, keepdim=True) ** 2 / self.d  # the L2 norm squared over D is mean(x^2)
        return x / torch.sqrt(ms + self.eps) * self.g
'''

RMS_NORM_BACKWARD_CUBED = '''
import torch

class RMSNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        r = (x.pow(2).mean(-1, keepdim=True) + eps) ** -0.5
        ctx.save_for_backward(x, weight, r)
        return x * r * weight

    @staticmethod
    def backward(ctx, d_y):
        x, weight, r = ctx.saved_tensors
        g = d_y * weight
        d_x = r * g - x * r ** 3 * (g * x).mean(-1, keepdim=True)  # the same as r * (g - x_hat * mean(g * x_hat))
        d_w = (d_y * x * r).flatten(0, -2).sum(0) if x.dim() > 1 else d_y * x * r
        return d_x, d_w, None
'''

ROPE_HUGGING_FACE = '''
import torch
from torch import nn

def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)

class RoPE(nn.Module):
    def __init__(self, dim, base=10000.0):
        super().__init__()
        self.dim, self.base = dim, base

    def forward(self, x, positions):
        inv_freq = 1.0 / (self.base ** (torch.arange(0, self.dim, 2, dtype=torch.float64) / self.dim))
        freqs = torch.einsum("...t,f->...tf", positions.double(), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        return (x * emb.cos()) + (rotate_half(x) * emb.sin())
'''

ROPE_PAIR_LOOP = '''
import torch
from torch import nn

class RoPE(nn.Module):
    def __init__(self, head_dim, base=10000.0):
        super().__init__()
        self.h, self.base = head_dim // 2, float(base)

    def forward(self, x, positions):
        m = positions.to(torch.float64)
        first, second = [], []
        for j in range(self.h):  # one pair at a time: (x_j, x_{j+h})
            angle = m * self.base ** (-2.0 * j / (2 * self.h))
            c, s = torch.cos(angle), torch.sin(angle)
            a, b = x[..., j], x[..., j + self.h]
            first.append(a * c - b * s)
            second.append(b * c + a * s)
        return torch.stack(first + second, dim=-1)
'''

CROSS_ENTROPY_FLAT = '''
import torch

def lm_loss(logits, tokens, ignore_index=-100):
    B, T, V = logits.shape
    z = logits[:, :-1].reshape(-1, V)
    y = tokens[:, 1:].reshape(-1)
    keep = y != ignore_index
    n = int(keep.sum())
    zk, yk = z[keep], y[keep]
    m = zk.max(dim=-1, keepdim=True).values
    lse = m.squeeze(-1) + torch.log(torch.exp(zk - m).sum(-1))
    rows = torch.arange(n)
    loss = (lse - zk[rows, yk]).sum() / n
    p = torch.exp(zk - lse[:, None])
    p[rows, yk] -= 1.0
    d = torch.zeros_like(z)
    d[keep] = p / n
    d_logits = torch.zeros_like(logits)
    d_logits[:, :-1] = d.view(B, T - 1, V)
    return {"loss": loss, "perplexity": float(torch.exp(loss)), "d_logits": d_logits}
'''

ONLINE_SOFTMAX_SPLIT = '''
import torch

def online_softmax(x, block_size):
    m = x.new_full(x.shape[:-1], float("-inf"))
    l = x.new_zeros(x.shape[:-1])
    for block in x.split(block_size, dim=-1):
        m_new = torch.maximum(m, block.max(dim=-1).values)
        ref = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)
        l = l * torch.exp(m - ref) + torch.exp(block - ref[..., None]).sum(-1)
        m = m_new
    return torch.exp(x - m[..., None]) / l[..., None], m, l
'''

SWIGLU_HUGGING_FACE = '''
import torch
from torch import nn

class SwiGLUFFN(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        torch.manual_seed(99)
        self.down_proj = nn.Linear(d_ff, d_model)  # created first, and with biases: the grader zeroes them
        self.up_proj = nn.Linear(d_model, d_ff)
        self.gate_proj = nn.Linear(d_model, d_ff)

    def forward(self, x):
        z = self.gate_proj(x)
        return self.down_proj(z * torch.sigmoid(z) * self.up_proj(x))
'''

SWIGLU_FUSED = '''
import torch.nn.functional as F
from torch import nn

class SwiGLUFFN(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.gate_up_proj = nn.Linear(d_model, 2 * d_ff, bias=False)  # Phi-3: the gate's half first
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x):
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)
'''

SWIGLU_BARE = '''
import torch
from torch import nn

class SwiGLUFFN(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(d_model, d_ff))  # the contract's layout: x @ W1
        self.W2 = nn.Parameter(torch.randn(d_ff, d_model))
        self.W3 = nn.Parameter(torch.randn(d_model, d_ff))

    def forward(self, x):
        a = x @ self.W1
        return (torch.nn.functional.silu(a) * (x @ self.W3)) @ self.W2
'''

SWIGLU_BACKWARD_RECOMPUTE = '''
import torch

class SwiGLUFunction(torch.autograd.Function):
    """Saves only the inputs and recomputes in backward; einsum for the weight gradients."""

    @staticmethod
    def forward(ctx, x, W1, W2, W3):
        ctx.save_for_backward(x, W1, W2, W3)
        return (torch.nn.functional.silu(x @ W1) * (x @ W3)) @ W2

    @staticmethod
    def backward(ctx, d_y):
        x, W1, W2, W3 = ctx.saved_tensors
        a, b = x @ W1, x @ W3
        sig = torch.sigmoid(a)
        silu = a * sig
        dh = d_y @ W2.T
        da = dh * b * sig * (1 + a - a * sig)
        db = dh * silu
        dW1 = torch.einsum("...d,...f->df", x, da)
        dW3 = torch.einsum("...d,...f->df", x, db)
        dW2 = torch.einsum("...f,...d->fd", silu * b, d_y)
        return da @ W1.T + db @ W3.T, dW1, dW2, dW3
'''

WRITTEN_DIFFERENTLY = {
    "layer_norm: Annotated Transformer names a_2/b_2": ("layer_norm", LAYER_NORM_ANNOTATED),
    "layer_norm: gamma/beta, created in another order": ("layer_norm", LAYER_NORM_GAMMA_BETA),
    "layer_norm_backward: saves x, sums": ("layer_norm_backward", LAYER_NORM_BACKWARD_SUMS),
    "rms_norm: scale": ("rms_norm", RMS_NORM_SCALE),
    "rms_norm: g, through the L2 norm": ("rms_norm", RMS_NORM_NORM),
    "rms_norm_backward: r cubed": ("rms_norm_backward", RMS_NORM_BACKWARD_CUBED),
    "rope: Hugging Face rotate_half": ("rope", ROPE_HUGGING_FACE),
    "rope: a loop over pairs": ("rope", ROPE_PAIR_LOOP),
    "cross_entropy: flattened, counted rows only": ("cross_entropy", CROSS_ENTROPY_FLAT),
    "online_softmax: split": ("online_softmax", ONLINE_SOFTMAX_SPLIT),
    "swiglu_ffn: gate_proj/up_proj/down_proj with biases": ("swiglu_ffn", SWIGLU_HUGGING_FACE),
    "swiglu_ffn: fused gate_up_proj": ("swiglu_ffn", SWIGLU_FUSED),
    "swiglu_ffn: bare W1/W2/W3": ("swiglu_ffn", SWIGLU_BARE),
    "swiglu_ffn_backward: recomputes, einsum": ("swiglu_ffn_backward", SWIGLU_BACKWARD_RECOMPUTE),
}


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("name", sorted(WRITTEN_DIFFERENTLY))
def test_a_submission_written_differently_passes(name, seed):
    exercise_id, source = WRITTEN_DIFFERENTLY[name]
    report = judge_source(exercise_id, source, "torch", seed)
    assert report.verdict == Verdict.PASSED, (failing_problems(report), report.detail and report.detail.text("en"))


def test_every_exercise_has_a_submission_written_differently():
    assert {exercise_id for exercise_id, _ in WRITTEN_DIFFERENTLY.values()} == set(MINE)


# --- parameters that cannot be matched are listed, not a traceback ------------------------------------------

def test_a_layer_norm_made_without_a_bias_gets_its_parameters_listed():
    source = with_edits(torch_reference("layer_norm"), ("self.bias = nn.Parameter(torch.zeros(d_model))", "pass"),
                        (" + self.bias", ""))
    report = judge_source("layer_norm", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error
    assert error["type"] == "ParameterMismatch"
    assert "no parameter for bias (beta)" in error["message"] and "weight (6,)" in error["message"]


def test_a_swiglu_whose_layers_have_other_names_gets_its_parameters_listed():
    source = with_edits(torch_reference("swiglu_ffn"), ("self.w1", "self.fc1"), ("self.w3", "self.fc3"),
                        ("self.w2", "self.fc2"))
    report = judge_source("swiglu_ffn", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error
    assert error["type"] == "ParameterMismatch"
    assert "no layer for W1, W3, W2" in error["message"]
    assert "fc1.weight (16, 6)" in error["message"] and "W1 / w1 (6, 16)" in error["message"]


# --- mistakes: the NumPy catalogue names them in the PyTorch track too -------------------------------------

TORCH_BUGS = {
    "layer_norm": {
        # torch.var() is unbiased by default: the classic PyTorch slip
        "unbiased_variance": [("((x - mean) ** 2).mean(dim=-1, keepdim=True)", "x.var(dim=-1, keepdim=True)")],
        "eps_outside_sqrt": [("torch.sqrt(var + self.eps)", "(torch.sqrt(var) + self.eps)")],
        "eps_hardwired": [("torch.sqrt(var + self.eps)", "torch.sqrt(var + 1e-5)")],
        "stats_over_all_axes": [("x.mean(dim=-1, keepdim=True)", "x.mean()"),
                                ("((x - mean) ** 2).mean(dim=-1, keepdim=True)", "((x - mean) ** 2).mean()")],
        "stats_over_axis_0": [("x.mean(dim=-1, keepdim=True)", "x.mean(dim=0, keepdim=True)"),
                              ("((x - mean) ** 2).mean(dim=-1, keepdim=True)", "((x - mean) ** 2).mean(dim=0, keepdim=True)")],
        "one_pass_variance": [("((x - mean) ** 2).mean(dim=-1, keepdim=True)",
                               "(x * x).mean(dim=-1, keepdim=True) - mean ** 2")],
        "gamma_beta_swapped": [("x_hat * self.weight + self.bias", "x_hat * self.bias + self.weight")],
    },
    "layer_norm_backward": {
        "dx_stats_as_constants": [("d_x = r * (g - mean_g - x_hat * mean_gx)", "d_x = r * g")],
        "dx_mean_as_constant": [("d_x = r * (g - mean_g - x_hat * mean_gx)", "d_x = r * (g - x_hat * mean_gx)")],
        "dx_var_as_constant": [("d_x = r * (g - mean_g - x_hat * mean_gx)", "d_x = r * (g - mean_g)")],
        "dx_without_gamma": [("g = d_y * weight", "g = d_y")],
        "dx_sums_instead_of_means": [("g.mean(dim=-1, keepdim=True)", "g.sum(dim=-1, keepdim=True)"),
                                     ("(g * x_hat).mean(dim=-1, keepdim=True)", "(g * x_hat).sum(dim=-1, keepdim=True)")],
        "unbiased_variance": [("((x - mean) ** 2).mean(dim=-1, keepdim=True)", "x.var(dim=-1, keepdim=True)")],
    },
    "rms_norm": {
        "eps_outside_sqrt": [("x * torch.rsqrt(mean_square + self.eps)", "x / (torch.sqrt(mean_square) + self.eps)")],
        "gamma_plus_one": [("* self.weight", "* (1 + self.weight)")],  # Gemma's convention
        "variance_instead_of_mean_square": [("x.pow(2).mean(dim=-1, keepdim=True)",
                                             "x.var(dim=-1, keepdim=True, correction=0)")],
        "sum_instead_of_mean": [("x.pow(2).mean(dim=-1, keepdim=True)", "x.pow(2).sum(dim=-1, keepdim=True)")],
        "no_sqrt": [("torch.rsqrt(mean_square + self.eps)", "1 / (mean_square + self.eps)")],
        "eps_hardwired": [("mean_square + self.eps", "mean_square + 1e-6")],
    },
    "rms_norm_backward": {
        "dx_rms_as_constant": [("d_x = r * (g - x_hat * mean_gx)", "d_x = r * g")],
        "dx_layer_norm_style": [("d_x = r * (g - x_hat * mean_gx)",
                                 "d_x = r * (g - g.mean(dim=-1, keepdim=True) - x_hat * mean_gx)")],
        "dx_without_gamma": [("g = d_y * weight", "g = d_y")],
        "dx_sum_instead_of_mean": [("(g * x_hat).mean(dim=-1, keepdim=True)", "(g * x_hat).sum(dim=-1, keepdim=True)")],
        "eps_outside_sqrt": [("torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps)",
                              "1 / (x.pow(2).mean(dim=-1, keepdim=True).sqrt() + eps)")],
    },
    "rope": {
        # Meta's original Llama: adjacent pairs as complex numbers
        "pairs_interleaved": [("angles = torch.cat((angles, angles), dim=-1)", "pass"),
                              ("return x * angles.cos() + self.rotate_half(x) * angles.sin()",
                               "turned = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())"
                               " * torch.polar(torch.ones_like(angles), angles)\n"
                               "        return torch.view_as_real(turned).flatten(-2)")],
        "rotation_direction_flipped": [("torch.cat((-x2, x1), dim=-1)", "torch.cat((x2, -x1), dim=-1)")],
        "positions_ignored": [("positions[..., None]", "torch.arange(x.shape[-2])[..., None]")],
        "base_ignored": [("inv_freq = base **", "inv_freq = 10000.0 **")],
        "sin_cos_swapped": [("x * angles.cos() + self.rotate_half(x) * angles.sin()",
                             "x * angles.sin() + self.rotate_half(x) * angles.cos()")],
        "exponent_i_over_d": [("torch.arange(0, head_dim, 2, dtype=torch.float64)",
                               "torch.arange(0, head_dim // 2, dtype=torch.float64)")],
    },
    "cross_entropy": {
        "ignored_in_denominator": [("/ counted.sum()", "/ counted.numel()")],
        "per_sequence_mean": [("/ counted.sum()", "/ counted.sum(dim=1, keepdim=True) / B")],
        "logsumexp_without_max": [("shifted = pred - pred.amax(dim=-1, keepdim=True)", "shifted = pred")],
        "log_of_stable_softmax": [("log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=-1, keepdim=True))",
                                   "log_probs = torch.log(torch.exp(shifted) / torch.exp(shifted).sum(-1, keepdim=True))")],
        "gradient_without_one_hot": [("(torch.exp(log_probs) - one_hot)", "torch.exp(log_probs)")],
        "gradient_sign_flipped": [("(torch.exp(log_probs) - one_hot)", "(one_hot - torch.exp(log_probs))")],
        "gradient_not_averaged": [("d_pred = weights.unsqueeze(-1)", "d_pred = counted.unsqueeze(-1)")],
        "perplexity_base_2": [('"perplexity": torch.exp(loss)', '"perplexity": 2 ** loss')],
    },
    "online_softmax": {
        "sum_not_rescaled": [("l = l * torch.exp(m - shift) + ", "l = l + ")],
        "rescale_sign_flipped": [("torch.exp(m - shift)",
                                  "torch.where(torch.isneginf(m), torch.zeros_like(m), torch.exp(shift - m))")],
        "block_max_only": [("m_new = torch.maximum(m, block.amax(dim=-1))", "m_new = block.amax(dim=-1)")],
        "neg_inf_block_nan": [("shift = safe_max(m_new)", "shift = m_new")],
    },
    "swiglu_ffn": {
        "gate_and_up_swapped": [("F.silu(self.w1(x)) * self.w3(x)", "self.w1(x) * F.silu(self.w3(x))")],
        "relu_instead_of_silu": [("F.silu(", "F.relu(")],
        "gelu_instead_of_silu": [("F.silu(self.w1(x))", 'F.gelu(self.w1(x), approximate="tanh")')],
        "sigmoid_instead_of_silu": [("F.silu(", "F.sigmoid(")],
        "up_projection_missing": [("F.silu(self.w1(x)) * self.w3(x)", "F.silu(self.w1(x))")],
        "silu_after_product": [("F.silu(self.w1(x)) * self.w3(x)", "F.silu(self.w1(x) * self.w3(x))")],
        "sigmoid_overflow": [("F.silu(self.w1(x))",  # a hand-written sigmoid: exp(z) / (1 + exp(z))
                              "self.w1(x) * self.w1(x).exp() / (1 + self.w1(x).exp())")],
    },
    "swiglu_ffn_backward": {
        "silu_grad_sigmoid_only": [("da = dh * b * s * (1 + a * (1 - s))", "da = dh * b * s")],
        "silu_grad_is_sigmoid_grad": [("s * (1 + a * (1 - s))", "s * (1 - s)")],
        "dx_gate_path_only": [("d_x = da @ W1.T + db @ W3.T", "d_x = da @ W1.T")],
        "weight_grads_averaged": [("return d_x, d_W1, d_W2, d_W3",
                                   "return d_x, d_W1 / len(rows), d_W2 / len(rows), d_W3 / len(rows)")],
        "gate_and_up_swapped": [("a = x @ W1", "a = x @ W3"), ("b = x @ W3", "b = x @ W1"),
                                ("d_x = da @ W1.T + db @ W3.T", "d_x = da @ W3.T + db @ W1.T"),
                                ("d_W1 = rows.T @ da", "d_W1 = rows.T @ db"),
                                ("d_W3 = rows.T @ db", "d_W3 = rows.T @ da")],
    },
}
BUG_CASES = [(exercise_id, mutant) for exercise_id in MINE for mutant in sorted(TORCH_BUGS[exercise_id])]


@pytest.mark.parametrize("exercise_id, mutant", BUG_CASES, ids=[f"{e}:{m}" for e, m in BUG_CASES])
def test_a_classic_mistake_written_in_pytorch_is_named_as_itself(exercise_id, mutant):
    assert mutant in {m.id for m in get_exercise(exercise_id).checks().MUTANTS}  # the NumPy catalogue's id
    source = with_edits(torch_reference(exercise_id), *TORCH_BUGS[exercise_id][mutant])
    report = judge_source(exercise_id, source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER, report.verdict
    assert named_mistakes(report) == [mutant]


def test_every_exercise_has_three_classic_mistakes_written_in_pytorch():
    assert all(len(TORCH_BUGS[exercise_id]) >= 3 for exercise_id in MINE)


# --- PyTorch's own classics ---------------------------------------------------------------------------------

def test_view_after_slicing_the_logits_is_a_runtime_error_explained():
    # logits[:, :-1] is not contiguous: Hugging Face calls .contiguous() before .view for this reason
    source = with_edits(torch_reference("cross_entropy"),
                        ("shifted = pred - pred.amax(dim=-1, keepdim=True)",
                         "pred = pred.view(-1, V).view(B, T - 1, V)\n"
                         "    shifted = pred - pred.amax(dim=-1, keepdim=True)"))
    report = judge_source("cross_entropy", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error
    assert error["type"] == "RuntimeError" and "view" in error["message"]


PRECISION_SLIPS = {
    # Hugging Face's LlamaRMSNorm: float32 inside, cast back
    "rms_norm: computed in float32 and cast back": ("rms_norm", [
        ("mean_square = x.pow(2).mean(dim=-1, keepdim=True)",
         "dtype, x = x.dtype, x.float()\n        mean_square = x.pow(2).mean(dim=-1, keepdim=True)"),
        ("return x * torch.rsqrt(mean_square + self.eps) * self.weight",
         "return (x * torch.rsqrt(mean_square + self.eps)).to(dtype) * self.weight")]),
    # Hugging Face's RotaryEmbedding: inv_freq = 1 / base ** (torch.arange(0, dim, 2).float() / dim)
    "rope: float32 inv_freq": ("rope", [("dtype=torch.float64) / head_dim", "dtype=torch.float32) / head_dim")]),
    # a boolean mask divided by an integer count is float32
    "cross_entropy: float32 weights": ("cross_entropy", [("counted.to(logits.dtype) / counted.sum()",
                                                          "counted / counted.sum()")]),
    "layer_norm: float32 parameters": ("layer_norm", [("x_hat * self.weight + self.bias",
                                                       "x_hat * self.weight.float() + self.bias.float()")]),
}


@pytest.mark.parametrize("name", sorted(PRECISION_SLIPS))
def test_a_float32_slip_is_a_precision_finding_not_a_mistake(name):
    exercise_id, edits = PRECISION_SLIPS[name]
    report = judge_source(exercise_id, with_edits(torch_reference(exercise_id), *edits), "torch")
    assert report.verdict == Verdict.WRONG_ANSWER
    assert failing_problems(report) == {"precision"}
    assert named_mistakes(report) == []


def test_torch_var_is_one_welford_pass_a_precision_finding_on_the_large_offset_only():
    # torch.var(unbiased=False) is stable but one pass (Welford's update): about 1e-9 off on features near 1.2e7,
    # as the torch prompt of layer_norm says; on every other case it is as good as the two passes
    source = with_edits(torch_reference("layer_norm"), ("((x - mean) ** 2).mean(dim=-1, keepdim=True)",
                                                        "x.var(dim=-1, keepdim=True, unbiased=False)"))
    report = judge_source("layer_norm", source, "torch")
    assert [case.name for case in report.exercises[0].cases if case.verdict != Verdict.PASSED] == ["large offset"]
    assert failing_problems(report) == {"precision"} and named_mistakes(report) == []


# --- what the interview forbids --------------------------------------------------------------------------

BANNED_SOURCES = {
    "layer_norm: F.layer_norm": ("layer_norm", '''
import torch
import torch.nn.functional as F
from torch import nn

class LayerNorm(nn.Module):
    def __init__(self, d_model, eps=1e-5):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(d_model)), nn.Parameter(torch.zeros(d_model)), eps

    def forward(self, x):
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)  # <-
''', "layer_norm"),
    "layer_norm: imported nn.LayerNorm": ("layer_norm", '''
import torch
from torch.nn import LayerNorm as TorchLayerNorm  # <-

class LayerNorm(TorchLayerNorm):
    pass
''', "LayerNorm"),
    "layer_norm_backward: autograd in backward": ("layer_norm_backward", '''
import torch

class LayerNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, eps):
        ctx.save_for_backward(x, weight, bias)
        ctx.eps = eps
        mean = x.mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + eps) * weight + bias

    @staticmethod
    def backward(ctx, d_y):
        x, weight, bias = (t.detach().requires_grad_() for t in ctx.saved_tensors)
        mean = x.mean(-1, keepdim=True)
        y = (x - mean) / torch.sqrt(((x - mean) ** 2).mean(-1, keepdim=True) + ctx.eps) * weight + bias
        return (*torch.autograd.grad(y, (x, weight, bias), d_y), None)  # <-
''', "grad() in backward"),
    "rms_norm: F.rms_norm": ("rms_norm", '''
import torch
from torch import nn

class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d_model)), eps

    def forward(self, x):
        return torch.nn.functional.rms_norm(x, (x.shape[-1],), self.weight, self.eps)  # <-
''', "rms_norm"),
    "rms_norm: nn.RMSNorm": ("rms_norm", '''
from torch import nn

class RMSNorm(nn.Module):
    def __init__(self, d_model, eps=1e-6):
        super().__init__()
        self.norm = nn.RMSNorm(d_model, eps=eps)  # <-

    def forward(self, x):
        return self.norm(x)
''', "RMSNorm"),
    "rms_norm_backward: .backward() in backward": ("rms_norm_backward", '''
import torch

class RMSNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, eps):
        ctx.save_for_backward(x, weight)
        ctx.eps = eps
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight

    @staticmethod
    def backward(ctx, d_y):
        x, weight = (t.detach().requires_grad_() for t in ctx.saved_tensors)
        (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + ctx.eps) * weight).backward(d_y)  # <-
        return x.grad, weight.grad, None
''', "backward() in backward"),
    "rope: torchtune's RotaryPositionalEmbeddings": ("rope", '''
import torchtune
from torch import nn

class RoPE(nn.Module):
    def __init__(self, head_dim, base=10000.0):
        super().__init__()
        self.inner = torchtune.modules.RotaryPositionalEmbeddings(head_dim, base=base)  # <-
''', "RotaryPositionalEmbeddings"),
    "cross_entropy: F.cross_entropy": ("cross_entropy", '''
import torch
import torch.nn.functional as F

def lm_loss(logits, tokens, ignore_index=-100):
    V = logits.shape[-1]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1), ignore_index=ignore_index)  # <-
    return {"loss": loss, "perplexity": loss.exp(), "d_logits": torch.zeros_like(logits)}
''', "cross_entropy"),
    "cross_entropy: the gradient by autograd": ("cross_entropy", '''
import torch

def lm_loss(logits, tokens, ignore_index=-100):
    logits = logits.detach().requires_grad_()
    z, y = logits[:, :-1], tokens[:, 1:]
    keep = y != ignore_index
    m = z.amax(-1, keepdim=True)
    logp = z - m - torch.log(torch.exp(z - m).sum(-1, keepdim=True))
    nll = -logp.gather(-1, y.masked_fill(~keep, 0)[..., None])[..., 0]
    loss = (nll * keep).sum() / keep.sum()
    loss.backward()  # <-
    return {"loss": loss.detach(), "perplexity": loss.detach().exp(), "d_logits": logits.grad}
''', "backward"),
    "cross_entropy: torch.logsumexp": ("cross_entropy", '''
import torch

def lm_loss(logits, tokens, ignore_index=-100):
    lse = torch.logsumexp(logits[:, :-1], dim=-1)  # <-
''', "logsumexp"),
    "online_softmax: Tensor.softmax": ("online_softmax", '''
import torch

def online_softmax(x, block_size):
    m = x.amax(-1)
    return x.softmax(-1), m, torch.exp(x - m[..., None]).sum(-1)  # <-
''', "softmax"),
    "online_softmax: torch.logsumexp": ("online_softmax", '''
import torch

def online_softmax(x, block_size):
    m = x.amax(-1)
    l = torch.exp(torch.logsumexp(x, -1) - m)  # <-
    return torch.exp(x - m[..., None]) / l[..., None], m, l
''', "logsumexp"),
    "swiglu_ffn: transformers' LlamaMLP": ("swiglu_ffn", '''
from torch import nn
from transformers.models.llama import modeling_llama

class SwiGLUFFN(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.mlp = modeling_llama.LlamaMLP(config=None)  # <-
''', "LlamaMLP"),
    "swiglu_ffn_backward: autograd in backward": ("swiglu_ffn_backward", '''
import torch
import torch.nn.functional as F

class SwiGLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, W1, W2, W3):
        ctx.save_for_backward(x, W1, W2, W3)
        return (F.silu(x @ W1) * (x @ W3)) @ W2

    @staticmethod
    def backward(ctx, d_y):
        inputs = [t.detach().requires_grad_() for t in ctx.saved_tensors]
        with torch.enable_grad():
            x, W1, W2, W3 = inputs
            y = (F.silu(x @ W1) * (x @ W3)) @ W2
        return torch.autograd.grad(y, inputs, d_y)  # <-
''', "grad() in backward"),
}


@pytest.mark.parametrize("name", sorted(BANNED_SOURCES))
def test_the_librarys_own_op_is_refused_with_its_line_without_running(tmp_path, name):
    exercise_id, source, call = BANNED_SOURCES[name]
    line = next(number for number, text in enumerate(source.splitlines(), 1) if text.endswith("# <-"))
    report = grade_file(write(tmp_path, f"{exercise_id}.py", source), exercise_ids=[exercise_id])
    assert report.verdict == Verdict.BANNED_CALL and report.track == "torch"
    assert (report.detail.params["call"], report.detail.params["line"]) == (call, line)
    assert report.sandbox == {}  # decided from the parsed file: nothing ran


def test_every_exercise_refuses_something():
    assert {exercise_id for exercise_id, _, _ in BANNED_SOURCES.values()} == set(MINE)


@pytest.mark.parametrize("exercise_id", MINE)
def test_the_references_and_the_submissions_written_differently_are_not_refused(exercise_id):
    sources = [torch_reference(exercise_id)] + [source for e, source in WRITTEN_DIFFERENTLY.values() if e == exercise_id]
    for source in sources:
        assert _banned_call([get_exercise(exercise_id)], ast.parse(source), "torch") is None


# --- the references against torch's own ops and autograd (independent oracles) ------------------------------

def test_the_norm_references_agree_with_f_layer_norm_and_f_rms_norm():
    rng = np.random.default_rng(11)
    x = torch.tensor(2.0 * rng.standard_normal((3, 4, 10)) + 0.5)
    w, b = torch.tensor(1 + 0.5 * rng.standard_normal(10)), torch.tensor(rng.standard_normal(10))
    layer_norm = reference_namespace("layer_norm")["LayerNorm"](10, 1e-3).double()
    rms_norm = reference_namespace("rms_norm")["RMSNorm"](10, 1e-3).double()
    with torch.no_grad():
        layer_norm.weight.copy_(w)
        layer_norm.bias.copy_(b)
        rms_norm.weight.copy_(w)
        assert torch.allclose(layer_norm(x), F.layer_norm(x, (10,), w, b, 1e-3), rtol=1e-12, atol=1e-12)
        assert torch.allclose(rms_norm(x), F.rms_norm(x, (10,), w, 1e-3), rtol=1e-12, atol=1e-12)


def _functions():
    """(exercise, its Function applied, torch's own forward, the inputs' shapes)."""
    eps = 1e-3
    return {
        "layer_norm_backward": (lambda x, w, b: reference_namespace("layer_norm_backward")["LayerNormFunction"]
                                .apply(x, w, b, eps), lambda x, w, b: F.layer_norm(x, (5,), w, b, eps),
                                [(2, 3, 5), (5,), (5,)]),
        "rms_norm_backward": (lambda x, w: reference_namespace("rms_norm_backward")["RMSNormFunction"].apply(x, w, eps),
                              lambda x, w: F.rms_norm(x, (5,), w, eps), [(2, 3, 5), (5,)]),
        "swiglu_ffn_backward": (lambda x, W1, W2, W3: reference_namespace("swiglu_ffn_backward")["SwiGLUFunction"]
                                .apply(x, W1, W2, W3), lambda x, W1, W2, W3: (F.silu(x @ W1) * (x @ W3)) @ W2,
                                [(2, 3, 5), (5, 7), (7, 5), (5, 7)]),
    }


@pytest.mark.parametrize("exercise_id", ["layer_norm_backward", "rms_norm_backward", "swiglu_ffn_backward"])
def test_the_backward_references_agree_with_autograd_and_pass_gradcheck(exercise_id):
    function, torch_forward, shapes = _functions()[exercise_id]
    rng = np.random.default_rng(5)
    values = [torch.tensor(1.5 * rng.standard_normal(shape)) for shape in shapes]
    upstream = torch.tensor(rng.standard_normal(shapes[0]))
    mine = [value.clone().requires_grad_() for value in values]
    theirs = [value.clone().requires_grad_() for value in values]
    function(*mine).backward(upstream)
    torch_forward(*theirs).backward(upstream)
    for a, b in zip(mine, theirs):
        assert torch.allclose(a.grad, b.grad, rtol=1e-11, atol=1e-12)
    small = [value[:1].clone().requires_grad_() if index == 0 else value.clone().requires_grad_()
             for index, value in enumerate(values)]
    assert torch.autograd.gradcheck(function, tuple(small))


def test_the_rope_reference_turns_each_pair_of_halves_as_a_complex_number():
    rope = reference_namespace("rope")["RoPE"](8, 500000.0).double()
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.standard_normal((2, 3, 5, 8)))
    positions = torch.arange(5) + 7
    theta = 500000.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)  # (4,)
    pairs = torch.complex(x[..., :4], x[..., 4:])  # pair j: x_j + i x_{j+4}
    turned = pairs * torch.polar(torch.ones(5, 4, dtype=torch.float64), positions[:, None] * theta)
    with torch.no_grad():
        assert torch.allclose(rope(x, positions), torch.cat([turned.real, turned.imag], dim=-1), rtol=0, atol=1e-13)
        # scores depend on the offset only: <R_m q, R_n k> = <R_{m+s} q, R_{n+s} k>
        q, k = x[0, 0, :1], x[0, 1, :1]
        score = lambda m, n: (rope(q, torch.tensor([m])) * rope(k, torch.tensor([n]))).sum()
        assert torch.allclose(score(3, 10), score(103, 110), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("ignore_index", [-100, 0, -1])
def test_the_lm_loss_reference_agrees_with_f_cross_entropy_and_its_autograd(ignore_index):
    rng = np.random.default_rng(8)
    B, T, V = 3, 6, 9
    logits = torch.tensor(3.0 * rng.standard_normal((B, T, V)))
    tokens = torch.tensor(rng.integers(1, V, (B, T)))
    tokens[0, 2] = tokens[1, 4:] = tokens[2, 0] = ignore_index
    out = reference_namespace("cross_entropy")["lm_loss"](logits, tokens, ignore_index)
    leaf = logits.clone().requires_grad_()
    loss = F.cross_entropy(leaf[:, :-1].reshape(-1, V), tokens[:, 1:].reshape(-1), ignore_index=ignore_index)
    loss.backward()
    assert torch.allclose(out["loss"], loss.detach(), rtol=1e-13, atol=0)
    assert torch.allclose(out["perplexity"], loss.detach().exp(), rtol=1e-13, atol=0)
    assert torch.allclose(out["d_logits"], leaf.grad, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("block_size", [1, 3, 7, 100])
def test_the_online_softmax_reference_agrees_with_torch_softmax(block_size):
    rng = np.random.default_rng(4)
    x = torch.tensor(20.0 * rng.standard_normal((2, 3, 17)))
    x[0, 0, :9] = float("-inf")  # a row that starts with whole blocks of -inf
    x[1, 2, ::2] = float("-inf")
    p, m, l = reference_namespace("online_softmax")["online_softmax"](x, block_size)
    assert torch.allclose(p, torch.softmax(x, dim=-1), rtol=1e-13, atol=1e-300)
    assert torch.equal(m, x.amax(dim=-1))
    assert torch.allclose(l, torch.exp(torch.logsumexp(x, dim=-1) - m), rtol=1e-13, atol=0)
