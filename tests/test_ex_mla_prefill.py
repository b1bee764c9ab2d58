"""The inference exercises mla_forward (DeepSeek-V2's multi-head latent attention) and chunked_prefill.

For each: the folder is complete, the reference passes through the real grader, every declared mutant is a
real buggy submission one edit (or two) away from the reference that fails with its exact verdict and its
mistake named, the untouched stub is reported as not implemented, detection picks the exercise. The
references agree with independent oracles: PyTorch's scaled_dot_product_attention with explicit masks (when
torch is installed) and plain-NumPy loop restatements (always); MLA also with the absorbed form the paper
describes (W_UK folded into the query side, W_UV into W_O, attention run against the returned latent cache),
chunked prefill also with a whole prefill cut into chunks of any sizes.
"""

import ast
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from mhaquiz.cli import app
from mhaquiz.grader import exercises as registry
from mhaquiz.grader.diagnose import call, mutated_reference
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, with_edits, write

EXERCISES = {"mla_forward": 170, "chunked_prefill": 180}

MLA_BUGS = {
    "rope_on_content": [
        ('q_c = split_heads(c_q @ params["W_UQ"], num_heads)',
         'q_c = rope(split_heads(c_q @ params["W_UQ"], num_heads), positions, rope_base)'),
        ("    P = attention_weights(q, k, causal_mask(T))",
         "    d_h = v.shape[-1]\n"
         "    k = np.concatenate([rope(k[..., :d_h], positions, rope_base), k[..., d_h:]], axis=-1)\n"
         "    P = attention_weights(q, k, causal_mask(T))")],
    "shared_key_without_head_axis": [("return k_rope[:, None]", "return k_rope")],
    "scale_without_rope_dim": [("def attention_weights(q, k, mask):", "def attention_weights(q, k, mask, d_h):"),
                               ("/ np.sqrt(q.shape[-1])", "/ np.sqrt(d_h)"),
                               ("attention_weights(q, k, causal_mask(T))", "attention_weights(q, k, causal_mask(T), v.shape[-1])")],
    "cached_keys_values": [("    return u, cache", '    c_kv = cache["c_kv"]\n'
                            '    return u, {"c_kv": np.concatenate([c_kv @ params["W_UK"], c_kv @ params["W_UV"]], axis=-1),\n'
                            '               "k_rope": cache["k_rope"]}')],
    "key_positions_from_zero": [('rope(h @ params["W_KR"], positions, rope_base)',
                                 'rope(h @ params["W_KR"], np.arange(h.shape[1]), rope_base)')],
    "positions_ignored": [("angles = np.asarray(positions)[:, None]", "angles = np.arange(x.shape[-2])[:, None]")],
    "query_parts_swapped": [("return join(q_c, q_r)", "return np.concatenate([q_r, q_c], axis=-1)")],
    "rope_base_ignored": [("base ** (-np.arange(0, d, 2) / d)", "10000.0 ** (-np.arange(0, d, 2) / d)")],
    "no_scale": [(" / np.sqrt(q.shape[-1])", "")],
    "mask_fill_too_small": [("np.where(mask, scores, -np.inf)", "np.where(mask, scores, -1e4)")],
}

CHUNK_BUGS = {
    "tril_without_offset": [("q_pos = P + np.arange(T_new)[:, None]", "q_pos = np.arange(T_new)[:, None]")],
    "window_one_too_many": [("allowed &= k_pos > q_pos - window", "allowed &= k_pos >= q_pos - window")],
    "window_one_too_few": [("allowed &= k_pos > q_pos - window", "allowed &= k_pos > q_pos - window + 1")],
    "new_before_cache": [("np.concatenate([cache, new], axis=-2)", "np.concatenate([new, cache], axis=-2)")],
    "window_ignored": [("allowed &= k_pos > q_pos - window", "allowed = allowed")],
    "window_without_causal": [("allowed &= k_pos > q_pos - window", "allowed = k_pos > q_pos - window")],
    "chunk_unmasked": [("attention(q, k, v, chunk_mask(T_new, P, window))", "attention(q, k, v, True)")],
    "no_scale": [(" / np.sqrt(q.shape[-1])", "")],
    "mask_fill_too_small": [("np.where(mask, scores, -np.inf)", "np.where(mask, scores, -1e4)")],
}

BUGS = {"mla_forward": MLA_BUGS, "chunked_prefill": CHUNK_BUGS}
# The bug raises on the cases it cannot take (a (B, T, d_R) key broadcasts against (B, H, T, d_R) only when B == H).
RAISES = {("mla_forward", "shared_key_without_head_axis")}
BUG_CASES = [(exercise, mistake) for exercise in EXERCISES for mistake in BUGS[exercise]]


def grade_source(tmp_path, exercise, source, name=None):
    return grade_file(write(tmp_path, name or f"{exercise}.py", source), exercise_ids=[exercise])


def cases_of(exercise):
    return registry.get_exercise(exercise).checks().make_cases(0)


# --- the exercise folders and the real grader ------------------------------------------------------------

@pytest.mark.parametrize("exercise", EXERCISES)
def test_exercise_folder_is_complete(exercise):
    ex = registry.get_exercise(exercise)
    meta = ex.meta
    assert meta["order"] == EXERCISES[exercise]
    assert not meta.get("building_block", False)
    assert meta["title"]["zh"] and meta["title"]["en"] and meta["title"]["zh"] != meta["title"]["en"]
    assert 3 <= len(meta["hints"]) <= 6
    assert all(hint["zh"].strip() and hint["en"].strip() for hint in meta["hints"])
    for lang in ("zh", "en"):
        assert ex.prompt(lang).startswith("# ")
    assert ex.functions == (exercise,)
    assert callable(getattr(ex.reference(), exercise))
    assert 5 <= len(cases_of(exercise)) <= 9


@pytest.mark.parametrize("exercise", EXERCISES)
def test_reference_passes_every_case(tmp_path, exercise):
    report = grade_source(tmp_path, exercise, reference_source(exercise), "ref.py")
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise]
    assert all(case.passed for case in report.exercises[0].cases)


@pytest.mark.parametrize("exercise", EXERCISES)
def test_untouched_stub_fails_cleanly(exercise):
    report = grade_file(registry.get_exercise(exercise).stub_path, exercise_ids=[exercise])
    assert report.verdict == Verdict.NOT_IMPLEMENTED, report.detail
    result = report.exercises[0]
    assert result.cases and all(case.error["type"] == "NotImplementedError" for case in result.cases)
    assert result.diagnosis == []


@pytest.mark.parametrize("exercise", EXERCISES)
def test_the_reference_is_detected_as_its_exercise_only(exercise):
    # The references define helpers that are building blocks of their own (rope, softmax, attention).
    names = registry.defined_names(ast.parse(reference_source(exercise)))
    assert [found.id for found in registry.detect(names)] == [exercise]


@pytest.mark.parametrize("exercise", EXERCISES)
def test_every_declared_mutant_has_a_buggy_submission(exercise):
    declared = {mutant.id for mutant in registry.get_exercise(exercise).checks().MUTANTS}
    assert declared == set(BUGS[exercise])


@pytest.mark.parametrize("exercise, mistake", BUG_CASES)
def test_bug_is_named(tmp_path, exercise, mistake):
    source = with_edits(reference_source(exercise), *BUGS[exercise][mistake])
    report = grade_source(tmp_path, exercise, source)
    expected = Verdict.RUNTIME_ERROR if (exercise, mistake) in RAISES else Verdict.WRONG_ANSWER
    assert report.verdict == expected, report.detail
    assert report.exercises[0].diagnosis[0].mistake == mistake


def test_the_shared_key_bug_is_a_wrong_answer_exactly_where_b_equals_h(tmp_path):
    source = with_edits(reference_source("mla_forward"), *MLA_BUGS["shared_key_without_head_axis"])
    cases = grade_source(tmp_path, "mla_forward", source).exercises[0].cases
    verdicts = {case.name: case.verdict for case in cases}
    assert verdicts["B = H"] == Verdict.WRONG_ANSWER
    assert verdicts["another RoPE base"] == Verdict.PASSED  # B = 1: one key broadcast to every head is right
    assert verdicts["query compression"] == Verdict.RUNTIME_ERROR


def test_positions_ignored_gets_the_output_right_and_the_cache_wrong(tmp_path):
    source = with_edits(reference_source("mla_forward"), *MLA_BUGS["positions_ignored"])
    cases = {case.name: case for case in grade_source(tmp_path, "mla_forward", source).exercises[0].cases}
    for name in ("query compression", "one token", "another RoPE base"):  # positions that do not start at 0
        checks = {check.name: check.passed for check in cases[name].outputs}
        assert checks == {"out": True, "c_kv": True, "k_rope": False}, name
    assert cases["positions from 0"].passed


def test_a_cache_missing_a_key_is_reported_missing(tmp_path):
    source = with_edits(reference_source("mla_forward"), ("    return u, cache", '    return u, {"c_kv": cache["c_kv"]}'))
    report = grade_source(tmp_path, "mla_forward", source)
    assert report.verdict == Verdict.WRONG_ANSWER
    problems = {check.name: check.problem for check in report.exercises[0].cases[0].outputs}
    assert problems == {"out": None, "c_kv": None, "k_rope": "missing"}


@pytest.mark.parametrize("exercise, mistake, lang, words", [
    ("chunked_prefill", "tril_without_offset", "zh", "没有偏移 P"),
    ("chunked_prefill", "tril_without_offset", "en", "without the offset P"),
    ("mla_forward", "scale_without_rope_dim", "zh", "1/sqrt(d_h + d_h^R)"),
    ("mla_forward", "scale_without_rope_dim", "en", "1/sqrt(d_h + d_h^R)"),
])
def test_the_rendered_report_names_the_mistake_in_both_languages(tmp_path, exercise, mistake, lang, words):
    path = write(tmp_path, f"{exercise}.py", with_edits(reference_source(exercise), *BUGS[exercise][mistake]))
    result = CliRunner().invoke(app, ["grade", str(path), "--exercise", exercise, "--lang", lang])
    assert result.exit_code == 1, result.output
    assert "".join(words.split()) in "".join(result.output.split())  # the terminal may fold long lines


# --- MLA: independent restatements ---------------------------------------------------------------------

def mla_sizes(params, num_heads):
    return params["W_UK"].shape[1] // num_heads, params["W_KR"].shape[1]


def rotate_pairs(vector, position, base):
    """One vector turned pair by pair, (j, j + d/2) at angle position * base^(-2j/d): a loop, not rotate_half."""
    d = len(vector)
    out = np.array(vector, dtype=float)
    for j in range(d // 2):
        angle = position * base ** (-2 * j / d)
        a, b = vector[j], vector[j + d // 2]
        out[j], out[j + d // 2] = a * math.cos(angle) - b * math.sin(angle), b * math.cos(angle) + a * math.sin(angle)
    return out


def mla_loops(h, params, num_heads, positions, base):
    """Equations 9-19 token by token and head by head, with Python loops."""
    B, T, D = h.shape
    d_h, d_r = mla_sizes(params, num_heads)
    u = np.zeros((B, T, D))
    c_kv = np.zeros((B, T, params["W_DKV"].shape[1]))
    k_rope = np.zeros((B, T, d_r))
    for b in range(B):
        c_q = [h[b, t] if params["W_DQ"] is None else h[b, t] @ params["W_DQ"] for t in range(T)]
        for t in range(T):
            c_kv[b, t] = h[b, t] @ params["W_DKV"]
            k_rope[b, t] = rotate_pairs(h[b, t] @ params["W_KR"], positions[t], base)
        for t in range(T):
            heads = []
            for i in range(num_heads):
                content, rotary = slice(i * d_h, (i + 1) * d_h), slice(i * d_r, (i + 1) * d_r)
                q = np.concatenate([(c_q[t] @ params["W_UQ"])[content],
                                    rotate_pairs((c_q[t] @ params["W_QR"])[rotary], positions[t], base)])
                scores = []
                for j in range(t + 1):  # causal: tokens 0..t
                    k = np.concatenate([(c_kv[b, j] @ params["W_UK"])[content], k_rope[b, j]])
                    scores.append(q @ k / math.sqrt(d_h + d_r))
                weights = np.exp(np.array(scores) - max(scores))
                weights /= weights.sum()
                heads.append(sum(w * (c_kv[b, j] @ params["W_UV"])[content] for j, w in enumerate(weights)))
            u[b, t] = np.concatenate(heads) @ params["W_O"]
    return u, c_kv, k_rope


def mla_absorbed(h, params, num_heads, positions, base, cache):
    """MLA run the way the paper says inference can: W_UK absorbed into the query side, W_UV into W_O, and
    attention computed against the returned cache (c_kv, k_rope) alone, never expanding keys or values."""
    B, T, D = h.shape
    d_h, d_r = mla_sizes(params, num_heads)
    c_q = h if params["W_DQ"] is None else h @ params["W_DQ"]
    W_UQ = params["W_UQ"].reshape(-1, num_heads, d_h)  # (d_cq, H, d_h)
    W_UK = params["W_UK"].reshape(-1, num_heads, d_h)  # (d_c, H, d_h)
    W_UV = params["W_UV"].reshape(-1, num_heads, d_h)  # (d_c, H, d_h)
    W_O = params["W_O"].reshape(num_heads, d_h, D)  # (H, d_h, D)
    query_key = np.einsum("qhd,chd->hqc", W_UQ, W_UK)  # (H, d_cq, d_c): W_UQ,i W_UK,i^T
    value_out = np.einsum("chd,hdo->hco", W_UV, W_O)  # (H, d_c, D): W_UV,i W_O,i
    q_latent = np.einsum("btq,hqc->bhtc", c_q, query_key)  # (B, H, T, d_c)
    q_rope = np.stack([np.stack([np.stack([rotate_pairs((c_q[b, t] @ params["W_QR"])[i * d_r:(i + 1) * d_r],
                                                        positions[t], base) for t in range(T)])
                                 for i in range(num_heads)]) for b in range(B)])  # (B, H, T, d_r)
    scores = (np.einsum("bhtc,bsc->bhts", q_latent, cache["c_kv"])
              + np.einsum("bhtr,bsr->bhts", q_rope, cache["k_rope"])) / math.sqrt(d_h + d_r)
    scores = np.where(np.tril(np.ones((T, T), dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    latent_out = np.einsum("bhts,bsc->bhtc", weights, cache["c_kv"])  # (B, H, T, d_c): attend in latent space
    return np.einsum("bhtc,hco->bto", latent_out, value_out)


def run_mla(case, module=None):
    module = module or registry.get_exercise("mla_forward").reference()
    return module.mla_forward(*case.args.values())


def test_mla_matches_a_loop_restatement_of_the_paper():
    for case in cases_of("mla_forward"):
        u, cache = run_mla(case)
        loop_u, loop_c_kv, loop_k_rope = mla_loops(*case.args.values())
        np.testing.assert_allclose(u, loop_u, rtol=1e-11, atol=1e-12, err_msg=case.name)
        np.testing.assert_allclose(cache["c_kv"], loop_c_kv, rtol=1e-12, atol=1e-13, err_msg=case.name)
        np.testing.assert_allclose(cache["k_rope"], loop_k_rope, rtol=1e-11, atol=1e-12, err_msg=case.name)


def test_mla_equals_attention_with_the_absorbed_matrices_over_the_returned_cache():
    for case in cases_of("mla_forward"):
        u, cache = run_mla(case)
        np.testing.assert_allclose(mla_absorbed(*case.args.values(), cache), u, rtol=1e-10, atol=1e-12,
                                   err_msg=case.name)


def test_rope_on_the_content_breaks_the_absorbed_form():
    # Where the identity holds (RoPE only on the decoupled part) the absorbed form is exact (test above); with
    # k_C rotated, a position-dependent rotation sits between W_UQ and W_UK and the absorbed form misses.
    exercise = registry.get_exercise("mla_forward")
    mutant = next(m for m in exercise.checks().MUTANTS if m.id == "rope_on_content")
    module = mutated_reference(exercise, mutant)
    case = cases_of("mla_forward")[0]
    u, cache = run_mla(case, module)
    assert np.abs(mla_absorbed(*case.args.values(), cache) - u).max() > 1e-3


def test_mla_matches_torch_sdpa():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional

    def rotate_half(x):
        half = x.shape[-1] // 2
        return torch.cat([-x[..., half:], x[..., :half]], dim=-1)

    for case in cases_of("mla_forward"):
        h, params, H, positions, base = case.args.values()
        t = {name: None if value is None else torch.from_numpy(value) for name, value in params.items()}
        x = torch.from_numpy(h)
        B, T, D = x.shape
        d_h, d_r = mla_sizes(params, H)
        c_q = x if t["W_DQ"] is None else x @ t["W_DQ"]
        c_kv = x @ t["W_DKV"]
        q_c = (c_q @ t["W_UQ"]).view(B, T, H, d_h).transpose(1, 2)
        q_r = (c_q @ t["W_QR"]).view(B, T, H, d_r).transpose(1, 2)
        k_c = (c_kv @ t["W_UK"]).view(B, T, H, d_h).transpose(1, 2)
        v = (c_kv @ t["W_UV"]).view(B, T, H, d_h).transpose(1, 2)
        k_r = (x @ t["W_KR"]).view(B, 1, T, d_r)
        inv_freq = 1.0 / (base ** (torch.arange(0, d_r, 2, dtype=torch.float64) / d_r))  # HF's default RoPE
        freqs = torch.outer(torch.from_numpy(np.asarray(positions)).to(torch.float64), inv_freq)
        emb = torch.cat([freqs, freqs], dim=-1)
        cos, sin = emb.cos(), emb.sin()
        q_r, k_r = q_r * cos + rotate_half(q_r) * sin, k_r * cos + rotate_half(k_r) * sin
        q = torch.cat([q_c, q_r], dim=-1)
        k = torch.cat([k_c, k_r.expand(B, H, T, d_r)], dim=-1)  # k_R shared by every head
        causal = torch.ones(T, T, dtype=torch.bool).tril()  # SDPA's boolean mask: True = takes part
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=causal, scale=1.0 / math.sqrt(d_h + d_r))
        expected = out.transpose(1, 2).reshape(B, T, H * d_h) @ t["W_O"]
        u, cache = run_mla(case)
        np.testing.assert_allclose(u, expected.numpy(), rtol=1e-9, atol=1e-12, err_msg=case.name)
        np.testing.assert_allclose(cache["c_kv"], c_kv.numpy(), rtol=1e-12, atol=1e-13, err_msg=case.name)
        np.testing.assert_allclose(cache["k_rope"], k_r[:, 0].numpy(), rtol=1e-12, atol=1e-13, err_msg=case.name)


def test_mla_cache_holds_d_c_plus_d_rope_numbers_a_token_and_keys_rotated_at_absolute_positions():
    for case in cases_of("mla_forward"):
        h, params, H, positions, base = case.args.values()
        u, cache = run_mla(case)
        B, T, D = h.shape
        d_c, d_r = params["W_DKV"].shape[1], params["W_KR"].shape[1]
        assert set(cache) == {"c_kv", "k_rope"}
        assert cache["c_kv"].shape == (B, T, d_c) and cache["k_rope"].shape == (B, T, d_r)
        assert u.shape == (B, T, D)
        np.testing.assert_allclose(cache["c_kv"], h @ params["W_DKV"], rtol=1e-13, atol=1e-14)
        raw = h @ params["W_KR"]
        np.testing.assert_allclose(np.linalg.norm(cache["k_rope"], axis=-1), np.linalg.norm(raw, axis=-1), rtol=1e-12)
        if positions[0] != 0:
            assert np.abs(cache["k_rope"] - raw).max() > 1e-3  # rotated: position 0 alone would leave it as is


def test_shifting_every_position_keeps_the_output_and_moves_the_cached_key():
    # RoPE only sees relative positions: the output cannot tell a shift, the cached k_rope must.
    for case in cases_of("mla_forward"):
        h, params, H, positions, base = case.args.values()
        u, cache = run_mla(case)
        shifted_u, shifted_cache = registry.get_exercise("mla_forward").reference().mla_forward(
            h, params, H, positions + 37, base)
        np.testing.assert_allclose(shifted_u, u, rtol=1e-9, atol=1e-11, err_msg=case.name)
        np.testing.assert_array_equal(shifted_cache["c_kv"], cache["c_kv"])
        assert np.abs(shifted_cache["k_rope"] - cache["k_rope"]).max() > 1e-3


def test_mla_does_not_modify_its_inputs():
    for case in cases_of("mla_forward"):
        before = {name: value.copy() for name, value in case.args["params"].items() if value is not None}
        h = case.args["h"].copy()
        run_mla(case)
        np.testing.assert_array_equal(case.args["h"], h)
        for name, value in before.items():
            np.testing.assert_array_equal(case.args["params"][name], value)


# --- chunked prefill: independent restatements ---------------------------------------------------------

def chunk_loops(q, k_cache, v_cache, k_new, v_new, window=None):
    """Per batch, head and new token: the keys it may see listed by absolute position, softmax by hand."""
    B, H, T_new, d = q.shape
    P = k_cache.shape[2]
    keys = np.concatenate([k_cache, k_new], axis=2)
    values = np.concatenate([v_cache, v_new], axis=2)
    out = np.zeros((B, H, T_new, values.shape[-1]))
    for b in range(B):
        for head in range(H):
            for i in range(T_new):
                position = P + i
                first = 0 if window is None else max(0, position - window + 1)
                seen = range(first, position + 1)  # itself and (with a window) the window - 1 keys before it
                scores = [q[b, head, i] @ keys[b, head, j] / math.sqrt(d) for j in seen]
                weights = np.exp(np.array(scores) - max(scores))
                weights /= weights.sum()
                out[b, head, i] = sum(w * values[b, head, j] for w, j in zip(weights, seen))
    return out, keys, values


def prefill(args, module=None):
    module = module or registry.get_exercise("chunked_prefill").reference()
    return module.chunked_prefill(*args.values())


def test_chunked_prefill_matches_a_loop_restatement():
    for case in cases_of("chunked_prefill"):
        out, k, v = prefill(case.args)
        expected = chunk_loops(*case.args.values())
        for got, want in zip((out, k, v), expected):
            np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12, err_msg=case.name)


def test_chunked_prefill_matches_torch_sdpa_with_an_explicit_mask():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for case in cases_of("chunked_prefill"):
        q, k_cache, v_cache, k_new, v_new, window = case.args.values()
        P, T_new = k_cache.shape[2], q.shape[2]
        mask = torch.zeros(T_new, P + T_new, dtype=torch.bool)  # SDPA: True = takes part
        for i in range(T_new):
            for j in range(P + T_new):
                mask[i, j] = j <= P + i and (window is None or P + i - j < window)
        k = torch.cat([torch.from_numpy(k_cache), torch.from_numpy(k_new)], dim=2)
        v = torch.cat([torch.from_numpy(v_cache), torch.from_numpy(v_new)], dim=2)
        expected = F.scaled_dot_product_attention(torch.from_numpy(q), k, v, attn_mask=mask)  # scale 1/sqrt(d)
        out, k_got, v_got = prefill(case.args)
        np.testing.assert_allclose(out, expected.numpy(), rtol=1e-9, atol=1e-12, err_msg=case.name)
        np.testing.assert_array_equal(k_got, k.numpy())
        np.testing.assert_array_equal(v_got, v.numpy())


@pytest.mark.parametrize("chunks", [(9,), (4, 3, 2), (1,) * 9, (2, 7)])
@pytest.mark.parametrize("window", [None, 1, 3, 20])
def test_any_cut_into_chunks_gives_the_whole_prefill(chunks, window):
    rng = np.random.default_rng(5)
    B, H, T, d, dv = 2, 3, sum(chunks), 4, 5
    q, k, v = rng.standard_normal((B, H, T, d)), rng.standard_normal((B, H, T, d)), rng.standard_normal((B, H, T, dv))
    whole, _, _ = chunk_loops(q, k[:, :, :0], v[:, :, :0], k, v, window)  # one prefill from an empty cache
    k_cache, v_cache, outs, start = k[:, :, :0], v[:, :, :0], [], 0
    for size in chunks:
        piece = slice(start, start + size)
        out, k_cache, v_cache = prefill({"q": q[:, :, piece], "k_cache": k_cache, "v_cache": v_cache,
                                         "k_new": k[:, :, piece], "v_new": v[:, :, piece], "window": window})
        outs.append(out)
        start += size
    np.testing.assert_allclose(np.concatenate(outs, axis=2), whole, rtol=1e-11, atol=1e-12)
    np.testing.assert_array_equal(k_cache, k)
    np.testing.assert_array_equal(v_cache, v)


def test_the_window_keeps_w_keys_itself_included():
    chunk_mask = registry.get_exercise("chunked_prefill").reference().chunk_mask
    for P, T_new, window in [(0, 6, 2), (8, 4, 3), (2, 6, 4), (9, 1, 5), (3, 3, 10)]:
        mask = chunk_mask(T_new, P, window)
        assert mask.shape == (T_new, P + T_new)
        assert [int(row.sum()) for row in mask] == [min(window, P + i + 1) for i in range(T_new)]
        assert all(mask[i, P + i] and not mask[i, P + i + 1:].any() for i in range(T_new))  # itself, no future
        np.testing.assert_array_equal(chunk_mask(T_new, P), np.tril(np.ones((T_new, P + T_new), bool), k=P))


def test_a_window_wider_than_every_key_changes_nothing():
    for case in cases_of("chunked_prefill"):
        args = dict(case.args)
        P, T_new = args["k_cache"].shape[2], args["q"].shape[2]
        without = prefill({**args, "window": None})
        wide = prefill({**args, "window": P + T_new})
        for got, want in zip(wide, without):
            np.testing.assert_array_equal(got, want)


def test_an_empty_cache_is_causal_attention_and_one_token_is_an_unmasked_decode_step():
    attention = registry.get_exercise("attention").reference().attention
    for case in cases_of("chunked_prefill"):
        q, k_cache, v_cache, k_new, v_new, window = case.args.values()
        out, k, v = prefill(case.args)
        P, T_new = k_cache.shape[2], q.shape[2]
        if P == 0 and window is None:
            expected, _ = attention(q, k_new, v_new, np.tril(np.ones((T_new, T_new), bool)))
            np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13, err_msg=case.name)
        if T_new == 1 and window is None:
            expected, _ = attention(q, k, v)  # a decode step: every cached key and itself
            np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-13, err_msg=case.name)


def test_the_plain_tril_mutant_is_right_only_without_a_cache():
    exercise = registry.get_exercise("chunked_prefill")
    mutant = next(m for m in exercise.checks().MUTANTS if m.id == "tril_without_offset")
    module = mutated_reference(exercise, mutant)
    for case in cases_of("chunked_prefill"):
        same = np.array_equal(call(module, case)["out"], prefill(case.args)[0])
        assert same == (case.args["k_cache"].shape[2] == 0), case.name
