"""flash_attention_backward: FlashAttention-2's backward from the saved O and L, in both tracks.

The reference agrees with torch autograd of plain attention (float64, with masks); the inputs the cases give as
the forward's (out, lse) are plain attention's; each catalogued mistake written as a one-edit buggy submission
is named as itself; correct submissions written differently (query tiles, keys in reverse order, D as a first
pass of rowsum(P ∘ dP); a PyTorch Function looping over query blocks) pass at several seeds; a backward that
builds the whole P fails the memory bound through the real sandbox in both modes. PyTorch: a forward that
keeps P (saved or on ctx), or saves no L, is refused with its message; gradcheck passes on the reference's
Function; the library's attention and autograd inside backward are refused unrun.
"""

import math

import numpy as np
import pytest

from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.measure import reference_peak
from mhaquiz.grader.spec import Tolerance
from mhaquiz.grader.verdict import Verdict
from mhaquiz.paths import content_dir
from tests.helpers import judge_source, reference_source, with_edits, write
from tests.test_grade_hostile import MODES

EXERCISE = "flash_attention_backward"


def checks():
    return get_exercise(EXERCISE).checks()


def cases(seed=0):
    return {case.name: case for case in checks().make_cases(seed)}


def torch_reference() -> str:
    return (content_dir("solutions") / "torch" / f"{EXERCISE}.py").read_text(encoding="utf-8")


def close(got, expected, name):
    """Within the grading tolerance (the case's scale taken from `expected` alone)."""
    scale = max(1.0, float(np.abs(expected).max()))
    tolerance = Tolerance()
    np.testing.assert_allclose(got, expected, rtol=tolerance.rtol, atol=tolerance.atol * scale, err_msg=name)


# --- the folder ----------------------------------------------------------------------------------------------

def test_the_exercise_comes_right_after_the_forward_in_both_tracks():
    exercise = get_exercise(EXERCISE)
    assert exercise.meta["order"] == 156 and get_exercise("flash_attention_forward").meta["order"] == 155
    assert exercise.meta["loops_expected"] is True
    assert exercise.tracks == ("numpy", "torch")
    assert exercise.functions == (EXERCISE,) and exercise.functions_for("torch") == ("FlashAttention",)
    assert 3 <= len(exercise.meta["hints"]) <= 6
    for lang in ("zh", "en"):
        for track in ("numpy", "torch"):
            assert exercise.prompt_for(lang, track).startswith("# ")
    assert "scaled_dot_product_attention" in exercise.meta["banned"]["torch"]


def test_the_chinese_torch_prompt_renders_without_a_stray_space():
    import re

    from tests.test_i18n import CJK, CJK_PUNCTUATION, bad_spaces

    prose = re.sub(r"```.*?```", "", get_exercise(EXERCISE).prompt_for("zh", "torch"), flags=re.S)
    lines = [line.strip() for line in prose.splitlines()]
    soft = re.findall(f"[{CJK}]\\n[ \\t]*[{CJK}]|[{CJK_PUNCTUATION}]\\n[ \\t]*[^\\s\\-*+>|#\\d]", prose)
    assert [bad_spaces(line) for line in lines if bad_spaces(line)] == [] and soft == []


def test_the_torch_hints_speak_pytorch_in_both_languages():
    from mhaquiz.practice import loop
    from tests.test_i18n import bad_spaces

    exercise = get_exercise(EXERCISE)
    zh, en = loop.hints(exercise, "zh", "torch"), loop.hints(exercise, "en", "torch")
    assert 3 <= len(zh) == len(en) and zh != loop.hints(exercise, "zh", "numpy")
    assert not any("np." in hint for hint in zh + en)  # the NumPy track's hints say np.broadcast_to ...
    assert any("torch." in hint for hint in en) and any("saved_tensors" in hint for hint in zh)
    assert [bad_spaces(hint) for hint in zh if bad_spaces(hint)] == []


@pytest.mark.parametrize("track", ["numpy", "torch"])
def test_the_stub_as_given_is_not_implemented(track):
    stub = get_exercise(EXERCISE).stub_path_for(track).read_text(encoding="utf-8")
    if track == "torch":
        pytest.importorskip("torch")
    assert judge_source(EXERCISE, stub, track).verdict == Verdict.NOT_IMPLEMENTED


# --- the cases are what they say ---------------------------------------------------------------------------

def test_the_cases_expose_what_their_descriptions_claim():
    found = cases()
    for name in ("sliding window", "left padding"):  # a query's first key block fully masked
        a = found[name].args
        mask = np.broadcast_to(a["mask"], a["q"].shape[:-2] + (a["q"].shape[-2], a["k"].shape[-2]))
        assert (~mask[..., :a["block_size"]]).all(axis=-1).any(), name
    for case in found.values():  # no query with every key masked: lse is finite
        assert np.isfinite(case.args["lse"]).all(), case.name
    square = found["square tiles, unbatched"].args
    assert square["q"].ndim == 2 and square["block_size"] == square["q"].shape[0]
    assert square["k"].shape[0] % square["block_size"] == 0 and square["k"].shape[1] != square["v"].shape[1]
    large = found["large logits"].args
    scores = large["q"] @ large["k"].swapaxes(-1, -2) / math.sqrt(large["q"].shape[-1])
    assert scores.min() > 709 and scores.max() - scores.min() < 20  # exp(S) overflows; the softmax is not one-hot
    assert found["causal, batch and heads"].args["q"].shape[-1] == found["causal, batch and heads"].args["v"].shape[-1]
    outscored = found["masked keys outscore"].args
    scores = outscored["q"] @ outscored["k"].swapaxes(-1, -2) / math.sqrt(outscored["q"].shape[-1])
    assert scores[outscored["mask"]].max() < -1e4 - 709  # a -1e4 fill: exp(-1e4 - L) overflows
    assert (scores[~outscored["mask"]] > 0).all()  # every masked key outscores


@pytest.mark.parametrize("seed", [0, 1])
def test_the_saved_out_and_lse_the_cases_give_are_plain_attentions(seed):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    for case in cases(seed).values():
        a = case.args
        q, k, v = (torch.from_numpy(np.ascontiguousarray(a[name])) for name in "qkv")
        mask = None if a["mask"] is None else torch.from_numpy(np.ascontiguousarray(a["mask"]))
        close(a["out"], F.scaled_dot_product_attention(q, k, v, attn_mask=mask).numpy(), case.name)
        scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        close(a["lse"], torch.logsumexp(scores, dim=-1).numpy(), case.name)


# --- the reference against torch autograd ---------------------------------------------------------------------

def autograd_gradients(a):
    """(dq, dk, dv) of sum(attention(q, k, v) * d_out) by torch autograd of plain float64 attention."""
    torch = pytest.importorskip("torch")
    q, k, v = (torch.tensor(a[name], dtype=torch.float64, requires_grad=True) for name in "qkv")
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if a["mask"] is not None:
        scores = scores.masked_fill(~torch.tensor(np.ascontiguousarray(a["mask"])), float("-inf"))
    out = torch.softmax(scores, dim=-1) @ v
    (out * torch.tensor(a["d_out"])).sum().backward()
    return q.grad.numpy(), k.grad.numpy(), v.grad.numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_reference_agrees_with_torch_autograd_on_every_case(seed):
    reference = get_exercise(EXERCISE).reference()
    for case in cases(seed).values():
        got = reference.flash_attention_backward(*case.args.values())
        for name, value, expected in zip("qkv", got, autograd_gradients(case.args)):
            close(value, expected, f"{case.name}: d{name}")


@pytest.mark.parametrize("block_size", [1, 2, 3, 5, 8, 13, 40])
def test_the_block_size_never_changes_the_gradients(block_size):
    rng = np.random.default_rng(7)
    q, k, v = rng.standard_normal((2, 3, 6, 4)), rng.standard_normal((2, 3, 13, 4)), rng.standard_normal((2, 3, 13, 5))
    mask = rng.random((2, 1, 6, 13)) < 0.6
    mask[..., 7] = True  # no query without keys
    out, lse = checks().attention(q, k, v, mask)
    args = {"q": q, "k": k, "v": v, "out": out, "lse": lse, "d_out": rng.standard_normal((2, 3, 6, 5)),
            "mask": mask, "block_size": block_size}
    got = get_exercise(EXERCISE).reference().flash_attention_backward(*args.values())
    for name, value, expected in zip("qkv", got, autograd_gradients(args)):
        close(value, expected, f"d{name}")


# --- the classic mistakes, each a one-edit buggy submission ---------------------------------------------------

_D = "dp -= D[..., None]  # (..., Tq, Bc)"
_P = "s -= lse[..., None]  # (..., Tq, Bc)\n    return np.exp(s, out=s)"
_DV = "dv_block = p.swapaxes(-1, -2) @ d_out"
_DQ = "dq_part = (ds @ k_block) * scale"
_DK = "dk_block = (ds.swapaxes(-1, -2) @ q) * scale"
BUGS = {  # mistake -> (edits, verdict: the shape-blind ones raise where the shapes differ)
    "d_from_block": ([(_D, "dp -= (p * dp).sum(axis=-1, keepdims=True)")], Verdict.WRONG_ANSWER),
    "d_broadcast_over_keys": ([(_D, "dp -= D")], Verdict.RUNTIME_ERROR),
    "no_scale_in_grads": ([(_DQ, "dq_part = ds @ k_block"), (_DK, "dk_block = ds.swapaxes(-1, -2) @ q")],
                          Verdict.WRONG_ANSWER),
    "mask_not_applied": ([("s = score_block(q, k_block, None if mask is None else mask[..., start:stop])",
                           "s = score_block(q, k_block, None)")], Verdict.WRONG_ANSWER),
    "mask_fill_too_small": ([("np.copyto(s, -np.inf, where=~mask_block)", "np.copyto(s, -1e4, where=~mask_block)")],
                            Verdict.WRONG_ANSWER),
    "block_max_not_lse": ([(_P, "m = s.max(axis=-1, keepdims=True)\n"
                                "    return np.exp(s - np.where(np.isneginf(m), 0.0, m))")], Verdict.WRONG_ANSWER),
    "exp_over_exp": ([(_P, "return np.exp(s) / np.exp(lse)[..., None]")], Verdict.WRONG_ANSWER),
    "dk_dv_swapped": ([("return dq_part, dk_block, dv_block", "return dq_part, dv_block, dk_block")],
                      Verdict.RUNTIME_ERROR),
    "transposes_missing": ([(_DV, "dv_block = p @ d_out"), (_DK, "dk_block = (ds @ q) * scale")],
                           Verdict.RUNTIME_ERROR),
    "last_block_only": ([("return dq + dq_part", "return dq_part")], Verdict.WRONG_ANSWER),
}


def test_every_catalogued_mistake_has_a_buggy_submission():
    assert {mutant.id for mutant in checks().MUTANTS} == set(BUGS)


@pytest.mark.parametrize("mistake", sorted(BUGS))
def test_a_buggy_submission_is_named_as_its_mistake(mistake):
    edits, verdict = BUGS[mistake]
    report = judge_source(EXERCISE, with_edits(reference_source(EXERCISE), *edits))
    assert report.verdict == verdict, report.detail and report.detail.text("en")
    assert [item.mistake for item in report.exercises[0].diagnosis] == [mistake]


# --- written differently, it passes --------------------------------------------------------------------------

QUERY_TILES_TWO_PASSES = '''
import numpy as np


def flash_attention_backward(q, k, v, out, lse, d_out, mask, block_size):
    """Query tiles of 256 outside, key blocks inside in reverse order; D as a first pass of rowsum(P * dP)."""
    Tq, Tk = q.shape[-2], k.shape[-2]
    scale = q.shape[-1] ** -0.5
    full = None if mask is None else np.broadcast_to(mask, q.shape[:-2] + (Tq, Tk))
    dq, dk, dv = np.zeros(q.shape), np.zeros(k.shape), np.zeros(v.shape)
    starts = list(range(0, Tk, block_size))[::-1]
    for i in range(0, Tq, 256):
        qi, Li, dOi = q[..., i:i + 256, :], lse[..., i:i + 256], d_out[..., i:i + 256, :]

        def tile(j):
            s = np.einsum("...qd,...kd->...qk", qi, k[..., j:j + block_size, :]) * scale
            if full is not None:
                s = np.where(full[..., i:i + 256, j:j + block_size], s, -np.inf)
            return np.exp(s - Li[..., None]), dOi @ np.swapaxes(v[..., j:j + block_size, :], -1, -2)

        Di = np.zeros(Li.shape)
        for j in starts:
            P, dP = tile(j)
            Di += np.einsum("...qk,...qk->...q", P, dP)
        for j in starts:
            P, dP = tile(j)
            dS = P * (dP - Di[..., None])
            dv[..., j:j + block_size, :] += np.swapaxes(P, -1, -2) @ dOi
            dk[..., j:j + block_size, :] += np.swapaxes(dS, -1, -2) @ qi * scale
            dq[..., i:i + 256, :] += dS @ k[..., j:j + block_size, :] * scale
    return dq, dk, dv
'''

TORCH_QUERY_AND_KEY_TILES = '''
import math
import torch


class FlashAttention(torch.autograd.Function):
    """Query blocks outside, key blocks inside (FlashAttention-2's loop order), nothing in place, mask on ctx."""

    @staticmethod
    def forward(ctx, q, k, v, mask, block_size):
        Tq, Tk = q.shape[-2], k.shape[-2]
        scale = 1 / math.sqrt(q.shape[-1])
        outs, lses = [], []
        for qs in range(0, Tq, 256):
            qb = q[..., qs:qs + 256, :]
            m = torch.full(qb.shape[:-1], -math.inf, dtype=q.dtype)
            l = torch.zeros(qb.shape[:-1], dtype=q.dtype)
            o = torch.zeros(qb.shape[:-1] + (v.shape[-1],), dtype=q.dtype)
            for ks in range(0, Tk, block_size):
                s = torch.matmul(qb, k[..., ks:ks + block_size, :].transpose(-2, -1)) * scale
                if mask is not None:
                    mb = mask.expand(q.shape[:-2] + (Tq, Tk))[..., qs:qs + 256, ks:ks + block_size]
                    s = torch.where(mb, s, torch.tensor(-math.inf, dtype=s.dtype))
                new_m = torch.maximum(m, s.max(dim=-1).values)
                shift = torch.where(torch.isinf(new_m), torch.zeros_like(new_m), new_m)
                p = torch.exp(s - shift.unsqueeze(-1))
                a = torch.exp(m - shift)
                l = a * l + p.sum(-1)
                o = a.unsqueeze(-1) * o + p @ v[..., ks:ks + block_size, :]
                m = new_m
            outs.append(o / l.unsqueeze(-1))
            lses.append(m + torch.log(l))
        O, L = torch.cat(outs, dim=-2), torch.cat(lses, dim=-1)
        ctx.save_for_backward(q, k, v, O, L)
        ctx.mask, ctx.block_size = mask, block_size
        return O

    @staticmethod
    def backward(ctx, dO):
        q, k, v, O, L = ctx.saved_tensors
        mask, bs = ctx.mask, ctx.block_size
        Tq, Tk = q.shape[-2], k.shape[-2]
        scale = 1 / math.sqrt(q.shape[-1])
        Dvec = torch.sum(dO * O, dim=-1)
        dQ, dK, dV = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
        for qs in range(0, Tq, 256):
            qb, dOb = q[..., qs:qs + 256, :], dO[..., qs:qs + 256, :]
            for ks in range(0, Tk, bs):
                kb, vb = k[..., ks:ks + bs, :], v[..., ks:ks + bs, :]
                s = torch.matmul(qb, kb.transpose(-2, -1)) * scale
                if mask is not None:
                    mb = mask.expand(q.shape[:-2] + (Tq, Tk))[..., qs:qs + 256, ks:ks + bs]
                    s = torch.where(mb, s, torch.tensor(-math.inf, dtype=s.dtype))
                P = torch.exp(s - L[..., qs:qs + 256].unsqueeze(-1))
                dV[..., ks:ks + bs, :] += P.transpose(-2, -1) @ dOb
                dP = dOb @ vb.transpose(-2, -1)
                dS = P * (dP - Dvec[..., qs:qs + 256].unsqueeze(-1))
                dQ[..., qs:qs + 256, :] += dS @ kb * scale
                dK[..., ks:ks + bs, :] += dS.transpose(-2, -1) @ qb * scale
        return dQ, dK, dV, None, None
'''


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_query_tiles_keys_in_reverse_and_d_as_a_first_pass_pass_values_and_memory(seed):
    report = judge_source(EXERCISE, QUERY_TILES_TWO_PASSES, "numpy", seed)
    assert report.verdict == Verdict.PASSED, report.detail and report.detail.text("en")
    assert report.exercises[0].memory["passed"] is True


@pytest.mark.parametrize("seed", [0, 3])  # the NumPy one above covers 0..3; each torch run is ~10 s here
def test_a_torch_function_tiling_queries_and_keys_passes_values_and_memory(seed):
    pytest.importorskip("torch")
    report = judge_source(EXERCISE, TORCH_QUERY_AND_KEY_TILES, "torch", seed)
    assert report.verdict == Verdict.PASSED, report.detail and report.detail.text("en")
    assert report.exercises[0].memory["passed"] is True


# --- memory ---------------------------------------------------------------------------------------------------

FULL_P = '''
import numpy as np


def flash_attention_backward(q, k, v, out, lse, d_out, mask, block_size):
    """Right, but the whole (Tq, Tk) P, dP and dS at once."""
    scale = q.shape[-1] ** -0.5
    s = q @ np.swapaxes(k, -1, -2) * scale
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    p = np.exp(s - lse[..., None])
    ds = p * (d_out @ np.swapaxes(v, -1, -2) - (d_out * out).sum(-1, keepdims=True))
    return ds @ k * scale, np.swapaxes(ds, -1, -2) @ q * scale, np.swapaxes(p, -1, -2) @ d_out
'''

FLOAT32_P_KEPT = '''
import numpy as np


def flash_attention_backward(q, k, v, out, lse, d_out, mask, block_size):
    """Tiled, but every tile's P kept (as float32, even) for a second loop: a (Tq, Tk) matrix again."""
    scale = q.shape[-1] ** -0.5
    D = (d_out * out).sum(-1)
    tiles = []
    for start in range(0, k.shape[-2], block_size):
        s = q @ np.swapaxes(k[..., start:start + block_size, :], -1, -2) * scale
        if mask is not None:
            s = np.where(np.broadcast_to(mask, s.shape[:-1] + (k.shape[-2],))[..., start:start + block_size], s, -np.inf)
        tiles.append(np.exp(s - lse[..., None]).astype(np.float32))
    dq, dk, dv = np.zeros(q.shape), np.zeros(k.shape), np.zeros(v.shape)
    for index, start in enumerate(range(0, k.shape[-2], block_size)):
        p = tiles[index].astype(np.float64)
        ds = p * (d_out @ np.swapaxes(v[..., start:start + block_size, :], -1, -2) - D[..., None])
        dv[..., start:start + block_size, :] = np.swapaxes(p, -1, -2) @ d_out
        dk[..., start:start + block_size, :] = np.swapaxes(ds, -1, -2) @ q * scale
        dq += ds @ k[..., start:start + block_size, :] * scale
    return dq, dk, dv
'''


def test_the_bound_is_half_a_full_matrix_and_the_reference_peaks_far_below_it():
    case = checks().memory_case(0)
    full = case.args["q"].shape[-2] * case.args["k"].shape[-2] * 8
    assert checks().memory_limit(case) == full // 2
    assert reference_peak(EXERCISE, 0) <= full // 8  # a quarter of the bound: tiles, not matrices


def test_keeping_every_tile_of_p_even_as_float32_is_over_the_bound():
    case = checks().memory_case(0)
    assert reference_peak(EXERCISE, 0, source=FLOAT32_P_KEPT, track="numpy") > checks().memory_limit(case)


@pytest.mark.parametrize("mode", MODES)
def test_a_backward_that_builds_the_whole_p_fails_the_memory_bound_in_the_sandbox(tmp_path, mode):
    report = grade_file(write(tmp_path, "fab.py", FULL_P), exercise_ids=[EXERCISE], sandbox=mode, timeout=30)
    assert report.verdict == Verdict.MEMORY_LIMIT, report.detail and report.detail.text("en")
    result = report.exercises[0]
    assert all(case.passed for case in result.cases)  # right values: only the memory is wrong
    assert result.memory["peak"] >= 2048 * 2048 * 8 > result.memory["limit"]  # a full float64 (Tq, Tk) matrix


@pytest.mark.parametrize("mode", MODES)
def test_the_reference_passes_in_the_sandbox_with_room_to_spare(tmp_path, mode):
    report = grade_file(write(tmp_path, "fab.py", reference_source(EXERCISE)), exercise_ids=[EXERCISE], sandbox=mode,
                        timeout=30)
    assert report.verdict == Verdict.PASSED, report.detail and report.detail.text("en")
    memory = report.exercises[0].memory
    assert memory["passed"] and memory["peak"] <= memory["limit"] / 2


# --- the PyTorch track: what forward saved -------------------------------------------------------------------

SAVES_P = '''
import math
import torch


class FlashAttention(torch.autograd.Function):
    """Right numbers, but forward keeps the whole P for backward (the memory FlashAttention exists to save)."""

    @staticmethod
    def forward(ctx, q, k, v, mask, block_size):
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        if mask is not None:
            s = s.masked_fill(~mask, float("-inf"))
        L = torch.logsumexp(s, dim=-1)
        P = torch.exp(s - L[..., None])
        O = P @ v
        KEEP
        return O

    @staticmethod
    def backward(ctx, dO):
        q, k, v, O, L = ctx.saved_tensors[:5]
        P = ctx.saved_tensors[5] if len(ctx.saved_tensors) > 5 else ctx.P
        scale = 1 / math.sqrt(q.shape[-1])
        dS = P * (dO @ v.transpose(-1, -2) - (dO * O).sum(-1, keepdim=True))
        return dS @ k * scale, dS.transpose(-1, -2) @ q * scale, P.transpose(-1, -2) @ dO, None, None
'''


@pytest.mark.parametrize("keep, where", [("ctx.save_for_backward(q, k, v, O, L, P)", "saved tensor"),
                                         ("ctx.save_for_backward(q, k, v, O, L); ctx.P = P", "ctx.P")])
def test_a_forward_that_keeps_p_is_refused_with_the_reason(keep, where):
    pytest.importorskip("torch")
    report = judge_source(EXERCISE, SAVES_P.replace("KEEP", keep), "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    first = report.exercises[0].cases[0]  # ragged last block: (2, 5, 11) scores
    assert first.error["type"] == "ValueError"
    assert f"forward kept a tensor of shape (2, 5, 11) ({where})" in first.error["message"]
    assert "Save only O and L" in first.error["message"]


def test_a_forward_that_saves_m_and_l_instead_of_their_lse_is_told_to_save_l():
    pytest.importorskip("torch")
    source = with_edits(torch_reference(), ("ctx.save_for_backward(q, k, v, mask, out, lse)",
                                            "ctx.save_for_backward(q, k, v, mask, out, m, l)"),
                        ("q, k, v, mask, out, lse = ctx.saved_tensors", "q, k, v, mask, out, m, l = ctx.saved_tensors\n"
                                                                         "        lse = m + torch.log(l)"))
    report = judge_source(EXERCISE, source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    message = report.exercises[0].cases[0].error["message"]
    assert message.startswith("forward must save L, the log-sum-exp of each query's scores, shape (2, 5)")


def test_the_torch_reference_passes_in_the_sandbox_within_the_bound(tmp_path):
    pytest.importorskip("torch")
    report = grade_file(write(tmp_path, f"{EXERCISE}.py", torch_reference()), timeout=30)
    assert report.verdict == Verdict.PASSED and report.track == "torch", report.detail and report.detail.text("en")
    memory = report.exercises[0].memory
    assert memory["passed"] and memory["peak"] <= 0.6 * memory["limit"]


def test_the_torch_reference_passes_gradcheck_in_float64():
    torch = pytest.importorskip("torch")
    namespace = {}
    exec(torch_reference(), namespace)
    flash = namespace["FlashAttention"]
    generator = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, shape, 4, dtype=torch.float64, generator=generator, requires_grad=True)
               for shape in (5, 7, 7))
    mask = torch.rand(2, 5, 7, generator=generator) < 0.6
    mask[..., 2] = True  # no query without keys
    for block_size, m in ((3, mask), (2, None), (16, mask)):
        assert torch.autograd.gradcheck(lambda q, k, v: flash.apply(q, k, v, m, block_size), (q, k, v))


def test_the_torch_reference_saves_o_l_and_nothing_of_the_matrix():
    torch = pytest.importorskip("torch")
    namespace = {}
    exec(torch_reference(), namespace)
    case = cases()["causal, batch and heads"]
    q, k, v = (torch.tensor(case.args[name], requires_grad=True) for name in "qkv")
    mask = torch.tensor(case.args["mask"])
    out = namespace["FlashAttention"].apply(q, k, v, mask, 4)
    saved = out.grad_fn.saved_tensors
    assert [tuple(tensor.shape) for tensor in saved] == [(2, 3, 9, 6)] * 3 + [(2, 3, 9, 9), (2, 3, 9, 6), (2, 3, 9)]
    assert saved[3].untyped_storage().data_ptr() == mask.untyped_storage().data_ptr()  # the mask given, expanded: a view
    assert torch.equal(saved[4], out) and torch.allclose(saved[5], torch.tensor(case.args["lse"]), rtol=1e-13)  # O, L


def test_a_naive_torch_backward_is_right_but_over_the_memory_bound():
    pytest.importorskip("torch")
    source = SAVES_P.replace("KEEP", "ctx.save_for_backward(q, k, v, O, L); ctx.mask = mask").replace(
        "P = ctx.saved_tensors[5] if len(ctx.saved_tensors) > 5 else ctx.P",
        "s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])\n"
        "        if ctx.mask is not None:\n"
        "            s = s.masked_fill(~ctx.mask, float('-inf'))\n"
        "        P = torch.exp(s - L[..., None])")
    report = judge_source(EXERCISE, source, "torch")
    assert report.verdict == Verdict.MEMORY_LIMIT, report.detail and report.detail.text("en")
    assert all(case.passed for case in report.exercises[0].cases)


def refused(tmp_path, source):
    report = grade_file(write(tmp_path, f"{EXERCISE}.py", source), exercise_ids=[EXERCISE])
    assert report.verdict == Verdict.BANNED_CALL and report.track == "torch"
    return report.detail.params["line"], report.detail.params["call"]


def test_sdpa_and_autograd_inside_backward_are_refused_unrun(tmp_path):
    pytest.importorskip("torch")
    sdpa = with_edits(torch_reference(), ("        out = acc / l[..., None]  # (..., Tq, dv)",
                                          "        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, mask)"))
    line = sdpa.splitlines().index("        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, mask)") + 1
    assert refused(tmp_path, sdpa) == (line, "scaled_dot_product_attention")
    autograd = with_edits(torch_reference(), ("        D = (d_out * out).sum(dim=-1)",
                                              "        (out * d_out).sum().backward()\n"
                                              "        D = (d_out * out).sum(dim=-1)"))
    line = autograd.splitlines().index("        (out * d_out).sum().backward()") + 1
    assert refused(tmp_path, autograd) == (line, "backward() in backward")
