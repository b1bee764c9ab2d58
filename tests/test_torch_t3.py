"""The PyTorch forms of sampling, flash_attention_forward, chunked_prefill, moe_forward, transformer_block and
mla_forward: written differently they pass; their classic mistakes written in PyTorch are named as the NumPy
catalogue names them; the library's own op is refused with its line; the references agree with torch's own ops
(or an independent formulation where torch has none); FlashAttention's memory bound holds in the sandbox for
the tiled reference and not for a naive version.

Numbers are checked in-process (tests/helpers.judge_source runs a submission as a runner would, the memory case
included); the sandbox is run where it is the subject. Skipped as a whole without torch.
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is optional: pip install 'mhaquiz[torch]'")

import torch.nn.functional as F  # noqa: E402

from mhaquiz.grader.grade import grade_file  # noqa: E402
from mhaquiz.grader.verdict import Verdict  # noqa: E402
from mhaquiz.paths import content_dir  # noqa: E402
from tests.helpers import judge_source, with_edits, write  # noqa: E402


def torch_reference(exercise_id: str) -> str:
    return (content_dir("solutions") / "torch" / f"{exercise_id}.py").read_text(encoding="utf-8")


def reference_namespace(exercise_id: str) -> dict:
    namespace = {}
    exec(torch_reference(exercise_id), namespace)
    return namespace


def passes(exercise_id, source, seed):
    report = judge_source(exercise_id, source, "torch", seed)
    assert report.verdict == Verdict.PASSED, report.detail and report.detail.text("en")


def named(exercise_id, source):
    """The mistakes the report names (precision and missing outputs aside), after checking it is a wrong answer."""
    report = judge_source(exercise_id, source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER, (report.verdict, report.detail and report.detail.text("en"))
    return [item.mistake for item in report.exercises[0].diagnosis if item.mistake not in ("precision", "missing_outputs")]


def refused(tmp_path, exercise_id, source):
    """(line, call) of the banned call grade_file reports, checking nothing ran."""
    report = grade_file(write(tmp_path, f"{exercise_id}.py", source), exercise_ids=[exercise_id])
    assert report.verdict == Verdict.BANNED_CALL and report.track == "torch"
    assert report.sandbox == {}  # decided from the parsed file
    return report.detail.params["line"], report.detail.params["call"]


def t(array):
    return torch.tensor(array, dtype=torch.float64)


# === sampling ================================================================================================

SAMPLING_PER_ROW = '''
import torch

def sample(logits, u, temperature, top_k=None, top_p=None):
    z = logits / temperature
    p = (z - z.max(dim=-1, keepdim=True).values).exp()
    p = p / p.sum(dim=-1, keepdim=True)
    N, V = p.shape
    tokens = torch.zeros(N, dtype=torch.int32)
    final = torch.zeros_like(p)
    for n in range(N):                                   # one row at a time, ranked by Python's sort
        order = sorted(range(V), key=lambda i: (-p[n, i].item(), i))
        ps = p[n, order]
        if top_k is not None:
            ps = ps[:top_k] / ps[:top_k].sum()
        if top_p is not None:
            c = torch.cumsum(ps, 0)
            n_keep = int((torch.cat([c.new_zeros(1), c[:-1]]) < top_p).sum())
            ps = ps[:n_keep]
        ps = ps / ps.sum()
        c = torch.cumsum(ps, 0)
        rank = min(int((c <= u[n]).sum()), int((ps > 0).sum()) - 1)
        tokens[n] = order[rank]
        final[n, order[:len(ps)]] = ps
    return {"tokens": tokens, "probs": final}
'''

SAMPLING_BUGS = {
    "temperature_multiplies_logits": [("torch.softmax(logits / temperature", "torch.softmax(logits * temperature")],
    "sorted_ascending": [("descending=True, stable=True", "descending=False, stable=True")],
    "draw_non_strict": [("(sorted_q.cumsum(-1) <= u[:, None])", "(sorted_q.cumsum(-1) < u[:, None])")],
    "top_k_keeps_one_more": [("torch.arange(V) < top_k", "torch.arange(V) <= top_k")],
    "top_p_strict": [("keep &= before < top_p", "keep &= before <= top_p")],
}


@pytest.mark.parametrize("seed", [0, 3])
def test_sampling_written_row_by_row_passes(seed):
    passes("sampling", SAMPLING_PER_ROW, seed)


@pytest.mark.parametrize("mutant", sorted(SAMPLING_BUGS))
def test_sampling_mistakes_written_in_pytorch_are_named(mutant):
    assert named("sampling", with_edits(torch_reference("sampling"), *SAMPLING_BUGS[mutant])) == [mutant]


TIED_SAMPLING_CASES = {"top-k with a tie", "p on a cumulative value", "greedy with a tied max"}


def test_sampling_with_torch_topk_fails_only_where_probabilities_tie_and_no_order_is_guessed():
    # torch.topk promises no order among equal values: neither lower nor higher id first, so no mutant is named
    source = with_edits(torch_reference("sampling"), ("torch.sort(probs, dim=-1, descending=True, stable=True)",
                                                      "torch.topk(probs, V, dim=-1)"))
    report = judge_source("sampling", source, "torch")
    failing = {case.name for case in report.exercises[0].cases if case.verdict != Verdict.PASSED}
    assert report.verdict == Verdict.WRONG_ANSWER and failing and failing <= TIED_SAMPLING_CASES, failing
    assert [item.mistake for item in report.exercises[0].diagnosis] == []


def test_sampling_refuses_torch_multinomial(tmp_path):
    source = ("import torch\n\ndef sample(logits, u, temperature, top_k=None, top_p=None):\n"
              "    probs = torch.softmax(logits / temperature, dim=-1)\n"
              "    return {'tokens': torch.multinomial(probs, 1)[:, 0], 'probs': probs}\n")
    assert refused(tmp_path, "sampling", source) == (5, "multinomial")


def hugging_face_warpers(logits, temperature, top_k, top_p):
    """The final distribution as Hugging Face's TemperatureLogitsWarper, TopKLogitsWarper and TopPLogitsWarper
    compute it (scores filled with -inf, top-p on an ascending sort keeping what is above 1 - top_p)."""
    scores = logits / temperature
    if top_k is not None:
        threshold = torch.topk(scores, top_k)[0][..., -1, None]
        scores = scores.masked_fill(scores < threshold, float("-inf"))
    if top_p is not None:
        sorted_logits, sorted_indices = torch.sort(scores, descending=False)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove = cumulative <= (1 - top_p)
        remove[..., -1:] = False
        scores = scores.masked_fill(remove.scatter(1, sorted_indices, remove), float("-inf"))
    return torch.softmax(scores, dim=-1)


@pytest.mark.parametrize("top_k, top_p", [(None, 0.9), (7, None), (12, 0.8), (None, None)])
def test_the_sampling_reference_agrees_with_hugging_faces_warpers(top_k, top_p):
    sample = reference_namespace("sampling")["sample"]
    rng = np.random.default_rng(5)
    logits = t(2.0 * rng.standard_normal((6, 40)))  # no ties, no cumulative sum exactly at the threshold
    result = sample(logits, t(rng.random(6)), 0.8, top_k, top_p)
    expected = hugging_face_warpers(logits, 0.8, top_k, top_p)
    assert torch.allclose(result["probs"], expected, rtol=1e-12, atol=1e-15)
    cdf = torch.cumsum(expected.sort(dim=-1, descending=True).values, dim=-1)
    assert result["tokens"].dtype == torch.int64 and bool((expected.gather(1, result["tokens"][:, None]) > 0).all())
    assert cdf.shape == expected.shape


# === flash_attention_forward ===================================================================================

FLASH_QUERY_BLOCKS_AND_LOOPS = '''
import math
import torch

def flash_attention_forward(q, k, v, mask, block_size):
    Tq, Tk = q.shape[-2], k.shape[-2]
    d = q.shape[-1]
    m = q.new_full(q.shape[:-1], -math.inf)
    l = q.new_zeros(q.shape[:-1])
    o = q.new_zeros(q.shape[:-1] + v.shape[-1:])
    starts = list(range(0, Tk, block_size))
    for start in starts:                           # key blocks, the running state kept in log space
        kb, vb = k[..., start:start + block_size, :], v[..., start:start + block_size, :]
        s = torch.matmul(q, kb.transpose(-2, -1)) / math.sqrt(d)
        if mask is not None:
            mb = mask[..., start:start + block_size]
            s = torch.where(mb, s, torch.tensor(-math.inf, dtype=s.dtype))
        block_max = s.max(dim=-1).values
        new_m = torch.maximum(m, block_max)
        shift = torch.where(new_m == -math.inf, torch.zeros_like(new_m), new_m)
        p = torch.exp(s - shift.unsqueeze(-1))
        scale_old = torch.exp(m - shift)
        l = l * scale_old + p.sum(-1)
        o = o * scale_old.unsqueeze(-1) + torch.matmul(p, vb)
        m = new_m
    return o / l.unsqueeze(-1), m + l.log()
'''

FLASH_NAIVE = '''
import math
import torch

def flash_attention_forward(q, k, v, mask, block_size):
    s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])   # the whole (Tq, Tk) matrix: 32 MiB at 2048
    if mask is not None:
        s = s.masked_fill(~mask, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    return torch.exp(s - lse[..., None]) @ v, lse
'''

FLASH_BUGS = {
    "output_not_rescaled": [("acc = alpha[..., None] * acc + p @ v", "acc = acc + p @ v")],
    "lse_without_max": [("m + torch.log(l)  #", "torch.log(l)  #")],
    "masked_block_nan": [("m_safe = torch.where(torch.isneginf(m_new), torch.zeros_like(m_new), m_new)",
                          "m_safe = m_new")],
    "tail_block_dropped": [("range(0, Tk, block_size)", "range(0, Tk - block_size + 1, block_size)")],
    "mask_fill_too_small": [('s.masked_fill_(~mask[..., start:stop], float("-inf"))',
                             "s.masked_fill_(~mask[..., start:stop], -1e4)")],
    "no_scale": [("q = q * scale", "q = q")],
}


@pytest.mark.parametrize("seed", [0, 3])
def test_flash_written_differently_passes_values_and_memory(seed):
    passes("flash_attention_forward", FLASH_QUERY_BLOCKS_AND_LOOPS, seed)


@pytest.mark.parametrize("mutant", sorted(FLASH_BUGS))
def test_flash_mistakes_written_in_pytorch_are_named(mutant):
    assert named("flash_attention_forward", with_edits(torch_reference("flash_attention_forward"),
                                                       *FLASH_BUGS[mutant])) == [mutant]


def test_flash_naive_torch_is_right_but_over_the_memory_bound_in_process():
    report = judge_source("flash_attention_forward", FLASH_NAIVE, "torch")
    assert report.verdict == Verdict.MEMORY_LIMIT
    assert all(case.verdict == Verdict.PASSED for case in report.exercises[0].cases)


def test_flash_memory_in_the_sandbox_the_tiled_reference_passes_and_the_naive_version_does_not(tmp_path):
    tiled = grade_file(write(tmp_path, "flash_attention_forward.py", torch_reference("flash_attention_forward")),
                       timeout=30)
    assert tiled.verdict == Verdict.PASSED and tiled.track == "torch", tiled.detail and tiled.detail.text("en")
    memory = tiled.exercises[0].memory
    assert memory["passed"] and memory["peak"] < memory["limit"] / 1.5  # ~4.3 MiB of 8 measured here: a margin, not luck
    (tmp_path / "naive").mkdir()
    naive = grade_file(write(tmp_path / "naive", "flash_attention_forward.py", FLASH_NAIVE), timeout=30)
    assert naive.verdict == Verdict.MEMORY_LIMIT, naive.detail and naive.detail.text("en")
    assert naive.exercises[0].memory["peak"] > 32 * 2 ** 20  # the full float64 score matrix, at least


def test_flash_refuses_scaled_dot_product_attention(tmp_path):
    source = ("import torch\nimport torch.nn.functional as F\n\n"
              "def flash_attention_forward(q, k, v, mask, block_size):\n"
              "    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)\n"
              "    return out, None\n")
    assert refused(tmp_path, "flash_attention_forward", source) == (5, "scaled_dot_product_attention")


def test_the_flash_reference_agrees_with_sdpa_and_logsumexp():
    flash = reference_namespace("flash_attention_forward")["flash_attention_forward"]
    rng = np.random.default_rng(11)
    q, k, v = t(rng.standard_normal((2, 3, 13, 8))), t(rng.standard_normal((2, 3, 21, 8))), t(rng.standard_normal((2, 3, 21, 5)))
    mask = torch.tensor(rng.random((2, 1, 13, 21)) < 0.7)
    mask[..., 0] = True  # no row fully masked
    out, lse = flash(q, k, v, mask, 4)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-13)
    scores = (q @ k.transpose(-1, -2) / math.sqrt(8)).masked_fill(~mask, float("-inf"))
    assert torch.allclose(lse, torch.logsumexp(scores, dim=-1), rtol=1e-13, atol=1e-13)


# === chunked_prefill ==========================================================================================

CHUNKED_TRIL = '''
import math
import torch

def chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None):
    P, T = k_cache.size(2), q.size(2)
    keys = torch.cat((k_cache, k_new), dim=2)
    values = torch.cat((v_cache, v_new), dim=2)
    allowed = torch.ones(T, P + T, dtype=torch.bool).tril(diagonal=P)
    if window is not None:
        allowed &= ~torch.ones(T, P + T, dtype=torch.bool).tril(diagonal=P - window)
    att = torch.einsum("bhqd,bhkd->bhqk", q, keys) * (1.0 / math.sqrt(q.size(-1)))
    att = att.masked_fill(allowed.logical_not(), -math.inf)
    att = torch.exp(att - att.amax(dim=-1, keepdim=True))
    att = att / att.sum(dim=-1, keepdim=True)
    return torch.einsum("bhqk,bhkd->bhqd", att, values), keys, values
'''

CHUNKED_BUGS = {
    "tril_without_offset": [("q_pos = P + torch.arange(T_new)[:, None]", "q_pos = torch.arange(T_new)[:, None]")],
    "new_before_cache": [("torch.cat([k_cache, k_new], dim=-2)", "torch.cat([k_new, k_cache], dim=-2)"),
                         ("torch.cat([v_cache, v_new], dim=-2)", "torch.cat([v_new, v_cache], dim=-2)")],
    "window_one_too_many": [("(k_pos > q_pos - window)", "(k_pos >= q_pos - window)")],
    "no_scale": [(" / math.sqrt(q.shape[-1])", "")],
}


@pytest.mark.parametrize("seed", [0, 3])
def test_chunked_prefill_with_torch_tril_and_einsum_passes(seed):
    passes("chunked_prefill", CHUNKED_TRIL, seed)


@pytest.mark.parametrize("mutant", sorted(CHUNKED_BUGS))
def test_chunked_prefill_mistakes_written_in_pytorch_are_named(mutant):
    assert named("chunked_prefill", with_edits(torch_reference("chunked_prefill"), *CHUNKED_BUGS[mutant])) == [mutant]


def test_chunked_prefill_torch_tril_without_its_diagonal_is_the_tril_without_offset():
    source = with_edits(CHUNKED_TRIL, (".tril(diagonal=P)", ".tril()"), (".tril(diagonal=P - window)", ".tril(diagonal=-window)"))
    assert named("chunked_prefill", source) == ["tril_without_offset"]


def test_chunked_prefill_refuses_sdpa_whose_is_causal_is_top_left_aligned(tmp_path):
    source = ("import torch\nimport torch.nn.functional as F\n\n"
              "def chunked_prefill(q, k_cache, v_cache, k_new, v_new, window=None):\n"
              "    k, v = torch.cat([k_cache, k_new], -2), torch.cat([v_cache, v_new], -2)\n"
              "    return F.scaled_dot_product_attention(q, k, v, is_causal=True), k, v\n")
    assert refused(tmp_path, "chunked_prefill", source) == (6, "scaled_dot_product_attention")


@pytest.mark.parametrize("P, T_new, window", [(0, 5, None), (7, 4, None), (6, 3, 4), (9, 1, 3)])
def test_the_chunked_prefill_reference_agrees_with_sdpa(P, T_new, window):
    chunked_prefill = reference_namespace("chunked_prefill")["chunked_prefill"]
    rng = np.random.default_rng([P, T_new])
    q, k_new, v_new = (t(rng.standard_normal((2, 3, T_new, 6))) for _ in range(3))
    k_cache, v_cache = t(rng.standard_normal((2, 3, P, 6))), t(rng.standard_normal((2, 3, P, 6)))
    out, k, v = chunked_prefill(q, k_cache, v_cache, k_new, v_new, window)
    i, j = torch.arange(T_new)[:, None] + P, torch.arange(P + T_new)[None, :]
    mask = (j <= i) & (True if window is None else j > i - window)
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), rtol=1e-12, atol=1e-13)
    assert torch.equal(k[..., :P, :], k_cache) and torch.equal(v[..., P:, :], v_new)
    if P:  # SDPA's is_causal aligns to the top left: the chunk's mask needs the offset
        assert not torch.allclose(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))


# === moe_forward ==============================================================================================

MOE_HF_NAMES = '''
import torch
from torch import nn

class Expert(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)     # created first, on purpose
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)

    def forward(self, x):
        g = self.gate_proj(x)
        return self.down_proj(g * torch.sigmoid(g) * self.up_proj(x))

class MoE(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k, capacity_factor=None, alpha=0.01):
        super().__init__()
        torch.manual_seed(7)
        self.experts = nn.ModuleList([Expert(d_model, d_ff) for _ in range(num_experts)])
        self.router = nn.Linear(d_model, num_experts, bias=False)
        self.k, self.cf, self.alpha = top_k, capacity_factor, alpha

    def forward(self, x):
        T, E = x.shape[0], len(self.experts)
        logits = self.router(x)
        probs = torch.exp(logits - logits.max(-1, keepdim=True).values)
        probs = probs / probs.sum(-1, keepdim=True)
        ids = torch.argsort(-probs, dim=-1, stable=True)[:, :self.k]
        top = probs.gather(1, ids)
        gates = top / top.sum(-1, keepdim=True)
        cap = T * self.k if self.cf is None else int(self.cf * T * self.k / E)
        used = [0] * E
        y = torch.zeros_like(x)
        for t in range(T):                       # token order decides who gets the slots
            for j in range(self.k):
                e = int(ids[t, j])
                if used[e] < cap:
                    y[t] += gates[t, j] * self.experts[e](x[t:t + 1])[0]
                used[e] += 1
        counts = torch.zeros(E, dtype=x.dtype).index_add_(0, ids.flatten(), torch.ones(ids.numel(), dtype=x.dtype))
        aux = self.alpha * E * torch.dot(counts / ids.numel(), probs.mean(0))
        return {"y": y, "aux_loss": aux, "expert_ids": ids, "gates": gates}
'''

MOE_STACKED = '''
import torch
import torch.nn.functional as F
from torch import nn

class MoE(nn.Module):
    def __init__(self, d_model, d_ff, num_experts, top_k, capacity_factor=None, alpha=0.01):
        super().__init__()
        self.W1 = nn.Parameter(torch.randn(num_experts, d_model, d_ff))
        self.W2 = nn.Parameter(torch.randn(num_experts, d_ff, d_model))
        self.W3 = nn.Parameter(torch.randn(num_experts, d_model, d_ff))
        self.w_g = nn.Parameter(torch.randn(d_model, num_experts))
        self.top_k, self.capacity_factor, self.alpha = top_k, capacity_factor, alpha

    def forward(self, x):
        T, E, k = x.shape[0], self.w_g.shape[1], self.top_k
        probs = torch.softmax(x @ self.w_g, dim=-1)
        top, ids = probs.sort(dim=-1, descending=True, stable=True)
        top, ids = top[:, :k], ids[:, :k]
        gates = top / top.sum(-1, keepdim=True)
        C = T * k if self.capacity_factor is None else int(self.capacity_factor * T * k // E)
        one_hot = F.one_hot(ids.reshape(-1), E)
        kept = ((one_hot.cumsum(0) * one_hot).sum(-1) <= C).reshape(T, k)
        hidden = F.silu(torch.einsum("td,edf->etf", x, self.W1)) * torch.einsum("td,edf->etf", x, self.W3)
        every = torch.einsum("etf,efd->etd", hidden, self.W2)   # every expert on every token
        weights = torch.zeros(T, E, dtype=x.dtype).scatter(1, ids, gates * kept)
        y = torch.einsum("te,etd->td", weights, every)
        f = one_hot.sum(0).to(x.dtype) / (T * k)
        return {"y": y, "aux_loss": self.alpha * E * (f * probs.mean(0)).sum(), "expert_ids": ids, "gates": gates}
'''

MOE_BUGS = {
    "gates_not_renormalised": [("gates = top / top.sum(dim=-1, keepdim=True)", "gates = top")],
    "softmax_over_tokens": [("torch.softmax(self.gate(x), dim=-1)", "torch.softmax(self.gate(x), dim=0)")],
    "capacity_without_k": [("self.capacity_factor * T * k / E", "self.capacity_factor * T / E")],
    "aux_missing_num_experts": [("self.alpha * E * (f", "self.alpha * (f")],
}


@pytest.mark.parametrize("source", [MOE_HF_NAMES, MOE_STACKED], ids=["gate_proj/up_proj/down_proj, loops", "stacked W1/W2/W3"])
@pytest.mark.parametrize("seed", [0, 3])
def test_moe_written_differently_passes(source, seed):
    passes("moe_forward", source, seed)


@pytest.mark.parametrize("mutant", sorted(MOE_BUGS))
def test_moe_mistakes_written_in_pytorch_are_named(mutant):
    assert named("moe_forward", with_edits(torch_reference("moe_forward"), *MOE_BUGS[mutant])) == [mutant]


def test_moe_with_torch_topk_fails_the_exact_ties_only_and_no_order_is_guessed():
    # torch.topk promises no order among equal values: the tie case fails, and no tie-breaking mutant is named
    source = with_edits(torch_reference("moe_forward"),
                        ("sorted_probs, order = torch.sort(probs, dim=-1, descending=True, stable=True)",
                         "top, expert_ids = torch.topk(probs, k, dim=-1)"),
                        ("expert_ids, top = order[:, :k], sorted_probs[:, :k]  # (T, k) each", "pass"))
    report = judge_source("moe_forward", source, "torch")
    failing = {case.name for case in report.exercises[0].cases if case.verdict != Verdict.PASSED}
    assert report.verdict == Verdict.WRONG_ANSWER and failing == {"exact ties"}
    assert [item.mistake for item in report.exercises[0].diagnosis] == []


def test_moe_counts_divided_as_integers_give_a_float32_loss_a_precision_finding():
    source = with_edits(torch_reference("moe_forward"), ("torch.bincount(flat, minlength=E).to(x.dtype)",
                                                         "torch.bincount(flat, minlength=E)"))
    report = judge_source("moe_forward", source, "torch")
    assert report.verdict == Verdict.WRONG_ANSWER
    problems = {(check.name, check.problem) for case in report.exercises[0].cases for check in case.outputs
                if not check.passed}
    assert problems == {("aux_loss", "precision")}


def test_moe_with_too_few_experts_gets_its_parameters_listed():
    source = with_edits(torch_reference("moe_forward"), ("for _ in range(num_experts))", "for _ in range(2))"))
    report = judge_source("moe_forward", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    error = report.exercises[0].cases[0].error
    assert error["type"] == "ParameterMismatch" and "2 experts, the case has 4" in error["message"]
    assert "experts.0.w1.weight" in error["message"]


def test_the_moe_reference_agrees_with_a_dense_top_k_formulation():
    MoE = reference_namespace("moe_forward")["MoE"]
    rng = np.random.default_rng(2)
    T, D, E, Fd, k = 9, 6, 5, 7, 2
    layer = MoE(D, Fd, E, k, capacity_factor=None, alpha=0.1).double()
    x = t(rng.standard_normal((T, D)))
    with torch.no_grad():
        result = layer(x)
        probs = torch.softmax(x @ layer.gate.weight.T, dim=-1)
        top, ids = torch.topk(probs, k, dim=-1)  # no ties in random logits
        weights = torch.zeros(T, E, dtype=x.dtype).scatter(1, ids, top / top.sum(-1, keepdim=True))
        dense = sum(weights[:, e:e + 1] * layer.experts[e].w2(F.silu(layer.experts[e].w1(x)) * layer.experts[e].w3(x))
                    for e in range(E))
        f = F.one_hot(ids, E).sum(dim=(0, 1)).to(x.dtype) / (T * k)
    assert torch.equal(result["expert_ids"], ids)
    assert torch.allclose(result["y"], dense, rtol=1e-12, atol=1e-13)
    assert torch.allclose(result["aux_loss"], 0.1 * E * (f * probs.mean(0)).sum(), rtol=1e-13)


# === transformer_block ========================================================================================

BLOCK_NANOGPT = '''
import math
import torch
import torch.nn.functional as F
from torch import nn

class LayerNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(d))
        self.beta = nn.Parameter(torch.zeros(d))
        self.eps = eps

    def forward(self, x):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + self.eps) * self.gamma + self.beta

class CausalSelfAttention(nn.Module):
    def __init__(self, d_model, n_head):
        super().__init__()
        self.c_proj = nn.Linear(d_model, d_model)          # created before c_attn, on purpose
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.n_head = n_head

    def forward(self, x, mask):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (z.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(mask[:, None] == 0 if mask.dim() == 3 else mask == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))

class MLP(nn.Module):
    def __init__(self, d_model, d_ff):
        super().__init__()
        self.c_fc = nn.Linear(d_model, d_ff)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(d_ff, d_model)

    def forward(self, x):
        return self.c_proj(self.gelu(self.c_fc(x)))

class TransformerBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, eps=1e-5):
        super().__init__()
        self.mlp = MLP(d_model, d_ff)
        self.ln_2 = LayerNorm(d_model, eps)
        self.attn = CausalSelfAttention(d_model, num_heads)
        self.ln_1 = LayerNorm(d_model, eps)

    def forward(self, x, mask=None):
        x = x + self.attn(self.ln_1(x), mask)
        return x + self.mlp(self.ln_2(x))
'''

BLOCK_LLAMA_NAMES = '''
import math
import torch
from torch import nn

class TransformerBlock(nn.Module):
    def __init__(self, d_model, num_heads, d_ff, eps=1e-5):
        super().__init__()
        self.n_heads = num_heads
        self.attention_norm = nn.LayerNorm(d_model, eps=eps)
        self.ffn_norm = nn.LayerNorm(d_model, eps=eps)
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(d_model, d_model) for _ in range(4))
        self.feed_forward = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(approximate="tanh"), nn.Linear(d_ff, d_model))

    def forward(self, x, mask=None):
        B, T, D = x.shape
        z = self.attention_norm(x)
        q, k, v = (w(z).reshape(B, T, self.n_heads, -1).permute(0, 2, 1, 3) for w in (self.wq, self.wk, self.wv))
        s = torch.einsum("bhqd,bhkd->bhqk", q, k) / math.sqrt(q.shape[-1])
        s = torch.where(mask.unsqueeze(-3), s, float("-inf"))
        o = torch.einsum("bhqk,bhkd->bqhd", s.softmax(-1), v).reshape(B, T, D)
        h = x + self.wo(o)
        return h + self.feed_forward(self.ffn_norm(h))
'''

BLOCK_BUGS = {
    "post_ln": [("h = x + self.attn(self.ln1(x), mask)", "h = self.ln1(x + self.attn(x, mask))"),
                ("return h + self.mlp(self.ln2(h))", "return self.ln2(h + self.mlp(h))")],
    "gelu_exact": [('F.gelu(self.fc1(x), approximate="tanh")', "F.gelu(self.fc1(x))")],  # nn.GELU()'s default
    "mask_inverted": [('masked_fill(~mask.unsqueeze(-3), float("-inf"))',  # nn.MultiheadAttention's convention
                       'masked_fill(mask.unsqueeze(-3), float("-inf"))')],
    "no_attn_residual": [("h = x + self.attn(", "h = self.attn(")],
    "ln_params_swapped": [("self.attn(self.ln1(x), mask)", "self.attn(self.ln2(x), mask)"),
                          ("self.mlp(self.ln2(h))", "self.mlp(self.ln1(h))")],
}


@pytest.mark.parametrize("source", [BLOCK_NANOGPT, BLOCK_LLAMA_NAMES],
                         ids=["nanoGPT names, fused c_attn, own LayerNorm", "Llama names, nn.Sequential FFN"])
@pytest.mark.parametrize("seed", [0, 3])
def test_transformer_block_written_differently_passes(source, seed):
    passes("transformer_block", source, seed)


@pytest.mark.parametrize("mutant", sorted(BLOCK_BUGS))
def test_transformer_block_mistakes_written_in_pytorch_are_named(mutant):
    assert named("transformer_block", with_edits(torch_reference("transformer_block"), *BLOCK_BUGS[mutant])) == [mutant]


def test_transformer_block_view_after_transpose_is_a_runtime_error():
    source = with_edits(torch_reference("transformer_block"), ("heads.transpose(1, 2).reshape(B, T, H * dh)",
                                                               "heads.transpose(1, 2).view(B, T, H * dh)"))
    report = judge_source("transformer_block", source, "torch")
    assert report.verdict == Verdict.RUNTIME_ERROR
    assert "view" in report.exercises[0].cases[0].error["message"]


def test_transformer_block_refuses_torchs_own_layer(tmp_path):
    source = ("import torch\nfrom torch import nn\n\nclass TransformerBlock(nn.Module):\n"
              "    def __init__(self, d_model, num_heads, d_ff, eps=1e-5):\n        super().__init__()\n"
              "        self.layer = nn.TransformerEncoderLayer(d_model, num_heads, d_ff, norm_first=True)\n")
    assert refused(tmp_path, "transformer_block", source) == (7, "TransformerEncoderLayer")


def test_the_transformer_block_reference_agrees_with_nn_transformer_encoder_layer():
    from mhaquiz.grader.exercises import get_exercise

    checks = get_exercise("transformer_block").checks()
    rng = np.random.default_rng(9)
    B, T, D, H, Fd = 2, 7, 12, 3, 40
    params = checks.block_params(rng, D, Fd, eps=0.01)
    x = t(rng.standard_normal((B, T, D)) + 1.0)
    mask = torch.tensor(np.tril(np.ones((T, T), dtype=bool)))
    ours = reference_namespace("transformer_block")["TransformerBlock"](D, H, Fd, eps=params["eps"]).double().eval()
    checks.load_block(ours, params)
    theirs = torch.nn.TransformerEncoderLayer(D, H, Fd, dropout=0.0, activation=lambda u: F.gelu(u, approximate="tanh"),
                                              layer_norm_eps=params["eps"], batch_first=True, norm_first=True)
    theirs = theirs.double().eval()
    with torch.no_grad():
        theirs.self_attn.in_proj_weight.copy_(t(np.concatenate([params[f"W_{n}"].T for n in "qkv"])))
        theirs.self_attn.in_proj_bias.copy_(t(np.concatenate([params[f"b_{n}"] for n in "qkv"])))
        theirs.self_attn.out_proj.weight.copy_(t(params["W_o"].T))
        theirs.self_attn.out_proj.bias.copy_(t(params["b_o"]))
        for n in "12":
            getattr(theirs, f"linear{n}").weight.copy_(t(params[f"W_{n}"].T))
            getattr(theirs, f"linear{n}").bias.copy_(t(params[f"b_{n}"]))
            getattr(theirs, f"norm{n}").weight.copy_(t(params[f"ln{n}_gamma"]))
            getattr(theirs, f"norm{n}").bias.copy_(t(params[f"ln{n}_beta"]))
        expected = theirs(x, src_mask=~mask)  # torch's layer: True = NOT allowed
        got = ours(x, mask=mask)
    assert torch.allclose(got, expected, rtol=1e-12, atol=1e-12)
    with torch.no_grad():
        assert not torch.allclose(ours(x, mask=~mask | torch.eye(T, dtype=torch.bool)), expected)  # the mask matters


# === mla_forward ==============================================================================================

MLA_PAPER_MATRICES = '''
import math
import torch
from torch import nn

class MLA(nn.Module):
    def __init__(self, d_model, num_heads, d_head, d_rope, d_c, d_cq=None, rope_base=10000.0):
        super().__init__()
        self.H, self.dh, self.dr, self.base = num_heads, d_head, d_rope, rope_base
        p = lambda *shape: nn.Parameter(torch.randn(*shape))
        self.W_O = p(num_heads * d_head, d_model)                  # the paper's matrices, used as x @ W
        self.W_KR = p(d_model, d_rope)
        self.W_DKV, self.W_UK, self.W_UV = p(d_model, d_c), p(d_c, num_heads * d_head), p(d_c, num_heads * d_head)
        width = d_model if d_cq is None else d_cq
        self.W_DQ = None if d_cq is None else p(d_model, d_cq)
        self.W_UQ, self.W_QR = p(width, num_heads * d_head), p(width, num_heads * d_rope)

    def rotate(self, x, pos):
        half = x.shape[-1] // 2
        freq = 1.0 / self.base ** (torch.arange(half, dtype=x.dtype) * 2 / x.shape[-1])
        ang = pos.to(x.dtype).unsqueeze(-1) * freq
        c, s = torch.cos(ang), torch.sin(ang)
        a, b = x[..., :half], x[..., half:]
        return torch.cat([a * c - b * s, b * c + a * s], dim=-1)

    def forward(self, h, positions):
        B, T, _ = h.shape
        heads = lambda z: z.reshape(B, T, self.H, -1).transpose(1, 2)
        c_q = h if self.W_DQ is None else h @ self.W_DQ
        c_kv = h @ self.W_DKV
        k_r = self.rotate(h @ self.W_KR, positions)
        q = torch.cat([heads(c_q @ self.W_UQ), self.rotate(heads(c_q @ self.W_QR), positions)], -1)
        k = torch.cat([heads(c_kv @ self.W_UK), k_r.unsqueeze(1).repeat(1, self.H, 1, 1)], -1)
        v = heads(c_kv @ self.W_UV)
        s = q @ k.transpose(-1, -2) / math.sqrt(self.dh + self.dr)
        future = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        w = torch.softmax(s.masked_fill(future, float("-inf")), -1)
        return (w @ v).transpose(1, 2).reshape(B, T, -1) @ self.W_O, {"c_kv": c_kv, "k_rope": k_r}
'''

MLA_DEEPSEEK_V3_NAMES = with_edits(torch_reference("mla_forward"),
                                   ("self.q_proj = nn.Linear", "self.wq = nn.Linear"),
                                   ("self.q_a_proj = nn.Linear", "self.wq_a = nn.Linear"),
                                   ("self.q_b_proj = nn.Linear", "self.wq_b = nn.Linear"),
                                   ("self.kv_a_proj_with_mqa = nn.Linear", "self.wkv_a = nn.Linear"),
                                   ("self.kv_b_proj = nn.Linear", "self.wkv_b = nn.Linear"),
                                   ("self.o_proj = nn.Linear", "self.wo = nn.Linear"),
                                   ('q = self.q_proj(h) if hasattr(self, "q_proj") else self.q_b_proj(self.q_a_proj(h))',
                                    'q = self.wq(h) if hasattr(self, "wq") else self.wq_b(self.wq_a(h))'),
                                   ("self.kv_a_proj_with_mqa(h)", "self.wkv_a(h)"), ("self.kv_b_proj(c_kv)", "self.wkv_b(c_kv)"),
                                   ("return self.o_proj(out)", "return self.wo(out)"))

MLA_BUGS = {
    "scale_without_rope_dim": [("math.sqrt(d_h + d_R)  #", "math.sqrt(d_h)  #")],
    "query_parts_swapped": [("torch.cat([q_c, rope(q_r, positions, self.rope_base)], dim=-1)",
                             "torch.cat([rope(q_r, positions, self.rope_base), q_c], dim=-1)")],
    "key_positions_from_zero": [("k_rope = rope(k_r, positions, self.rope_base)",
                                 "k_rope = rope(k_r, torch.arange(T), self.rope_base)")],
    "positions_ignored": [("angles = positions[:, None].to(x.dtype)", "angles = torch.arange(x.shape[-2])[:, None].to(x.dtype)")],
    "rope_base_ignored": [("d_rope, d_c, rope_base\n", "d_rope, d_c, 10000.0\n")],
}


@pytest.mark.parametrize("source", [MLA_PAPER_MATRICES, MLA_DEEPSEEK_V3_NAMES],
                         ids=["the paper's matrices as bare parameters", "DeepSeek-V3's wq_a/wkv_a/wkv_b/wo"])
@pytest.mark.parametrize("seed", [0, 3])
def test_mla_written_differently_passes(source, seed):
    passes("mla_forward", source, seed)


@pytest.mark.parametrize("mutant", sorted(MLA_BUGS))
def test_mla_mistakes_written_in_pytorch_are_named(mutant):
    assert named("mla_forward", with_edits(torch_reference("mla_forward"), *MLA_BUGS[mutant])) == [mutant]


def test_mla_with_the_released_codes_kv_norm_is_wrong_not_passed():
    """A module that keeps kv_a_layernorm (the released code, not the paper's equations) has a parameter the
    case does not fill: its weight stays as initialised (ones), the latent is RMS-normalised, the outputs are
    wrong: never a pass."""
    source = with_edits(torch_reference("mla_forward"),
                        ("self.o_proj = nn.Linear(num_heads * d_head, d_model, bias=False)  # W_O",
                         "self.o_proj = nn.Linear(num_heads * d_head, d_model, bias=False)  # W_O\n"
                         "        self.kv_a_layernorm = nn.RMSNorm(d_c, eps=1e-6)"),
                        ("k_c, v = self.kv_b_proj(c_kv)", "k_c, v = self.kv_b_proj(self.kv_a_layernorm(c_kv))"))
    assert judge_source("mla_forward", source, "torch").verdict == Verdict.WRONG_ANSWER


def test_mla_refuses_sdpa(tmp_path):
    source = ("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\nclass MLA(nn.Module):\n"
              "    def forward(self, h, positions):\n"
              "        return F.scaled_dot_product_attention(h, h, h, is_causal=True), {}\n")
    assert refused(tmp_path, "mla_forward", source) == (7, "scaled_dot_product_attention")


def test_the_mla_reference_agrees_with_the_absorbed_form_on_sdpa():
    """DeepSeek-V3's inference path: W_UK absorbed into the queries, attention over the cached latent c_kv and
    the shared k_rope as one MQA head (torch's SDPA), W_UV applied after: the same u as the reference."""
    MLA = reference_namespace("mla_forward")["MLA"]
    B, T, D, H, d_h, d_R, d_c, d_cq = 2, 6, 16, 4, 6, 4, 10, 12
    torch.manual_seed(3)
    layer = MLA(D, H, d_h, d_R, d_c, d_cq=d_cq, rope_base=500.0).double()
    h, positions = torch.randn(B, T, D, dtype=torch.float64), 7 + torch.arange(T)
    with torch.no_grad():
        u, cache = layer(h, positions)
        q = layer.q_b_proj(layer.q_a_proj(h)).view(B, T, H, d_h + d_R).transpose(1, 2)  # (B, H, T, d_h + d_R)
        q_c, q_r = q.split([d_h, d_R], dim=-1)
        W_kv_b = layer.kv_b_proj.weight.view(H, 2 * d_h, d_c)  # per head: [W_UK ; W_UV] rows
        W_UK, W_UV = W_kv_b[:, :d_h], W_kv_b[:, d_h:]  # (H, d_h, d_c) each
        q_latent = torch.einsum("bhtd,hdc->bhtc", q_c, W_UK)  # W_UK absorbed: queries in the latent space
        angles = positions[:, None].double() * 500.0 ** (-torch.arange(0, d_R, 2).double() / d_R)
        cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
        q_rot = q_r * cos + torch.cat([-q_r[..., d_R // 2:], q_r[..., :d_R // 2]], -1) * sin
        keys = torch.cat([cache["c_kv"], cache["k_rope"]], dim=-1)[:, None]  # (B, 1, T, d_c + d_R): one MQA head
        latent_out = F.scaled_dot_product_attention(torch.cat([q_latent, q_rot], -1), keys.expand(B, H, T, -1),
                                                    cache["c_kv"][:, None].expand(B, H, T, d_c), is_causal=True,
                                                    scale=1 / math.sqrt(d_h + d_R))  # (B, H, T, d_c)
        o = torch.einsum("bhtc,hdc->bthd", latent_out, W_UV).reshape(B, T, H * d_h)
        absorbed = layer.o_proj(o)
    assert torch.allclose(u, absorbed, rtol=1e-11, atol=1e-12)
    assert cache["c_kv"].shape == (B, T, d_c) and cache["k_rope"].shape == (B, T, d_R)


# === the statements and hints in both languages ===============================================================

T3_EXERCISES = ("sampling", "flash_attention_forward", "chunked_prefill", "moe_forward", "transformer_block", "mla_forward")


@pytest.mark.parametrize("exercise_id", T3_EXERCISES)
def test_the_chinese_torch_prompt_has_no_stray_space_and_full_width_punctuation(exercise_id):
    import re

    from mhaquiz.grader.exercises import get_exercise
    from tests.test_i18n import CJK, CJK_PUNCTUATION, bad_spaces

    prose = re.sub(r"```.*?```", "", get_exercise(exercise_id).prompt_for("zh", "torch"), flags=re.S)
    lines = [line.strip() for line in prose.splitlines() if not line.strip().startswith("|")]
    soft = re.findall(f"[{CJK}]\\n[ \\t]*[{CJK}]|[{CJK_PUNCTUATION}]\\n[ \\t]*[^\\s\\-*+>|#\\d]", prose)
    assert [bad_spaces(line) for line in lines if bad_spaces(line)] == [] and soft == []
    assert "（" in prose and "：" in prose and "PyTorch" in prose


@pytest.mark.parametrize("exercise_id", T3_EXERCISES)
def test_the_torch_hints_speak_pytorch_in_both_languages(exercise_id):
    from mhaquiz.grader.exercises import get_exercise
    from mhaquiz.practice import loop
    from tests.test_i18n import bad_spaces

    exercise = get_exercise(exercise_id)
    zh, en = loop.hints(exercise, "zh", "torch"), loop.hints(exercise, "en", "torch")
    assert 3 <= len(zh) == len(en) and zh != loop.hints(exercise, "zh", "numpy")
    assert not any("np." in hint for hint in zh + en)  # the NumPy track's hints say np.argsort, np.tril ...
    assert any("torch." in hint or "nn." in hint or "F." in hint for hint in en)
    assert [bad_spaces(hint) for hint in zh if bad_spaces(hint)] == []


@pytest.mark.parametrize("exercise_id", T3_EXERCISES)
def test_the_torch_stub_states_the_contract_in_both_languages_and_names_what_is_banned(exercise_id):
    from mhaquiz.grader.exercises import get_exercise

    exercise = get_exercise(exercise_id)
    stub = exercise.stub_path_for("torch").read_text(encoding="utf-8")
    assert "【中文】" in stub and "[English]" in stub
    banned = exercise.meta["banned"]["torch"]
    prompt_en = exercise.prompt_for("en", "torch")
    for name in banned[:2]:  # the library's own ops the statement forbids, by name, in the English prompt
        assert name in prompt_en or name.replace("_", " ") in prompt_en, name


@pytest.mark.parametrize("exercise_id", T3_EXERCISES)
def test_each_torch_reference_is_detected_as_its_exercise_alone(exercise_id):
    """grade finds the exercise from the classes a file defines: the block's own attention class is not named
    MultiHeadAttention, which would make the file an mha_forward submission too (with forward(q, k, v, mask))."""
    import ast

    from mhaquiz.grader import exercises as registry

    tree = ast.parse(torch_reference(exercise_id))
    assert registry.imports_torch(tree)
    found = registry.detect(registry.defined_names(tree), file_stem="submission", track="torch")
    assert [exercise.id for exercise in found] == [exercise_id]


def test_mhaquiz_grade_json_on_the_torch_sampling_reference_and_on_a_banned_call(tmp_path):
    import json

    from typer.testing import CliRunner

    from mhaquiz.cli import app

    good = write(tmp_path, "sampling.py", torch_reference("sampling"))
    result = CliRunner().invoke(app, ["grade", str(good), "--json", "--timeout", "30"])
    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["passed"] is True and report["track"] == "torch"
    assert [exercise["id"] for exercise in report["exercises"]] == ["sampling"]
    (tmp_path / "bad").mkdir()
    bad = write(tmp_path / "bad", "sampling.py", "import torch\n\ndef sample(logits, u, temperature, top_k=None, top_p=None):\n"
                "    return {'tokens': torch.multinomial(torch.softmax(logits, -1), 1)[:, 0]}\n")
    result = CliRunner().invoke(app, ["grade", str(bad), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["verdict"] == "banned_call"
    assert report["detail"]["params"] == {"exercise": "sampling", "call": "multinomial", "line": 4}
