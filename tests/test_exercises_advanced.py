"""The advanced exercises: kv_cache_decode, gqa_forward and repair_article_code.

For each: the reference passes, one-edit buggy variants fail with their exact verdict and their mistake
named, the untouched stub is reported as such (tests/test_catalogue.py shows every declared mutant is told
apart by the cases), and the reference agrees with mha_forward (and with PyTorch where it is installed).
"""

import ast
import copy
import shutil
from pathlib import Path

import numpy as np
import pytest

from mhaquiz.grader import exercises as registry
from mhaquiz.grader import inputs
from mhaquiz.grader.diagnose import call
from mhaquiz.grader.exercises import get_exercise
from mhaquiz.grader.grade import grade_file
from mhaquiz.grader.verdict import Verdict
from tests.helpers import reference_source, with_edits, write

ADVANCED = ("kv_cache_decode", "gqa_forward", "repair_article_code")
SEED_FILE = Path("/work/shared/seed/000_0f4f85e4664851a0.txt")

# The head split and merge edits, the same in every reference that keeps these helpers.
SPLIT = "x.reshape(B, T, num_heads, D // num_heads).transpose(0, 2, 1, 3)"
MERGE = "x.transpose(0, 2, 1, 3).reshape(B, T, H * dh)"
NAIVE_SOFTMAX = [("e = np.subtract(x, x.max(axis=axis, keepdims=True), out=out)", "e = np.array(x)")]
INTERLEAVED = [(SPLIT, "x.reshape(B, T, D // num_heads, num_heads).transpose(0, 3, 1, 2)"),
               (MERGE, "x.transpose(0, 2, 3, 1).reshape(B, T, H * dh)")]
BIASES = [(f' + params["b_{n}"]', "") for n in "qkvo"]
WEIGHTS_T = [(f'params["W_{n}"]', f'params["W_{n}"].T') for n in "qkvo"]

BUGS = {
    "kv_cache_decode": {
        "cache_not_appended": [("cache = append_to_cache(cache, K_t, V_t)", "cache = append_to_cache(None, K_t, V_t)")],
        "append_after_attending": [
            ("    cache = append_to_cache(cache, K_t, V_t)  # first append, then attend: the token sees itself\n", ""),
            ("    return heads @ params", "    cache = append_to_cache(cache, K_t, V_t)\n    return heads @ params")],
        "cache_prepended": [('np.concatenate([cache["k"], K_t], axis=2)', 'np.concatenate([K_t, cache["k"]], axis=2)'),
                            ('np.concatenate([cache["v"], V_t], axis=2)', 'np.concatenate([V_t, cache["v"]], axis=2)')],
        "causal_mask_in_step": [('P = attention_weights(Q, cache["k"])',
                                 'P = attention_weights(Q, cache["k"], np.tril(np.ones((1, cache["k"].shape[2]), dtype=bool)))')],
        "no_scale": [("(Q / np.sqrt(dh))", "Q")],
        "scale_by_d_model": [("(Q / np.sqrt(dh))", "(Q / np.sqrt(dh * Q.shape[1]))")],
        "scale_by_d_head": [("(Q / np.sqrt(dh))", "(Q / dh)")],
        "softmax_over_queries": [("softmax(scores, axis=-1, out=scores)", "softmax(scores, axis=-2, out=scores)")],
        "no_max_subtraction": NAIVE_SOFTMAX,
        "heads_interleaved": INTERLEAVED,
        "biases_ignored": BIASES,
        "weights_transposed": WEIGHTS_T,
        "no_output_projection": [('return heads @ params["W_o"] + params["b_o"], cache', "return heads, cache")],
    },
    "gqa_forward": {
        "kv_heads_tiled": [("np.repeat(x, group_size, axis=1)", "np.tile(x, (1, group_size, 1, 1))")],
        "scale_by_kv_width": [("P = attention_weights(Q, K, head_mask)",  # dh taken from K's unsplit width
                               'P = attention_weights(Q * np.sqrt(Q.shape[-1] / params["W_k"].shape[1]), K, head_mask)')],
        "no_scale": [("(Q / np.sqrt(dh))", "Q")],
        "scale_by_d_model": [("(Q / np.sqrt(dh))", "(Q / np.sqrt(dh * Q.shape[1]))")],
        "scale_by_d_head": [("(Q / np.sqrt(dh))", "(Q / dh)")],
        "softmax_over_queries": [("softmax(scores, axis=-1, out=scores)", "softmax(scores, axis=-2, out=scores)")],
        "no_max_subtraction": NAIVE_SOFTMAX,
        "mask_inverted": [("where=~mask", "where=mask")],
        "mask_ignored": [("np.copyto(scores, -np.inf, where=~mask)", "pass")],
        "mask_fill_too_small": [("np.copyto(scores, -np.inf, where=~mask)", "np.copyto(scores, -1e4, where=~mask)")],
        "mask_after_softmax": [("np.copyto(scores, -np.inf, where=~mask)", "pass"),
                               ("return softmax(scores, axis=-1, out=scores)",
                                "return softmax(scores) * (True if mask is None else mask)")],
        "split_without_transpose": [(SPLIT, "x.reshape(B, num_heads, T, D // num_heads)")],
        "merge_without_transpose": [(MERGE, "x.reshape(B, T, H * dh)")],
        "heads_interleaved": INTERLEAVED,
        "biases_ignored": BIASES,
        "weights_transposed": WEIGHTS_T,  # crashes on the grouped cases (W_k is not square); named on MHA
        "no_output_projection": [('return heads @ params["W_o"] + params["b_o"]', "return heads")],
    },
    "repair_article_code": {
        "scale_by_seq_len": [("dh = Q.shape[-1]", "dh = K.shape[-2]")],  # the seed's k.shape[1]
        "single_head": [('    assert D % num_heads == 0, "D must be divisible by num_heads"\n', "    num_heads = 1\n")],
        "input_projections_missing": [(f'{x} @ params["W_{x}"] + params["b_{x}"]', x) for x in "qkv"],
        "output_projection_transposed": [('@ params["W_o"] + params["b_o"]', '@ params["W_o"].T + params["b_o"]')],
        "no_scale": [("(Q / np.sqrt(dh))", "Q")],
        "scale_by_d_model": [("(Q / np.sqrt(dh))", "(Q / np.sqrt(dh * Q.shape[1]))")],
        "scale_by_d_head": [("(Q / np.sqrt(dh))", "(Q / dh)")],
        "softmax_over_queries": [("softmax(attention_scores, axis=-1, out=attention_scores)",
                                  "softmax(attention_scores, axis=-2, out=attention_scores)")],
        "no_max_subtraction": NAIVE_SOFTMAX,
        "mask_inverted": [("where=~mask", "where=mask")],
        "mask_ignored": [("np.copyto(attention_scores, -np.inf, where=~mask)", "pass")],
        "split_without_transpose": [(SPLIT, "x.reshape(B, num_heads, T, D // num_heads)")],
        "merge_without_transpose": [(MERGE, "x.reshape(B, T, H * dh)")],
        "heads_interleaved": INTERLEAVED,
        "biases_ignored": BIASES,
        "weights_transposed": WEIGHTS_T,
        "no_output_projection": [('output = merge_heads(context_vector) @ params["W_o"] + params["b_o"]',
                                  "output = merge_heads(context_vector)")],
    },
}


# Bugs that also raise on some case (the shapes they cannot take): the first verdict is the runtime error.
CRASHING = {("gqa_forward", "weights_transposed"), ("kv_cache_decode", "append_after_attending")}


def grade_source(tmp_path, exercise_id, source, name="submission.py"):
    return grade_file(write(tmp_path, name, source), exercise_ids=[exercise_id])


# --- the grader's view: reference, buggy variants, stubs ----------------------------------------------

@pytest.mark.parametrize("exercise_id", ADVANCED)
def test_reference_passes_every_case(tmp_path, exercise_id):
    report = grade_source(tmp_path, exercise_id, reference_source(exercise_id))
    assert report.verdict == Verdict.PASSED, report.detail
    assert [e.id for e in report.exercises] == [exercise_id]
    assert report.exercises[0].cases and all(case.passed for case in report.exercises[0].cases)


@pytest.mark.parametrize("exercise_id, mistake", [(e, m) for e in ADVANCED for m in sorted(BUGS[e])])
def test_buggy_submission_fails_with_its_mistake_named(tmp_path, exercise_id, mistake):
    source = with_edits(reference_source(exercise_id), *BUGS[exercise_id][mistake])
    report = grade_source(tmp_path, exercise_id, source)
    expected = Verdict.RUNTIME_ERROR if (exercise_id, mistake) in CRASHING else Verdict.WRONG_ANSWER
    assert report.verdict == expected, report.detail
    diagnosis = report.exercises[0].diagnosis
    assert diagnosis and diagnosis[0].mistake == mistake, [d.mistake for d in diagnosis]


@pytest.mark.parametrize("exercise_id", ADVANCED)
@pytest.mark.parametrize("where", ["in place", "started"])
def test_untouched_stub_fails_cleanly(tmp_path, exercise_id, where):
    stub = get_exercise(exercise_id).stub_path
    if where == "started":  # as `mhaquiz start` leaves it: a copy in the learner's directory
        stub = Path(shutil.copy(stub, tmp_path / f"{exercise_id}.py"))
    report = grade_file(stub, exercise_ids=[exercise_id])
    assert report.error is None  # it imports fine: no syntax or import error
    result = report.exercises[0]
    if exercise_id == "repair_article_code":  # the article's code defines multi_head_attention, not mha_forward
        assert report.verdict == Verdict.MISSING_FUNCTION and result.missing == ["mha_forward"]
        return
    assert report.verdict == Verdict.NOT_IMPLEMENTED
    for case in result.cases:
        assert case.error["type"] == "NotImplementedError"
        assert "mhaquiz/grader" not in case.error["traceback"]
        if where == "started":  # only the learner's own frames
            assert all(str(tmp_path) in line for line in case.error["traceback"].splitlines() if line.startswith("  File"))


def test_grading_reports_the_first_step_error_of_a_bad_return(tmp_path):
    source = with_edits(reference_source("kv_cache_decode"),
                        ('return heads @ params["W_o"] + params["b_o"], cache', 'return heads @ params["W_o"] + params["b_o"]'))
    report = grade_source(tmp_path, "kv_cache_decode", source)
    assert report.verdict == Verdict.RUNTIME_ERROR
    assert "must return (y_t, cache)" in report.exercises[0].cases[0].error["message"]


def test_kv_cache_may_be_updated_in_place_but_arrays_are_checked(tmp_path):
    updating = with_edits(reference_source("kv_cache_decode"), (
        "    cache = append_to_cache(cache, K_t, V_t)  # first append, then attend: the token sees itself\n",
        "    new = append_to_cache(cache, K_t, V_t)\n"
        "    if cache is None:\n        cache = new\n    else:\n        cache.update(new)\n"))
    assert grade_source(tmp_path, "kv_cache_decode", updating).verdict == Verdict.PASSED
    scribbling = with_edits(reference_source("kv_cache_decode"),
                            ("    D = x_t.shape[-1]\n", "    D = x_t.shape[-1]\n    if cache is not None:\n        cache['k'][...] = 0\n"))
    report = grade_source(tmp_path, "kv_cache_decode", scribbling, name="scribbling.py")
    assert report.verdict == Verdict.INPUT_MODIFIED
    prefilled = next(case for case in report.exercises[0].cases if case.name == "prefilled cache")
    assert prefilled.verdict == Verdict.INPUT_MODIFIED and "cache['k'][...] = 0" in prefilled.error["traceback"]


# --- kv_cache_decode against the full causal forward -------------------------------------------------

@pytest.fixture(scope="module")
def mha_forward():
    return get_exercise("mha_forward").reference().mha_forward


@pytest.fixture(scope="module")
def kv():
    exercise = get_exercise("kv_cache_decode")
    return exercise.reference(), exercise.checks()


@pytest.mark.parametrize("prompt_length", [0, 1, 4])
def test_decoding_equals_the_full_causal_forward(mha_forward, kv, prompt_length):
    reference, checks = kv
    rng = np.random.default_rng(prompt_length)
    B, T, D, H = 2, 5, 12, 3
    params = inputs.mha_params(rng, D)
    full = rng.standard_normal((B, prompt_length + T, D))
    prompt, x = full[:, :prompt_length], full[:, prompt_length:]
    cache = checks.prompt_cache(prompt, params, H) if prompt_length else None
    got = checks.feed_tokens(reference, {"x": x, "cache": cache, "params": params, "num_heads": H})
    expected = mha_forward(full, full, full, params, H, inputs.causal_mask(prompt_length + T))
    np.testing.assert_allclose(got["out"], expected[:, prompt_length:], rtol=1e-12, atol=1e-12)
    whole = checks.prompt_cache(full, params, H)  # the final cache is the prefill of everything seen
    np.testing.assert_allclose(got["cache_k"], whole["k"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got["cache_v"], whole["v"], rtol=1e-12, atol=1e-12)


def test_graded_empty_cache_cases_equal_mha_forward(mha_forward, kv):
    reference, checks = kv
    for case in checks.make_cases(5):
        if case.args["cache"] is None:
            x, params, H = case.args["x"], case.args["params"], case.args["num_heads"]
            expected = mha_forward(x, x, x, params, H, inputs.causal_mask(x.shape[1]))
            np.testing.assert_allclose(call(reference, case)["out"], expected, rtol=1e-10, atol=1e-10)


def test_decode_step_leaves_its_inputs_alone(kv):
    reference, checks = kv
    case = next(case for case in checks.make_cases(0) if case.args["cache"] is not None)
    before = copy.deepcopy(case.args)
    checks.feed_tokens(reference, case.args)
    np.testing.assert_array_equal(before["cache"]["k"], case.args["cache"]["k"])
    assert case.args["cache"]["k"].shape == before["cache"]["k"].shape
    np.testing.assert_array_equal(before["x"], case.args["x"])


def test_decoding_matches_pytorch_sdpa(kv):
    torch = pytest.importorskip("torch")
    reference, checks = kv
    case = checks.make_cases(2)[0]
    x, params, H = case.args["x"], case.args["params"], case.args["num_heads"]
    B, T, D = x.shape
    t = {name: torch.tensor(value) for name, value in params.items()}
    xt = torch.tensor(x)

    def heads(y):  # (B, T, D) -> (B, H, T, dh)
        return y.reshape(B, T, H, D // H).transpose(1, 2)

    Q, K, V = (heads(xt @ t[f"W_{n}"] + t[f"b_{n}"]) for n in "qkv")
    O = torch.nn.functional.scaled_dot_product_attention(Q, K, V, is_causal=True)
    expected = O.transpose(1, 2).reshape(B, T, D) @ t["W_o"] + t["b_o"]
    np.testing.assert_allclose(call(reference, case)["out"], expected.numpy(), rtol=1e-9, atol=1e-9)


# --- gqa_forward: MHA and MQA as extremes, the h // G convention, PyTorch ------------------------------

@pytest.fixture(scope="module")
def gqa():
    exercise = get_exercise("gqa_forward")
    return exercise.reference().gqa_forward, exercise.checks()


@pytest.mark.parametrize("case_index", range(len(inputs.mha_cases(0))))
def test_gqa_with_as_many_kv_heads_as_heads_is_mha(mha_forward, gqa, case_index):
    forward, _ = gqa
    name, _, _, _, args = inputs.mha_cases(4)[case_index]
    q, k, v, params, H, mask = args.values()
    np.testing.assert_allclose(forward(q, k, v, params, H, H, mask), mha_forward(q, k, v, params, H, mask),
                               rtol=1e-12, atol=1e-12, err_msg=name)


GQA_CASES = len(get_exercise("gqa_forward").checks().make_cases(0))


@pytest.mark.parametrize("case_index", range(GQA_CASES))
def test_gqa_is_mha_with_kv_weights_repeated_per_group(mha_forward, gqa, case_index):
    """Query head h uses KV head h // G: the same as MHA whose K/V head h copies KV head h // G's weights."""
    forward, checks = gqa
    case = checks.make_cases(6)[case_index]
    q, k, v, params, H, Hkv, mask = case.args.values()
    D = q.shape[-1]
    dh, G = D // H, H // Hkv
    expanded = dict(params)
    for n in "kv":
        expanded[f"W_{n}"] = np.repeat(params[f"W_{n}"].reshape(D, Hkv, dh), G, axis=1).reshape(D, D)
        expanded[f"b_{n}"] = np.repeat(params[f"b_{n}"].reshape(Hkv, dh), G, axis=0).reshape(D)
    np.testing.assert_allclose(forward(q, k, v, params, H, Hkv, mask), mha_forward(q, k, v, expanded, H, mask),
                               rtol=1e-10, atol=1e-10, err_msg=case.name)


def test_gqa_cases_cover_mqa_mha_and_real_groups(gqa):
    _, checks = gqa
    shapes = {(case.args["num_heads"], case.args["num_kv_heads"]) for case in checks.make_cases(0)}
    assert any(Hkv == 1 for _, Hkv in shapes) and any(H == Hkv for H, Hkv in shapes)
    assert any(1 < Hkv < H for H, Hkv in shapes)


@pytest.mark.parametrize("case_index", range(GQA_CASES))
def test_gqa_matches_pytorch_sdpa_enable_gqa(gqa, case_index):
    torch = pytest.importorskip("torch")
    forward, checks = gqa
    case = checks.make_cases(1)[case_index]
    q, k, v, params, H, Hkv, mask = case.args.values()
    B, Tq, D = q.shape
    Tk, dh = k.shape[1], D // H
    t = {name: torch.tensor(value) for name, value in params.items()}

    def heads(y, n):  # (B, T, n*dh) -> (B, n, T, dh)
        return y.reshape(B, y.shape[1], n, dh).transpose(1, 2)

    Q = heads(torch.tensor(q) @ t["W_q"] + t["b_q"], H)
    K = heads(torch.tensor(k) @ t["W_k"] + t["b_k"], Hkv)
    V = heads(torch.tensor(v) @ t["W_v"] + t["b_v"], Hkv)
    attn_mask = None if mask is None else torch.tensor(np.broadcast_to(mask, (B, Tq, Tk)).copy())[:, None]
    if "enable_gqa" in torch.nn.functional.scaled_dot_product_attention.__doc__:
        O = torch.nn.functional.scaled_dot_product_attention(Q, K, V, attn_mask=attn_mask, enable_gqa=True)
    else:  # older torch: repeat the KV heads by hand
        K, V = K.repeat_interleave(H // Hkv, dim=1), V.repeat_interleave(H // Hkv, dim=1)
        O = torch.nn.functional.scaled_dot_product_attention(Q, K, V, attn_mask=attn_mask)
    expected = O.transpose(1, 2).reshape(B, Tq, D) @ t["W_o"] + t["b_o"]
    np.testing.assert_allclose(forward(q, k, v, params, H, Hkv, mask), expected.numpy(), rtol=1e-9, atol=1e-9,
                               err_msg=case.name)


# --- repair_article_code ---------------------------------------------------------------------------------------

def test_repair_article_code_reference_equals_mha_forward(mha_forward):
    repaired = get_exercise("repair_article_code").reference().mha_forward
    for name, _, _, _, args in inputs.mha_cases(8):
        np.testing.assert_allclose(repaired(*args.values()), mha_forward(*args.values()), rtol=1e-12, atol=1e-12,
                                   err_msg=name)


def test_repair_article_code_requires_mha_forward_and_is_never_auto_detected():
    exercise = get_exercise("repair_article_code")
    assert exercise.functions == ("mha_forward",)
    assert exercise.meta["auto_detect"] is False
    names = registry.defined_names(ast.parse(reference_source("mha_forward")))
    detected = [e.id for e in registry.detect(names)]
    assert "mha_forward" in detected and "repair_article_code" not in detected


def test_repair_article_code_stub_is_the_seed_verbatim():
    stub = get_exercise("repair_article_code").stub_path.read_text(encoding="utf-8")
    for bug in ("np.softmax(attention_scores, axis=1)", "np.random.dropout(mask, dropout_rate)", "k.T",
                "np.dot(context_vector, heads.T)", "# 生成mask，防止梯度消失"):
        assert bug in stub
    assert "def mha_forward" not in stub
    if not SEED_FILE.is_file():
        pytest.skip("the original material is not on this machine")
    seed = SEED_FILE.read_text(encoding="utf-8")
    start = seed.index("```python\n") + len("```python\n")
    block = seed[start:seed.index("```", start)]
    assert stub.endswith("\n\n" + block)  # character for character, trailing spaces included


@pytest.mark.parametrize("exercise_id", ADVANCED)
def test_exercise_metadata(exercise_id):
    exercise = get_exercise(exercise_id)
    meta = exercise.meta
    assert meta["order"] == {"kv_cache_decode": 80, "gqa_forward": 90, "repair_article_code": 100}[exercise_id]
    assert meta["title"]["zh"] and meta["title"]["en"]
    assert 3 <= len(meta["hints"]) <= 6 and all(hint["zh"] and hint["en"] for hint in meta["hints"])
    for lang in ("zh", "en"):
        assert exercise.prompt(lang).strip()
