"""The PyTorch track: every PyTorch reference passes, written differently it still passes, its classic
mistakes are named, the library's own op is refused, and the references agree with torch's own ops.

Numbers are checked in-process (tests/helpers.py runs the submission as a runner would); the sandbox is run
where it is the subject. Skipped as a whole without torch (`pip install "mhaquiz[torch]"`).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install 'mhaquiz[torch]'")

from mhaquiz.grader.exercises import all_exercises, get_exercise  # noqa: E402
from mhaquiz.grader.grade import grade_file  # noqa: E402
from mhaquiz.grader.verdict import Verdict  # noqa: E402
from mhaquiz.paths import content_dir  # noqa: E402
from tests.helpers import judge_source, with_edits, write  # noqa: E402
from tests.test_grade_hostile import MODES  # noqa: E402

TORCH_EXERCISES = [exercise.id for exercise in all_exercises() if "torch" in exercise.tracks]


def torch_reference(exercise_id: str) -> str:
    return (content_dir("solutions") / "torch" / f"{exercise_id}.py").read_text(encoding="utf-8")


def test_the_torch_track_has_its_exercises():
    assert {"softmax", "softmax_backward", "mha_forward"} <= set(TORCH_EXERCISES)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("exercise_id", TORCH_EXERCISES)
def test_every_torch_reference_passes(exercise_id, seed):
    report = judge_source(exercise_id, torch_reference(exercise_id), "torch", seed)
    assert report.verdict == Verdict.PASSED, report.detail and report.detail.text("en")


@pytest.mark.parametrize("exercise_id", TORCH_EXERCISES)
def test_the_torch_stub_as_given_is_not_implemented(exercise_id):
    stub = (get_exercise(exercise_id).stub_path_for("torch")).read_text(encoding="utf-8")
    assert judge_source(exercise_id, stub, "torch").verdict == Verdict.NOT_IMPLEMENTED


# --- written differently: layers in another order, other names, fused projections, random init -----------

MHA_HUGGING_FACE_ORDER = '''
import math, torch
from torch import nn

class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        torch.manual_seed(1234)
        self.out_proj = nn.Linear(d_model, d_model)   # created first, on purpose
        self.value = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model)
        self.query = nn.Linear(d_model, d_model)
        self.h = num_heads

    def forward(self, q, k, v, mask=None):
        B, Tq, D = q.shape
        Tk = k.shape[1]
        dh = D // self.h
        Q = self.query(q).view(B, Tq, self.h, dh).transpose(1, 2)
        K = self.key(k).view(B, Tk, self.h, dh).transpose(1, 2)
        V = self.value(v).view(B, Tk, self.h, dh).transpose(1, 2)
        s = Q @ K.transpose(-1, -2) / math.sqrt(dh)
        if mask is not None:
            s = s.masked_fill(mask.unsqueeze(-3) == 0, float("-inf"))
        out = (s.softmax(-1) @ V).transpose(1, 2).contiguous().view(B, Tq, D)
        return self.out_proj(out)
'''

MHA_FUSED_GPT2 = '''
import math, torch
import torch.nn as nn

class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)
        self.n_head = num_heads

    def forward(self, q, k, v, mask=None):
        D = q.shape[-1]
        W = self.c_attn.weight  # (3D, D): q, k, v rows in that order
        b = self.c_attn.bias
        Q = q @ W[:D].T + b[:D]
        K = k @ W[D:2 * D].T + b[D:2 * D]
        V = v @ W[2 * D:].T + b[2 * D:]
        def split(x):
            B, T, _ = x.shape
            return x.reshape(B, T, self.n_head, D // self.n_head).permute(0, 2, 1, 3)
        Q, K, V = split(Q), split(K), split(V)
        att = (Q @ K.transpose(-2, -1)) * (1.0 / math.sqrt(K.size(-1)))
        if mask is not None:
            att = att.masked_fill(~mask[:, None] if mask.dim() == 3 else ~mask, float("-inf"))
        att = torch.exp(att - att.amax(-1, keepdim=True))
        att = att / att.sum(-1, keepdim=True)
        y = (att @ V).permute(0, 2, 1, 3).reshape(q.shape[0], q.shape[1], D)
        return self.c_proj(y)
'''

MHA_RAW_PARAMETERS = '''
import math, torch
from torch import nn

class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.H = num_heads
        for n in "qkvo":
            setattr(self, f"W_{n}", nn.Parameter(torch.randn(d_model, d_model)))
            setattr(self, f"b_{n}", nn.Parameter(torch.zeros(d_model)))

    def forward(self, q, k, v, mask=None):
        B, Tq, D = q.shape
        dh = D // self.H
        heads = lambda x: x.reshape(x.shape[0], x.shape[1], self.H, dh).transpose(1, 2)
        Q, K, V = heads(q @ self.W_q + self.b_q), heads(k @ self.W_k + self.b_k), heads(v @ self.W_v + self.b_v)
        s = Q @ K.transpose(-1, -2) / math.sqrt(dh)
        if mask is not None:
            s = torch.where(mask.unsqueeze(-3), s, torch.tensor(float("-inf"), dtype=s.dtype))
        w = torch.exp(s - s.max(-1, keepdim=True).values)
        w = w / w.sum(-1, keepdim=True)
        return (w @ V).transpose(1, 2).reshape(B, Tq, D) @ self.W_o + self.b_o
'''


@pytest.mark.parametrize("source", [MHA_HUGGING_FACE_ORDER, MHA_FUSED_GPT2, MHA_RAW_PARAMETERS],
                         ids=["other names, created in another order", "fused c_attn as in GPT-2", "bare parameters"])
@pytest.mark.parametrize("seed", [0, 3])
def test_a_module_written_differently_passes_whatever_its_layer_order_and_initialisation(source, seed):
    report = judge_source("mha_forward", source, "torch", seed)
    assert report.verdict == Verdict.PASSED, report.detail and report.detail.text("en")


UNMATCHED = '''
import torch
from torch import nn

class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.alpha = nn.Linear(d_model, d_model)
        self.beta = nn.Linear(d_model, 2 * d_model)

    def forward(self, q, k, v, mask=None):
        return self.alpha(q)
'''


def test_a_module_whose_layers_cannot_be_matched_gets_its_parameters_listed_not_a_traceback():
    report = judge_source("mha_forward", UNMATCHED, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error
    assert error["type"] == "ParameterMismatch"
    assert "alpha.weight (12, 12)" in error["message"] or "alpha.weight" in error["message"]
    assert "beta.weight" in error["message"] and "W_q / q_proj" in error["message"]


# --- mistakes: the NumPy track's catalogue names them in the PyTorch track too ---------------------------

MHA_TORCH_BUGS = {
    "mask_inverted": [("scores.masked_fill(~mask.unsqueeze(-3), float(\"-inf\"))",
                       "scores.masked_fill(mask.unsqueeze(-3), float(\"-inf\"))")],  # nn.MultiheadAttention's convention
    "no_scale": [(" / math.sqrt(self.d_head)", "")],
    "scale_by_d_model": [("math.sqrt(self.d_head)", "math.sqrt(self.d_head * self.num_heads)")],
    "softmax_over_queries": [("torch.softmax(scores, dim=-1)", "torch.softmax(scores, dim=-2)")],
    "mask_fill_too_small": [('float("-inf")', "-1e4")],
    "mask_after_softmax": [("scores = scores.masked_fill(~mask.unsqueeze(-3), float(\"-inf\"))", "pass"),
                           ("weights = torch.softmax(scores, dim=-1)",
                            "weights = torch.softmax(scores, dim=-1)\n        if mask is not None:\n"
                            "            weights = weights * mask.unsqueeze(-3)")],
    "merge_without_transpose": [("heads.transpose(1, 2).reshape(B, Tq, H * dh)", "heads.reshape(B, Tq, H * dh)")],
    "no_output_projection": [("return self.o_proj(heads.transpose(1, 2).reshape(B, Tq, H * dh))",
                              "return heads.transpose(1, 2).reshape(B, Tq, H * dh)")],
}


@pytest.mark.parametrize("mutant", sorted(MHA_TORCH_BUGS))
def test_a_classic_mistake_written_in_pytorch_is_named_as_itself(mutant):
    source = with_edits(torch_reference("mha_forward"), *MHA_TORCH_BUGS[mutant])
    report = judge_source("mha_forward", source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER
    named = [item.mistake for item in report.exercises[0].diagnosis if item.mistake not in ("precision", "missing_outputs")]
    assert named == [mutant], named


def test_view_after_transpose_is_a_runtime_error_explained():
    source = with_edits(torch_reference("mha_forward"), ("heads.transpose(1, 2).reshape(B, Tq, H * dh)",
                                                         "heads.transpose(1, 2).view(B, Tq, H * dh)"))
    report = judge_source("mha_forward", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    assert "view" in report.exercises[0].cases[0].error["message"]


def test_float32_parameters_are_a_precision_finding_not_a_mistake():
    source = with_edits(torch_reference("mha_forward"), ("return self.o_proj(heads", "return self.o_proj.float()(heads"),
                        ("reshape(B, Tq, H * dh))", "reshape(B, Tq, H * dh).float()).double()"))
    report = judge_source("mha_forward", source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER
    problems = {check.problem for case in report.exercises[0].cases for check in case.outputs if not check.passed}
    assert problems == {"precision"}


# --- what the interview forbids --------------------------------------------------------------------------

BANNED = {
    "F.scaled_dot_product_attention": ("mha_forward", '''
import torch
import torch.nn.functional as F
from torch import nn

class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = (nn.Linear(d_model, d_model) for _ in range(4))
        self.h = num_heads

    def forward(self, q, k, v, mask=None):
        split = lambda x: x.unflatten(-1, (self.h, -1)).transpose(1, 2)
        out = F.scaled_dot_product_attention(split(self.q_proj(q)), split(self.k_proj(k)), split(self.v_proj(v)),
                                             attn_mask=None if mask is None else mask.unsqueeze(1))
        return self.o_proj(out.transpose(1, 2).flatten(-2))
''', 14, "scaled_dot_product_attention"),
    "nn.MultiheadAttention": ("mha_forward", '''
from torch import nn

class MultiHeadAttention(nn.Module):
    def __init__(self, d_model, num_heads, bias=True):
        super().__init__()
        self.inner = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
''', 7, "MultiheadAttention"),
    "F.softmax": ("softmax", "import torch.nn.functional as F\n\ndef softmax(x, dim=-1):\n    return F.softmax(x, dim)\n",
                  4, "softmax"),
    "Tensor.softmax": ("softmax", "import torch\n\ndef softmax(x, dim=-1):\n    return x.softmax(dim)\n", 4, "softmax"),
    "from-import": ("softmax", "import torch\nfrom torch.nn.functional import softmax as sm\n\ndef softmax(x, dim=-1):\n"
                    "    return sm(x, dim)\n", 2, "softmax"),
    "autograd in backward": ("softmax_backward", '''
import torch

class Softmax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, dim=-1):
        ctx.save_for_backward(x)
        ctx.dim = dim
        e = torch.exp(x - x.amax(dim, keepdim=True))
        return e / e.sum(dim, keepdim=True)

    @staticmethod
    def backward(ctx, d_p):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            x = x.detach().requires_grad_()
            e = torch.exp(x - x.amax(ctx.dim, keepdim=True))
            p = e / e.sum(ctx.dim, keepdim=True)
            return torch.autograd.grad(p, x, d_p)[0], None
''', 15, "enable_grad() in backward"),
}


@pytest.mark.parametrize("name", sorted(BANNED))
def test_the_librarys_own_op_is_refused_with_its_line_without_running(tmp_path, name):
    exercise_id, source, line, call = BANNED[name]
    report = grade_file(write(tmp_path, f"{exercise_id}.py", source), exercise_ids=[exercise_id])
    assert report.verdict == Verdict.BANNED_CALL and report.track == "torch"
    assert report.detail.params["line"] == line and report.detail.params["call"] == call
    assert report.sandbox == {}  # decided from the parsed file: nothing ran


def test_a_user_method_named_like_a_banned_op_is_not_refused():
    source = torch_reference("softmax").replace("def softmax(", "def softmax(") + '''

class Wrapper:
    def softmax(self, x):
        return softmax(x)

    def __call__(self, x):
        return self.softmax(x)
'''
    assert judge_source("softmax", source, "torch").verdict == Verdict.PASSED


# --- the references against torch's own ops (an independent oracle) ----------------------------------------


def test_the_mha_reference_agrees_with_nn_multiheadattention_and_sdpa():
    from mhaquiz.grader import inputs

    rng = np.random.default_rng(7)
    B, T, D, H = 2, 6, 16, 4
    x = torch.tensor(rng.standard_normal((B, T, D)))
    params = inputs.mha_params(rng, D)
    namespace = {}
    exec(torch_reference("mha_forward"), namespace)
    ours = namespace["MultiHeadAttention"](D, H).double()
    from mhaquiz.grader.torch_form import load_linears

    load_linears(ours, params)
    mask = torch.tensor(np.tril(np.ones((T, T), dtype=bool)))
    mha = torch.nn.MultiheadAttention(D, H, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.tensor(np.concatenate([params[f"W_{n}"].T for n in "qkv"])))
        mha.in_proj_bias.copy_(torch.tensor(np.concatenate([params[f"b_{n}"] for n in "qkv"])))
        mha.out_proj.weight.copy_(torch.tensor(params["W_o"].T))
        mha.out_proj.bias.copy_(torch.tensor(params["b_o"]))
        theirs, _ = mha(x, x, x, attn_mask=~mask)  # nn.MultiheadAttention: True = NOT allowed
        mine = ours(x, x, x, mask=mask)
    assert torch.allclose(mine, theirs, rtol=1e-12, atol=1e-12)


def test_the_softmax_references_agree_with_torch():
    namespace = {}
    exec(torch_reference("softmax"), namespace)
    x = torch.tensor(np.random.default_rng(3).standard_normal((3, 5, 7)) * 30)
    for dim in (0, 1, -1):
        assert torch.allclose(namespace["softmax"](x, dim), torch.softmax(x, dim), rtol=1e-13, atol=1e-15)
    exec(torch_reference("softmax_backward"), namespace)
    x1 = x.clone().requires_grad_()
    x2 = x.clone().requires_grad_()
    d = torch.tensor(np.random.default_rng(4).standard_normal(x.shape))
    namespace["Softmax"].apply(x1, 1).backward(d)
    torch.softmax(x2, 1).backward(d)
    assert torch.allclose(x1.grad, x2.grad, rtol=1e-12, atol=1e-14)
    assert torch.autograd.gradcheck(lambda t: namespace["Softmax"].apply(t, -1), (x[:2, :2].clone().requires_grad_(),))


# --- in the sandbox, where it is the subject -----------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_torch_file_is_graded_in_the_sandbox_in_its_track(tmp_path, mode):
    report = grade_file(write(tmp_path, "mha.py", torch_reference("mha_forward")), sandbox=mode, timeout=10)
    assert report.verdict == Verdict.PASSED and report.track == "torch"
    assert [exercise.id for exercise in report.exercises] == ["mha_forward"]
    assert report.exercises[0].efficiency.not_measured.key == "efficiency.numpy_only"


def test_without_torch_a_torch_file_gets_one_line_with_the_install_command(tmp_path, monkeypatch):
    import importlib.util

    from typer.testing import CliRunner

    from mhaquiz.cli import app

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    path = write(tmp_path, "mha.py", torch_reference("mha_forward"))
    result = CliRunner().invoke(app, ["grade", str(path), "--lang", "en"])
    assert result.exit_code == 2
    assert 'pip install "mhaquiz[torch]"' in result.output and "Traceback" not in result.output


def test_what_each_exercise_bans_is_declared_in_its_exercise_yaml_not_its_checks():
    """The banned list is read before the sandbox starts, from exercise.yaml (importing checks.py would import
    numpy on the critical path): every PyTorch exercise declares it, and no checks.py keeps a second copy."""
    for exercise in all_exercises():
        if "torch" in exercise.tracks:
            assert isinstance((exercise.meta.get("banned") or {}).get("torch"), list), exercise.id
        assert "\nBANNED = " not in exercise.checks_source, exercise.id
