"""The PyTorch forms of attention, heads, attention_dropout, mha_backward, kv_cache_decode, gqa_forward and
mha_rope_forward: written differently they pass, their classic mistakes written in PyTorch are named as the
NumPy catalogue names them, the library's own op is refused with its line, and the references agree with
torch's own ops (SDPA, nn.MultiheadAttention, F.dropout, autograd, gradcheck).

Numbers are checked in-process (tests/helpers.py runs a submission as a runner would). Skipped as a whole
without torch (`pip install "mhaquiz[torch]"`).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install 'mhaquiz[torch]'")

import torch.nn.functional as F  # noqa: E402

from mhaquiz.grader import inputs  # noqa: E402
from mhaquiz.grader.exercises import get_exercise  # noqa: E402
from mhaquiz.grader.grade import grade_file  # noqa: E402
from mhaquiz.grader.torch_form import load_linears  # noqa: E402
from mhaquiz.grader.verdict import Verdict  # noqa: E402
from mhaquiz.paths import content_dir  # noqa: E402
from tests.helpers import judge_source, with_edits, write  # noqa: E402
from tests.test_grade_hostile import MODES  # noqa: E402

T1_EXERCISES = ("attention", "heads", "attention_dropout", "mha_backward", "kv_cache_decode", "gqa_forward",
                "mha_rope_forward")


def torch_reference(exercise_id: str) -> str:
    return (content_dir("solutions") / "torch" / f"{exercise_id}.py").read_text(encoding="utf-8")


def reference_namespace(exercise_id: str) -> dict:
    namespace = {}
    exec(compile(torch_reference(exercise_id), f"{exercise_id}.py", "exec"), namespace)
    return namespace


def named(report) -> list:
    """The mistakes a report names (precision and missing outputs are findings, not mistakes)."""
    return [item.mistake for item in report.exercises[0].diagnosis if item.mistake not in ("precision", "missing_outputs")]


def failed_problems(report) -> set:
    return {check.problem for case in report.exercises[0].cases for check in case.outputs if not check.passed}


# --- the forms themselves ----------------------------------------------------------------------------------

@pytest.mark.parametrize("exercise_id", T1_EXERCISES)
def test_the_reference_file_is_found_as_its_exercise_in_the_torch_track(exercise_id):
    import ast

    from mhaquiz.grader.exercises import defined_names, detect, imports_torch

    tree = ast.parse(torch_reference(exercise_id))
    assert imports_torch(tree)
    assert [exercise.id for exercise in detect(defined_names(tree), "submission", "torch")] == [exercise_id]


@pytest.mark.parametrize("exercise_id", T1_EXERCISES)
def test_no_chinese_torch_prompt_renders_with_a_stray_space(exercise_id):
    import re

    from tests.test_i18n import CJK, CJK_PUNCTUATION, bad_spaces

    prose = re.sub(r"```.*?```", "", get_exercise(exercise_id).prompt_for("zh", "torch"), flags=re.S)
    lines = [line.strip() for line in prose.splitlines() if not line.strip().startswith("|")]
    soft = re.findall(f"[{CJK}]\\n[ \\t]*[{CJK}]|[{CJK_PUNCTUATION}]\\n[ \\t]*[^\\s\\-*+>|#\\d]", prose)
    assert [bad_spaces(line) for line in lines if bad_spaces(line)] == [] and soft == []
    assert "（" in prose and "：" in prose  # written with full-width punctuation


@pytest.mark.parametrize("exercise_id", T1_EXERCISES)
def test_the_torch_hints_speak_pytorch_in_both_languages(exercise_id):
    from mhaquiz.practice import loop
    from tests.test_i18n import bad_spaces

    exercise = get_exercise(exercise_id)
    zh, en = loop.hints(exercise, "zh", "torch"), loop.hints(exercise, "en", "torch")
    assert 3 <= len(zh) == len(en) and zh != loop.hints(exercise, "zh", "numpy")
    assert not any("np." in hint for hint in zh + en)  # the NumPy track's hints say np.where, np.repeat ...
    assert [bad_spaces(hint) for hint in zh if bad_spaces(hint)] == []


# --- written differently: other names, another layer order, fused layers, loops where harmless -----------

ATTENTION_EINSUM = '''
import torch

def attention(q, k, v, mask=None):
    scale = q.size(-1) ** -0.5
    s = torch.einsum("...qd,...kd->...qk", q * scale, k)
    if mask is not None:
        s = torch.where(mask, s, torch.full_like(s, float("-inf")))
    s = s - s.max(dim=-1, keepdim=True).values
    w = s.exp()
    w = w / w.sum(-1, keepdim=True)
    return torch.einsum("...qk,...kd->...qd", w, v), w
'''

HEADS_EINOPS_STYLE = '''
import torch

def split_heads(x, num_heads):
    return x.unflatten(-1, (num_heads, -1)).permute(0, 2, 1, 3)

def merge_heads(x):
    heads = [x[:, h] for h in range(x.shape[1])]   # a loop over heads: harmless here
    return torch.cat(heads, dim=-1)
'''

DROPOUT_WHERE = '''
import torch
import torch.nn as nn

class AttentionDropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, keep_mask, rate):
        scale = 1.0 / (1.0 - rate)
        ctx.scale = scale
        ctx.save_for_backward(keep_mask)
        return torch.where(keep_mask, p * scale, torch.zeros_like(p))

    @staticmethod
    def backward(ctx, grad):
        keep, = ctx.saved_tensors
        return torch.where(keep, grad * ctx.scale, torch.zeros_like(grad)), None, None

class AttentionDropout(nn.Module):
    def __init__(self, rate):
        super().__init__()
        self.p = rate

    def forward(self, p, keep_mask):
        return AttentionDropoutFunction.apply(p, keep_mask, self.p) if self.training else p
'''

MHA_BACKWARD_EINSUM = '''
import math
import torch

class MultiHeadAttentionFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, w_q, b_q, w_k, b_k, w_v, b_v, w_o, b_o, num_heads, mask=None):
        B, Tq, D = q.shape
        Tk, H = k.shape[1], num_heads
        dh = D // H
        Q = (q @ w_q.t() + b_q).reshape(B, Tq, H, dh)          # heads kept on axis 2 throughout
        K = (k @ w_k.t() + b_k).reshape(B, Tk, H, dh)
        V = (v @ w_v.t() + b_v).reshape(B, Tk, H, dh)
        S = torch.einsum("bqhd,bkhd->bhqk", Q, K) / math.sqrt(dh)
        if mask is not None:
            S = S.masked_fill(mask.unsqueeze(-3).logical_not(), -math.inf)
        P = torch.exp(S - S.amax(-1, keepdim=True))
        P = P / P.sum(-1, keepdim=True)
        A = torch.einsum("bhqk,bkhd->bqhd", P, V).reshape(B, Tq, D)
        ctx.save_for_backward(q, k, v, w_q, w_k, w_v, w_o, Q, K, V, P, A)
        ctx.dh = dh
        return A @ w_o.t() + b_o

    @staticmethod
    def backward(ctx, g):
        q, k, v, w_q, w_k, w_v, w_o, Q, K, V, P, A = ctx.saved_tensors
        B, Tq, D = g.shape
        Tk, H, dh = k.shape[1], Q.shape[2], ctx.dh
        gw_o = torch.einsum("btj,bti->ji", g, A)
        gb_o = g.sum((0, 1))
        gA = (g @ w_o).reshape(B, Tq, H, dh)
        gV = torch.einsum("bhqk,bqhd->bkhd", P, gA)
        gP = torch.einsum("bqhd,bkhd->bhqk", gA, V)
        gS = P * (gP - (gP * P).sum(-1, keepdim=True))
        gQ = torch.einsum("bhqk,bkhd->bqhd", gS, K) / math.sqrt(dh)
        gK = torch.einsum("bhqk,bqhd->bkhd", gS, Q) / math.sqrt(dh)
        out = []
        for x, w, gy in ((q, w_q, gQ), (k, w_k, gK), (v, w_v, gV)):
            gy = gy.reshape(x.shape[0], x.shape[1], D)
            out.append((gy @ w, torch.einsum("btj,bti->ji", gy, x), gy.sum((0, 1))))
        (gq, gw_q, gb_q), (gk, gw_k, gb_k), (gv, gw_v, gb_v) = out
        return gq, gk, gv, gw_q, gb_q, gw_k, gb_k, gw_v, gb_v, gw_o, gb_o, None, None
'''

KV_CACHE_FUSED_LLAMA = '''
import math
import torch
from torch import nn

class KVCache:
    def __init__(self, k=None, v=None):
        self.k = k
        self.v = v

    def update(self, k_t, v_t):
        self.k = k_t if self.k is None else torch.cat([self.k, k_t], dim=-2)
        self.v = v_t if self.v is None else torch.cat([self.v, v_t], dim=-2)
        return self.k, self.v

class CachedAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        torch.manual_seed(99)
        self.wo = nn.Linear(d_model, d_model)            # Meta's names, output layer created first
        self.qkv = nn.Linear(d_model, 3 * d_model)       # one fused layer: q, k, v in that order
        self.n_heads = num_heads

    def forward(self, x_t, cache):
        B, _, D = x_t.shape
        q, k, v = self.qkv(x_t).split(D, dim=-1)
        heads = lambda t: t.view(B, 1, self.n_heads, D // self.n_heads).transpose(1, 2)
        K, V = cache.update(heads(k), heads(v))
        att = (heads(q) @ K.transpose(2, 3)) * (D // self.n_heads) ** -0.5
        y = att.softmax(-1) @ V
        return self.wo(y.transpose(1, 2).contiguous().view(B, 1, D))
'''

GQA_BARE_PARAMETERS = '''
import math
import torch
from torch import nn

class GroupedQueryAttention(nn.Module):
    def __init__(self, d_model, num_heads, num_kv_heads, bias=True):
        super().__init__()
        self.h, self.hkv = num_heads, num_kv_heads
        dh = d_model // num_heads
        widths = {"q": d_model, "k": num_kv_heads * dh, "v": num_kv_heads * dh, "o": d_model}
        for n in "oqvk":   # another order, random values: the grader loads by name
            setattr(self, f"W_{n}", nn.Parameter(torch.randn(d_model, widths[n])))
            setattr(self, f"b_{n}", nn.Parameter(torch.randn(widths[n])))

    def forward(self, q, k, v, mask=None):
        B, Tq, D = q.shape
        Tk, dh, G = k.shape[1], D // self.h, self.h // self.hkv
        Q = (q @ self.W_q + self.b_q).view(B, Tq, self.hkv, G, dh)   # grouped: no copy of K and V
        K = (k @ self.W_k + self.b_k).view(B, Tk, self.hkv, dh)
        V = (v @ self.W_v + self.b_v).view(B, Tk, self.hkv, dh)
        s = torch.einsum("bqjgd,bkjd->bjgqk", Q, K) / math.sqrt(dh)
        if mask is not None:
            s = s.masked_fill(~mask[:, None, None] if mask.dim() == 3 else ~mask, float("-inf"))
        w = torch.softmax(s, dim=-1)
        out = torch.einsum("bjgqk,bkjd->bqjgd", w, V).reshape(B, Tq, D)
        return out @ self.W_o + self.b_o
'''

GQA_HF_NAMES_FUSED = '''
import torch
import torch.nn as nn
import torch.nn.functional as F

def repeat_kv(x, n_rep):
    b, h, t, d = x.shape
    return x[:, :, None].expand(b, h, n_rep, t, d).reshape(b, h * n_rep, t, d)

class GroupedQueryAttention(nn.Module):
    def __init__(self, d_model, num_heads, num_kv_heads, bias=True):
        super().__init__()
        self.nh, self.nkv, self.hd = num_heads, num_kv_heads, d_model // num_heads
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.qkv_proj = nn.Linear(d_model, d_model + 2 * num_kv_heads * self.hd, bias=bias)

    def forward(self, q, k, v, mask=None):
        D, kv = q.shape[-1], self.nkv * self.hd
        w, b = self.qkv_proj.weight, self.qkv_proj.bias
        Q = F.linear(q, w[:D], b[:D])
        K = F.linear(k, w[D:D + kv], b[D:D + kv])
        V = F.linear(v, w[D + kv:], b[D + kv:])
        sh = lambda t, n: t.view(t.shape[0], t.shape[1], n, self.hd).transpose(1, 2)
        Q, K, V = sh(Q, self.nh), repeat_kv(sh(K, self.nkv), self.nh // self.nkv), repeat_kv(sh(V, self.nkv), self.nh // self.nkv)
        s = Q @ K.transpose(-1, -2) * self.hd ** -0.5
        if mask is not None:
            s = s + torch.zeros_like(s).masked_fill(~mask.unsqueeze(-3), float("-inf"))
        out = F.softmax(s, dim=-1) @ V
        return self.out_proj(out.transpose(1, 2).reshape(q.shape[0], q.shape[1], D))
'''

ROPE_COMPLEX_TABLE = '''
import math
import torch
from torch import nn

class RoPEMultiHeadAttention(nn.Module):
    """Rotation as a complex product over the half-split pairs (x_j + i x_{j+dh/2}), a cos/sin-free variant."""

    def __init__(self, d_model, num_heads, base=10000.0, bias=True):
        super().__init__()
        self.wv = nn.Linear(d_model, d_model)   # Meta's names, created out of order
        self.wq = nn.Linear(d_model, d_model)
        self.wo = nn.Linear(d_model, d_model)
        self.wk = nn.Linear(d_model, d_model)
        self.h, self.base = num_heads, base

    def turn(self, x, pos):
        half = x.shape[-1] // 2
        freqs = 1.0 / (self.base ** (torch.arange(half, dtype=torch.float64) * 2 / x.shape[-1]))
        z = torch.complex(x[..., :half], x[..., half:]) * torch.polar(torch.ones(len(pos), half, dtype=torch.float64),
                                                                       pos.double()[:, None] * freqs)
        return torch.cat([z.real, z.imag], dim=-1)

    def forward(self, q, k, v, q_positions, k_positions, mask=None):
        B, Tq, D = q.shape
        sh = lambda t: t.reshape(B, t.shape[1], self.h, D // self.h).permute(0, 2, 1, 3)
        Q, K, V = self.turn(sh(self.wq(q)), q_positions), self.turn(sh(self.wk(k)), k_positions), sh(self.wv(v))
        s = Q @ K.transpose(-2, -1) / math.sqrt(D // self.h)
        if mask is not None:
            s = s.masked_fill(~mask.unsqueeze(-3), float("-inf"))
        out = torch.softmax(s, -1) @ V
        return self.wo(out.permute(0, 2, 1, 3).reshape(B, Tq, D))
'''

WRITTEN_DIFFERENTLY = {
    "attention, einsum and torch.where": ("attention", ATTENTION_EINSUM),
    "heads, unflatten and a cat over heads": ("heads", HEADS_EINOPS_STYLE),
    "attention_dropout, torch.where": ("attention_dropout", DROPOUT_WHERE),
    "mha_backward, einsum with heads on axis 2": ("mha_backward", MHA_BACKWARD_EINSUM),
    "kv_cache_decode, fused qkv and Meta's wo": ("kv_cache_decode", KV_CACHE_FUSED_LLAMA),
    "gqa_forward, bare parameters, grouped einsum": ("gqa_forward", GQA_BARE_PARAMETERS),
    "gqa_forward, fused qkv_proj and expand-based repeat_kv": ("gqa_forward", GQA_HF_NAMES_FUSED),
    "mha_rope_forward, complex rotation and Meta's names": ("mha_rope_forward", ROPE_COMPLEX_TABLE),
}


@pytest.mark.parametrize("seed", [0, 3])
@pytest.mark.parametrize("name", sorted(WRITTEN_DIFFERENTLY))
def test_a_submission_written_differently_passes(name, seed):
    exercise_id, source = WRITTEN_DIFFERENTLY[name]
    report = judge_source(exercise_id, source, "torch", seed)
    assert report.verdict == Verdict.PASSED, report.detail and report.detail.text("en")


# --- classic mistakes written in PyTorch: named as the NumPy catalogue names them ---------------------------

TORCH_BUGS = {
    "attention": {
        "mask_inverted": [("masked_fill(~mask,", "masked_fill(mask,")],  # nn.MultiheadAttention's convention
        "no_scale": [(" / math.sqrt(d)", "")],
        "scale_by_d_head": [("math.sqrt(d)", "d")],
        "softmax_over_queries": [("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)")],
        "mask_fill_too_small": [('float("-inf")', "-1e4")],
        "mask_zeroes_scores": [('scores = scores.masked_fill(~mask, float("-inf"))', "scores = scores * mask")],
        "mask_after_softmax": [('scores = scores.masked_fill(~mask, float("-inf"))', "pass"),
                               ("return weights @ v, weights",
                                "if mask is not None:\n        weights = weights * mask\n    return weights @ v, weights")],
        "no_max_subtraction": [("weights = torch.softmax(scores, dim=-1)",
                                "weights = torch.exp(scores) / torch.exp(scores).sum(-1, keepdim=True)")],
    },
    "heads": {
        "split_without_transpose": [("x.view(B, T, num_heads, D // num_heads).transpose(1, 2)",
                                     "x.view(B, num_heads, T, D // num_heads)")],
        "merge_without_transpose": [("x.transpose(1, 2).reshape(B, T, H * dh)", "x.reshape(B, T, H * dh)")],
        "heads_interleaved": [("x.view(B, T, num_heads, D // num_heads).transpose(1, 2)",
                               "x.view(B, T, D // num_heads, num_heads).permute(0, 3, 1, 2)"),
                              ("x.transpose(1, 2).reshape(B, T, H * dh)", "x.permute(0, 2, 3, 1).reshape(B, T, H * dh)")],
        "heads_averaged": [("x.transpose(1, 2).reshape(B, T, H * dh)", "x.mean(dim=1)")],
    },
    "attention_dropout": {
        "dropout_at_eval": [("if not self.training:", "if False:")],  # F.dropout without training=self.training
        "keep_mask_inverted": [("p * keep_mask / (1.0 - rate)", "p * ~keep_mask / (1.0 - rate)"),
                               ("d_out * keep_mask / (1.0 - ctx.rate)", "d_out * ~keep_mask / (1.0 - ctx.rate)")],
        "dropout_scaled_by_keep_prob": [("p * keep_mask / (1.0 - rate)", "p * keep_mask * (1.0 - rate)"),
                                        ("d_out * keep_mask / (1.0 - ctx.rate)", "d_out * keep_mask * (1.0 - ctx.rate)")],
        "backward_not_masked": [("d_out * keep_mask / (1.0 - ctx.rate)", "d_out / (1.0 - ctx.rate)")],
        "backward_not_rescaled": [("d_out * keep_mask / (1.0 - ctx.rate)", "d_out * keep_mask")],
    },
    "mha_backward": {
        "backward_scale_missing": [("dQ = dS @ K * scale", "dQ = dS @ K"),
                                   ("dK = dS.transpose(-2, -1) @ Q * scale", "dK = dS.transpose(-2, -1) @ Q")],
        "backward_scale_twice": [("dQ = dS @ K * scale", "dQ = dS @ K * scale * scale"),
                                 ("dK = dS.transpose(-2, -1) @ Q * scale", "dK = dS.transpose(-2, -1) @ Q * scale * scale")],
        "softmax_jacobian_diagonal": [("dS = P * (dP - row_dot)", "dS = P * (1 - P) * dP")],
        "softmax_grad_over_batch": [("dS = P * (dP - row_dot)", "dS = P * (dP - row_dot) / P.shape[0]")],
        "weight_grad_transposed": [("dw = dy.flatten(0, 1).T @ x.flatten(0, 1)", "dw = x.flatten(0, 1).T @ dy.flatten(0, 1)")],
        "bias_grad_mean": [("dy.sum(dim=(0, 1))", "dy.mean(dim=(0, 1))")],
        "mask_inverted": [("masked_fill(~mask.unsqueeze(-3),", "masked_fill(mask.unsqueeze(-3),")],
        "no_scale": [("scores = Q @ K.transpose(-2, -1) / math.sqrt(Q.shape[-1])", "scores = Q @ K.transpose(-2, -1)"),
                     ("scale = 1.0 / math.sqrt(Q.shape[-1])", "scale = 1.0")],
    },
    "kv_cache_decode": {
        "cache_not_appended": [("self.k = torch.cat((self.k, k_t), dim=2)", "self.k = k_t"),
                               ("self.v = torch.cat((self.v, v_t), dim=2)", "self.v = v_t")],
        "cache_prepended": [("torch.cat((self.k, k_t), dim=2)", "torch.cat((k_t, self.k), dim=2)"),
                            ("torch.cat((self.v, v_t), dim=2)", "torch.cat((v_t, self.v), dim=2)")],
        "causal_mask_in_step": [("weights = torch.softmax(scores, dim=-1)",
                                 "causal = torch.tril(torch.ones(scores.shape[-2:], dtype=torch.bool))\n"
                                 "        weights = torch.softmax(scores.masked_fill(~causal, float('-inf')), dim=-1)")],
        "no_scale": [(" / math.sqrt(self.d_head)", "")],
        "no_output_projection": [("return self.o_proj(heads.transpose(1, 2).reshape(B, 1, H * dh))",
                                  "return heads.transpose(1, 2).reshape(B, 1, H * dh)")],
    },
    "gqa_forward": {
        "kv_heads_tiled": [("K = K.repeat_interleave(group_size, dim=1)", "K = K.repeat(1, group_size, 1, 1)"),
                           ("V = V.repeat_interleave(group_size, dim=1)", "V = V.repeat(1, group_size, 1, 1)")],
        "mask_inverted": [("masked_fill(~mask.unsqueeze(-3),", "masked_fill(mask.unsqueeze(-3),")],
        "scale_by_kv_width": [("math.sqrt(self.d_head)", "math.sqrt(self.num_kv_heads * self.d_head)")],
        "mask_fill_too_small": [('float("-inf")', "-1e4")],
        "merge_without_transpose": [("heads.transpose(1, 2).reshape(B, Tq, H * dh)", "heads.reshape(B, Tq, H * dh)")],
    },
    "mha_rope_forward": {
        "v_rotated": [("V = self.split_heads(self.v_proj(v))", "V = self.rope(self.split_heads(self.v_proj(v)), k_positions)")],
        "base_ignored": [("inv_freq = self.base ** (", "inv_freq = 10000.0 ** (")],
        "positions_ignored": [("angles = positions.to(torch.float64)[:, None]",
                               "angles = torch.arange(x.shape[-2], dtype=torch.float64)[:, None]")],
        "exponent_i_over_d": [("torch.arange(0, dh, 2, dtype=torch.float64) / dh", "torch.arange(dh // 2, dtype=torch.float64) / dh")],
        "pairs_interleaved": [("x1, x2 = x.chunk(2, dim=-1)\n    return torch.cat((-x2, x1), dim=-1)",
                               "return torch.stack((-x[..., 1::2], x[..., ::2]), dim=-1).flatten(-2)"),
                              ("angles = torch.cat((angles, angles), dim=-1)", "angles = angles.repeat_interleave(2, dim=-1)")],
        "rotation_direction_flipped": [("return torch.cat((-x2, x1), dim=-1)", "return torch.cat((x2, -x1), dim=-1)")],
        "rope_before_split": [("Q = self.rope(self.split_heads(self.q_proj(q)), q_positions)",
                               "Q = self.split_heads(self.rope(self.q_proj(q), q_positions))"),
                              ("K = self.rope(self.split_heads(self.k_proj(k)), k_positions)",
                               "K = self.split_heads(self.rope(self.k_proj(k), k_positions))")],
        "mask_inverted": [("masked_fill(~mask.unsqueeze(-3),", "masked_fill(mask.unsqueeze(-3),")],
    },
}

BUG_CASES = [(exercise_id, mutant) for exercise_id, bugs in TORCH_BUGS.items() for mutant in sorted(bugs)]


@pytest.mark.parametrize("exercise_id, mutant", BUG_CASES, ids=[f"{e}-{m}" for e, m in BUG_CASES])
def test_a_classic_mistake_written_in_pytorch_is_named_as_itself(exercise_id, mutant):
    source = with_edits(torch_reference(exercise_id), *TORCH_BUGS[exercise_id][mutant])
    report = judge_source(exercise_id, source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER, report.detail and report.detail.text("en")
    assert named(report) == [mutant]


# --- PyTorch's own classics -------------------------------------------------------------------------------

def test_heads_view_after_transpose_is_a_runtime_error_explained():
    source = with_edits(torch_reference("heads"), ("x.transpose(1, 2).reshape(B, T, H * dh)",
                                                   "x.transpose(1, 2).view(B, T, H * dh)"))
    report = judge_source("heads", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    errors = [case.error for case in report.exercises[0].cases if case.error]
    assert errors and all("view" in error["message"] for error in errors)
    passed = {case.name for case in report.exercises[0].cases if case.verdict == Verdict.PASSED}
    # merging a freshly split tensor transposes it back to contiguous: only merging a given (B, H, T, dh) fails
    assert passed == {"split", "split, many heads", "split, one head", "round trip"}


def test_rope_angles_in_float32_are_a_precision_finding_not_a_mistake():
    source = with_edits(torch_reference("mha_rope_forward"),
                        ("torch.arange(0, dh, 2, dtype=torch.float64)", "torch.arange(0, dh, 2, dtype=torch.float32)"),
                        ("positions.to(torch.float64)", "positions.to(torch.float32)"))
    report = judge_source("mha_rope_forward", source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER
    assert failed_problems(report) == {"precision"}
    assert named(report) == []


def test_a_float32_kv_cache_is_a_precision_finding():
    source = with_edits(torch_reference("kv_cache_decode"),
                        ("self.k = torch.cat((self.k, k_t), dim=2)", "self.k = torch.cat((self.k, k_t.float()), dim=2).double()"))
    report = judge_source("kv_cache_decode", source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER
    assert failed_problems(report) == {"precision"}


def test_swapped_gradients_of_different_shapes_are_caught_by_autograd_as_a_runtime_error():
    # the NumPy track names dq_dk_swapped; in PyTorch, autograd itself refuses a gradient of another shape
    source = with_edits(torch_reference("mha_backward"), ("return d_q, d_k, d_v,", "return d_k, d_q, d_v,"))
    report = judge_source("mha_backward", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    assert report.where[1] == "cross-attention"  # Tq != Tk: the first case where the two shapes differ
    assert "invalid gradient at index 0" in report.exercises[0].cases[0].error["message"]


def test_a_backward_returning_none_for_a_weight_is_a_runtime_error_naming_it():
    source = with_edits(torch_reference("mha_backward"), ("d_w_q, d_b_q, d_w_k", "None, d_b_q, d_w_k"))
    report = judge_source("mha_backward", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    assert "backward returned None for w_q" in report.exercises[0].cases[0].error["message"]


def test_a_kv_cache_module_returning_a_tuple_gets_the_contract_in_one_line():
    source = with_edits(torch_reference("kv_cache_decode"),
                        ("return self.o_proj(heads.transpose(1, 2).reshape(B, 1, H * dh))",
                         "return self.o_proj(heads.transpose(1, 2).reshape(B, 1, H * dh)), cache"))
    report = judge_source("kv_cache_decode", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    message = report.exercises[0].cases[0].error["message"]
    assert "CachedAttention.forward returned tuple" in message and "(B, 1, D)" in message


def test_gqa_with_full_width_key_and_value_layers_gets_its_parameters_listed():
    # a classic slip: k_proj and v_proj made nn.Linear(D, D), as in MHA, where GQA's are (D, num_kv_heads * dh)
    source = with_edits(torch_reference("gqa_forward"),
                        ("self.k_proj = nn.Linear(d_model, kv_width, bias=bias)", "self.k_proj = nn.Linear(d_model, d_model)"),
                        ("self.v_proj = nn.Linear(d_model, kv_width, bias=bias)", "self.v_proj = nn.Linear(d_model, d_model)"))
    report = judge_source("gqa_forward", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error  # grouped cross-attention: D = 20, H = 4, Hkv = 2, dh = 5
    assert error["type"] == "ParameterMismatch"
    assert "k_proj.weight has shape (20, 20), the case needs (10, 20)" in error["message"]
    assert "W_k / k_proj (20, 10)" in error["message"]  # what was expected, in the NumPy track's layout


def test_a_kv_cache_with_hugging_faces_attribute_names_is_told_what_cache_k_must_be():
    # the cache works, but keeps its tensors as key_cache / value_cache (DynamicCache's names), not k / v
    renames = [("self.k, self.v = k, v", "self.key_cache, self.value_cache = k, v"),
               ("if self.k is None:", "if self.key_cache is None:"),
               ("self.k, self.v = k_t, v_t", "self.key_cache, self.value_cache = k_t, v_t"),
               ("self.k = torch.cat((self.k, k_t), dim=2)", "self.key_cache = torch.cat((self.key_cache, k_t), dim=2)"),
               ("self.v = torch.cat((self.v, v_t), dim=2)", "self.value_cache = torch.cat((self.value_cache, v_t), dim=2)"),
               ("return self.k, self.v", "return self.key_cache, self.value_cache")]
    report = judge_source("kv_cache_decode", with_edits(torch_reference("kv_cache_decode"), *renames), "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error
    assert error["type"] == "TypeError" and "cache.k and cache.v must be the cached keys and values" in error["message"]


# --- what the interview forbids --------------------------------------------------------------------------

BANNED_SOURCES = {
    "attention: F.scaled_dot_product_attention": ("attention", '''
import torch
import torch.nn.functional as F

def attention(q, k, v, mask=None):
    w = torch.softmax(q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5, -1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask), w
''', 7, "scaled_dot_product_attention"),
    "attention_dropout: nn.Dropout": ("attention_dropout", '''
import torch
from torch import nn

class AttentionDropout(nn.Module):
    def __init__(self, rate):
        super().__init__()
        self.drop = nn.Dropout(rate)
''', 8, "Dropout"),
    "attention_dropout: F.dropout": ("attention_dropout", '''
import torch
import torch.nn.functional as F

class AttentionDropoutFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, p, keep_mask, rate):
        return F.dropout(p, rate)
''', 8, "dropout"),
    "mha_backward: autograd in backward": ("mha_backward", '''
import torch

class MultiHeadAttentionFunction(torch.autograd.Function):
    @staticmethod
    def backward(ctx, d_out):
        inputs = ctx.saved_tensors
        return torch.autograd.grad(ctx.out, inputs, d_out)
''', 8, "grad() in backward"),
    "gqa_forward: SDPA with enable_gqa": ("gqa_forward", '''
import torch
from torch import nn
from torch.nn.functional import scaled_dot_product_attention

class GroupedQueryAttention(nn.Module):
    pass
''', 4, "scaled_dot_product_attention"),
    "kv_cache_decode: nn.MultiheadAttention": ("kv_cache_decode", '''
import torch
from torch import nn

class CachedAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(d_model, num_heads, batch_first=True)
''', 8, "MultiheadAttention"),
    "mha_rope_forward: F.multi_head_attention_forward": ("mha_rope_forward", '''
import torch.nn.functional as F
from torch import nn

class RoPEMultiHeadAttention(nn.Module):
    def forward(self, q, k, v, q_positions, k_positions, mask=None):
        return F.multi_head_attention_forward(q, k, v)
''', 7, "multi_head_attention_forward"),
}


@pytest.mark.parametrize("name", sorted(BANNED_SOURCES))
def test_the_librarys_own_op_is_refused_with_its_line_without_running(tmp_path, name):
    exercise_id, source, line, call = BANNED_SOURCES[name]
    report = grade_file(write(tmp_path, f"{exercise_id}.py", source), exercise_ids=[exercise_id])
    assert report.verdict == Verdict.BANNED_CALL and report.track == "torch"
    assert report.detail.params["line"] == line and report.detail.params["call"] == call
    assert report.sandbox == {}  # decided from the parsed file: nothing ran


def test_a_module_attribute_named_dropout_is_the_learners_own_not_a_banned_call():
    source = with_edits(torch_reference("attention_dropout"),
                        ("self.rate = rate", "self.rate = rate\n        self.dropout = AttentionDropoutFunction.apply"),
                        ("return AttentionDropoutFunction.apply(p, keep_mask, self.rate)",
                         "return self.dropout(p, keep_mask, self.rate)"))
    assert judge_source("attention_dropout", source, "torch").verdict == Verdict.PASSED


# --- the references against torch's own ops (independent oracles) ------------------------------------------

def _rng_tensor(rng, *shape):
    return torch.tensor(rng.standard_normal(shape))


def test_the_attention_reference_agrees_with_sdpa_outputs_and_weights():
    attention = reference_namespace("attention")["attention"]
    rng = np.random.default_rng(11)
    q, k, v = _rng_tensor(rng, 2, 3, 5, 4), _rng_tensor(rng, 2, 3, 7, 4), _rng_tensor(rng, 2, 3, 7, 6)
    mask = torch.tensor(inputs.random_mask(rng, (2, 1, 5, 7)))
    out, weights = attention(q, k, v, mask)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-13)
    identity = torch.eye(7, dtype=torch.float64).expand(2, 3, 7, 7)  # v = I: SDPA's output is its weights
    assert torch.allclose(weights, F.scaled_dot_product_attention(q, k, identity, attn_mask=mask), rtol=1e-12, atol=1e-14)
    assert torch.all(weights[~mask.expand(2, 3, 5, 7)] == 0)


def test_the_heads_reference_slices_heads_as_the_contract_states():
    ns = reference_namespace("heads")
    x = _rng_tensor(np.random.default_rng(12), 2, 5, 12)
    split = ns["split_heads"](x, 3)
    assert split.shape == (2, 3, 5, 4)
    for h in range(3):
        assert torch.equal(split[:, h], x[..., 4 * h:4 * (h + 1)])
    heads = _rng_tensor(np.random.default_rng(13), 2, 3, 5, 4)
    assert torch.equal(ns["merge_heads"](heads), torch.cat([heads[:, h] for h in range(3)], dim=-1))


def test_the_dropout_reference_agrees_with_f_dropout_given_the_same_keep_decisions():
    ns = reference_namespace("attention_dropout")
    p = torch.softmax(_rng_tensor(np.random.default_rng(14), 2, 3, 4, 6), dim=-1)
    for rate in (0.1, 0.3):
        torch.manual_seed(5)
        keep_mask = F.dropout(torch.ones_like(p), rate, training=True) != 0  # the decisions F.dropout draws at seed 5
        torch.manual_seed(5)
        theirs = p.clone().requires_grad_()
        expected = F.dropout(theirs, rate, training=True)
        module = ns["AttentionDropout"](rate)
        mine = p.clone().requires_grad_()
        got = module(mine, keep_mask)
        assert torch.allclose(got, expected, rtol=1e-15, atol=0)
        d_out = _rng_tensor(np.random.default_rng(15), *p.shape)
        got.backward(d_out)
        expected.backward(d_out)
        assert torch.allclose(mine.grad, theirs.grad, rtol=1e-15, atol=0)
        assert torch.equal(module.eval()(p, keep_mask), F.dropout(p, rate, training=False))
        x = p.clone().requires_grad_()
        assert torch.autograd.gradcheck(lambda t: ns["AttentionDropoutFunction"].apply(t, keep_mask, rate), (x,))


def _torch_mha(D, H, params):
    """nn.MultiheadAttention with the case's weights (W_x is x @ W: in_proj_weight holds the transposes)."""
    mha = torch.nn.MultiheadAttention(D, H, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(np.concatenate([params[f"W_{n}"].T for n in "qkv"])))
        mha.in_proj_bias.copy_(torch.tensor(np.concatenate([params[f"b_{n}"] for n in "qkv"])))
        mha.out_proj.weight.copy_(torch.tensor(params["W_o"].T))
        mha.out_proj.bias.copy_(torch.tensor(params["b_o"]))
    return mha


def test_the_mha_backward_reference_agrees_with_autograd_through_nn_multiheadattention():
    Function = reference_namespace("mha_backward")["MultiHeadAttentionFunction"]
    rng = np.random.default_rng(16)
    B, Tq, Tk, D, H = 2, 4, 6, 12, 3
    params = inputs.mha_params(rng, D)
    q, k, v = (_rng_tensor(rng, B, T, D).requires_grad_() for T in (Tq, Tk, Tk))
    mask = torch.tensor(inputs.random_mask(rng, (B, Tq, Tk)))
    d_out = _rng_tensor(rng, B, Tq, D)
    leaves = []
    for n in "qkvo":
        leaves += [torch.tensor(params[f"W_{n}"].T.copy()).requires_grad_(), torch.tensor(params[f"b_{n}"]).requires_grad_()]
    Function.apply(q, k, v, *leaves, H, mask).backward(d_out)

    mha = _torch_mha(D, H, params)
    q2, k2, v2 = (t.detach().clone().requires_grad_() for t in (q, k, v))
    # nn.MultiheadAttention: True = NOT allowed, and a 3-D mask is per (batch * head)
    theirs, _ = mha(q2, k2, v2, attn_mask=(~mask).repeat_interleave(H, dim=0))
    theirs.backward(d_out)
    for mine, expected in ((q, q2), (k, k2), (v, v2)):
        assert torch.allclose(mine.grad, expected.grad, rtol=1e-11, atol=1e-12)
    in_w, in_b = mha.in_proj_weight.grad.split(D), mha.in_proj_bias.grad.split(D)
    for index in range(3):
        assert torch.allclose(leaves[2 * index].grad, in_w[index], rtol=1e-11, atol=1e-12)
        assert torch.allclose(leaves[2 * index + 1].grad, in_b[index], rtol=1e-11, atol=1e-12)
    assert torch.allclose(leaves[6].grad, mha.out_proj.weight.grad, rtol=1e-11, atol=1e-12)
    assert torch.allclose(leaves[7].grad, mha.out_proj.bias.grad, rtol=1e-11, atol=1e-12)


def test_the_mha_backward_function_passes_gradcheck_in_float64():
    Function = reference_namespace("mha_backward")["MultiHeadAttentionFunction"]
    rng = np.random.default_rng(17)
    B, T, D, H = 2, 3, 4, 2
    tensors = [_rng_tensor(rng, B, T, D) for _ in range(3)]
    for _ in "qkvo":
        tensors += [_rng_tensor(rng, D, D) / 2, _rng_tensor(rng, D)]
    tensors = [t.requires_grad_() for t in tensors]
    mask = torch.tensor(np.tril(np.ones((T, T), dtype=bool)))
    assert torch.autograd.gradcheck(lambda *t: Function.apply(*t, H, mask), tuple(tensors))


def test_the_kv_cache_reference_decodes_what_nn_multiheadattention_computes_causally():
    ns = reference_namespace("kv_cache_decode")
    rng = np.random.default_rng(18)
    B, T, D, H = 2, 6, 12, 3
    params = inputs.mha_params(rng, D)
    x = _rng_tensor(rng, B, T, D)
    module = ns["CachedAttention"](D, H).double()
    load_linears(module, params)
    cache = ns["KVCache"]()
    with torch.no_grad():
        decoded = torch.cat([module(x[:, t:t + 1], cache) for t in range(T)], dim=1)
        causal = torch.tensor(np.tril(np.ones((T, T), dtype=bool)))
        full, _ = _torch_mha(D, H, params)(x, x, x, attn_mask=~causal)
        keys = module.k_proj(x).view(B, T, H, D // H).transpose(1, 2)
    assert torch.allclose(decoded, full, rtol=1e-12, atol=1e-12)
    assert cache.k.shape == (B, H, T, D // H) and torch.allclose(cache.k, keys, rtol=0, atol=1e-15)


def test_the_gqa_reference_agrees_with_sdpa_enable_gqa():
    GQA = reference_namespace("gqa_forward")["GroupedQueryAttention"]
    gqa_params = get_exercise("gqa_forward").checks().gqa_params
    rng = np.random.default_rng(19)
    B, Tq, Tk, D, H, Hkv = 2, 5, 7, 24, 6, 2
    params = gqa_params(rng, D, H, Hkv)
    q, k, v = _rng_tensor(rng, B, Tq, D), _rng_tensor(rng, B, Tk, D), _rng_tensor(rng, B, Tk, D)
    mask = torch.tensor(inputs.random_mask(rng, (B, Tq, Tk)))
    module = GQA(D, H, Hkv).double()
    load_linears(module, params)

    def project(x, n, heads):  # x @ W + b, split into heads: (B, T, heads, dh) -> (B, heads, T, dh)
        y = x @ torch.tensor(params[f"W_{n}"]) + torch.tensor(params[f"b_{n}"])
        return y.view(B, x.shape[1], heads, D // H).transpose(1, 2)

    with torch.no_grad():
        mine = module(q, k, v, mask=mask)
        heads = F.scaled_dot_product_attention(project(q, "q", H), project(k, "k", Hkv), project(v, "v", Hkv),
                                               attn_mask=mask.unsqueeze(1), enable_gqa=True)  # (B, H, Tq, dh)
    theirs = heads.transpose(1, 2).reshape(B, Tq, D) @ torch.tensor(params["W_o"]) + torch.tensor(params["b_o"])
    assert torch.allclose(mine, theirs, rtol=1e-12, atol=1e-12)


def _complex_rope(x, positions, base):
    """RoPE as a complex product: pair (x_j, x_{j+d/2}) is x_j + i x_{j+d/2}, turned by exp(i m theta_j)."""
    half = x.shape[-1] // 2
    theta = base ** (-2.0 * torch.arange(half, dtype=torch.float64) / x.shape[-1])  # (d/2,)
    z = torch.complex(x[..., :half], x[..., half:]) * torch.exp(1j * positions.double()[:, None] * theta)
    return torch.cat((z.real, z.imag), dim=-1)


@pytest.mark.parametrize("base", [10000.0, 500000.0])
def test_the_rope_reference_agrees_with_complex_rotation_then_sdpa(base):
    RoPEMHA = reference_namespace("mha_rope_forward")["RoPEMultiHeadAttention"]
    rng = np.random.default_rng(20)
    B, Tq, Tk, D, H = 2, 4, 6, 16, 2
    params = inputs.mha_params(rng, D)
    q, k, v = _rng_tensor(rng, B, Tq, D), _rng_tensor(rng, B, Tk, D), _rng_tensor(rng, B, Tk, D)
    q_positions, k_positions = torch.tensor([13, 4, 90, 9]), torch.tensor([2, 17, 8, 25, 11, 90])
    mask = torch.tensor(inputs.random_mask(rng, (B, Tq, Tk)))
    module = RoPEMHA(D, H, base=base).double()
    load_linears(module, params)

    def project(x, n):  # (B, T, D) -> (B, H, T, dh)
        y = x @ torch.tensor(params[f"W_{n}"]) + torch.tensor(params[f"b_{n}"])
        return y.view(B, x.shape[1], H, D // H).transpose(1, 2)

    with torch.no_grad():
        mine = module(q, k, v, q_positions, k_positions, mask=mask)
        heads = F.scaled_dot_product_attention(_complex_rope(project(q, "q"), q_positions, base),
                                               _complex_rope(project(k, "k"), k_positions, base), project(v, "v"),
                                               attn_mask=mask.unsqueeze(1))
        shifted = module(q, k, v, q_positions + 1000, k_positions + 1000, mask=mask)
    theirs = heads.transpose(1, 2).reshape(B, Tq, D) @ torch.tensor(params["W_o"]) + torch.tensor(params["b_o"])
    assert torch.allclose(mine, theirs, rtol=1e-12, atol=1e-12)
    assert torch.allclose(shifted, mine, rtol=1e-9, atol=1e-9)  # only relative positions count


# --- through the CLI and the sandbox --------------------------------------------------------------------

ENGLISH = {"LC_ALL": "", "LC_MESSAGES": "", "LANGUAGE": "", "LANG": "en_US.UTF-8", "MHAQUIZ_FRAMEWORK": ""}


def test_a_prepended_kv_cache_is_named_through_the_cli_in_json(tmp_path):
    import json

    from typer.testing import CliRunner

    from mhaquiz.cli import app

    source = with_edits(torch_reference("kv_cache_decode"), *TORCH_BUGS["kv_cache_decode"]["cache_prepended"])
    path = write(tmp_path, "decode.py", source)
    result = CliRunner().invoke(app, ["grade", str(path), "--json", "--timeout", "20"], env=ENGLISH)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["verdict"] == "wrong_answer" and report["where"]["exercise"] == "kv_cache_decode"
    assert [item["mistake"] for item in report["exercises"][0]["diagnosis"]] == ["cache_prepended"]


@pytest.mark.parametrize("mode", MODES)
def test_a_hand_written_backward_runs_in_the_sandbox(tmp_path, mode):
    """autograd's backward pass, calling the learner's Function.backward, under the worker's guard and limits."""
    report = grade_file(write(tmp_path, "mha_backward.py", torch_reference("mha_backward")), sandbox=mode, timeout=20)
    assert report.verdict == Verdict.PASSED and report.track == "torch"
    assert [exercise.id for exercise in report.exercises] == ["mha_backward"]
